"""Forecasts, QueryForecast and forecast exports, through stock boto3 clients.

One predictor and forecast are built once for the module (the fake container
makes it quick); tests that delete things build their own.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from augury_training.forecast_contract import item_key, shard_of
from tests.conftest import dummy_aws_credentials
from tests.embedded.forecast_helpers import (
    client_for,
    daily_rows,
    error_of,
    make_group,
    put_data,
    start_server,
    wait_for,
)
from tests.fixtures.fake_forecasting_container import SLEEP_ITEM

ITEMS = {"apple": "paris", "pear": "lyon", "plum": "nice", "fig": "lyon"}
ROLE = "arn:aws:iam::000000000000:role/ForecastExport"
HORIZON = 5
PART = re.compile(r"^everything_(\w+)_\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z_part(\d+)\.(\w+)$")


class World:
    """A server with one ACTIVE predictor and one ACTIVE forecast."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = start_server(root)
        self.forecast = client_for(self.server, "forecast")
        self.query = client_for(self.server, "forecastquery")
        self.group, self.dataset = make_group(
            self.forecast, self.server, "shop", daily_rows(ITEMS, 30)
        )
        self.predictor = train(self.forecast, self.group, "shop_predictor")
        self.forecast_arn = self.forecast.create_forecast(
            ForecastName="shop_forecast", PredictorArn=self.predictor
        )["ForecastArn"]
        done = wait_for(lambda: self.forecast.describe_forecast(ForecastArn=self.forecast_arn))
        assert done["Status"] == "ACTIVE", done.get("Message")

    def shard_rows(self, item: str) -> list[dict]:
        """The rows the container wrote for ``item``, read straight from its shard."""
        identity = {"item_id": item, "location": ITEMS[item]}
        shard = shard_of(item_key(identity, ["item_id", "location"]))
        key = f"resources/forecast/forecast/shop_forecast/shards/shard={shard}.parquet"
        table = pq.read_table(io.BytesIO(self.server.runtime.blobs.get_bytes(key)))
        return sorted(
            (row for row in table.to_pylist() if row["item_id"] == item), key=lambda r: r["date"]
        )


def train(forecast: Any, group: str, name: str) -> str:
    arn = forecast.create_auto_predictor(
        PredictorName=name,
        ForecastHorizon=HORIZON,
        ForecastFrequency="D",
        ForecastDimensions=["location"],
        DataConfig={"DatasetGroupArn": group},
    )["PredictorArn"]
    done = wait_for(lambda: forecast.describe_auto_predictor(PredictorArn=arn))
    assert done["Status"] == "ACTIVE", done.get("Message")
    return arn


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with dummy_aws_credentials():
        built = World(tmp_path_factory.mktemp("forecast-query"))
        yield built
        built.server.stop()


def test_a_forecast_is_described_and_listed(world: World):
    described = world.forecast.describe_forecast(ForecastArn=world.forecast_arn)
    assert described["ForecastTypes"] == ["0.1", "0.5", "0.9"]  # the predictor's
    assert described["PredictorArn"] == world.predictor
    assert described["DatasetGroupArn"] == world.group
    assert "EstimatedTimeRemainingInMinutes" not in described
    listed = world.forecast.list_forecasts(
        Filters=[{"Key": "PredictorArn", "Value": world.predictor, "Condition": "IS"}]
    )["Forecasts"]
    assert [(f["ForecastArn"], f["CreatedUsingAutoPredictor"]) for f in listed] == [
        (world.forecast_arn, True)
    ]


@pytest.mark.parametrize("item", sorted(ITEMS))
def test_query_answers_with_the_rows_of_the_items_shard(world: World, item: str):
    answer = world.query.query_forecast(
        ForecastArn=world.forecast_arn, Filters={"item_id": item, "location": ITEMS[item]}
    )["Forecast"]["Predictions"]
    rows = world.shard_rows(item)
    assert len(rows) == HORIZON
    assert sorted(answer) == ["p10", "p50", "p90"]
    for column, points in answer.items():
        assert [p["Timestamp"] for p in points] == [
            r["date"].strftime("%Y-%m-%dT%H:%M:%S") for r in rows
        ]
        assert [p["Value"] for p in points] == pytest.approx([r[column] for r in rows])


def test_start_and_end_dates_bound_the_answer(world: World):
    answer = world.query.query_forecast(
        ForecastArn=world.forecast_arn,
        Filters={"item_id": "pear", "location": "lyon"},
        StartDate="2024-02-01T00:00:00",
        EndDate="2024-02-02T00:00:00",
    )["Forecast"]["Predictions"]
    assert [p["Timestamp"] for p in answer["p50"]] == ["2024-02-01T00:00:00", "2024-02-02T00:00:00"]


@pytest.mark.parametrize(
    ("request_change", "code", "expected"),
    [
        ({"Filters": {"item_id": "pear"}}, "InvalidInputException", "missing location"),
        (
            {"Filters": {"item_id": "pear", "location": "lyon", "store": "1"}},
            "InvalidInputException",
            "store",
        ),
        (
            {"Filters": {"item_id": "quince", "location": "lyon"}},
            "ResourceNotFoundException",
            "item_id=quince, location=lyon",
        ),
        ({"NextToken": "abc"}, "InvalidNextTokenException", "NextToken"),
        ({"StartDate": "2024-02-31T00:00:00"}, "InvalidInputException", "not a valid date"),
        (
            {"StartDate": "2024-02-03T00:00:00", "EndDate": "2024-02-01T00:00:00"},
            "InvalidInputException",
            "after EndDate",
        ),
        (
            {"ForecastArn": "arn:aws:forecast:us-east-1:000000000000:forecast/nothing"},
            "ResourceNotFoundException",
            "No forecast found",
        ),
    ],
)
def test_query_errors_are_amazons(world: World, request_change, code, expected):
    request = {
        "ForecastArn": world.forecast_arn,
        "Filters": {"item_id": "pear", "location": "lyon"},
        **request_change,
    }
    with pytest.raises(ClientError) as raised:
        world.query.query_forecast(**request)
    got_code, message = error_of(raised)
    assert got_code == code
    assert expected in message


@pytest.mark.parametrize("file_format", ["CSV", "PARQUET"])
def test_export_writes_every_forecast_in_amazons_part_files(world: World, file_format: str):
    path = f"s3://exports/{file_format.lower()}"
    job = world.forecast.create_forecast_export_job(
        ForecastExportJobName=f"everything_{file_format.lower()}",
        ForecastArn=world.forecast_arn,
        Destination={"S3Config": {"Path": path, "RoleArn": ROLE}},
        Format=file_format,
    )["ForecastExportJobArn"]
    assert job.endswith(f":forecast-export-job/shop_forecast/everything_{file_format.lower()}")
    described = wait_for(
        lambda: world.forecast.describe_forecast_export_job(ForecastExportJobArn=job)
    )
    assert described["Status"] == "ACTIVE", described.get("Message")
    assert described["Format"] == file_format

    folder = world.root / "data" / "s3" / "exports" / file_format.lower()
    names = sorted(p.name for p in folder.iterdir())
    assert "_SUCCESS" in names
    parts = [n for n in names if n != "_SUCCESS"]
    matches = [PART.match(n) for n in parts]
    assert all(m and m[1] == m[3] == file_format.lower() for m in matches), parts
    numbers = sorted(int(m[2]) for m in matches if m)
    assert numbers == list(range(len(parts)))
    rows: list[dict] = []
    for name in parts:
        if file_format == "CSV":
            with (folder / name).open() as handle:
                reader = csv.DictReader(handle)
                assert reader.fieldnames == ["item_id", "location", "date", "p10", "p50", "p90"]
                rows.extend(reader)
        else:
            rows.extend(pq.read_table(folder / name).to_pylist())
    assert len(rows) == len(ITEMS) * HORIZON
    for item in ITEMS:
        mine = sorted((r for r in rows if r["item_id"] == item), key=lambda r: str(r["date"]))
        expected = world.shard_rows(item)
        assert [float(r["p90"]) for r in mine] == pytest.approx([r["p90"] for r in expected])
        if file_format == "CSV":
            assert mine[0]["date"] == expected[0]["date"].strftime("%Y-%m-%dT%H:%M:%SZ")

    listed = world.forecast.list_forecast_export_jobs(
        Filters=[{"Key": "ForecastArn", "Value": world.forecast_arn, "Condition": "IS"}]
    )["ForecastExportJobs"]
    assert job in [j["ForecastExportJobArn"] for j in listed]


def test_an_export_to_a_path_embedded_mode_cannot_reach_is_refused(world: World):
    with pytest.raises(ClientError) as raised:
        world.forecast.create_forecast_export_job(
            ForecastExportJobName="nowhere",
            ForecastArn=world.forecast_arn,
            Destination={"S3Config": {"Path": "s3://bucket/../../etc", "RoleArn": ROLE}},
        )
    assert error_of(raised)[0] == "InvalidInputException"


def item_selector(path: str) -> dict:
    """A TimeSeriesSelector naming the items (item_id, location) listed in ``path``."""
    attributes = [
        {"AttributeName": name, "AttributeType": "string"} for name in ("item_id", "location")
    ]
    return {
        "TimeSeriesIdentifiers": {
            "DataSource": {"S3Config": {"Path": path, "RoleArn": ROLE}},
            "Schema": {"Attributes": attributes},
        }
    }


def test_a_role_that_is_not_an_iam_role_is_refused_wherever_it_is_named(world: World):
    """Exports and selectors name the role Forecast would assume, as imports do."""
    bad = "arn:aws:forecast:::x"
    refused = [
        lambda: world.forecast.create_forecast_export_job(
            ForecastExportJobName="bad_role",
            ForecastArn=world.forecast_arn,
            Destination={"S3Config": {"Path": "s3://bucket/out/", "RoleArn": bad}},
        ),
        lambda: world.forecast.create_predictor_backtest_export_job(
            PredictorBacktestExportJobName="bad_role",
            PredictorArn=world.predictor,
            Destination={"S3Config": {"Path": "s3://bucket/out/", "RoleArn": bad}},
        ),
        lambda: world.forecast.create_forecast(
            ForecastName="bad_role",
            PredictorArn=world.predictor,
            TimeSeriesSelector={
                "TimeSeriesIdentifiers": {
                    "DataSource": {"S3Config": {"Path": "s3://inputs/x.csv", "RoleArn": bad}},
                    "Schema": {"Attributes": [{"AttributeName": "item_id"}]},
                }
            },
        ),
    ]
    for call in refused:
        with pytest.raises(ClientError) as raised:
            call()
        code, message = error_of(raised)
        assert code == "InvalidInputException"
        assert f"RoleArn {bad} is not an IAM role ARN" in message
    exports = world.forecast.list_forecast_export_jobs()["ForecastExportJobs"]
    assert "bad_role" not in [job["ForecastExportJobName"] for job in exports]


def test_a_selector_file_that_is_not_there_fails_the_forecast_saying_so(world: World):
    arn = world.forecast.create_forecast(
        ForecastName="missing_selector",
        PredictorArn=world.predictor,
        TimeSeriesSelector=item_selector("s3://inputs/absent.csv"),
    )["ForecastArn"]
    described = wait_for(lambda: world.forecast.describe_forecast(ForecastArn=arn))
    assert described["Status"] == "CREATE_FAILED"
    assert "no file was found at s3://inputs/absent.csv" in described["Message"]


def test_forecast_types_and_a_time_series_selector(world: World):
    selection = world.root / "data" / "s3" / "inputs" / "only_plum.csv"
    selection.parent.mkdir(parents=True, exist_ok=True)
    selection.write_text("plum,nice\n")
    arn = world.forecast.create_forecast(
        ForecastName="plum_only",
        PredictorArn=world.predictor,
        ForecastTypes=["0.25", "mean"],
        TimeSeriesSelector={
            "TimeSeriesIdentifiers": {
                **item_selector("s3://inputs/only_plum.csv")["TimeSeriesIdentifiers"],
                "Format": "CSV",
            }
        },
    )["ForecastArn"]
    described = wait_for(lambda: world.forecast.describe_forecast(ForecastArn=arn))
    assert described["Status"] == "ACTIVE", described.get("Message")
    assert described["ForecastTypes"] == ["0.25", "mean"]
    answer = world.query.query_forecast(
        ForecastArn=arn, Filters={"item_id": "plum", "location": "nice"}
    )["Forecast"]["Predictions"]
    assert sorted(answer) == ["mean", "p25"]
    mean = world.shard_rows("plum")[0]["p50"]  # the fake's p50 is its mean
    assert answer["p25"][0]["Value"] == pytest.approx(mean * 0.75)
    with pytest.raises(ClientError) as raised:
        world.query.query_forecast(ForecastArn=arn, Filters={"item_id": "pear", "location": "lyon"})
    assert error_of(raised)[0] == "ResourceNotFoundException"

    with pytest.raises(ClientError) as raised:
        world.forecast.create_forecast(
            ForecastName="bad_selector",
            PredictorArn=world.predictor,
            TimeSeriesSelector={
                "TimeSeriesIdentifiers": {
                    "DataSource": {"S3Config": {"Path": "s3://inputs/x.csv", "RoleArn": ROLE}},
                    "Schema": {"Attributes": [{"AttributeName": "store"}]},
                }
            },
        )
    assert "identity fields item_id, location" in error_of(raised)[1]


@pytest.fixture
def own(tmp_path) -> Iterator[tuple[EmbeddedServer, Any]]:
    server = start_server(tmp_path)
    yield server, client_for(server, "forecast")
    server.stop()


def test_deleting_what_is_in_use_is_refused_and_deletion_cascades(own):
    server, forecast = own
    group, _ = make_group(forecast, server, "del", daily_rows(ITEMS, 30))
    predictor = train(forecast, group, "del_predictor")
    made = forecast.create_forecast(ForecastName="del_forecast", PredictorArn=predictor)
    arn = made["ForecastArn"]
    with pytest.raises(ClientError) as raised:
        forecast.delete_forecast(ForecastArn=arn)  # still being created
    assert error_of(raised)[0] == "ResourceInUseException"
    wait_for(lambda: forecast.describe_forecast(ForecastArn=arn))
    export = forecast.create_forecast_export_job(
        ForecastExportJobName="del_export",
        ForecastArn=arn,
        Destination={"S3Config": {"Path": "s3://exports/del", "RoleArn": ROLE}},
    )["ForecastExportJobArn"]
    wait_for(lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=export))

    with pytest.raises(ClientError) as raised:
        forecast.delete_predictor(PredictorArn=predictor)
    code, message = error_of(raised)
    assert code == "ResourceInUseException" and arn in message

    forecast.delete_forecast(ForecastArn=arn)  # its finished export job goes with it
    assert server.runtime.workflows.wait_idle(timeout=30)
    for gone in (
        lambda: forecast.describe_forecast(ForecastArn=arn),
        lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=export),
    ):
        with pytest.raises(ClientError) as raised:
            gone()
        assert error_of(raised)[0] == "ResourceNotFoundException"
    data = Path(str(server.runtime.settings.data_dir))
    assert (data / "s3" / "exports" / "del" / "_SUCCESS").is_file()  # the user's files stay

    forecast.delete_predictor(PredictorArn=predictor)
    assert server.runtime.workflows.wait_idle(timeout=30)
    assert forecast.list_predictors()["Predictors"] == []


def test_delete_resource_tree_deletes_everything_below_a_dataset_group(own):
    server, forecast = own
    group, dataset = make_group(forecast, server, "tree", daily_rows(ITEMS, 30))
    predictor = train(forecast, group, "tree_predictor")
    arn = forecast.create_forecast(ForecastName="tree_forecast", PredictorArn=predictor)[
        "ForecastArn"
    ]
    with pytest.raises(ClientError) as raised:
        forecast.delete_resource_tree(ResourceArn=group)
    code, message = error_of(raised)
    assert code == "ResourceInUseException" and arn in message
    wait_for(lambda: forecast.describe_forecast(ForecastArn=arn))
    # a job is no tree's root: it is deleted by its own Delete operation
    export = forecast.create_forecast_export_job(
        ForecastExportJobName="tree_export",
        ForecastArn=arn,
        Destination={"S3Config": {"Path": "s3://exports/tree", "RoleArn": ROLE}},
    )["ForecastExportJobArn"]
    with pytest.raises(ClientError) as raised:
        forecast.delete_resource_tree(ResourceArn=export)
    code, message = error_of(raised)
    assert code == "InvalidInputException" and "forecast export job" in message
    wait_for(lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=export))

    forecast.delete_resource_tree(ResourceArn=group)
    assert server.runtime.workflows.wait_idle(timeout=30)
    assert forecast.list_dataset_groups()["DatasetGroups"] == []
    assert forecast.list_predictors()["Predictors"] == []
    assert forecast.list_forecasts()["Forecasts"] == []
    assert forecast.describe_dataset(DatasetArn=dataset)["Status"] == "ACTIVE"  # not below it
    assert list(server.runtime.blobs.list_keys("resources/forecast/predictor/")) == []


def test_a_forecast_generation_can_be_stopped(own):
    server, forecast = own
    group, dataset = make_group(forecast, server, "stop", daily_rows(ITEMS, 30))
    predictor = train(forecast, group, "stop_predictor")
    put_data(server, dataset, daily_rows({**ITEMS, SLEEP_ITEM: "x"}, 30))
    arn = forecast.create_forecast(ForecastName="never", PredictorArn=predictor)["ForecastArn"]
    forecast.stop_resource(ResourceArn=arn)
    described = wait_for(lambda: forecast.describe_forecast(ForecastArn=arn), timeout=30)
    assert described["Status"] == "CREATE_STOPPED"
    query = client_for(server, "forecastquery")
    with pytest.raises(ClientError) as raised:
        query.query_forecast(ForecastArn=arn, Filters={"item_id": "pear", "location": "lyon"})
    assert error_of(raised) == (
        "InvalidInputException",
        f"Forecast {arn} is CREATE_STOPPED, not ACTIVE; it can be queried only when it is ACTIVE",
    )
