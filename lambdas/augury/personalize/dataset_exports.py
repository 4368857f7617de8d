"""Personalize dataset export jobs: a dataset's data out to the user's storage as CSV.

CreateDatasetExportJob checks the dataset and the destination and answers at
once; the export workflow (``augury.workflows.personalize_import``) writes the
data and the job ends ACTIVE or CREATE FAILED with a failureReason.

``ingestionMode`` picks the data, as the Amazon Personalize Developer Guide's
"Exporting the training data in a dataset" describes: BULK, what dataset
import jobs brought; PUT (the default), what PutEvents, PutUsers and PutItems
recorded; ALL, both. Records that match exactly on every field are exported
once; with ALL, a Users or Items dataset exports only the newest record for
each ID. The files are CSV with a header row of the schema's field names, the
format an import reads, so an export can be imported again as it is.

The export reads the chosen data into memory to find duplicates (an embedded
dataset fits; the import path, which must take files of any size, streams).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from augury.api.operations import OperationSet
from augury.personalize.event_files import ARRIVAL_COLUMN
from augury.personalize.resource_types import DATASET, DATASET_EXPORT_JOB
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceAlreadyExists, ResourceInUse
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

EXPORT_WORKFLOW = "personalize-export-dataset"
BULK, PUT, ALL = "BULK", "PUT", "ALL"
DEFAULT_INGESTION_MODE = PUT
"""Amazon's default (CreateDatasetExportJob: "The default value is PUT")."""


@operations("CreateDatasetExportJob")
def create_dataset_export_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    name, dataset_arn = request["jobName"], request["datasetArn"]
    dataset = crud.get_record(runtime, DATASET, dataset_arn)
    status = Status(dataset.status)
    if status != Status.ACTIVE:
        raise ResourceInUse(
            f"Dataset {dataset_arn} is {status.render('personalize')}; it can be exported once "
            "it is ACTIVE"
        )
    arn = runtime.arns.build("personalize", "dataset-export-job", name)
    if runtime.metadata.get(arn) is not None:
        raise ResourceAlreadyExists(f"The dataset export job {arn} already exists")
    destination = dict(request["jobOutput"]["s3DataDestination"])
    try:
        runtime.external.check_uri(destination["path"])
    except ExternalDataError as error:
        raise InvalidInput(str(error)) from None
    crud.create(
        runtime,
        DATASET_EXPORT_JOB,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=dataset_arn,
        attributes={
            "ingestionMode": request.get("ingestionMode") or DEFAULT_INGESTION_MODE,
            "roleArn": request["roleArn"],
            "jobOutput": {"s3DataDestination": destination},
        },
        tags=request.get("tags"),
    )
    crud.start_workflow(runtime, EXPORT_WORKFLOW, arn)
    return {"datasetExportJobArn": arn}


@operations("DescribeDatasetExportJob")
def describe_dataset_export_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, DATASET_EXPORT_JOB, request["datasetExportJobArn"])


@operations("ListDatasetExportJobs")
def list_dataset_export_jobs(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The dataset's export jobs; with no datasetArn, every export job.

    An unknown dataset has none (the operation has no ResourceNotFoundException).
    """
    dataset_arn = request.get("datasetArn")
    return crud.list_page(runtime, DATASET_EXPORT_JOB, request, parent_arn=dataset_arn)


# --- the data an export writes (pure: tables in, CSV files out) --------------------------

ROWS_PER_FILE = 1_000_000


def exported_table(
    bulk: pa.Table | None, put: pa.Table | None, schema: pa.Schema, id_column: str | None
) -> pa.Table:
    """The rows to export from the bulk and/or PUT data, in the dataset's schema.

    Exact duplicates appear once; with both sources, a Users or Items dataset
    keeps the newest row per ID (PUT rows are newer than bulk rows).
    """
    if put is not None and ARRIVAL_COLUMN in put.column_names:
        # recorded rows in the order they arrived: a merged file (``event_compaction``) is
        # named by its newest row, so file order alone may put an older row last
        arrived = pc.fill_null(put.column(ARRIVAL_COLUMN).cast(pa.float64()), float("-inf"))
        put = put.take(pc.sort_indices(arrived))  # stable; rows without an arrival first
    tables = [conform_table(t, schema) for t in (bulk, put) if t is not None]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    if id_column and bulk is not None and put is not None and table.num_rows:
        table = _newest_per_id(table, id_column)
    if not table.num_rows:
        return table
    distinct = table.group_by(schema.names, use_threads=False).aggregate([])
    return distinct.select(schema.names)


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: missing ones null, extra ones dropped."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type, safe=False))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _newest_per_id(table: pa.Table, id_column: str) -> pa.Table:
    order = "__order"
    numbered = table.append_column(order, pa.array(range(table.num_rows), pa.int64()))
    last = numbered.group_by(id_column, use_threads=False).aggregate([(order, "max")])
    keep = pc.is_in(numbered.column(order), value_set=last.column(f"{order}_max"))
    return numbered.filter(keep).drop_columns([order])


def write_csv_files(
    table: pa.Table,
    header: list[str],
    directory: Path,
    stem: str,
    rows_per_file: int = ROWS_PER_FILE,
) -> list[Path]:
    """CSV files with a header row, at most ``rows_per_file`` data rows each (one at least)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    offset = 0
    while offset < table.num_rows or not paths:
        chunk = table.slice(offset, rows_per_file)
        path = directory / f"{stem}_part{len(paths)}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            for batch in chunk.to_batches(max_chunksize=65_536):
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                writer.writerows([_text(v) for v in row] for row in zip(*columns, strict=True))
        paths.append(path)
        offset += rows_per_file
    return paths


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
