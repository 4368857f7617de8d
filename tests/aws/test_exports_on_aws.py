"""Export jobs in AWS mode: files written to the user's own bucket, as the request's role.

Forecast: after one AutoPredictor and one forecast (SageMaker jobs served by
the forecasting image's entry point), CreateForecastExportJob and
CreatePredictorBacktestExportJob run as state machines in moto and write part
files named as Amazon names them (``<job>_<yyyy-MM-ddTHH-mm-ssZ>_part<N>.csv``,
and ``_SUCCESS``). Personalize: CreateDatasetExportJob writes the imported
Interactions back as CSV. Every file is written through ``S3ExternalStorage``
as the role the request named, and read back here as that role through STS.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from augury.aws.external_s3 import S3ExternalStorage
from tests.aws.moto_stack import USER_BUCKET, USER_ROLE, Stack
from tests.aws.shop_data import forecast_group, personalize_group
from tests.aws.test_forecast_on_aws import HORIZON, ITEMS
from tests.aws.test_forecast_on_aws import wait_active as forecast_active
from tests.aws.test_personalize_on_aws import interactions_csv
from tests.aws.test_personalize_on_aws import wait_active as personalize_active

pytestmark = pytest.mark.timeout(120)

STAMP = r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ"
QUANTILES = ["p10", "p50", "p90", "mean"]


@pytest.fixture
def uploads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Every (URI, role) Augury's S3 external storage writes."""
    written: list[tuple[str, str | None]] = []
    original = S3ExternalStorage.upload

    def upload(self: S3ExternalStorage, path: Path, uri: str, **kwargs: Any) -> None:
        written.append((uri, kwargs.get("role_arn")))
        original(self, path, uri, **kwargs)

    monkeypatch.setattr(S3ExternalStorage, "upload", upload)
    return written


def rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def parts(files: dict[str, bytes], folder: str, job: str) -> list[dict[str, str]]:
    """The rows of the part files in ``folder``, whose names must be Amazon's, part0 first."""
    names = [key[len(folder) :] for key in files if key.startswith(folder)]
    names = sorted(name for name in names if "/" not in name and name != "_SUCCESS")
    stamps = {re.fullmatch(rf"{job}_({STAMP})_part\d+\.csv", name) for name in names}
    assert None not in stamps and len({m[1] for m in stamps}) == 1, names
    assert names == [f"{job}_{next(iter(stamps))[1]}_part{n}.csv" for n in range(len(names))]
    return [row for name in names for row in rows(files[folder + name])]


def test_forecast_and_backtest_exports_write_amazons_files(
    stack: Stack, uploads: list[tuple[str, str | None]]
) -> None:
    forecast = stack.api.client("forecast")
    group = forecast_group(stack, forecast, "exports")
    predictor = forecast.create_auto_predictor(
        PredictorName="auto",
        ForecastHorizon=HORIZON,
        ForecastFrequency="D",
        ForecastTypes=["0.1", "0.5", "0.9", "mean"],
        DataConfig={"DatasetGroupArn": group},
    )["PredictorArn"]
    forecast_active(lambda: forecast.describe_auto_predictor(PredictorArn=predictor), timeout=90)
    backtests = forecast.create_predictor_backtest_export_job(
        PredictorBacktestExportJobName="bt_export",
        PredictorArn=predictor,
        Destination={"S3Config": {"Path": f"s3://{USER_BUCKET}/backtests/", "RoleArn": USER_ROLE}},
    )["PredictorBacktestExportJobArn"]
    forecast_arn = forecast.create_forecast(ForecastName="next_week", PredictorArn=predictor)[
        "ForecastArn"
    ]
    forecast_active(lambda: forecast.describe_forecast(ForecastArn=forecast_arn), timeout=90)
    export = forecast.create_forecast_export_job(
        ForecastExportJobName="everything",
        ForecastArn=forecast_arn,
        Destination={"S3Config": {"Path": f"s3://{USER_BUCKET}/exports", "RoleArn": USER_ROLE}},
    )["ForecastExportJobArn"]
    described = forecast_active(
        lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=export)
    )
    assert described["Format"] == "CSV"
    forecast_active(
        lambda: forecast.describe_predictor_backtest_export_job(
            PredictorBacktestExportJobArn=backtests
        )
    )

    files = stack.user_files("exports/")
    assert files["exports/_SUCCESS"] == b""
    exported = parts(files, "exports/", "everything")
    # Written as the request's role, every file through S3ExternalStorage.
    written = {uri for uri, _ in uploads}
    assert {role for _, role in uploads} == {USER_ROLE}
    assert list(exported[0]) == ["item_id", "date", *QUANTILES]
    assert len(exported) == len(ITEMS) * HORIZON
    assert {row["item_id"] for row in exported} == set(ITEMS)
    assert exported[0]["date"].endswith("T00:00:00Z")
    assert all(float(r["p10"]) <= float(r["p50"]) <= float(r["p90"]) for r in exported)

    files.update(stack.user_files("backtests/"))
    assert files["backtests/_SUCCESS"] == b""
    values = parts(files, "backtests/forecasted-values/", "bt_export")
    assert list(values[0]) == [
        "item_id",
        "timestamp",
        "target_value",
        "backtestwindow_start_time",
        "backtestwindow_end_time",
        *QUANTILES,
    ]
    assert len(values) == len(ITEMS) * HORIZON  # one backtest window, the AutoPredictor's default
    (window,) = {(r["backtestwindow_start_time"], r["backtestwindow_end_time"]) for r in values}
    assert all(window[0] <= row["timestamp"] < window[1] for row in values), window
    assert all(float(row["target_value"]) >= 0 for row in values)
    accuracy = parts(files, "backtests/accuracy-metrics-values/", "bt_export")
    kinds = sorted(row["backtest_window"] for row in accuracy)
    assert kinds == ["Computed"] * len(ITEMS) + ["Summary"] * len(ITEMS)
    assert {f"s3://{USER_BUCKET}/{key}" for key in files} == written

    executions = stack.executions()
    assert {"export-forecast", "export-predictor-backtest"} <= set(executions), executions
    assert all(status == "SUCCEEDED" for runs in executions.values() for status in runs)


def test_dataset_export_writes_the_imported_interactions_as_csv(
    stack: Stack, uploads: list[tuple[str, str | None]]
) -> None:
    personalize = stack.api.client("personalize")
    _, dataset = personalize_group(stack, personalize, "export")
    job = personalize.create_dataset_export_job(
        jobName="interactions",
        datasetArn=dataset,
        ingestionMode="BULK",
        roleArn=USER_ROLE,
        jobOutput={"s3DataDestination": {"path": f"s3://{USER_BUCKET}/dataset-export/"}},
    )["datasetExportJobArn"]
    personalize_active(lambda: personalize.describe_dataset_export_job(datasetExportJobArn=job))

    files = stack.user_files("dataset-export/")
    exported = parts(files, "dataset-export/", "interactions")
    assert list(exported[0]) == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]
    imported = rows(interactions_csv())
    key = lambda row: tuple(row.values())  # noqa: E731
    assert sorted(exported, key=key) == sorted(imported, key=key)
    assert uploads == [(f"s3://{USER_BUCKET}/{next(iter(files))}", USER_ROLE)]
    assert stack.executions()["personalize-export-dataset"] == ["SUCCEEDED"]
