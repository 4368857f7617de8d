"""Personalize's data workflows: dataset import and dataset export jobs.

``personalize-import-dataset``, steps each safe to run again:

``start``
    The job goes CREATE IN_PROGRESS.
``import``
    Lists the source once (one file, or every file under a folder) and reads the
    files one at a time: each is copied from the user's storage, streamed through
    ``import_csv`` (header and values checked) into ``import_store`` and stored
    as Parquet parts, with a summary (rows, bytes, metric counts) in the job's
    staging prefix (``augury.workflows.file_slices``). On AWS, when the Lambda
    invocation has no time for another file, the step saves its progress and
    raises ``ResourcePending``; Step Functions calls it again at once and it goes
    on from the next file, so an import is not bound by one invocation's 15
    minutes. Interactions rows go straight into the new version prefix
    ``resources/personalize/dataset/<group>/<TYPE>/data/<job>/``; Users, Items
    and Actions rows wait in staging, split by ID into partitions, to be merged
    by ID (``personalize_id_merge``).
``complete``
    Checks the totals (Amazon's minimum, rows at all), puts the version
    together (an INCREMENTAL import copies the current Interactions parts in,
    inside the store, or merges the current Users/Items/Actions rows with the
    new by ID, one partition per budgeted slice, over as many invocations as it
    takes) and only then moves the dataset's ``_data_prefix`` to the new
    version, in the update that releases the dataset; then the job is ACTIVE.
    A failed import leaves the dataset's data exactly as it was. An
    Interactions import into a group with a metric attribution also counts its
    rows (``attribution_reports.ImportMetrics``, per file, added up here): the
    S3 report it asks for is written before the switch (so one that cannot be
    written fails the job), the CloudWatch metrics of an INCREMENTAL import
    after it, before the job is ACTIVE.

On failure the job is CREATE FAILED with a failureReason naming the file,
line and field, and the partial version and the staging prefix are removed. The version before the
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

import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from augury.forecast import export_files
from augury.personalize.attribution_metrics import cloudwatch_bounds
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
from augury.personalize.import_store import VersionBuilder
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
    discard_import,
    staging_prefix,
)
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows import forecast_jobs
from augury.workflows.definition import (
    ResourceFailed,
    ResourcePending,
    Retry,
    State,
    Step,
    Workflow,
)
from augury.workflows.file_slices import CONTINUE, Budget, FileProgress
from augury.workflows.personalize_id_merge import (
    merge_partitions,
    planned_partitions,
    previous_rows,
    split_previous,
    store_file_rows,
)

if TYPE_CHECKING:
    from augury.runtime import Runtime

BYTES_PER_GB = 1024**3
MAX_BYTES = {"FULL": 100 * BYTES_PER_GB, "INCREMENTAL": 1 * BYTES_PER_GB}
MIN_INTERACTIONS_PER_IMPORT = 1_000
"""Amazon's quota: "Minimum number of item interaction records per dataset import job"."""


# --- import ------------------------------------------------------------------------------

SEQUENCE_BITS = 40
"""A row's sequence is its file's index shifted by this much plus its row in the file, so
rows of later files (and later lines) win by ID whichever invocation read them."""
NEW_PARTS = "part-1-"
PREVIOUS_PARTS = "part-0-"
"""An Interactions version's part names: the previous version's rows first (an INCREMENTAL
import copies its parts), then each file's parts in file order (``part-1-<file>-<n>``)."""


def _start_import(runtime: Runtime, state: State) -> None:
    job = forecast_jobs.current(runtime, state["arn"])
    if Status(job.status) == Status.CREATE_PENDING:
        # Nothing of this job is staged yet; what lies there is an older job's of the
        # same name, and must not pass for this one's progress.
        runtime.blobs.delete_prefix(staging_prefix(job.attributes[JOB_DATA_PREFIX]))
    forecast_jobs.begin(runtime, state["arn"])


@dataclass(frozen=True)
class _Job:
    """What every invocation of an import's steps needs to know about it."""

    record: Resource
    dataset: Resource
    fields: tuple[ImportField, ...]

    @property
    def dataset_type(self) -> str:
        return _dataset_type(self.dataset)

    @property
    def mode(self) -> str:
        return self.record.attributes.get("importMode") or "FULL"

    @property
    def location(self) -> str:
        return self.record.attributes["dataSource"]["dataLocation"]

    @property
    def role(self) -> str | None:
        return self.record.attributes.get("roleArn")

    @property
    def version(self) -> str:
        return self.record.attributes[JOB_DATA_PREFIX]

    @property
    def staging(self) -> str:
        return staging_prefix(self.version)

    @property
    def id_column(self) -> str | None:
        return ID_COLUMN.get(self.dataset_type)

    def progress(self, runtime: Runtime) -> FileProgress:
        return FileProgress(runtime, f"{self.staging}progress/")

    def file_parts(self, index: int) -> str:
        """Where file ``index``'s rows go when every row is kept (Interactions): straight
        into the version (rows merged by ID wait in staging: ``personalize_id_merge``)."""
        return f"{self.version}{NEW_PARTS}{index:05d}-"

    def partitions(self, runtime: Runtime) -> int:
        """How many partitions rows merged by ID are split into (1 for Interactions)."""
        if not self.id_column:
            return 1
        kept = previous_rows(self.dataset.attributes) if self.mode == INCREMENTAL else 0

        def source_bytes() -> int:
            return sum(runtime.external.list_sizes(self.location, role_arn=self.role).values())

        return planned_partitions(self.progress(runtime), source_bytes, kept)

    def metrics(self, runtime: Runtime) -> ImportMetrics | None:
        """The job's metric-attribution counting; every file's counts against the one window
        of recent rows the import's first invocation saw."""
        if self.dataset_type != "INTERACTIONS":
            return None
        low, high = self.progress(runtime).once(
            "bounds", lambda: list(cloudwatch_bounds(time.time()))
        )
        return ImportMetrics.for_job(
            runtime,
            self.record,
            str(self.dataset.parent_arn),
            self.dataset_type,
            self.mode,
            bounds=(float(low), float(high)),
        )


def _job(runtime: Runtime, job: Resource) -> _Job:
    dataset = runtime.metadata.get(str(job.parent_arn))
    if dataset is None:
        raise ResourceFailed(f"Dataset {job.parent_arn} was deleted during the import")
    return _Job(job, dataset, dataset_fields(runtime, dataset))


def _import(runtime: Runtime, state: State) -> None:
    """Read the source files not read yet, as many as this invocation has time for."""
    record = forecast_jobs.current(runtime, state["arn"])
    if Status(record.status) == Status.ACTIVE:
        return  # done before a retry
    job = _job(runtime, record)
    progress = job.progress(runtime)
    try:
        files = progress.files(lambda: _sources(runtime, job))
        partitions = job.partitions(runtime)
        done = progress.done()
        size = sum(int(summary["bytes"]) for summary in done.values())
        budget = Budget()
        with scratch_directory(runtime, "augury-import-") as scratch:
            for index, uri in enumerate(files):
                if index in done:
                    continue
                if not budget.fits_another():
                    raise ResourcePending(
                        f"{len(done)} of {len(files)} files read; the import goes on"
                    )
                with budget.reading():
                    summary = _read_file(runtime, job, index, uri, Path(scratch), size, partitions)
                progress.record(index, summary)
                done[index] = summary
                size += int(summary["bytes"])
    except (ImportFailure, ExternalDataError) as error:
        raise ResourceFailed(str(error)) from None


def _sources(runtime: Runtime, job: _Job) -> list[str]:
    uris = [
        uri
        for uri in runtime.external.list_objects(job.location, role_arn=job.role)
        if _is_data(uri)
    ]
    if not uris:
        raise ImportFailure(f"No file was found at {job.location}")
    return uris


def _read_file(
    runtime: Runtime,
    job: _Job,
    index: int,
    uri: str,
    scratch: Path,
    size_before: int,
    partitions: int,
) -> dict[str, Any]:
    """Check one file and store its rows; what the end of the import needs to know of it."""
    folder = scratch / f"{index:05d}"
    local = folder / "source.csv"
    runtime.external.download(uri, local, role_arn=job.role)
    size = local.stat().st_size
    if size_before + size > MAX_BYTES[job.mode]:
        raise ImportFailure(
            f"{job.location} holds more than {MAX_BYTES[job.mode] // BYTES_PER_GB} GB of data, "
            f"the most a {job.mode} import job can bring into a dataset; split it into "
            "several jobs"
        )
    builder = VersionBuilder(
        job.fields, job.dataset_type, folder / "rows", first_sequence=index << SEQUENCE_BITS
    )
    metrics = job.metrics(runtime)
    for batch in CsvReader(job.fields).batches(SourceFile(uri, local)):
        builder.add(batch)
        if metrics is not None:
            metrics.add(batch)
    local.unlink()
    if job.id_column:
        store_file_rows(
            runtime, job.staging, index, builder.spilled(), job.id_column, partitions, folder
        )
    else:
        target = job.file_parts(index)
        runtime.blobs.delete_prefix(target)  # what a read cut short left
        for number, part in enumerate(builder.spilled()):
            runtime.blobs.upload_file(part, f"{target}{number:05d}.parquet")
            part.unlink()
    return {
        "uri": uri,
        "rows": builder.rows,
        "bytes": size,
        "metrics": metrics.counted() if metrics is not None else None,
    }


def _complete(runtime: Runtime, state: State) -> None:
    """Every file is read: check the totals, write the version, switch the dataset to it."""
    record = forecast_jobs.current(runtime, state["arn"])
    if Status(record.status) == Status.ACTIVE:
        # A retry after the job ended: what an interrupted cleanup left goes now.
        runtime.blobs.delete_prefix(staging_prefix(record.attributes[JOB_DATA_PREFIX]))
        return
    job = _job(runtime, record)
    progress = job.progress(runtime)
    done = progress.done()
    files = progress.files(list)
    if len(done) < len(files):
        raise ResourceFailed(f"{len(files) - len(done)} files of the import were never read")
    metrics = job.metrics(runtime)
    if metrics is not None:
        for summary in done.values():
            metrics.add_counted(summary.get("metrics") or {})
    if job.dataset.attributes.get(DATA_PREFIX) != job.version:  # not switched before a retry
        new_rows = sum(int(summary["rows"]) for summary in done.values())
        try:
            _check_rows(job, new_rows)
            with scratch_directory(runtime, "augury-import-") as scratch:
                rows = _write_version(runtime, job, new_rows, Path(scratch), Budget())
                if metrics is not None:
                    metrics.write_report(Path(scratch))
        except (ImportFailure, ExternalDataError) as error:
            raise ResourceFailed(str(error)) from None
        _switch(runtime, job, rows)
    if metrics is not None:
        metrics.publish()  # the data is in, and the metrics are out when the job says ACTIVE
    forecast_jobs.finish(runtime, record.arn)
    dataset = runtime.metadata.get(job.dataset.arn)
    if dataset is not None:
        kept = {dataset.attributes.get(DATA_PREFIX), dataset.attributes.get(PREVIOUS_DATA_PREFIX)}
        delete_old_versions(runtime, dataset.arn, keep={job.version, *kept})
    runtime.blobs.delete_prefix(job.staging)


def _check_rows(job: _Job, rows: int) -> None:
    if not rows:
        raise ImportFailure(f"{job.location} holds no data rows; there is nothing to import")
    if job.dataset_type == "INTERACTIONS" and rows < MIN_INTERACTIONS_PER_IMPORT:
        raise ImportFailure(
            f"{job.location} holds {rows} item interaction records; an Interactions "
            f"dataset import job needs at least {MIN_INTERACTIONS_PER_IMPORT}"
        )


def _write_version(
    runtime: Runtime, job: _Job, new_rows: int, scratch: Path, budget: Budget
) -> int:
    """Put the new version's parts under its prefix; how many rows it holds.

    Interactions keep every row: the files' parts are in place already, and an
    INCREMENTAL import copies the previous version's parts beside them, inside the
    store. Users, Items and Actions keep one row per ID, so their rows are merged here
    one partition at a time, with the previous version's for an INCREMENTAL import
    (``personalize_id_merge``), over as many invocations as ``budget`` asks for.
    """
    previous_prefix = job.dataset.attributes.get(DATA_PREFIX) if job.mode == INCREMENTAL else None
    if not job.id_column:
        previous_keys = parquet_keys(runtime, previous_prefix) if previous_prefix else []
        for number, key in enumerate(previous_keys):
            runtime.blobs.copy(key, f"{job.version}{PREVIOUS_PARTS}{number:05d}.parquet")
        kept = previous_rows(job.dataset.attributes) if previous_keys else 0
        return kept + new_rows
    partitions = job.partitions(runtime)
    if previous_prefix:
        split_previous(
            runtime,
            job.staging,
            previous_prefix,
            job.fields,
            job.id_column,
            partitions,
            budget,
            scratch,
        )
    return merge_partitions(
        runtime,
        job.staging,
        job.version,
        job.fields,
        job.id_column,
        partitions,
        budget,
        scratch,
        previous_prefix,
    )


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


def _is_data(uri: str) -> bool:
    """Hidden files and markers (``.DS_Store``, ``_SUCCESS``) are not data."""
    name = PurePosixPath(uri).name
    return bool(name) and not name.startswith((".", "_"))


def _switch(runtime: Runtime, job: _Job, rows: int) -> None:
    """The dataset's data becomes the new version, and its import lock is released."""
    current = job.dataset.attributes.get(DATA_PREFIX)
    release_dataset(
        runtime,
        job.dataset.arn,
        job.record.arn,
        {
            DATA_PREFIX: job.version,
            PREVIOUS_DATA_PREFIX: current if current != job.version else None,
            DATA_ROWS: rows,
        },
    )


def _import_failed(runtime: Runtime, state: State, reason: str) -> None:
    """The job fails with ``reason``; its dataset keeps the data it had. A job already
    ACTIVE keeps that status: its dataset uses its data (what failed after it was cleanup,
    which the next import redoes)."""
    job = runtime.metadata.get(state["arn"])
    if job is None:
        return
    version = job.attributes.get(JOB_DATA_PREFIX)
    if Status(job.status) == Status.ACTIVE:
        if version:
            runtime.blobs.delete_prefix(staging_prefix(version))
        return
    discard_import(runtime, str(job.parent_arn), version)
    crud.set_status(runtime, job.arn, Status.CREATE_FAILED, reason)
    release_dataset(runtime, str(job.parent_arn), job.arn)


IMPORT = Workflow(
    name=IMPORT_WORKFLOW,
    steps=(
        Step("start", _start_import),
        Step("import", _import, retry=CONTINUE),
        Step("complete", _complete, retry=CONTINUE),
    ),
    on_failure=_import_failed,
)


# --- export ------------------------------------------------------------------------------


def _start_export(runtime: Runtime, state: State) -> None:
    forecast_jobs.begin(runtime, state["arn"])


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
        Step("start", _start_export),
        Step("export", _export, retry=Retry(max_attempts=1)),
    ),
    on_failure=_export_failed,
)

WORKFLOWS: tuple[Workflow, ...] = (IMPORT, EXPORT)
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
