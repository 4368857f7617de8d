"""Personalize dataset export jobs end to end, through a stock boto3 client."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augury.embedded.server import EmbeddedServer
from augury.personalize.group_data import group_datasets, read_table
from tests.embedded.test_personalize_imports import (
    ROLE,
    bucket,
    group,
    items,
    make_dataset,
    personalize,
    run_import,
)

__all__ = ["bucket", "group", "items", "personalize"]  # fixtures shared with the import tests

ITEMS_CSV = (
    "ITEM_ID,GENRES,CREATION_TIMESTAMP,DESCRIPTION\n"
    'a,Comedy|Drama,10,"Funny, then sad"\n'
    'b,,20,"A ""quoted"" line\nand another"\n'
    "c,Horror,30,\n"
    "c,Horror,30,\n"
)


def run_export(
    personalize: Any, wait: Callable[[], None], dataset: str, name: str, path: str, **extra: Any
) -> dict[str, Any]:
    arn = personalize.create_dataset_export_job(
        jobName=name,
        datasetArn=dataset,
        roleArn=ROLE,
        jobOutput={"s3DataDestination": {"path": path}},
        **extra,
    )["datasetExportJobArn"]
    wait()
    return personalize.describe_dataset_export_job(datasetExportJobArn=arn)["datasetExportJob"]


def exported(folder: Path, job: str) -> tuple[list[str], list[list[str]]]:
    files = sorted(folder.glob(f"{job}_*_part*.csv"))
    assert files, list(folder.iterdir())
    header, rows = None, []
    for file in files:
        reader = csv.reader(io.StringIO(file.read_text()))
        header = next(reader)
        rows.extend(reader)
    assert header is not None
    return header, rows


def test_bulk_export_round_trips_through_an_import(
    server: EmbeddedServer,
    personalize: Any,
    bucket: Path,
    group: str,
    items: str,
    wait_for_workflows: Callable[[], None],
) -> None:
    (bucket / "items.csv").write_text(ITEMS_CSV)
    assert (
        run_import(personalize, wait_for_workflows, items, "in", "s3://bucket/items.csv")["status"]
        == "ACTIVE"
    )
    before = read_table(server.runtime, group_datasets(server.runtime, group)["ITEMS"].data_prefix)

    job = run_export(
        personalize, wait_for_workflows, items, "out", "s3://bucket/out/", ingestionMode="BULK"
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["ingestionMode"] == "BULK"
    assert job["jobOutput"] == {"s3DataDestination": {"path": "s3://bucket/out/"}}
    assert job["datasetArn"] == items
    header, rows = exported(bucket / "out", "out")
    assert header == ["ITEM_ID", "GENRES", "CREATION_TIMESTAMP", "DESCRIPTION"]
    assert rows == [
        ["a", "Comedy|Drama", "10", "Funny, then sad"],
        ["b", "", "20", 'A "quoted" line\nand another'],
        ["c", "Horror", "30", ""],
    ]

    job = run_import(
        personalize, wait_for_workflows, items, "back", "s3://bucket/out/", importMode="FULL"
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    after = read_table(server.runtime, group_datasets(server.runtime, group)["ITEMS"].data_prefix)
    assert after.equals(before)
    listed = personalize.list_dataset_export_jobs(datasetArn=items)["datasetExportJobs"]
    assert [(j["jobName"], j["status"]) for j in listed] == [("out", "ACTIVE")]


def test_put_export_is_the_default_and_all_prefers_newer_rows(
    server: EmbeddedServer,
    personalize: Any,
    bucket: Path,
    group: str,
    items: str,
    wait_for_workflows: Callable[[], None],
) -> None:
    (bucket / "items.csv").write_text(ITEMS_CSV)
    run_import(personalize, wait_for_workflows, items, "in", "s3://bucket/items.csv")
    job = run_export(personalize, wait_for_workflows, items, "put", "s3://bucket/put")
    assert job["ingestionMode"] == "PUT"
    assert job["status"] == "ACTIVE", job.get("failureReason")
    header, rows = exported(bucket / "put", "put")
    assert header[0] == "ITEM_ID" and rows == []  # nothing arrived through PutItems
    from augury.personalize.event_data import events_prefix

    put_rows = pa.table(
        {
            "ITEM_ID": ["b", "z"],
            "GENRES": ["Action", None],
            "CREATION_TIMESTAMP": pa.array([99, 5], pa.int64()),
        }
    )
    local = Path(server.runtime.settings.data_dir) / "put.parquet"
    pq.write_table(put_rows, local)
    prefix = events_prefix(group).rstrip("/")
    server.runtime.blobs.upload_file(local, f"{prefix}/items/test-0.parquet")

    job = run_export(
        personalize, wait_for_workflows, items, "all", "s3://bucket/all", ingestionMode="ALL"
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    _, rows = exported(bucket / "all", "all")
    by_id = {row[0]: row for row in rows}
    assert sorted(by_id) == ["a", "b", "c", "z"]
    assert by_id["b"] == ["b", "Action", "99", ""]


def test_export_requests_are_checked(
    personalize: Any, group: str, wait_for_workflows: Callable[[], None]
) -> None:
    from botocore.exceptions import ClientError

    dataset = make_dataset(personalize, wait_for_workflows, group, "Interactions")
    with pytest.raises(ClientError) as caught:
        personalize.create_dataset_export_job(
            jobName="escape",
            datasetArn=dataset,
            roleArn=ROLE,
            jobOutput={"s3DataDestination": {"path": "s3://bucket/../../x/"}},
        )
    assert caught.value.response["Error"]["Code"] == "InvalidInputException"
    with pytest.raises(ClientError) as caught:
        personalize.create_dataset_export_job(
            jobName="nothing",
            datasetArn=dataset + "x",
            roleArn=ROLE,
            jobOutput={"s3DataDestination": {"path": "s3://bucket/x/"}},
        )
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
