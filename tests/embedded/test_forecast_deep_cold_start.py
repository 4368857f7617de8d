"""A deep predictor forecasts items that exist only in the item metadata (cold start).

Through stock boto3 against embedded Augury running the real forecasting
container: a CNN-QR predictor (a few epochs, small data) trained on two
categories that sell at very different levels; two new items, one per
category, have metadata and no history. Each must get a forecast at its
category's level, with ordered quantiles.
"""

from __future__ import annotations

import csv
import math
from datetime import date, timedelta
from pathlib import Path

from tests.embedded.test_forecast_workflow import ROLE, wait

DAYS = 120
LEVELS = {"big": 100.0, "small": 5.0}
ITEMS = {f"{category}-{n}": category for category in LEVELS for n in range(4)}
NEW_ITEMS = {"big-new": "big", "small-new": "small"}


def write_files(bucket: Path) -> None:
    (bucket / "sales").mkdir(parents=True)
    with (bucket / "sales" / "sales.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        for item, category in ITEMS.items():
            level = LEVELS[category] * (1 + 0.1 * int(item[-1]))
            for offset in range(DAYS):
                day = date(2024, 1, 1) + timedelta(days=offset)
                weekly = 1 + 0.3 * math.sin(2 * math.pi * offset / 7)
                writer.writerow([item, day.isoformat(), round(level * weekly, 2)])
    (bucket / "items").mkdir()
    with (bucket / "items" / "items.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(sorted({**ITEMS, **NEW_ITEMS}.items()))


def dataset(forecast, name: str, kind: str, attributes: list[tuple[str, str]]) -> str:
    frequency = {"DataFrequency": "D"} if kind == "TARGET_TIME_SERIES" else {}
    return forecast.create_dataset(
        DatasetName=name,
        Domain="CUSTOM",
        DatasetType=kind,
        Schema={"Attributes": [{"AttributeName": n, "AttributeType": t} for n, t in attributes]},
        **frequency,
    )["DatasetArn"]


def test_cnn_qr_forecasts_new_items_at_their_categorys_level(server, client):
    forecast, query = client("forecast"), client("forecastquery")
    write_files(Path(server.runtime.settings.data_dir) / "s3" / "bucket")
    sales = dataset(
        forecast,
        "sales",
        "TARGET_TIME_SERIES",
        [("item_id", "string"), ("timestamp", "timestamp"), ("target_value", "float")],
    )
    items = dataset(forecast, "items", "ITEM_METADATA", [("item_id", "string"), ("kind", "string")])
    group = forecast.create_dataset_group(
        DatasetGroupName="shop", Domain="CUSTOM", DatasetArns=[sales, items]
    )["DatasetGroupArn"]
    for name, arn, extra in (
        ("sales", sales, {"TimestampFormat": "yyyy-MM-dd"}),
        ("items", items, {}),
    ):
        job = forecast.create_dataset_import_job(
            DatasetImportJobName=name,
            DatasetArn=arn,
            DataSource={"S3Config": {"Path": f"s3://bucket/{name}/", "RoleArn": ROLE}},
            **extra,
        )["DatasetImportJobArn"]
        wait(lambda job=job: forecast.describe_dataset_import_job(DatasetImportJobArn=job))

    predictor = forecast.create_predictor(
        PredictorName="cnn",
        AlgorithmArn="arn:aws:forecast:::algorithm/CNN-QR",
        ForecastHorizon=7,
        PerformAutoML=False,
        TrainingParameters={"epochs": "3"},
        InputDataConfig={"DatasetGroupArn": group},
        FeaturizationConfig={"ForecastFrequency": "D"},
    )["PredictorArn"]
    described = wait(lambda: forecast.describe_predictor(PredictorArn=predictor), timeout=600)
    # the settings it trained with: the one given, and those it chose itself
    assert described["TrainingParameters"]["epochs"] == "3"
    assert int(described["TrainingParameters"]["context_length"]) in (7, 28)
    assert described["TrainingParameters"]["seasonal_adjustment"] in ("always", "none")
    forecast_arn = forecast.create_forecast(ForecastName="week", PredictorArn=predictor)[
        "ForecastArn"
    ]
    wait(lambda: forecast.describe_forecast(ForecastArn=forecast_arn), timeout=600)

    means = {}
    for item in NEW_ITEMS:
        predictions = query.query_forecast(ForecastArn=forecast_arn, Filters={"item_id": item})[
            "Forecast"
        ]["Predictions"]
        assert len(predictions["p50"]) == 7
        for low, mid, high in zip(
            predictions["p10"], predictions["p50"], predictions["p90"], strict=True
        ):
            assert low["Value"] <= mid["Value"] <= high["Value"]
        means[item] = sum(point["Value"] for point in predictions["p50"]) / 7
    # each new item sells like its own category: about 100+ against about 5+
    assert 40 < means["big-new"] < 250
    assert means["small-new"] < 20
