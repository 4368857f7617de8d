"""Forecast dataset import jobs through a stock boto3 client against embedded Augury."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from augury.resources.data_versions import DATA_PREFIX, PREVIOUS_DATA_PREFIX
from augury.workflows import forecast_import

FIXTURES = Path(__file__).parent.parent / "fixtures" / "forecast"
ROLE = "arn:aws:iam::000000000000:role/ForecastImport"
TARGET = [("timestamp", "timestamp"), ("item_id", "string"), ("store", "string")]
TARGET += [("demand", "float")]


def schema(pairs) -> dict:
    return {"Attributes": [{"AttributeName": n, "AttributeType": t} for n, t in pairs]}


@pytest.fixture
def bucket(server) -> Path:
    """``s3://bucket/`` in the embedded server's data directory."""
    path = Path(server.runtime.settings.data_dir) / "s3" / "bucket"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def forecast(client):
    return client("forecast")


@pytest.fixture
def sales(forecast) -> str:
    return forecast.create_dataset(
        DatasetName="sales",
        Domain="RETAIL",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency="D",
        Schema=schema(TARGET),
    )["DatasetArn"]


def start_import(forecast, dataset: str, name: str, path: str, **extra) -> str:
    return forecast.create_dataset_import_job(
        DatasetImportJobName=name,
        DatasetArn=dataset,
        DataSource={"S3Config": {"Path": path, "RoleArn": ROLE}},
        **extra,
    )["DatasetImportJobArn"]


def run_import(forecast, wait, dataset: str, name: str, path: str, **extra) -> dict:
    arn = start_import(forecast, dataset, name, path, **extra)
    wait()
    described = forecast.describe_dataset_import_job(DatasetImportJobArn=arn)
    described.pop("ResponseMetadata")
    return described


def dataset_rows(server, dataset: str) -> pa.Table:
    record = server.runtime.metadata.get(dataset)
    keys = list(server.runtime.blobs.list_keys(record.attributes[DATA_PREFIX]))
    return pa.concat_tables([pq.read_table(server.runtime.blobs.path(k)) for k in keys]).sort_by(
        [("item_id", "ascending"), ("store", "ascending"), ("timestamp", "ascending")]
    )


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_full_import_is_described_with_field_statistics(
    server, forecast, sales, bucket, held_import, wait_for_workflows
):
    shutil.copy(FIXTURES / "sales.csv", bucket / "sales.csv")
    arn = start_import(forecast, sales, "first", "s3://bucket/sales.csv")
    assert arn == "arn:aws:forecast:us-east-1:000000000000:dataset-import-job/sales/first"
    assert forecast.describe_dataset(DatasetArn=sales)["Status"] in (
        "UPDATE_PENDING",
        "UPDATE_IN_PROGRESS",
    )
    running = forecast.describe_dataset_import_job(DatasetImportJobArn=arn)
    assert running["Status"] in ("CREATE_PENDING", "CREATE_IN_PROGRESS")
    held_import.set()
    wait_for_workflows()
    job = forecast.describe_dataset_import_job(DatasetImportJobArn=arn)
    assert job["Status"] == "ACTIVE"
    assert job["DatasetArn"] == sales
    assert job["DataSource"] == {"S3Config": {"Path": "s3://bucket/sales.csv", "RoleArn": ROLE}}
    assert (job["Format"], job["ImportMode"], job["TimestampFormat"]) == (
        "CSV",
        "FULL",
        "yyyy-MM-dd HH:mm:ss",
    )
    assert job["DataSize"] == pytest.approx(os.path.getsize(bucket / "sales.csv") / 1024**3)
    assert "EstimatedTimeRemainingInMinutes" not in job and "Message" not in job
    statistics = job["FieldStatistics"]
    assert statistics["item_id"] == {
        "Count": 8,
        "CountLong": 8,
        "CountDistinct": 2,
        "CountDistinctLong": 2,
        "CountNull": 0,
        "CountNullLong": 0,
    }
    demand = statistics["demand"]
    assert (demand["Count"], demand["CountNull"], demand["CountNan"]) == (7, 1, 1)
    assert (demand["Min"], demand["Max"]) == ("3.0", "12.5")
    assert demand["Avg"] == pytest.approx((10 + 12.5 + 3 + 4 + 7 + 6) / 6)
    assert statistics["timestamp"]["Min"] == "2019-01-01 00:00:00"
    assert statistics["store"]["CountDistinct"] == 3

    described = forecast.describe_dataset(DatasetArn=sales)
    assert described["Status"] == "ACTIVE"
    assert described["LastModificationTime"] >= job["CreationTime"]
    rows = dataset_rows(server, sales)
    assert rows.num_rows == 8
    assert rows.column_names == ["timestamp", "item_id", "store", "demand"]
    assert rows.slice(0, 1).to_pylist()[0]["item_id"] == "shoes"


def test_list_filters_and_pages(forecast, sales, bucket, wait_for_workflows):
    shutil.copy(FIXTURES / "sales.csv", bucket / "sales.csv")
    first = run_import(forecast, wait_for_workflows, sales, "one", "s3://bucket/sales.csv")
    bad = run_import(forecast, wait_for_workflows, sales, "two", "s3://bucket/missing.csv")
    assert bad["Status"] == "CREATE_FAILED"
    listed = forecast.list_dataset_import_jobs()["DatasetImportJobs"]
    assert [j["DatasetImportJobName"] for j in listed] == ["one", "two"]
    assert set(listed[0]) == {
        "DatasetImportJobArn",
        "DatasetImportJobName",
        "DataSource",
        "Status",
        "CreationTime",
        "LastModificationTime",
        "ImportMode",
    }
    assert listed[1]["Message"] == "No file was found at s3://bucket/missing.csv"

    def names(*filters) -> list[str]:
        jobs = forecast.list_dataset_import_jobs(Filters=list(filters))["DatasetImportJobs"]
        return [j["DatasetImportJobName"] for j in jobs]

    by_dataset = {"Key": "DatasetArn", "Value": sales, "Condition": "IS"}
    assert names(by_dataset) == ["one", "two"]
    assert names({**by_dataset, "Condition": "IS_NOT"}) == []
    assert names(by_dataset, {"Key": "Status", "Value": "ACTIVE", "Condition": "IS"}) == ["one"]
    page = forecast.list_dataset_import_jobs(MaxResults=1)
    assert [j["DatasetImportJobArn"] for j in page["DatasetImportJobs"]] == [
        first["DatasetImportJobArn"]
    ]
    rest = forecast.list_dataset_import_jobs(MaxResults=1, NextToken=page["NextToken"])
    assert [j["DatasetImportJobName"] for j in rest["DatasetImportJobs"]] == ["two"]
    with pytest.raises(ClientError) as caught:
        forecast.list_dataset_import_jobs(
            Filters=[{"Key": "Name", "Value": "x", "Condition": "IS"}]
        )
    assert error_of(caught)[0] == "InvalidInputException"


def test_incremental_import_replaces_rows_with_the_same_key(
    server, forecast, sales, bucket, wait_for_workflows
):
    shutil.copy(FIXTURES / "sales.csv", bucket / "sales.csv")
    shutil.copy(FIXTURES / "sales_update.csv", bucket / "update.csv")
    with pytest.raises(ClientError) as caught:
        start_import(forecast, sales, "early", "s3://bucket/update.csv", ImportMode="INCREMENTAL")
    assert error_of(caught)[0] == "InvalidInputException"
    assert "has no imported data yet" in error_of(caught)[1]

    run_import(forecast, wait_for_workflows, sales, "full", "s3://bucket/sales.csv")
    with pytest.raises(ClientError) as caught:
        start_import(
            forecast,
            sales,
            "other_format",
            "s3://bucket/update.csv",
            ImportMode="INCREMENTAL",
            TimestampFormat="yyyy-MM-dd",
        )
    assert "keeps the TimestampFormat" in error_of(caught)[1]

    job = run_import(
        forecast,
        wait_for_workflows,
        sales,
        "more",
        "s3://bucket/update.csv",
        ImportMode="INCREMENTAL",
    )
    assert (job["Status"], job["ImportMode"]) == ("ACTIVE", "INCREMENTAL")
    assert job["FieldStatistics"]["demand"]["Count"] == 3  # the imported file's rows
    rows = dataset_rows(server, sales).to_pylist()
    assert len(rows) == 10
    nyc = [(r["timestamp"].day, r["demand"]) for r in rows if r["store"] == "NYC"]
    assert nyc == [(1, 10.0), (2, 12.5), (3, 11.0), (4, 13.0)]

    record = server.runtime.metadata.get(sales).attributes
    assert record[DATA_PREFIX].endswith("/data/more/")
    assert record[PREVIOUS_DATA_PREFIX].endswith("/data/full/")
    run_import(forecast, wait_for_workflows, sales, "again", "s3://bucket/sales.csv")
    versions = {
        k.split("/data/")[1].split("/")[0] for k in server.runtime.blobs.list_keys("resources/")
    }
    assert versions == {"more", "again"}  # the current one and the one before


def test_parquet_import(server, forecast, sales, bucket, wait_for_workflows):
    table = pa.table(
        {
            "item_id": ["socks", "socks"],
            "store": ["NYC", "NYC"],
            "timestamp": ["2019-01-01", "2019-01-02"],
            "demand": [1.5, 2.5],
        }
    )
    pq.write_table(table, bucket / "sales.parquet")
    job = run_import(
        forecast, wait_for_workflows, sales, "pq", "s3://bucket/sales.parquet", Format="PARQUET"
    )
    assert (job["Status"], job["Format"]) == ("ACTIVE", "PARQUET")
    assert dataset_rows(server, sales)["demand"].to_pylist() == [1.5, 2.5]


def test_a_bad_file_fails_and_leaves_the_previous_data_untouched(
    server, forecast, sales, bucket, wait_for_workflows
):
    shutil.copy(FIXTURES / "sales.csv", bucket / "sales.csv")
    run_import(forecast, wait_for_workflows, sales, "good", "s3://bucket/sales.csv")
    prefix = server.runtime.metadata.get(sales).attributes[DATA_PREFIX]
    before = {k: server.runtime.blobs.get_bytes(k) for k in server.runtime.blobs.list_keys(prefix)}

    lines = (FIXTURES / "sales.csv").read_text().splitlines()
    lines[5] = "2019-01-05,socks,NYC,abc"
    (bucket / "bad.csv").write_text("\n".join(lines) + "\n")
    job = run_import(forecast, wait_for_workflows, sales, "bad", "s3://bucket/bad.csv")
    assert job["Status"] == "CREATE_FAILED"
    assert job["Message"] == "s3://bucket/bad.csv line 6, field demand: 'abc' is not a number"
    assert "FieldStatistics" not in job and "EstimatedTimeRemainingInMinutes" not in job

    assert forecast.describe_dataset(DatasetArn=sales)["Status"] == "ACTIVE"
    assert server.runtime.metadata.get(sales).attributes[DATA_PREFIX] == prefix
    after = {k: server.runtime.blobs.get_bytes(k) for k in server.runtime.blobs.list_keys(prefix)}
    assert after == before and before
    assert not list(server.runtime.blobs.list_keys(prefix.replace("/good/", "/bad/")))


def test_files_of_a_folder_are_imported_together(
    server, forecast, sales, bucket, wait_for_workflows
):
    (bucket / "daily").mkdir()
    text = (FIXTURES / "sales.csv").read_text().splitlines(keepends=True)
    (bucket / "daily" / "part_a.csv").write_text("".join(text[:4]))
    (bucket / "daily" / "part_b.csv").write_text("".join(text[4:]))
    job = run_import(forecast, wait_for_workflows, sales, "folder", "s3://bucket/daily/")
    assert job["Status"] == "ACTIVE"
    assert dataset_rows(server, sales).num_rows == 8

    (bucket / "daily" / "20190101.csv").write_text(text[0])
    job = run_import(forecast, wait_for_workflows, sales, "numeric", "s3://bucket/daily")
    assert job["Status"] == "CREATE_FAILED"
    assert job["Message"].startswith(
        "s3://bucket/daily/20190101.csv: file names must contain at least one letter"
    )


def test_related_data_is_checked_for_repeats_and_alignment(forecast, bucket, wait_for_workflows):
    prices = forecast.create_dataset(
        DatasetName="prices",
        Domain="RETAIL",
        DatasetType="RELATED_TIME_SERIES",
        DataFrequency="D",
        Schema=schema([("timestamp", "timestamp"), ("item_id", "string"), ("price", "float")]),
    )["DatasetArn"]
    (bucket / "prices.csv").write_text(
        "2019-01-01,socks,1\n2019-01-02,socks,1\n2019-01-01,socks,2\n"
    )
    job = run_import(forecast, wait_for_workflows, prices, "twice", "s3://bucket/prices.csv")
    assert job["Message"].startswith(
        "s3://bucket/prices.csv line 3: item_id socks, timestamp 2019-01-01 00:00:00 repeats "
        "line 1; a related time series holds one row per series and timestamp"
    )
    (bucket / "prices.csv").write_text("2019-01-01,socks,1\n2019-01-02 13:00:00,socks,1\n")
    job = run_import(forecast, wait_for_workflows, prices, "skewed", "s3://bucket/prices.csv")
    assert (
        "line 2, field timestamp: 2019-01-02 13:00:00 is not on the same D grid" in job["Message"]
    )


def test_requests_are_checked_up_front(forecast, sales, bucket, server):
    cases = [
        ({"TimeZone": "Mars/Olympus"}, "TimeZone Mars/Olympus is not a time zone name"),
        (
            {"TimeZone": "Europe/Paris", "UseGeolocationForTimeZone": True},
            "not both",
        ),
        ({"UseGeolocationForTimeZone": True}, "this dataset's schema has none"),
        ({"GeolocationFormat": "ZIP"}, "GeolocationFormat ZIP is not valid"),
        ({"TimestampFormat": "yyyy-MM-dd HH:mm:ss.SSS"}, "'SSS' is not one of"),
    ]
    for extra, message in cases:
        with pytest.raises(ClientError) as caught:
            start_import(forecast, sales, "checked", "s3://bucket/sales.csv", **extra)
        assert error_of(caught)[0] == "InvalidInputException", extra
        assert message in error_of(caught)[1]
    with pytest.raises(ClientError) as caught:
        forecast.create_dataset_import_job(
            DatasetImportJobName="role",
            DatasetArn=sales,
            DataSource={
                "S3Config": {"Path": "s3://bucket/x.csv", "RoleArn": "arn:aws:forecast:::x"}
            },
        )
    assert "is not an IAM role ARN" in error_of(caught)[1]
    assert forecast.describe_dataset(DatasetArn=sales)["Status"] == "ACTIVE"
    assert forecast.list_dataset_import_jobs()["DatasetImportJobs"] == []


def test_a_time_zone_is_recorded_not_applied(server, forecast, sales, bucket, wait_for_workflows):
    shutil.copy(FIXTURES / "sales.csv", bucket / "sales.csv")
    job = run_import(
        forecast,
        wait_for_workflows,
        sales,
        "tz",
        "s3://bucket/sales.csv",
        TimeZone="America/New_York",
    )
    assert (job["Status"], job["TimeZone"]) == ("ACTIVE", "America/New_York")
    first = dataset_rows(server, sales)["timestamp"][0].as_py()
    assert (first.hour, first.tzinfo) == (0, None)  # wall-clock time, as written


def test_paths_outside_the_data_directory_are_refused(
    server, forecast, sales, bucket, tmp_path, wait_for_workflows
):
    with pytest.raises(ClientError) as caught:
        start_import(forecast, sales, "escape", "s3://bucket/../../augury.db")
    assert error_of(caught) == (
        "InvalidInputException",
        "s3://bucket/../../augury.db contains '..'; a path must name its file directly, "
        "without parent segments",
    )
    secret = tmp_path / "secret.csv"
    secret.write_text("2019-01-01,socks,NYC,1\n")
    os.symlink(secret, bucket / "link.csv")
    job = run_import(forecast, wait_for_workflows, sales, "linked", "s3://bucket/link.csv")
    assert job["Status"] == "CREATE_FAILED"
    assert "leads outside Augury's data directory" in job["Message"]


class _ImportGate(threading.Event):
    """Imports wait at this gate until ``set()``; ``reached`` says one is waiting there."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = threading.Event()


@pytest.fixture
def held_import(monkeypatch):
    """Imports wait for ``release.set()`` before reading, so a test can act meanwhile."""
    release = _ImportGate()
    real_plan = forecast_import._plan

    def waiting(*args, **kwargs):
        release.reached.set()
        assert release.wait(10)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(forecast_import, "_plan", waiting)
    yield release
    release.set()


def test_delete_rules(forecast, sales, bucket, held_import, wait_for_workflows):
    shutil.copy(FIXTURES / "sales.csv", bucket / "sales.csv")
    job = start_import(forecast, sales, "slow", "s3://bucket/sales.csv")
    with pytest.raises(ClientError) as caught:
        start_import(forecast, sales, "second", "s3://bucket/sales.csv")
    assert error_of(caught)[0] == "ResourceInUseException"
    assert f"(import job {job})" in error_of(caught)[1]
    with pytest.raises(ClientError) as caught:
        forecast.delete_dataset_import_job(DatasetImportJobArn=job)
    assert error_of(caught)[0] == "ResourceInUseException"
    with pytest.raises(ClientError) as caught:
        forecast.delete_dataset(DatasetArn=sales)
    assert error_of(caught)[0] == "ResourceInUseException"
    described = forecast.describe_dataset_import_job(DatasetImportJobArn=job)
    assert described["Status"] in ("CREATE_PENDING", "CREATE_IN_PROGRESS")

    held_import.set()
    wait_for_workflows()
    with pytest.raises(ClientError) as caught:
        forecast.delete_dataset(DatasetArn=sales)
    assert error_of(caught)[0] == "ResourceInUseException"
    assert "dataset-import-job/sales/slow" in error_of(caught)[1]
    with pytest.raises(ClientError) as caught:
        forecast.create_dataset_import_job(
            DatasetImportJobName="slow",
            DatasetArn=sales,
            DataSource={"S3Config": {"Path": "s3://bucket/sales.csv", "RoleArn": ROLE}},
        )
    assert error_of(caught)[0] == "ResourceAlreadyExistsException"

    forecast.delete_dataset_import_job(DatasetImportJobArn=job)
    wait_for_workflows()
    with pytest.raises(ClientError) as caught:
        forecast.describe_dataset_import_job(DatasetImportJobArn=job)
    assert error_of(caught)[0] == "ResourceNotFoundException"
    assert forecast.describe_dataset(DatasetArn=sales)["Status"] == "ACTIVE"
    forecast.delete_dataset(DatasetArn=sales)
    wait_for_workflows()
    assert forecast.list_datasets()["Datasets"] == []


def test_stop_resource_stops_an_import_and_keeps_the_previous_data(
    server, forecast, sales, bucket, held_import, wait_for_workflows
):
    shutil.copy(FIXTURES / "sales.csv", bucket / "sales.csv")
    held_import.set()
    run_import(forecast, wait_for_workflows, sales, "first", "s3://bucket/sales.csv")
    prefix = server.runtime.metadata.get(sales).attributes[DATA_PREFIX]
    before = {k: server.runtime.blobs.get_bytes(k) for k in server.runtime.blobs.list_keys(prefix)}

    held_import.clear()
    held_import.reached.clear()
    job = start_import(forecast, sales, "second", "s3://bucket/sales.csv", ImportMode="FULL")
    assert held_import.reached.wait(10)  # the import is reading when the stop arrives
    forecast.stop_resource(ResourceArn=job)
    assert forecast.describe_dataset_import_job(DatasetImportJobArn=job)["Status"] == (
        "CREATE_STOPPING"
    )
    held_import.set()
    wait_for_workflows()

    described = forecast.describe_dataset_import_job(DatasetImportJobArn=job)
    assert described["Status"] == "CREATE_STOPPED"
    assert "FieldStatistics" not in described
    assert forecast.describe_dataset(DatasetArn=sales)["Status"] == "ACTIVE"
    assert server.runtime.metadata.get(sales).attributes[DATA_PREFIX] == prefix
    after = {k: server.runtime.blobs.get_bytes(k) for k in server.runtime.blobs.list_keys(prefix)}
    assert after == before and before
    assert not list(server.runtime.blobs.list_keys(prefix.replace("/first/", "/second/")))
    with pytest.raises(ClientError) as caught:
        forecast.stop_resource(ResourceArn=job)
    assert "only a resource that is being created" in error_of(caught)[1]
    # a stopped import no longer holds the dataset: the next one runs
    third = run_import(forecast, wait_for_workflows, sales, "third", "s3://bucket/sales.csv")
    assert third["Status"] == "ACTIVE"
