"""Personalize dataset import jobs end to end, through a stock boto3 client."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from augury.personalize.group_data import group_datasets, read_table
from augury.resources.data_versions import staging_prefix
from augury.workflows import personalize_import
from augury.workflows.execution import run_failure
from augury.workflows.lifecycle import blob_prefix

ROLE = "arn:aws:iam::000000000000:role/personalize"
INTERACTIONS = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}
ITEMS = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
    ],
    "version": "1.0",
}


@pytest.fixture(autouse=True)
def _small_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """Amazon's 1,000-interaction minimum scaled down to keep files small (one test restores it)."""
    monkeypatch.setattr(personalize_import, "MIN_INTERACTIONS_PER_IMPORT", 3)


@pytest.fixture
def personalize(client: Callable[[str], Any]) -> Any:
    return client("personalize")


@pytest.fixture
def bucket(server: EmbeddedServer) -> Path:
    """``s3://bucket/`` in the embedded server's data directory."""
    path = Path(server.runtime.settings.data_dir) / "s3" / "bucket"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def group(personalize: Any, wait_for_workflows: Callable[[], None]) -> str:
    arn = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    wait_for_workflows()
    return arn


def make_dataset(personalize: Any, wait: Callable[[], None], group: str, kind: str) -> str:
    body = INTERACTIONS if kind == "Interactions" else ITEMS
    schema = personalize.create_schema(name=f"{kind.lower()}-s", schema=json.dumps(body))
    arn = personalize.create_dataset(
        name=f"{kind.lower()}-d",
        schemaArn=schema["schemaArn"],
        datasetGroupArn=group,
        datasetType=kind,
    )["datasetArn"]
    wait()
    return arn


@pytest.fixture
def interactions(personalize: Any, wait_for_workflows: Callable[[], None], group: str) -> str:
    return make_dataset(personalize, wait_for_workflows, group, "Interactions")


@pytest.fixture
def items(personalize: Any, wait_for_workflows: Callable[[], None], group: str) -> str:
    return make_dataset(personalize, wait_for_workflows, group, "Items")


def run_import(
    personalize: Any, wait: Callable[[], None], dataset: str, name: str, path: str, **extra: Any
) -> dict[str, Any]:
    arn = personalize.create_dataset_import_job(
        jobName=name,
        datasetArn=dataset,
        dataSource={"dataLocation": path},
        roleArn=ROLE,
        **extra,
    )["datasetImportJobArn"]
    wait()
    return personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]


def rows_of(server: EmbeddedServer, group: str, kind: str) -> list[dict[str, Any]]:
    dataset = group_datasets(server.runtime, group)[kind]
    return read_table(server.runtime, dataset.data_prefix).to_pylist()


def test_full_then_incremental_interactions(
    server: EmbeddedServer,
    personalize: Any,
    bucket: Path,
    group: str,
    interactions: str,
    wait_for_workflows: Callable[[], None],
) -> None:
    (bucket / "first.csv").write_text(
        "TIMESTAMP,user_id,ITEM_ID,EVENT_TYPE,EVENT_VALUE\n"
        "100,u1,i1,click,\n200,u1,i2,click,1.5\n300,u2,i1,watch,2\n"
    )
    job = run_import(
        personalize, wait_for_workflows, interactions, "first", "s3://bucket/first.csv"
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["importMode"] == "FULL"
    assert job["dataSource"] == {"dataLocation": "s3://bucket/first.csv"}
    assert job["roleArn"] == ROLE
    assert job["datasetArn"] == interactions
    assert [r["USER_ID"] for r in rows_of(server, group, "INTERACTIONS")] == ["u1", "u1", "u2"]
    first_rows = rows_of(server, group, "INTERACTIONS")
    assert first_rows[0] == {
        "USER_ID": "u1",
        "ITEM_ID": "i1",
        "EVENT_TYPE": "click",
        "EVENT_VALUE": None,
        "TIMESTAMP": 100,
    }
    assert group_datasets(server.runtime, group)["INTERACTIONS"].rows == 3

    (bucket / "more").mkdir()
    (bucket / "more" / "a.csv").write_text(
        "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\nu3,i3,click,400\nu3,i1,click,500\nu1,i1,click,600\n"
    )
    (bucket / "more" / "_SUCCESS").write_text("")
    job = run_import(
        personalize,
        wait_for_workflows,
        interactions,
        "more",
        "s3://bucket/more/",
        importMode="INCREMENTAL",
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    rows = rows_of(server, group, "INTERACTIONS")
    assert [r["TIMESTAMP"] for r in rows] == [100, 200, 300, 400, 500, 600]

    job = run_import(personalize, wait_for_workflows, interactions, "again", "s3://bucket/more/")
    assert job["status"] == "ACTIVE"
    assert [r["TIMESTAMP"] for r in rows_of(server, group, "INTERACTIONS")] == [400, 500, 600]
    listed = personalize.list_dataset_import_jobs(datasetArn=interactions)["datasetImportJobs"]
    assert sorted(j["jobName"] for j in listed) == ["again", "first", "more"]
    assert {j["importMode"] for j in listed} == {"FULL", "INCREMENTAL"}


def test_incremental_items_replace_rows_with_the_same_id(
    server: EmbeddedServer,
    personalize: Any,
    bucket: Path,
    group: str,
    items: str,
    wait_for_workflows: Callable[[], None],
) -> None:
    (bucket / "items.csv").write_text(
        "ITEM_ID,GENRES,CREATION_TIMESTAMP,DESCRIPTION\n"
        'a,Comedy|Drama,10,"Funny, then sad"\n'
        'b,,20,"A ""quoted"" line\nand another"\n'
        "c,Horror,30,\n"
    )
    job = run_import(personalize, wait_for_workflows, items, "items", "s3://bucket/items.csv")
    assert job["status"] == "ACTIVE", job.get("failureReason")
    (bucket / "update.csv").write_text(
        "item_id,creation_timestamp,GENRES\nb,21,Drama\nd,40,Action\nb,22,Thriller\n"
    )
    job = run_import(
        personalize,
        wait_for_workflows,
        items,
        "update",
        "s3://bucket/update.csv",
        importMode="INCREMENTAL",
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    rows = {r["ITEM_ID"]: r for r in rows_of(server, group, "ITEMS")}
    assert sorted(rows) == ["a", "b", "c", "d"]
    assert rows["a"]["DESCRIPTION"] == "Funny, then sad"
    assert rows["b"] == {
        "ITEM_ID": "b",
        "GENRES": "Thriller",
        "CREATION_TIMESTAMP": 22,
        "DESCRIPTION": None,
    }
    assert group_datasets(server.runtime, group)["ITEMS"].rows == 4


def test_a_bad_file_fails_and_leaves_the_data_untouched(
    server: EmbeddedServer,
    personalize: Any,
    bucket: Path,
    group: str,
    interactions: str,
    wait_for_workflows: Callable[[], None],
) -> None:
    (bucket / "good.csv").write_text(
        "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\nu1,i1,click,1\nu2,i2,click,2\nu3,i3,click,3\n"
    )
    assert (
        run_import(personalize, wait_for_workflows, interactions, "good", "s3://bucket/good.csv")[
            "status"
        ]
        == "ACTIVE"
    )
    before = rows_of(server, group, "INTERACTIONS")
    prefix = group_datasets(server.runtime, group)["INTERACTIONS"].data_prefix

    (bucket / "bad.csv").write_text(
        "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\nu1,i1,click,1\n\nu2,i2,click,yesterday\n"
    )
    job = run_import(personalize, wait_for_workflows, interactions, "bad", "s3://bucket/bad.csv")
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"].startswith(
        "s3://bucket/bad.csv line 4, field TIMESTAMP: 'yesterday' is not a Unix timestamp"
    )
    (bucket / "short.csv").write_text("USER_ID,ITEM_ID\nu1,i1\n")
    job = run_import(
        personalize,
        wait_for_workflows,
        interactions,
        "short",
        "s3://bucket/short.csv",
        importMode="INCREMENTAL",
    )
    assert job["status"] == "CREATE FAILED"
    assert "no column for EVENT_TYPE (string), TIMESTAMP (long)" in job["failureReason"]
    assert group_datasets(server.runtime, group)["INTERACTIONS"].data_prefix == prefix
    assert rows_of(server, group, "INTERACTIONS") == before
    keys = list(server.runtime.blobs.list_keys("resources/personalize/dataset/shop/"))
    assert keys and all("/data/good/" in key for key in keys), keys


def test_amazon_minimum_of_interactions_per_import(
    personalize: Any,
    bucket: Path,
    interactions: str,
    wait_for_workflows: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(personalize_import, "MIN_INTERACTIONS_PER_IMPORT", 1000)
    rows = "".join(f"u{n % 7},i{n % 11},click,{n}\n" for n in range(999))
    (bucket / "few.csv").write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + rows)
    job = run_import(personalize, wait_for_workflows, interactions, "few", "s3://bucket/few.csv")
    assert job["status"] == "CREATE FAILED"
    assert "holds 999 item interaction records" in job["failureReason"]
    assert "at least 1000" in job["failureReason"]
    (bucket / "few.csv").write_text(
        "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\n" + rows + "u1,i1,click,5000\n"
    )
    job = run_import(personalize, wait_for_workflows, interactions, "enough", "s3://bucket/few.csv")
    assert job["status"] == "ACTIVE", job.get("failureReason")


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_requests_are_checked_up_front(
    server: EmbeddedServer,
    personalize: Any,
    bucket: Path,
    interactions: str,
    held_import: Callable[[], None],
) -> None:
    def create(name: str, path: str, dataset: str = interactions) -> Any:
        return personalize.create_dataset_import_job(
            jobName=name, datasetArn=dataset, dataSource={"dataLocation": path}, roleArn=ROLE
        )

    code, message = error_of(lambda: create("escape", "s3://bucket/../../metadata.db"))
    assert code == "InvalidInputException"
    assert "s3://bucket/../../metadata.db" in message
    code, message = error_of(lambda: create("nothing", "s3://bucket/x.csv", interactions + "x"))
    assert code == "ResourceNotFoundException"

    create("running", "s3://bucket/x.csv")
    code, message = error_of(lambda: create("second", "s3://bucket/x.csv"))
    assert code == "ResourceInUseException"
    assert "already importing" in message
    code, _ = error_of(lambda: create("running", "s3://bucket/x.csv"))
    assert code == "ResourceAlreadyExistsException"
    code, _ = error_of(lambda: personalize.delete_dataset(datasetArn=interactions))
    assert code == "ResourceInUseException"


@pytest.fixture
def held_import(server: EmbeddedServer) -> Any:
    """Import workflows are held (never run), so a job stays CREATE PENDING."""
    engine = server.runtime.workflows
    original = engine.start
    engine.start = lambda workflow, payload: (
        "held" if workflow == personalize_import.IMPORT.name else original(workflow, payload)
    )
    yield
    engine.start = original


def test_a_missing_file_fails_the_job(
    personalize: Any, bucket: Path, interactions: str, wait_for_workflows: Callable[[], None]
) -> None:
    job = run_import(personalize, wait_for_workflows, interactions, "gone", "s3://bucket/no.csv")
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"] == "No file was found at s3://bucket/no.csv"


def test_a_link_out_of_the_data_directory_is_refused(
    tmp_path: Path,
    personalize: Any,
    bucket: Path,
    interactions: str,
    wait_for_workflows: Callable[[], None],
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\nu1,i1,click,1\n")
    (bucket / "link.csv").symlink_to(secret)
    job = run_import(personalize, wait_for_workflows, interactions, "link", "s3://bucket/link.csv")
    assert job["status"] == "CREATE FAILED"
    assert "s3://bucket/link.csv" in job["failureReason"]


def test_a_failure_after_the_job_is_active_leaves_it_active_with_its_data(
    server: EmbeddedServer,
    personalize: Any,
    bucket: Path,
    group: str,
    interactions: str,
    wait_for_workflows: Callable[[], None],
) -> None:
    """Cleanup that fails after the switch (a timeout deleting the staging prefix, on AWS)
    reaches the failure handler: the job stays ACTIVE and its dataset keeps its data."""
    (bucket / "clicks.csv").write_text(
        "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\nu1,i1,click,100\nu2,i1,click,200\nu2,i2,click,300\n"
    )
    job = run_import(
        personalize, wait_for_workflows, interactions, "clicks", "s3://bucket/clicks.csv"
    )
    assert job["status"] == "ACTIVE"
    arn = job["datasetImportJobArn"]
    version = server.runtime.metadata.get(arn).attributes["_data_prefix"]
    stale = f"{staging_prefix(version)}progress/done/00000.json"
    server.runtime.blobs.put_bytes(stale, b"{}")
    run_failure(server.runtime, personalize_import.IMPORT.name, {"arn": arn}, "timed out")
    described = personalize.describe_dataset_import_job(datasetImportJobArn=arn)
    assert described["datasetImportJob"]["status"] == "ACTIVE"
    assert group_datasets(server.runtime, group)["INTERACTIONS"].data_prefix == version
    assert len(rows_of(server, group, "INTERACTIONS")) == 3
    assert list(server.runtime.blobs.list_keys(staging_prefix(version))) == []


def test_a_new_job_of_an_old_name_does_not_take_its_staged_progress(
    server: EmbeddedServer,
    personalize: Any,
    bucket: Path,
    group: str,
    items: str,
    wait_for_workflows: Callable[[], None],
) -> None:
    """Progress an earlier job of the same name left under ``staging/<name>/`` (its cleanup
    cut short) is cleared when the new job starts, so its files are read, not skipped."""
    stale = staging_prefix(f"{blob_prefix(items)}data/same/")
    server.runtime.blobs.put_bytes(f"{stale}progress/files.json", b'["s3://bucket/old.csv"]')
    server.runtime.blobs.put_bytes(f"{stale}progress/done/00000.json", b'{"rows": 0, "bytes": 0}')
    (bucket / "newer.csv").write_text(
        "ITEM_ID,GENRES,CREATION_TIMESTAMP\ni2,comedy,100\ni3,drama,200\n"
    )
    job = run_import(personalize, wait_for_workflows, items, "same", "s3://bucket/newer.csv")
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert sorted(row["ITEM_ID"] for row in rows_of(server, group, "ITEMS")) == ["i2", "i3"]
