"""The Forecast workflow on AWS's engines, in moto: CreateDatasetGroup to QueryForecast.

Every call is a stock boto3 client's, sent as an API Gateway proxy event to
``augury.handlers.api``. The import, the AutoPredictor and the forecast run as
executions of the compiled state machines in moto's Step Functions, their
training jobs as SageMaker jobs served by the forecasting image's entry point,
reading the channels from and writing ``model.tar.gz`` to moto's S3. The data
comes from the user's own bucket, read as the role the import job names.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import boto3
import pytest

from tests.aws.moto_stack import DATA_BUCKET, REGION, USER_ROLE, Stack

ITEMS = {"socks": 20.0, "shoes": 8.0}
DAYS = 42
HORIZON = 7

pytestmark = pytest.mark.timeout(120)


def sales_csv() -> bytes:
    """Six weeks of daily sales with a weekly cycle and some noise, one series per item.

    Short on purpose: the AutoPredictor's ARIMA search dominates training time.
    """
    noise = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out)
    for item, level in ITEMS.items():
        for offset in range(DAYS):
            day = date(2024, 1, 1) + timedelta(days=offset)
            weekly = 1 + 0.4 * math.sin(2 * math.pi * offset / 7)
            value = level * weekly + noise.gauss(0, level / 10)
            writer.writerow([item, day.isoformat(), round(max(value, 0.0), 2)])
    return out.getvalue().encode()


def wait_active(describe: Callable[[], dict[str, Any]], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = describe()
        if body["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            assert body["Status"] == "ACTIVE", body.get("Message")
            return body
        assert time.monotonic() < deadline, f"still {body['Status']} after {timeout} s"
        time.sleep(0.1)


def test_forecast_from_dataset_group_to_query(stack: Stack) -> None:
    forecast = stack.api.client("forecast")
    query = stack.api.client("forecastquery")
    source = stack.upload("sales/sales.csv", sales_csv())

    group = forecast.create_dataset_group(DatasetGroupName="shop", Domain="RETAIL")[
        "DatasetGroupArn"
    ]
    dataset = forecast.create_dataset(
        DatasetName="sales",
        Domain="RETAIL",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency="D",
        Schema={
            "Attributes": [
                {"AttributeName": "item_id", "AttributeType": "string"},
                {"AttributeName": "timestamp", "AttributeType": "timestamp"},
                {"AttributeName": "demand", "AttributeType": "float"},
            ]
        },
    )["DatasetArn"]
    forecast.update_dataset_group(DatasetGroupArn=group, DatasetArns=[dataset])
    job = forecast.create_dataset_import_job(
        DatasetImportJobName="first",
        DatasetArn=dataset,
        DataSource={"S3Config": {"Path": source.rsplit("/", 1)[0] + "/", "RoleArn": USER_ROLE}},
        TimestampFormat="yyyy-MM-dd",
    )["DatasetImportJobArn"]
    imported = wait_active(lambda: forecast.describe_dataset_import_job(DatasetImportJobArn=job))
    assert imported["FieldStatistics"]["demand"]["Count"] == len(ITEMS) * DAYS

    predictor = forecast.create_auto_predictor(
        PredictorName="auto",
        ForecastHorizon=HORIZON,
        ForecastFrequency="D",
        ForecastTypes=["0.1", "0.5", "0.9", "mean"],
        DataConfig={"DatasetGroupArn": group},
    )["PredictorArn"]
    wait_active(lambda: forecast.describe_auto_predictor(PredictorArn=predictor), timeout=90)
    results = forecast.get_accuracy_metrics(PredictorArn=predictor)["PredictorEvaluationResults"]
    metrics = results[0]["TestWindows"][0]["Metrics"]
    assert 0 <= metrics["AverageWeightedQuantileLoss"] < 1

    forecast_arn = forecast.create_forecast(ForecastName="next_week", PredictorArn=predictor)[
        "ForecastArn"
    ]
    wait_active(lambda: forecast.describe_forecast(ForecastArn=forecast_arn), timeout=90)

    answer = query.query_forecast(ForecastArn=forecast_arn, Filters={"item_id": "socks"})
    predictions = answer["Forecast"]["Predictions"]
    assert set(predictions) == {"p10", "p50", "p90", "mean"}
    assert len(predictions["p50"]) == HORIZON
    first_day = date(2024, 1, 1) + timedelta(days=DAYS)
    assert predictions["p50"][0]["Timestamp"].startswith(first_day.isoformat())
    for low, mid, high in zip(
        predictions["p10"], predictions["p50"], predictions["p90"], strict=True
    ):
        assert low["Value"] <= mid["Value"] <= high["Value"]
    assert 5 < predictions["mean"][0]["Value"] < 45  # socks sell about 20 a day
    with pytest.raises(query.exceptions.ResourceNotFoundException):
        query.query_forecast(ForecastArn=forecast_arn, Filters={"item_id": "gloves"})

    # The work ran on AWS's engines: state machines, SageMaker jobs, S3 artifacts.
    executions = stack.executions()
    assert {"import-dataset", "train-predictor", "create-forecast"} <= set(executions), executions
    assert all(status == "SUCCEEDED" for runs in executions.values() for status in runs)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    jobs = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    assert len(jobs) == 2 and {job["TrainingJobStatus"] for job in jobs} == {"Completed"}
    for summary in jobs:
        described = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
        assert artifact.startswith(f"s3://{DATA_BUCKET}/")
        bucket, key = artifact[len("s3://") :].split("/", 1)
        assert boto3.client("s3", region_name=REGION).head_object(Bucket=bucket, Key=key)
