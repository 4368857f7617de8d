"""Predictors through a stock boto3 client, trained by the fake forecasting container.

Covers CreateAutoPredictor / DescribeAutoPredictor, the legacy CreatePredictor /
DescribePredictor, ListPredictors, GetAccuracyMetrics (compared with what the
container wrote), retraining, backtest exports, StopResource, and the ways a
request is refused (Amazon's rules) or a training fails (its reason in Message).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from tests.embedded.forecast_helpers import (
    client_for,
    daily_rows,
    error_of,
    make_group,
    start_server,
    wait_for,
)
from tests.fixtures.fake_forecasting_container import FAIL_ITEM, FAIL_REASON, SLEEP_ITEM

ITEMS = {"apple": "paris", "pear": "lyon", "plum": "nice"}
ROLE = "arn:aws:iam::000000000000:role/ForecastExport"
ALGORITHM = "arn:aws:forecast:::algorithm/"


@pytest.fixture
def server(tmp_path) -> Iterator[EmbeddedServer]:
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def forecast(server: EmbeddedServer) -> Any:
    return client_for(server, "forecast")


def auto_predictor(forecast: Any, group: str, name: str = "demand_auto", **extra: Any) -> str:
    request = {
        "PredictorName": name,
        "ForecastHorizon": 5,
        "ForecastFrequency": "D",
        "ForecastTypes": ["0.1", "0.5", "0.9", "mean"],
        "ForecastDimensions": ["location"],
        "DataConfig": {"DatasetGroupArn": group},
        **extra,
    }
    return forecast.create_auto_predictor(**request)["PredictorArn"]


def summary_written(server: EmbeddedServer, predictor: str) -> dict:
    name = predictor.rsplit("/", 1)[-1]
    key = f"resources/forecast/predictor/{name}/model/predictor.json"
    return json.loads(server.runtime.blobs.get_bytes(key))


def test_auto_predictor_trains_and_reports_what_the_container_measured(forecast, server):
    group, _ = make_group(forecast, server, "shop", daily_rows(ITEMS, 40))
    arn = auto_predictor(forecast, group, Tags=[{"Key": "team", "Value": "demand"}])
    assert arn == "arn:aws:forecast:us-east-1:000000000000:predictor/demand_auto"

    described = wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=arn))
    assert described["Status"] == "ACTIVE", described.get("Message")
    for member in ("ExplainabilityInfo", "MonitorInfo", "ReferencePredictorSummary"):
        assert member not in described
    assert "EstimatedTimeRemainingInMinutes" not in described
    written_summary = summary_written(server, arn)
    leader, count = max(written_summary["chosen_algorithms"].items(), key=lambda kv: kv[1])
    message = described["Message"]
    assert message.startswith("Ensemble weights: the largest weight per item goes to ")
    assert f"{leader} {count} (" in message
    assert written_summary["explanation"] in message
    assert {k: described[k] for k in ("ForecastHorizon", "ForecastFrequency")} == {
        "ForecastHorizon": 5,
        "ForecastFrequency": "D",
    }
    assert described["ForecastTypes"] == ["0.1", "0.5", "0.9", "mean"]
    assert described["ForecastDimensions"] == ["location"]
    assert described["DataConfig"] == {"DatasetGroupArn": group}
    assert described["OptimizationMetric"] == "AverageWeightedQuantileLoss"
    assert described["DatasetImportJobArns"] == []
    assert forecast.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "demand"}
    ]

    metrics = forecast.get_accuracy_metrics(PredictorArn=arn)
    assert metrics["IsAutoPredictor"] is True
    assert metrics["OptimizationMetric"] == "AverageWeightedQuantileLoss"
    results = metrics["PredictorEvaluationResults"]
    written = {r["algorithm"]: r["windows"] for r in summary_written(server, arn)["results"]}
    assert [r["AlgorithmArn"] for r in results] == [
        ALGORITHM + name
        for name in ("AutoPredictor", "ARIMA", "ETS", "NPTS", "SeasonalNaive", "Theta")
    ]
    for result in results:
        windows = written[result["AlgorithmArn"].rsplit("/", 1)[-1]]
        summary, computed = result["TestWindows"][0], result["TestWindows"][1:]
        assert summary["EvaluationType"] == "SUMMARY"
        assert [w["EvaluationType"] for w in computed] == ["COMPUTED"] * len(windows)
        for shown, window in zip(computed, windows, strict=True):
            assert shown["ItemCount"] == window["item_count"] == 3 * 5  # data points
            assert shown["TestWindowStart"].isoformat().startswith(window["test_window_start"])
            measured = shown["Metrics"]
            assert measured["RMSE"] == pytest.approx(window["rmse"])
            assert measured["AverageWeightedQuantileLoss"] == pytest.approx(
                window["average_weighted_quantile_loss"]
            )
            assert measured["WeightedQuantileLosses"] == [
                {"Quantile": float(q), "LossValue": pytest.approx(v)}
                for q, v in window["weighted_quantile_losses"].items()
            ]
            assert measured["ErrorMetrics"] == [
                {
                    "ForecastType": "mean",
                    "WAPE": pytest.approx(window["wape"]),
                    "RMSE": pytest.approx(window["rmse"]),
                    "MASE": pytest.approx(window["mase"]),
                }
            ]  # MAPE is undefined in the container's numbers, so it is left out

    listed = forecast.list_predictors(
        Filters=[{"Key": "DatasetGroupArn", "Value": group, "Condition": "IS"}]
    )["Predictors"]
    assert [(p["PredictorArn"], p["IsAutoPredictor"], p["Status"]) for p in listed] == [
        (arn, True, "ACTIVE")
    ]
    assert listed[0]["DatasetGroupArn"] == group

    with pytest.raises(ClientError) as raised:
        forecast.describe_predictor(PredictorArn=arn)
    code, message = error_of(raised)
    assert code == "InvalidInputException" and "DescribeAutoPredictor" in message


def test_legacy_predictor_with_backtests_featurization_and_holidays(forecast, server):
    group, _ = make_group(forecast, server, "legacy", daily_rows(ITEMS, 60))
    arn = forecast.create_predictor(
        PredictorName="ets_demand",
        AlgorithmArn=ALGORITHM + "ETS",
        ForecastHorizon=7,
        EvaluationParameters={"NumberOfBacktestWindows": 2, "BackTestWindowOffset": 7},
        InputDataConfig={
            "DatasetGroupArn": group,
            "SupplementaryFeatures": [{"Name": "holiday", "Value": "US"}],
        },
        FeaturizationConfig={
            "ForecastFrequency": "D",
            "ForecastDimensions": ["location"],
            "Featurizations": [
                {
                    "AttributeName": "demand",
                    "FeaturizationPipeline": [
                        {
                            "FeaturizationMethodName": "filling",
                            "FeaturizationMethodParameters": {
                                "middlefill": "value",
                                "middlefill_value": "2",
                                "aggregation": "avg",
                            },
                        }
                    ],
                }
            ],
        },
    )["PredictorArn"]
    described = wait_for(lambda: forecast.describe_predictor(PredictorArn=arn))
    assert described["Status"] == "ACTIVE", described.get("Message")
    assert described["AlgorithmArn"] == ALGORITHM + "ETS"
    assert described["IsAutoPredictor"] is False
    assert described["PerformAutoML"] is False and described["PerformHPO"] is False
    assert "Message" not in described  # one algorithm: no ensemble weights to report
    assert described["EvaluationParameters"] == {
        "NumberOfBacktestWindows": 2,
        "BackTestWindowOffset": 7,
    }
    executions = described["PredictorExecutionDetails"]["PredictorExecutions"]
    assert [e["AlgorithmArn"] for e in executions] == [ALGORITHM + "ETS"]
    assert [w["Status"] for w in executions[0]["TestWindows"]] == ["ACTIVE", "ACTIVE"]

    config = json.loads(
        server.runtime.metadata.get(arn).attributes["_job_config"]  # what the container got
    )
    assert config["algorithms"] == ["ETS"] and config["auto"] is False
    assert config["holiday_country"] == "US" and config["backtest_windows"] == 2
    assert config["featurizations"][0]["middlefill_value"] == 2.0
    assert config["featurizations"][0]["aggregation"] == "avg"

    metrics = forecast.get_accuracy_metrics(PredictorArn=arn)
    assert metrics["IsAutoPredictor"] is False
    (result,) = metrics["PredictorEvaluationResults"]
    assert result["AlgorithmArn"] == ALGORITHM + "ETS"
    assert [w["EvaluationType"] for w in result["TestWindows"]] == [
        "SUMMARY",
        "COMPUTED",
        "COMPUTED",
    ]
    first, second = (w["Metrics"]["RMSE"] for w in result["TestWindows"][1:])
    assert result["TestWindows"][0]["Metrics"]["RMSE"] == pytest.approx((first + second) / 2)

    with pytest.raises(ClientError) as raised:
        forecast.describe_auto_predictor(PredictorArn=arn)
    assert error_of(raised)[0] == "InvalidInputException"


def test_retraining_keeps_the_settings_and_names_the_reference(forecast, server):
    def wait_for_workflows() -> None:
        assert server.runtime.workflows.wait_idle(timeout=30)

    group, _ = make_group(forecast, server, "again", daily_rows(ITEMS, 40))
    first = auto_predictor(forecast, group, name="first")
    with pytest.raises(ClientError) as raised:
        forecast.create_auto_predictor(PredictorName="early", ReferencePredictorArn=first)
    assert error_of(raised)[0] in ("ResourceInUseException", "InvalidInputException")
    wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=first))

    with pytest.raises(ClientError) as raised:
        forecast.create_auto_predictor(
            PredictorName="second", ReferencePredictorArn=first, ForecastHorizon=3
        )
    code, message = error_of(raised)
    assert code == "InvalidInputException" and "ForecastHorizon" in message

    second = forecast.create_auto_predictor(PredictorName="second", ReferencePredictorArn=first)[
        "PredictorArn"
    ]
    described = wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=second))
    assert described["Status"] == "ACTIVE", described.get("Message")
    assert described["ReferencePredictorSummary"] == {"Arn": first, "State": "Active"}
    assert described["ForecastHorizon"] == 5
    assert described["ForecastDimensions"] == ["location"]

    forecast.delete_predictor(PredictorArn=first)
    wait_for_workflows()
    gone = forecast.describe_auto_predictor(PredictorArn=second)["ReferencePredictorSummary"]
    assert gone == {"Arn": first, "State": "Deleted"}


def test_a_horizon_longer_than_the_data_allows_fails_with_amazons_rule(forecast, server):
    group, _ = make_group(forecast, server, "short", daily_rows(ITEMS, 40))
    arn = auto_predictor(forecast, group, ForecastHorizon=11)  # 40 days: at most 10
    described = wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=arn))
    assert described["Status"] == "CREATE_FAILED"
    message = described["Message"]
    assert "the lesser of 500 time-steps or 1/4 of the TARGET_TIME_SERIES dataset length" in message
    assert "spans 40 time-steps" in message and "maximum is 10" in message


def test_a_training_failure_surfaces_the_containers_reason(forecast, server):
    rows = daily_rows({**ITEMS, FAIL_ITEM: "lyon"}, 40)
    group, _ = make_group(forecast, server, "broken", rows)
    arn = auto_predictor(forecast, group)
    described = wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=arn))
    assert described["Status"] == "CREATE_FAILED"
    assert described["Message"] == FAIL_REASON
    with pytest.raises(ClientError) as raised:
        forecast.get_accuracy_metrics(PredictorArn=arn)
    assert error_of(raised) == (
        "InvalidInputException",
        f"Predictor {arn} is CREATE_FAILED, not ACTIVE; "
        "its accuracy metrics are available only when it is ACTIVE",
    )
    forecast.delete_predictor(PredictorArn=arn)  # a failed predictor can be deleted


def test_stop_resource_stops_the_training_job(forecast, server):
    group, _ = make_group(forecast, server, "slow", daily_rows({**ITEMS, SLEEP_ITEM: "x"}, 40))
    arn = auto_predictor(forecast, group)
    with pytest.raises(ClientError) as raised:
        forecast.delete_predictor(PredictorArn=arn)
    assert error_of(raised)[0] == "ResourceInUseException"
    forecast.stop_resource(ResourceArn=arn)
    stopping = forecast.describe_auto_predictor(PredictorArn=arn)["Status"]
    assert stopping in ("CREATE_STOPPING", "CREATE_STOPPED")
    described = wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=arn), timeout=30)
    assert described["Status"] == "CREATE_STOPPED"
    with pytest.raises(ClientError) as raised:
        forecast.stop_resource(ResourceArn=arn)
    assert "only a resource that is being created" in error_of(raised)[1]


def test_backtest_export_writes_both_folders_with_amazons_names(forecast, server, tmp_path):
    group, _ = make_group(forecast, server, "backtests", daily_rows(ITEMS, 40))
    arn = auto_predictor(forecast, group)
    wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=arn))
    job = forecast.create_predictor_backtest_export_job(
        PredictorBacktestExportJobName="bt_export",
        PredictorArn=arn,
        Destination={"S3Config": {"Path": "s3://exports/backtests/", "RoleArn": ROLE}},
    )["PredictorBacktestExportJobArn"]
    assert job.endswith(":predictor-backtest-export-job/demand_auto/bt_export")
    described = wait_for(
        lambda: forecast.describe_predictor_backtest_export_job(PredictorBacktestExportJobArn=job)
    )
    assert described["Status"] == "ACTIVE", described.get("Message")
    assert described["Format"] == "CSV"

    folder = tmp_path / "data" / "s3" / "exports" / "backtests"
    assert (folder / "_SUCCESS").is_file()
    (values,) = (folder / "forecasted-values").iterdir()
    (accuracy,) = (folder / "accuracy-metrics-values").iterdir()
    for file in (values, accuracy):
        assert file.name.startswith("bt_export_") and file.name.endswith("Z_part0.csv")
    with values.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "item_id",
        "location",
        "timestamp",
        "target_value",
        "backtestwindow_start_time",
        "backtestwindow_end_time",
        "p10",
        "p50",
        "p90",
        "mean",
    ]
    assert len(rows) == 3 * 5
    with accuracy.open() as handle:
        kinds = sorted(row["backtest_window"] for row in csv.DictReader(handle))
    assert kinds == ["Computed"] * 3 + ["Summary"] * 3

    listed = forecast.list_predictor_backtest_export_jobs(
        Filters=[{"Key": "PredictorArn", "Value": arn, "Condition": "IS"}]
    )["PredictorBacktestExportJobs"]
    assert [j["PredictorBacktestExportJobArn"] for j in listed] == [job]
    parquet = forecast.create_predictor_backtest_export_job(
        PredictorBacktestExportJobName="bt_parquet",
        PredictorArn=arn,
        Destination={"S3Config": {"Path": "s3://exports/parquet", "RoleArn": ROLE}},
        Format="PARQUET",
    )["PredictorBacktestExportJobArn"]
    wait_for(
        lambda: forecast.describe_predictor_backtest_export_job(
            PredictorBacktestExportJobArn=parquet
        )
    )
    (values,) = (folder.parent / "parquet" / "forecasted-values").iterdir()
    assert values.name.startswith("bt_parquet_") and values.name.endswith("Z_part0.parquet")
    forecast.delete_predictor_backtest_export_job(PredictorBacktestExportJobArn=parquet)
    assert server.runtime.workflows.wait_idle(timeout=30)  # deleting is work that blocks

    forecast.delete_predictor(PredictorArn=arn)  # the finished export job goes with it
    assert server.runtime.workflows.wait_idle(timeout=30)
    with pytest.raises(ClientError) as raised:
        forecast.describe_predictor_backtest_export_job(PredictorBacktestExportJobArn=job)
    assert error_of(raised)[0] == "ResourceNotFoundException"
    assert (folder / "_SUCCESS").is_file()  # exported files are the user's


def test_a_predictor_trains_on_imported_data_and_names_the_import_jobs(forecast, server):
    """CSV in ``s3://`` (the data directory) → CreateDatasetImportJob → predictor. The
    predictor names the imports whose data it trained on: the latest FULL one, which
    replaced what came before, and the INCREMENTAL ones after it."""
    bucket = server.runtime.settings.data_dir + "/s3/inputs"
    Path(bucket).mkdir(parents=True)
    lines = [
        f"{row['item_id']},{row['location']},{row['timestamp']:%Y-%m-%d %H:%M:%S},{row['demand']}"
        for row in daily_rows(ITEMS, 40)
    ]
    Path(bucket, "sales.csv").write_text("\n".join(lines) + "\n")
    group, dataset = make_group(forecast, server, "imported", None)

    def load(name: str, mode: str) -> str:
        job = forecast.create_dataset_import_job(
            DatasetImportJobName=name,
            DatasetArn=dataset,
            DataSource={"S3Config": {"Path": "s3://inputs/sales.csv", "RoleArn": ROLE}},
            ImportMode=mode,
        )["DatasetImportJobArn"]
        imported = wait_for(lambda: forecast.describe_dataset_import_job(DatasetImportJobArn=job))
        assert imported["Status"] == "ACTIVE", imported.get("Message")
        return job

    load("first_import", "FULL")
    load("added", "INCREMENTAL")
    replacing = load("replacing", "FULL")
    added_after = load("added_after", "INCREMENTAL")

    arn = auto_predictor(forecast, group)
    described = wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=arn))
    assert described["Status"] == "ACTIVE", described.get("Message")
    assert described["DatasetImportJobArns"] == [replacing, added_after]
    windows = forecast.get_accuracy_metrics(PredictorArn=arn)["PredictorEvaluationResults"][0]
    assert windows["TestWindows"][1]["ItemCount"] == len(ITEMS) * 5  # data points
