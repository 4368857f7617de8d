"""Personalize's data workflows: dataset import and dataset export jobs.

``personalize-import-dataset``, steps each safe to run again:

``start``
    The job goes CREATE IN_PROGRESS.
``import``
    Lists the source (one file, or every file under a folder), copies each
    from the user's storage, streams it through ``import_csv`` (header and
    values checked) into ``import_store`` (Parquet parts; an INCREMENTAL import
    merges the current version in), and uploads the parts under a new version
    prefix ``resources/personalize/dataset/<group>/<TYPE>/data/<job>/``. Only
    when every row has passed does the dataset's ``_data_prefix`` move to the
    new version, in the update that releases the dataset; then the job is
    ACTIVE. A failed import leaves the dataset's data exactly as it was.
    An Interactions import into a group with a metric attribution also counts
    its rows (``attribution_reports.ImportMetrics``): the S3 report it asks
    for is written before the switch (so one that cannot be written fails the
    job), the CloudWatch metrics of an INCREMENTAL import after it, before the
    job is ACTIVE.

On failure the job is CREATE FAILED with a failureReason naming the file,
line and field, and the partial version is removed. The version before the
current one is kept until the next import, for work (a training job) that may
still be reading it; older ones are deleted.

Amazon's limits applied (Amazon Personalize Developer Guide, "Endpoints and
quotas"): at most 100 GB of data per FULL import job and 1 GB per INCREMENTAL
one, and at least 1,000 item interaction records per Interactions import job.
Files whose names start with ``.`` or ``_`` (``_SUCCESS`` markers, editor
files) are not data and are skipped.

``personalize-export-dataset`` writes a dataset's bulk and/or PUT data as CSV
files (``augury.personalize.dataset_exports``) to the job's destination
folder, named ``<job name>_<timestamp>_part<N>.csv`` as Augury's Forecast
exports are.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from augury.forecast import export_files
from augury.personalize.attribution_reports import ImportMetrics
from augury.personalize.avro_rules import SchemaRuleError, parse_schema_text
from augury.personalize.dataset_exports import (
    ALL,
    BULK,
    EXPORT_WORKFLOW,
    PUT,
    exported_table,
    write_csv_files,
)
from augury.personalize.group_data import DATA_ROWS, parquet_keys, read_table
from augury.personalize.import_csv import CsvReader, ImportFailure, SourceFile
from augury.personalize.import_fields import ID_COLUMN, ImportField, arrow_schema, import_fields
from augury.personalize.import_store import VersionBuilder, WrittenVersion
from augury.personalize.imports import (
    IMPORT_WORKFLOW,
    INCREMENTAL,
    JOB_DATA_PREFIX,
    release_dataset,
)
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.data_versions import (
    DATA_PREFIX,
    PREVIOUS_DATA_PREFIX,
    delete_old_versions,
)
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows import forecast_jobs
from augury.workflows.definition import ResourceFailed, Retry, State, Step, Workflow

if TYPE_CHECKING:
    from augury.runtime import Runtime

BYTES_PER_GB = 1024**3
MAX_BYTES = {"FULL": 100 * BYTES_PER_GB, "INCREMENTAL": 1 * BYTES_PER_GB}
MIN_INTERACTIONS_PER_IMPORT = 1_000
"""Amazon's quota: "Minimum number of item interaction records per dataset import job"."""


# --- import ------------------------------------------------------------------------------


def _start(runtime: Runtime, state: State) -> None:
    forecast_jobs.begin(runtime, state["arn"])


def _import(runtime: Runtime, state: State) -> None:
    job = forecast_jobs.current(runtime, state["arn"])
    if Status(job.status) == Status.ACTIVE:
        return  # done before a retry
    dataset = runtime.metadata.get(str(job.parent_arn))
    if dataset is None:
        raise ResourceFailed(f"Dataset {job.parent_arn} was deleted during the import")
    version = job.attributes[JOB_DATA_PREFIX]
    runtime.blobs.delete_prefix(version)  # a retried run starts clean
    metrics = ImportMetrics.for_job(
        runtime,
        job,
        str(dataset.parent_arn),
        _dataset_type(dataset),
        job.attributes.get("importMode") or "FULL",
    )
    try:
        with scratch_directory(runtime, "augury-import-") as scratch:
            written = _read_files(runtime, job, dataset, Path(scratch), metrics)
            for part in written.parts:
                runtime.blobs.upload_file(part, f"{version}{part.name}")
            if metrics is not None:
                metrics.write_report(Path(scratch))
    except (ImportFailure, ExternalDataError) as error:
        raise ResourceFailed(str(error)) from None
    _finish(runtime, job, dataset, written, metrics)


def dataset_fields(runtime: Runtime, dataset: Resource) -> tuple[ImportField, ...]:
    """The dataset's current schema as import fields."""
    schema = runtime.metadata.get(str(dataset.attributes.get("schemaArn")))
    if schema is None:
        raise ResourceFailed(f"The schema of dataset {dataset.arn} no longer exists")
    try:
        return import_fields(parse_schema_text(schema.attributes["schema"]))
    except SchemaRuleError as error:
        raise ResourceFailed(f"The schema of dataset {dataset.arn} is not valid: {error}") from None


def _dataset_type(dataset: Resource) -> str:
    return str(dataset.attributes.get("datasetType", "")).upper()


def _read_files(
    runtime: Runtime,
    job: Resource,
    dataset: Resource,
    scratch: Path,
    metrics: ImportMetrics | None = None,
) -> WrittenVersion:
    location = job.attributes["dataSource"]["dataLocation"]
    role = job.attributes.get("roleArn")
    mode = job.attributes.get("importMode") or "FULL"
    uris = [u for u in runtime.external.list_objects(location, role_arn=role) if _is_data(u)]
    if not uris:
        raise ImportFailure(f"No file was found at {location}")
    fields = dataset_fields(runtime, dataset)
    dataset_type = _dataset_type(dataset)
    builder = VersionBuilder(fields, dataset_type, scratch)
    reader = CsvReader(fields)
    size = 0
    for index, uri in enumerate(uris):
        local = scratch / "source" / f"{index:05d}.csv"
        runtime.external.download(uri, local, role_arn=role)
        size += local.stat().st_size
        if size > MAX_BYTES[mode]:
            raise ImportFailure(
                f"{location} holds more than {MAX_BYTES[mode] // BYTES_PER_GB} GB of data, the "
                f"most a {mode} import job can bring into a dataset; split it into several jobs"
            )
        for batch in reader.batches(SourceFile(uri, local)):
            builder.add(batch)
            if metrics is not None:
                metrics.add(batch)
        local.unlink()
    if not builder.rows:
        raise ImportFailure(f"{location} holds no data rows; there is nothing to import")
    if dataset_type == "INTERACTIONS" and builder.rows < MIN_INTERACTIONS_PER_IMPORT:
        raise ImportFailure(
            f"{location} holds {builder.rows} item interaction records; an Interactions "
            f"dataset import job needs at least {MIN_INTERACTIONS_PER_IMPORT}"
        )
    previous = (
        _previous_parts(runtime, dataset, scratch / "previous") if mode == INCREMENTAL else []
    )
    return builder.finish(previous)


def _is_data(uri: str) -> bool:
    """Hidden files and markers (``.DS_Store``, ``_SUCCESS``) are not data."""
    name = PurePosixPath(uri).name
    return bool(name) and not name.startswith((".", "_"))


def _previous_parts(runtime: Runtime, dataset: Resource, directory: Path) -> list[Path]:
    prefix = dataset.attributes.get(DATA_PREFIX)
    parts = []
    for number, key in enumerate(parquet_keys(runtime, prefix) if prefix else []):
        local = directory / f"{number:05d}.parquet"
        runtime.blobs.download_file(key, local)
        parts.append(local)
    return parts


def _finish(
    runtime: Runtime,
    job: Resource,
    dataset: Resource,
    written: WrittenVersion,
    metrics: ImportMetrics | None = None,
) -> None:
    """Switch the dataset to the new version, publish its metric attribution's metrics (the
    data is in by then, and they are out when the job says ACTIVE), then mark it ACTIVE."""
    version = job.attributes[JOB_DATA_PREFIX]
    current = dataset.attributes.get(DATA_PREFIX)
    release_dataset(
        runtime,
        dataset.arn,
        job.arn,
        {
            DATA_PREFIX: version,
            PREVIOUS_DATA_PREFIX: current if current != version else None,
            DATA_ROWS: written.rows,
        },
    )
    if metrics is not None:
        metrics.publish()
    forecast_jobs.finish(runtime, job.arn)
    delete_old_versions(runtime, dataset.arn, keep={version, current})


def _import_failed(runtime: Runtime, state: State, reason: str) -> None:
    """The job fails with ``reason``; its dataset keeps the data it had."""
    job = runtime.metadata.get(state["arn"])
    if job is None:
        return
    crud.set_status(runtime, job.arn, Status.CREATE_FAILED, reason)
    dataset_arn = str(job.parent_arn)
    release_dataset(runtime, dataset_arn, job.arn)
    dataset = runtime.metadata.get(dataset_arn)
    version = job.attributes.get(JOB_DATA_PREFIX)
    in_use = set()
    if dataset is not None:
        in_use = {dataset.attributes.get(DATA_PREFIX), dataset.attributes.get(PREVIOUS_DATA_PREFIX)}
    if version and version not in in_use:
        runtime.blobs.delete_prefix(version)


IMPORT = Workflow(
    name=IMPORT_WORKFLOW,
    steps=(
        Step("start", _start),
        Step("import", _import, retry=Retry(max_attempts=1)),
    ),
    on_failure=_import_failed,
)


# --- export ------------------------------------------------------------------------------


def _export(runtime: Runtime, state: State) -> None:
    job = forecast_jobs.current(runtime, state["arn"])
    if Status(job.status) == Status.ACTIVE:
        return
    dataset = runtime.metadata.get(str(job.parent_arn))
    if dataset is None:
        raise ResourceFailed(f"Dataset {job.parent_arn} was deleted before it was exported")
    fields = dataset_fields(runtime, dataset)
    dataset_type = _dataset_type(dataset)
    mode = job.attributes.get("ingestionMode") or PUT
    bulk = put = None
    if mode in (BULK, ALL):
        bulk = read_table(runtime, dataset.attributes.get(DATA_PREFIX))
    if mode in (PUT, ALL):
        put = read_table(runtime, _events_prefix(runtime, dataset, dataset_type))
    table = exported_table(bulk, put, arrow_schema(fields), ID_COLUMN.get(dataset_type))
    destination = job.attributes["jobOutput"]["s3DataDestination"]
    stem = f"{job.name}_{export_files.export_timestamp(job.created_at)}"
    try:
        with scratch_directory(runtime, "augury-export-") as scratch:
            header = [field.name for field in fields]
            for path in write_csv_files(table, header, Path(scratch), stem):
                runtime.external.upload(
                    path,
                    export_files.join_uri(destination["path"], path.name),
                    role_arn=job.attributes.get("roleArn"),
                    kms_key_arn=destination.get("kmsKeyArn"),
                )
    except ExternalDataError as error:
        raise ResourceFailed(str(error)) from None
    forecast_jobs.finish(runtime, job.arn)


def _events_prefix(runtime: Runtime, dataset: Resource, dataset_type: str) -> str | None:
    """Where the group's PutEvents / PutUsers / PutItems data for this dataset type lies."""
    try:
        from augury.personalize.event_data import DATASET_FOLDERS, events_prefix
    except ImportError:  # event ingestion not installed: nothing arrived through it
        return None
    return events_prefix(str(dataset.parent_arn)) + DATASET_FOLDERS[dataset_type]


def _export_failed(runtime: Runtime, state: State, reason: str) -> None:
    if runtime.metadata.get(state["arn"]) is not None:
        crud.set_status(runtime, state["arn"], Status.CREATE_FAILED, reason)


EXPORT = Workflow(
    name=EXPORT_WORKFLOW,
    steps=(
        Step("start", _start),
        Step("export", _export, retry=Retry(max_attempts=1)),
    ),
    on_failure=_export_failed,
)

WORKFLOWS: tuple[Workflow, ...] = (IMPORT, EXPORT)
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
