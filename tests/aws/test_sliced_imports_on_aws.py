"""Imports of many files, and data deletions of many parts, spread over several workflow-step
invocations, in moto.

The in-process Lambda context says a minute is left, less than an import keeps
free (``file_slices.SPARE_SECONDS``), so every invocation of a Personalize or
Forecast ``import`` step reads one file, saves its progress and raises
``ResourcePending``; the compiled state machine's Retry calls it again for the
next file. What must hold, as for an import read in one go: every row lands once,
later rows win by ID (by series and timestamp for Forecast), a bad file fails the
job naming its line, and the dataset's data is untouched by a failed import.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from augury import handlers
from augury.forecast.import_partitions import _bucket
from augury.personalize.event_compaction import compact_group
from augury.personalize.event_data import events_prefix, group_scope, user_subject
from augury.personalize.event_manifests import merged_sources
from augury.personalize.group_data import read_table
from augury.resources.data_versions import staging_prefix
from augury.workflows import file_slices, personalize_import
from tests.aws.moto_stack import DATA_BUCKET, REGION, USER_ROLE, Stack
from tests.aws.test_personalize_on_aws import SCHEMA, wait_active

pytestmark = pytest.mark.timeout(120)

HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n"
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "PLAN", "type": "string", "categorical": True},
    ],
    "version": "1.0",
}


class CountingBudget(file_slices.Budget):
    """The import step's budget, remembering how many files each invocation read."""

    invocations: list[CountingBudget] = []

    def __init__(self) -> None:
        super().__init__()
        CountingBudget.invocations.append(self)


@pytest.fixture
def budgets(monkeypatch: pytest.MonkeyPatch) -> list[CountingBudget]:
    CountingBudget.invocations = []
    monkeypatch.setattr(personalize_import, "Budget", CountingBudget)
    return CountingBudget.invocations


def clicks(first: int, count: int) -> str:
    return "".join(
        f"u{n % 30:02d},i{n % 50:03d},{1_700_000_000 + n},click\n"
        for n in range(first, first + count)
    )


def dataset(stack: Stack, group_name: str, kind: str, schema: dict[str, Any]) -> str:
    """A new ACTIVE dataset group ``group_name`` with one ACTIVE dataset of ``kind``."""
    personalize = stack.api.client("personalize")
    group = personalize.create_dataset_group(name=group_name)["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    name = f"{group_name}-{kind.lower()}"
    schema_arn = personalize.create_schema(name=name, schema=json.dumps(schema))["schemaArn"]
    arn = personalize.create_dataset(
        name=name, schemaArn=schema_arn, datasetGroupArn=group, datasetType=kind
    )["datasetArn"]
    wait_active(lambda: personalize.describe_dataset(datasetArn=arn))
    return arn


def start_import(stack: Stack, dataset_arn: str, name: str, folder: str, mode: str = "FULL") -> str:
    return stack.api.client("personalize").create_dataset_import_job(
        jobName=name,
        datasetArn=dataset_arn,
        dataSource={"dataLocation": f"s3://customer-data/{folder}/"},
        roleArn=USER_ROLE,
        importMode=mode,
    )["datasetImportJobArn"]


def describe(stack: Stack, job: str) -> dict[str, Any]:
    return stack.api.client("personalize").describe_dataset_import_job(datasetImportJobArn=job)


def data_of(dataset_arn: str) -> tuple[str, Any]:
    """The dataset's current version prefix and its rows."""
    runtime = handlers.runtime()
    prefix = runtime.metadata.get(dataset_arn).attributes["_data_prefix"]
    return prefix, read_table(runtime, prefix)


def data_keys(prefix: str) -> list[str]:
    """The keys under ``prefix`` in Augury's data bucket."""
    s3 = boto3.client("s3", region_name=REGION)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=DATA_BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_an_interactions_import_reads_one_file_per_invocation_and_keeps_every_row(
    stack: Stack, budgets: list[CountingBudget]
) -> None:
    interactions = dataset(stack, "sliced", "Interactions", SCHEMA)
    for number in range(3):
        stack.upload(f"bulk/part-{number}.csv", (HEADER + clicks(400 * number, 400)).encode())
    job = start_import(stack, interactions, "bulk", "bulk")
    wait_active(lambda: describe(stack, job))
    assert [budget.read for budget in budgets] == [1, 1, 1, 0]  # the files, then `complete`
    first_version, table = data_of(interactions)
    assert table.num_rows == 1_200
    assert sorted(table["TIMESTAMP"].to_pylist()) == [1_700_000_000 + n for n in range(1_200)]
    assert data_keys(staging_prefix(first_version)) == []

    budgets.clear()
    for number in range(2):
        stack.upload(
            f"more/part-{number}.csv", (HEADER + clicks(5_000 + 500 * number, 500)).encode()
        )
    job = start_import(stack, interactions, "more", "more", mode="INCREMENTAL")
    wait_active(lambda: describe(stack, job))
    assert [budget.read for budget in budgets] == [1, 1, 0]  # the files, then `complete`
    version, table = data_of(interactions)
    assert table.num_rows == 2_200
    assert handlers.runtime().metadata.get(interactions).attributes["_data_rows"] == 2_200
    # The previous rows were copied into the new version, inside the bucket, and come first.
    names = [key.rsplit("/", 1)[1] for key in data_keys(version)]
    assert names[0].startswith(personalize_import.PREVIOUS_PARTS)
    assert table["TIMESTAMP"].to_pylist()[:1_200] == [1_700_000_000 + n for n in range(1_200)]
    assert data_keys(staging_prefix(version)) == []


def test_users_rows_merge_by_id_one_partition_per_invocation(
    stack: Stack, budgets: list[CountingBudget], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows split by ID into three partitions as each file is read; ``complete`` merges
    one partition per invocation, after splitting the current version's parts (one per
    invocation) for an INCREMENTAL import."""
    from augury.workflows import personalize_id_merge

    monkeypatch.setattr(personalize_id_merge, "partition_count", lambda *_: 3)
    users = dataset(stack, "sliced-users", "Users", USERS_SCHEMA)
    stack.upload("users/a.csv", b"USER_ID,PLAN\nu1,free\nu2,free\nu3,free\n")
    stack.upload("users/b.csv", b"USER_ID,PLAN\nu2,pro\nu4,pro\nu2,team\n")
    job = start_import(stack, users, "users", "users")
    wait_active(lambda: describe(stack, job))
    # two files, then three partitions merged
    assert [budget.read for budget in budgets] == [1, 1, 1, 1, 1]
    version, table = data_of(users)
    plans = dict(zip(table["USER_ID"].to_pylist(), table["PLAN"].to_pylist(), strict=True))
    assert plans == {"u1": "free", "u2": "team", "u3": "free", "u4": "pro"}
    parts = [key.rsplit("/", 1)[1] for key in data_keys(version)]
    assert {part.split("-")[1] for part in parts} == {"000", "001", "002"}

    budgets.clear()
    stack.upload("users-more/c.csv", b"USER_ID,PLAN\nu1,pro\nu5,free\n")
    stack.upload("users-more/d.csv", b"USER_ID,PLAN\nu5,team\n")
    job = start_import(stack, users, "users-more", "users-more", mode="INCREMENTAL")
    wait_active(lambda: describe(stack, job))
    # two files, the three current parts split, three partitions merged
    assert [budget.read for budget in budgets] == [1] * 8
    version, table = data_of(users)
    plans = dict(zip(table["USER_ID"].to_pylist(), table["PLAN"].to_pylist(), strict=True))
    assert plans == {"u1": "pro", "u2": "team", "u3": "free", "u4": "pro", "u5": "team"}
    assert table.num_rows == 5
    assert data_keys(staging_prefix(version)) == []


def test_a_bad_last_file_fails_the_import_and_leaves_the_data_as_it_was(
    stack: Stack, budgets: list[CountingBudget]
) -> None:
    interactions = dataset(stack, "sliced-bad", "Interactions", SCHEMA)
    stack.upload("good/all.csv", (HEADER + clicks(0, 1_000)).encode())
    job = start_import(stack, interactions, "good", "good")
    wait_active(lambda: describe(stack, job))
    before_prefix, before = data_of(interactions)

    budgets.clear()
    stack.upload("bad/a.csv", (HEADER + clicks(2_000, 600)).encode())
    stack.upload("bad/b.csv", (HEADER + clicks(3_000, 600) + "u1,i1,yesterday,click\n").encode())
    job = start_import(stack, interactions, "bad", "bad", mode="INCREMENTAL")
    with pytest.raises(AssertionError, match=r"s3://customer-data/bad/b\.csv line 602"):
        wait_active(lambda: describe(stack, job))
    assert [budget.read for budget in budgets] == [1, 0]  # the second invocation failed
    after_prefix, after = data_of(interactions)
    assert after_prefix == before_prefix
    assert after.equals(before)
    failed_version = handlers.runtime().metadata.get(job).attributes["_data_prefix"]
    assert data_keys(failed_version) == []
    assert data_keys(staging_prefix(failed_version)) == []


# --- Forecast ---------------------------------------------------------------------------

FORECAST_ATTRIBUTES = [
    {"AttributeName": "item_id", "AttributeType": "string"},
    {"AttributeName": "timestamp", "AttributeType": "timestamp"},
    {"AttributeName": "price", "AttributeType": "float"},
]


PARTITIONS = 3
"""Rows of test-sized imports would all go to one partition; three make the ``complete``
step's work span invocations too (one partition each)."""


@pytest.fixture
def forecast_budgets(monkeypatch: pytest.MonkeyPatch) -> list[CountingBudget]:
    from augury.workflows import forecast_import, forecast_import_version

    CountingBudget.invocations = []
    monkeypatch.setattr(forecast_import, "Budget", CountingBudget)
    monkeypatch.setattr(forecast_import_version, "Budget", CountingBudget)
    monkeypatch.setattr(forecast_import, "partition_count", lambda size: PARTITIONS)
    return CountingBudget.invocations


def partitions_of(items: list[str]) -> int:
    """How many of the partitions these items' series fall in."""
    return len({_bucket(item, PARTITIONS) for item in items})


def prices_dataset(stack: Stack, name: str) -> str:
    """A daily related time series of prices per item."""
    return stack.api.client("forecast").create_dataset(
        DatasetName=name,
        Domain="RETAIL",
        DatasetType="RELATED_TIME_SERIES",
        DataFrequency="D",
        Schema={"Attributes": FORECAST_ATTRIBUTES},
    )["DatasetArn"]


def prices(items: range, days: range, price: float = 1.0) -> bytes:
    return "".join(
        f"item{item},2024-01-{day:02d},{price + item}\n" for item in items for day in days
    ).encode()


def forecast_import_job(stack: Stack, dataset_arn: str, name: str, folder: str, **extra) -> str:
    return stack.api.client("forecast").create_dataset_import_job(
        DatasetImportJobName=name,
        DatasetArn=dataset_arn,
        DataSource={"S3Config": {"Path": f"s3://customer-data/{folder}/", "RoleArn": USER_ROLE}},
        TimestampFormat="yyyy-MM-dd",
        **extra,
    )["DatasetImportJobArn"]


def forecast_job(stack: Stack, job: str) -> dict[str, Any]:
    """The job once it is over."""
    forecast = stack.api.client("forecast")
    for _ in range(600):
        body = forecast.describe_dataset_import_job(DatasetImportJobArn=job)
        if body["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{job} still {body['Status']}")


def test_a_forecast_import_spreads_its_files_over_invocations_and_merges_by_series(
    stack: Stack, forecast_budgets: list[CountingBudget]
) -> None:
    dataset = prices_dataset(stack, "prices")
    stack.upload("prices/a.csv", prices(range(0, 4), range(1, 11)))
    stack.upload("prices/b.csv", prices(range(4, 8), range(1, 11)))
    stack.upload("prices/c.csv", prices(range(0, 8), range(11, 15)))
    first = forecast_job(stack, forecast_import_job(stack, dataset, "first", "prices"))
    assert first["Status"] == "ACTIVE", first.get("Message")
    # three files read, then each partition written, one invocation each
    written = partitions_of([f"item{item}" for item in range(8)])
    assert [budget.read for budget in forecast_budgets] == [1, 1, 1] + [1] * written
    assert first["FieldStatistics"]["price"]["Count"] == 8 * 14
    assert first["FieldStatistics"]["item_id"]["CountDistinct"] == 8
    assert first["DataSize"] > 0
    runtime = handlers.runtime()
    version = runtime.metadata.get(dataset).attributes["_data_prefix"]
    table = read_table(runtime, version)
    assert table.num_rows == 8 * 14
    assert data_keys(staging_prefix(version)) == []

    # INCREMENTAL, over two invocations: the new rows replace the old ones of a series and
    # timestamp, and the others stay.
    forecast_budgets.clear()
    stack.upload("more/a.csv", prices(range(0, 2), range(14, 16), price=100.0))
    stack.upload("more/b.csv", prices(range(9, 10), range(1, 3), price=100.0))
    job = forecast_import_job(stack, dataset, "more", "more", ImportMode="INCREMENTAL")
    more = forecast_job(stack, job)
    assert more["Status"] == "ACTIVE", more.get("Message")
    # The first invocation splits the current rows by series, which counts as a file read.
    written = partitions_of([f"item{item}" for item in range(10) if item != 8])
    assert [budget.read for budget in forecast_budgets] == [1, 1, 1] + [1] * written
    version = runtime.metadata.get(dataset).attributes["_data_prefix"]
    rows = read_table(runtime, version).to_pylist()
    assert len(rows) == 8 * 14 + 2 + 2  # two new days for items 0 and 1, item9 is new
    by_key = {(row["item_id"], row["timestamp"].day): row["price"] for row in rows}
    assert by_key[("item0", 14)] == 100.0 and by_key[("item0", 13)] == 1.0
    assert by_key[("item9", 1)] == 109.0
    assert data_keys(staging_prefix(version)) == []


def test_a_repeat_across_files_read_in_different_invocations_fails_naming_both_lines(
    stack: Stack, forecast_budgets: list[CountingBudget]
) -> None:
    dataset = prices_dataset(stack, "repeats")
    stack.upload("repeats/a.csv", prices(range(0, 3), range(1, 5)))
    stack.upload("repeats/b.csv", b"item5,2024-01-01,3.0\nitem1,2024-01-02,9.0\n")
    failed = forecast_job(stack, forecast_import_job(stack, dataset, "repeats", "repeats"))
    assert failed["Status"] == "CREATE_FAILED"
    assert failed["Message"].startswith(
        "s3://customer-data/repeats/b.csv line 2: item_id item1, timestamp 2024-01-02 "
        "00:00:00 repeats s3://customer-data/repeats/a.csv line 6; a related time series "
        "holds one row per series and timestamp"
    ), failed["Message"]
    reads = [budget.read for budget in forecast_budgets]
    assert reads == [1, 1] + [1] * partitions_of(["item0", "item1", "item2", "item5"])
    record = handlers.runtime().metadata.get(dataset)
    assert "_data_prefix" not in record.attributes or not record.attributes["_data_prefix"]
    failed_version = (
        handlers.runtime().metadata.get(failed["DatasetImportJobArn"]).attributes["_data_prefix"]
    )
    assert data_keys(failed_version) == []
    assert data_keys(staging_prefix(failed_version)) == []


# --- Personalize data deletion ---------------------------------------------------------


@pytest.mark.parametrize("killed", [False, True], ids=["whole", "killed-after-a-rewrite"])
def test_a_data_deletion_job_rewrites_one_part_or_events_file_per_invocation(
    stack: Stack, budgets: list[CountingBudget], monkeypatch: pytest.MonkeyPatch, killed: bool
) -> None:
    """``killed``: the invocation that first rewrites an events file ends right after it
    recorded the rewrite, as a Lambda killed at that point would: the file it replaced is
    still there and no manifest was renamed. The next invocation completes both."""
    from augury.workflows import personalize_deletion

    monkeypatch.setattr(personalize_deletion, "Budget", CountingBudget)
    interactions = dataset(stack, "sliced-deletion", "Interactions", SCHEMA)
    for number in range(3):
        stack.upload(f"parts/part-{number}.csv", (HEADER + clicks(400 * number, 400)).encode())
    job = start_import(stack, interactions, "parts", "parts")
    wait_active(lambda: describe(stack, job))
    _, before = data_of(interactions)
    u07 = before["USER_ID"].to_pylist().count("u07")
    assert u07 and len(data_keys(data_of(interactions)[0])) == 3  # one part per file

    personalize = stack.api.client("personalize")
    group = handlers.runtime().metadata.get(interactions).parent_arn
    tracker = personalize.create_event_tracker(name="site", datasetGroupArn=group)
    wait_active(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    )
    for user in ("u07", "u08", "u07"):  # one consumer batch each: three recorded-events files
        stack.api.client("personalize-events").put_events(
            trackingId=tracker["trackingId"],
            userId=user,
            sessionId=f"visit-{user}",
            eventList=[{"eventType": "click", "itemId": "i001", "sentAt": time.time()}],
        )
        assert stack.events.drain() == 1
    recorded_prefix = events_prefix(group) + "interactions/"
    # merged into one file, the three kept beside it for their grace period: four files
    assert compact_group(handlers.runtime(), group, now=time.time() + 1_000_000)
    assert len([key for key in data_keys(recorded_prefix) if key.endswith(".parquet")]) == 4

    budgets.clear()
    kills = kill_after_the_first_rewrite(monkeypatch, recorded_prefix) if killed else []
    deletion = personalize.create_data_deletion_job(
        jobName="forget-u07",
        datasetGroupArn=group,
        dataSource={"dataLocation": stack.upload("forget/users.csv", b"USER_ID\nu07\n")},
        roleArn=USER_ROLE,
    )["dataDeletionJobArn"]
    for _ in range(600):
        found = personalize.describe_data_deletion_job(dataDeletionJobArn=deletion)
        if found["dataDeletionJob"]["status"] in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.1)
    assert found["dataDeletionJob"]["status"] == "COMPLETED", found["dataDeletionJob"]
    # its rows and its two events, counted once though a merged file holds them too
    assert found["dataDeletionJob"]["numDeleted"] == u07 + 2
    # three parts, four events files, the users' recent history, their session links
    assert [budget.read for budget in budgets] == [1] * 9
    version, after = data_of(interactions)
    assert after.num_rows == 1_200 - u07
    assert "u07" not in set(after["USER_ID"].to_pylist())
    assert data_keys(staging_prefix(version)) == []
    runtime = handlers.runtime()
    listed = data_keys(recorded_prefix)
    held = {key for keys in merged_sources(runtime, listed).values() for key in keys}
    unheld = [key for key in listed if key.endswith(".parquet") and key not in held]
    assert len(unheld) == 1, "the rewritten merged file still covers its rewritten sources"
    assert read_table(runtime, recorded_prefix)["USER_ID"].to_pylist() == ["u08", "u08"]
    scope = str(group_scope(handlers.runtime(), group, "INTERACTIONS"))
    assert handlers.runtime().history.history(scope, user_subject("u07")) == []
    assert len(handlers.runtime().history.history(scope, user_subject("u08"))) == 1
    assert data_keys(personalize_deletion.job_staging_prefix(group, "forget-u07")) == []
    assert len(kills) == killed  # the kill happened where it was meant to


def kill_after_the_first_rewrite(monkeypatch: pytest.MonkeyPatch, prefix: str) -> list[str]:
    """The first deletion of a file under ``prefix`` does not happen and the invocation
    ends there, its manifest renames skipped: what a Lambda killed mid-step leaves."""
    from augury.workflows import personalize_deletion

    blobs = handlers.runtime().blobs
    delete_keys, rename = blobs.delete_keys, personalize_deletion._rename_in_manifests
    killed: list[str] = []

    def delete_once_killed(keys: list[str]) -> None:
        if not killed and any(key.startswith(prefix) for key in keys):
            killed.extend(keys)
            raise personalize_deletion.ResourcePending("killed")
        delete_keys(keys)

    def rename_unless_killing(runtime: Any, at: str, renamed: dict[str, Any]) -> None:
        if killed and not getattr(rename_unless_killing, "skipped", False):
            rename_unless_killing.skipped = True  # type: ignore[attr-defined]
            return
        rename(runtime, at, renamed)

    monkeypatch.setattr(blobs, "delete_keys", delete_once_killed)
    monkeypatch.setattr(personalize_deletion, "_rename_in_manifests", rename_unless_killing)
    return killed
