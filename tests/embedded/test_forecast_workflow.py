"""The seeds' forecast workflow with the real forecasting container, on small data.

Import CSV → AutoPredictor → accuracy metrics → forecast → query → export,
all through stock boto3 clients against embedded Augury, which runs
``python -m augury_training.forecasting`` as a local training job.
"""

from __future__ import annotations

import csv
import math
import time
from datetime import date, timedelta
from pathlib import Path

ROLE = "arn:aws:iam::000000000000:role/test"
ITEMS = {"socks": 20.0, "shoes": 8.0, "hats": 3.0}
DAYS = 120


def wait(describe, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = describe()
        if body["Status"] in ("ACTIVE", "CREATE_FAILED"):
            assert body["Status"] == "ACTIVE", body.get("Message")
            return body
        assert time.monotonic() < deadline, f"still {body['Status']}"
        time.sleep(0.2)


def write_sales(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for item, level in ITEMS.items():
            for offset in range(DAYS):
                day = date(2024, 1, 1) + timedelta(days=offset)
                weekly = 1 + 0.4 * math.sin(2 * math.pi * offset / 7)
                writer.writerow([item, day.isoformat(), round(level * weekly + offset % 3, 2)])


def test_import_train_forecast_query_export(server, client):
    forecast, query = client("forecast"), client("forecastquery")
    write_sales(Path(server.runtime.settings.data_dir) / "s3" / "bucket" / "sales" / "sales.csv")
    dataset = forecast.create_dataset(
        DatasetName="sales",
        Domain="CUSTOM",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency="D",
        Schema={
            "Attributes": [
                {"AttributeName": "item_id", "AttributeType": "string"},
                {"AttributeName": "timestamp", "AttributeType": "timestamp"},
                {"AttributeName": "target_value", "AttributeType": "float"},
            ]
        },
    )["DatasetArn"]
    group = forecast.create_dataset_group(
        DatasetGroupName="shop", Domain="CUSTOM", DatasetArns=[dataset]
    )["DatasetGroupArn"]
    job = forecast.create_dataset_import_job(
        DatasetImportJobName="first",
        DatasetArn=dataset,
        DataSource={"S3Config": {"Path": "s3://bucket/sales/", "RoleArn": ROLE}},
        TimestampFormat="yyyy-MM-dd",
    )["DatasetImportJobArn"]
    imported = wait(lambda: forecast.describe_dataset_import_job(DatasetImportJobArn=job))
    assert imported["FieldStatistics"]["target_value"]["Count"] == len(ITEMS) * DAYS

    predictor = forecast.create_auto_predictor(
        PredictorName="auto",
        ForecastHorizon=7,
        ForecastFrequency="D",
        ForecastTypes=["0.1", "0.5", "0.9", "mean"],
        DataConfig={"DatasetGroupArn": group},
    )["PredictorArn"]
    wait(lambda: forecast.describe_auto_predictor(PredictorArn=predictor), timeout=600)
    metrics = forecast.get_accuracy_metrics(PredictorArn=predictor)
    results = metrics["PredictorEvaluationResults"]
    assert results, "the AutoPredictor reports backtest metrics"
    window = results[0]["TestWindows"][0]["Metrics"]
    assert 0 <= window["AverageWeightedQuantileLoss"] < 1

    forecast_arn = forecast.create_forecast(ForecastName="next_week", PredictorArn=predictor)[
        "ForecastArn"
    ]
    wait(lambda: forecast.describe_forecast(ForecastArn=forecast_arn), timeout=600)
    answer = query.query_forecast(ForecastArn=forecast_arn, Filters={"item_id": "socks"})
    predictions = answer["Forecast"]["Predictions"]
    assert set(predictions) == {"p10", "p50", "p90", "mean"}
    assert len(predictions["p50"]) == 7
    assert predictions["p50"][0]["Timestamp"].startswith("2024-04-30")
    for low, mid, high in zip(
        predictions["p10"], predictions["p50"], predictions["p90"], strict=True
    ):
        assert low["Value"] <= mid["Value"] <= high["Value"]
    assert 5 < predictions["mean"][0]["Value"] < 45  # socks sell about 20 a day

    export = forecast.create_forecast_export_job(
        ForecastExportJobName="everything",
        ForecastArn=forecast_arn,
        Destination={"S3Config": {"Path": "s3://bucket/exports/", "RoleArn": ROLE}},
    )["ForecastExportJobArn"]
    wait(lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=export))
