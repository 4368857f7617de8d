"""Personalize imports of many files spread over several workflow-step invocations, in moto.

The in-process Lambda context says a minute is left, less than the import keeps
free (``file_slices.SPARE_SECONDS``), so every invocation of the ``import`` step
reads one file, saves its progress and raises ``ResourcePending``; the compiled
state machine's Retry calls it again for the next file. What must hold, as for an
import read in one go: every row lands once, later rows win by ID, a bad file fails
the job naming its line, and the dataset's data is untouched by a failed import.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from augury import handlers
from augury.personalize.group_data import read_table
from augury.resources.data_versions import staging_prefix
from augury.workflows import file_slices, personalize_import
from tests.aws.moto_stack import DATA_BUCKET, REGION, USER_ROLE, Stack
from tests.aws.test_personalize_on_aws import wait_active

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
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
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


def dataset(stack: Stack, group: str, kind: str, schema: dict[str, Any]) -> str:
    personalize = stack.api.client("personalize")
    name = f"{group.rsplit('/', 1)[1]}-{kind.lower()}"
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
    personalize = stack.api.client("personalize")
    group = personalize.create_dataset_group(name="sliced")["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    interactions = dataset(stack, group, "Interactions", INTERACTIONS_SCHEMA)
    for number in range(3):
        stack.upload(f"bulk/part-{number}.csv", (HEADER + clicks(400 * number, 400)).encode())
    job = start_import(stack, interactions, "bulk", "bulk")
    wait_active(lambda: describe(stack, job))
    assert [budget.read for budget in budgets] == [1, 1, 1]
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
    assert [budget.read for budget in budgets] == [1, 1]
    version, table = data_of(interactions)
    assert table.num_rows == 2_200
    assert handlers.runtime().metadata.get(interactions).attributes["_data_rows"] == 2_200
    # The previous rows were copied into the new version, inside the bucket, and come first.
    names = [key.rsplit("/", 1)[1] for key in data_keys(version)]
    assert names[0].startswith(personalize_import.PREVIOUS_PARTS)
    assert table["TIMESTAMP"].to_pylist()[:1_200] == [1_700_000_000 + n for n in range(1_200)]
    assert data_keys(staging_prefix(version)) == []


def test_users_rows_merge_by_id_across_files_read_in_different_invocations(
    stack: Stack, budgets: list[CountingBudget]
) -> None:
    personalize = stack.api.client("personalize")
    group = personalize.create_dataset_group(name="sliced-users")["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    users = dataset(stack, group, "Users", USERS_SCHEMA)
    stack.upload("users/a.csv", b"USER_ID,PLAN\nu1,free\nu2,free\nu3,free\n")
    stack.upload("users/b.csv", b"USER_ID,PLAN\nu2,pro\nu4,pro\nu2,team\n")
    job = start_import(stack, users, "users", "users")
    wait_active(lambda: describe(stack, job))
    assert [budget.read for budget in budgets] == [1, 1]
    _, table = data_of(users)
    plans = dict(zip(table["USER_ID"].to_pylist(), table["PLAN"].to_pylist(), strict=True))
    assert plans == {"u1": "free", "u2": "team", "u3": "free", "u4": "pro"}

    stack.upload("users-more/c.csv", b"USER_ID,PLAN\nu1,pro\nu5,free\n")
    stack.upload("users-more/d.csv", b"USER_ID,PLAN\nu5,team\n")
    job = start_import(stack, users, "users-more", "users-more", mode="INCREMENTAL")
    wait_active(lambda: describe(stack, job))
    version, table = data_of(users)
    plans = dict(zip(table["USER_ID"].to_pylist(), table["PLAN"].to_pylist(), strict=True))
    assert plans == {"u1": "pro", "u2": "team", "u3": "free", "u4": "pro", "u5": "team"}
    assert data_keys(staging_prefix(version)) == []


def test_a_bad_last_file_fails_the_import_and_leaves_the_data_as_it_was(
    stack: Stack, budgets: list[CountingBudget]
) -> None:
    personalize = stack.api.client("personalize")
    group = personalize.create_dataset_group(name="sliced-bad")["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    interactions = dataset(stack, group, "Interactions", INTERACTIONS_SCHEMA)
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
