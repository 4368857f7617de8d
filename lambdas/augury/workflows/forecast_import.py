"""The ``import-dataset`` workflow: read a Forecast import's files into a new dataset version.

Steps, each safe to run again:

``start``
    The job goes CREATE_IN_PROGRESS and its dataset UPDATE_IN_PROGRESS.
``import``
    Lists the source once (one object, or every object under a folder or
    bucket, at most 10,000, with their sizes) and decides how many partitions
    the rows go to (``import_partitions.partition_count``). Then reads the files
    one at a time: each is copied from the user's storage, streamed through
    ``import_reader`` (checks) into ``import_partitions``, and its rows stored
    split by partition (a stable hash of the series) under the job's staging
    prefix, with a summary (rows, bytes, the related-data grid) that lets the
    next file go on. On AWS, when the Lambda invocation has no time for another
    file, the step saves its progress and raises ``ResourcePending``; Step
    Functions calls it again at once (``augury.workflows.file_slices``). An
    INCREMENTAL import first splits the current version's rows the same way.
``complete``
    Every file read: each partition's rows, from every file, are sorted,
    checked for repeated rows (the earliest, by file and line, is reported)
    and merged with the current ones, and become one ``part-NNNNN.parquet``
    under the new version prefix ``resources/forecast/dataset/<dataset>/data/
    <job>/``; FieldStatistics are counted over the new rows meanwhile. As many
    partitions as the invocation has time for; what was done (the statistics
    too) is saved after each, and the next invocation goes on. Only
    when every row has passed does the dataset's ``_data_prefix`` move to the
    new version, in the same update that makes it ACTIVE again: a failed import
    leaves the dataset's data exactly as it was.

StopResource moves the job to CREATE_STOPPING; the reader looks for that
between batches (at most once a second), ``complete`` between partitions, and
the job ends CREATE_STOPPED, with the dataset and its data exactly as on failure.

On failure the job is CREATE_FAILED with a Message naming the file, line and
field, the dataset is ACTIVE with its previous data, and the partial version and
the staging prefix are removed. The version before the current one is kept until
the next import, for work (a training job) that may still be reading it; older
ones are deleted.

Sources for the rules: the Amazon Forecast API reference (CreateDatasetImportJob:
"Amazon Forecast imports all files up to the limit of 10,000 files") and the
"Dataset Guidelines for Forecast" page ("File names must contain at least one
alphabetic character").
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from augury.forecast import timestamp_formats
from augury.forecast.data_spans import DATA_SPAN
from augury.forecast.domains import domain
from augury.forecast.import_partitions import (
    PREVIOUS,
    PartitionedWriter,
    partition_count,
)
from augury.forecast.import_reader import (
    FileReader,
    ImportFailure,
    ImportSpec,
    SourceFile,
)
from augury.forecast.imports import (
    DATA_ROWS,
    DATA_SETTINGS,
    DATA_TIME_ZONE,
    IMPORT_WORKFLOW,
    INCREMENTAL,
    JOB_DATA_PREFIX,
    TIMESTAMP_FORMAT_GIVEN,
    release_dataset,
)
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.blob_downloads import DOWNLOAD_THREADS
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
from augury.workflows.definition import (
    ResourceFailed,
    ResourcePending,
    State,
    Step,
    Workflow,
)
from augury.workflows.file_slices import CONTINUE, Budget, FileProgress
from augury.workflows.forecast_import_version import write_version

if TYPE_CHECKING:
    from augury.runtime import Runtime

logger = logging.getLogger(__name__)

MAX_FILES = 10_000
BYTES_PER_GB = 1024**3
ASSUMED_BYTES_PER_SECOND = 20e6
"""The read rate assumed for EstimatedTimeRemainingInMinutes until one is measured."""
PREVIOUS_ROW_BYTES = 60
"""About what one row of the current version weighs as CSV, for sizing the partitions of an
INCREMENTAL import (the rows are counted, not their bytes)."""
_LETTER = re.compile(r"[^\W\d_]")


STOP_CHECK_SECONDS = 1.0
"""How often, at most, a running import re-reads its record for a stop request."""


class _Stopped(Exception):
    """StopResource asked this import to stop; nothing it read is kept."""


def _start(runtime: Runtime, state: State) -> None:
    job = _job(runtime, state)
    if Status(job.status) == Status.CREATE_PENDING:
        # Nothing of this job is staged yet; what lies there is an older job's of the
        # same name, and must not pass for this one's progress.
        runtime.blobs.delete_prefix(staging_prefix(job.attributes[JOB_DATA_PREFIX]))
        crud.set_status(runtime, job.arn, Status.CREATE_IN_PROGRESS)
    dataset = runtime.metadata.get(str(job.parent_arn))
    if dataset is not None and Status(dataset.status) == Status.UPDATE_PENDING:
        crud.set_status(runtime, dataset.arn, Status.UPDATE_IN_PROGRESS)


def _import(runtime: Runtime, state: State) -> None:
    """Read the source files not read yet, as many as this invocation has time for."""
    going = _going_on(runtime, state)
    if going is None:
        return  # done, stopped or failed before a retry
    job, dataset, staging, progress = going
    try:
        _raise_if_stopping(job)
        plan = progress.once("plan", lambda: _plan(runtime, job, dataset))
        files = [(str(uri), int(size)) for uri, size in plan["files"]]
        done = progress.done()
        spec = import_spec(dataset, job)
        reader = FileReader(spec)
        for summary in done.values():
            reader.resume_grid(summary.get("grid"))
        read = sum(size for index, (_, size) in enumerate(files) if index in done)
        tracker = _Progress(runtime, job.arn, sum(size for _, size in files), read)
        budget = Budget()
        with scratch_directory(runtime, "augury-import-") as scratch:
            if job.attributes.get("ImportMode") == INCREMENTAL and not progress.has("previous"):
                with budget.reading():  # as long as a file: the next may wait for a new call
                    progress.once(
                        "previous",
                        lambda: _spill_previous(
                            runtime, dataset, spec, plan, staging, Path(scratch)
                        ),
                    )
            for index, (uri, size) in enumerate(files):
                if index in done:
                    continue
                if not budget.fits_another():
                    raise ResourcePending(
                        f"{len(done)} of {len(files)} files read; the import goes on"
                    )
                with budget.reading():
                    summary = _read_file(
                        runtime, job, reader, plan, index, uri, staging, Path(scratch), tracker
                    )
                progress.record(index, summary)
                done[index] = summary
                tracker.done(size)
        _raise_if_stopping(_job(runtime, state))
    except (ImportFailure, ExternalDataError) as error:
        raise ResourceFailed(str(error)) from None
    except _Stopped:
        _abandon(runtime, job.arn, Status.CREATE_STOPPED)


_OVER = (Status.ACTIVE, Status.CREATE_STOPPED, Status.CREATE_FAILED)


def _going_on(
    runtime: Runtime, state: State
) -> tuple[Resource, Resource, str, FileProgress] | None:
    """The job, its dataset, its staging prefix and its progress; ``None`` when the job is
    over (a retry after it ended)."""
    job = _job(runtime, state)
    if Status(job.status) in _OVER:
        # A retry after the job ended: what an interrupted cleanup left goes now.
        runtime.blobs.delete_prefix(staging_prefix(job.attributes[JOB_DATA_PREFIX]))
        return None
    dataset = runtime.metadata.get(str(job.parent_arn))
    if dataset is None:
        raise ResourceFailed(f"Dataset {job.parent_arn} was deleted during the import")
    staging = staging_prefix(job.attributes[JOB_DATA_PREFIX])
    return job, dataset, staging, FileProgress(runtime, f"{staging}progress/")


def _raise_if_stopping(job: Resource) -> None:
    if Status(job.status) in (Status.CREATE_STOPPING, Status.CREATE_STOPPED):
        raise _Stopped


def _plan(runtime: Runtime, job: Resource, dataset: Resource) -> dict[str, Any]:
    """The files to read, with their sizes, and how many partitions their rows go to
    (every invocation must agree: it is decided once)."""
    source = job.attributes["DataSource"]["S3Config"]
    sizes = runtime.external.list_sizes(source["Path"], role_arn=source.get("RoleArn"))
    _check_files(source["Path"], list(sizes))
    previous_rows = 0
    if job.attributes.get("ImportMode") == INCREMENTAL and dataset.attributes.get(DATA_PREFIX):
        previous_rows = int(dataset.attributes.get(DATA_ROWS) or 0)
    input_bytes = sum(sizes.values()) + previous_rows * PREVIOUS_ROW_BYTES
    return {
        "files": [[uri, size] for uri, size in sizes.items()],
        "partitions": partition_count(input_bytes),
    }


def _read_file(
    runtime: Runtime,
    job: Resource,
    reader: FileReader,
    plan: dict[str, Any],
    index: int,
    uri: str,
    staging: str,
    scratch: Path,
    tracker: _Progress,
) -> dict[str, Any]:
    """Check one file and store its rows, split by partition, under ``spill/<file>/``."""
    folder = scratch / f"{index:05d}"
    local = folder / "source"
    runtime.external.download(
        uri, local, role_arn=job.attributes["DataSource"]["S3Config"].get("RoleArn")
    )
    size = local.stat().st_size
    writer = PartitionedWriter(reader.spec, folder / "spill", int(plan["partitions"]))
    rows = 0
    try:
        for batch in reader.batches(SourceFile(uri, local, index)):
            writer.add(batch)
            rows += batch.num_rows
            tracker.check_stop()
        local.unlink()
        _upload_spill(runtime, writer, f"{staging}spill/{index:05d}/")
    except BaseException:
        writer.discard()
        raise
    return {"uri": uri, "bytes": size, "rows": rows, "grid": reader.grid_state()}


def _upload_spill(runtime: Runtime, writer: PartitionedWriter, prefix: str) -> None:
    """Store each partition's spill as ``<prefix><partition>.arrow``, several at a time (up
    to 128 PUTs a file on S3)."""
    runtime.blobs.delete_prefix(prefix)  # what a read cut short left

    def upload(item: tuple[int, Path]) -> None:
        number, path = item
        runtime.blobs.upload_file(path, f"{prefix}{number:05d}.arrow")
        path.unlink()

    with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
        list(pool.map(upload, writer.spilled().items()))


def _spill_previous(
    runtime: Runtime,
    dataset: Resource,
    spec: ImportSpec,
    plan: dict[str, Any],
    staging: str,
    scratch: Path,
) -> dict[str, Any]:
    """An INCREMENTAL import's current rows, split by partition as the new ones are, under
    ``spill/previous/``, so each partition merges on its own at the end."""
    writer = PartitionedWriter(spec, scratch / "previous-spill", int(plan["partitions"]))
    try:
        for batch in _previous_batches(runtime, dataset, spec, scratch / "previous"):
            writer.add(batch, origin=PREVIOUS)
        _upload_spill(runtime, writer, f"{staging}spill/previous/")
    except BaseException:
        writer.discard()
        raise
    return {"done": True}


def _complete(runtime: Runtime, state: State) -> None:
    """Every file is read: sort each partition, write the version, switch the dataset."""
    going = _going_on(runtime, state)
    if going is None:
        return
    job, dataset, staging, progress = going
    try:
        _raise_if_stopping(job)
        plan = progress.once("plan", lambda: _plan(runtime, job, dataset))
        done = progress.done()
        if len(done) < len(plan["files"]):
            raise ResourceFailed(f"{len(plan['files']) - len(done)} files were never read")
        outcome = progress.once(
            "outcome", lambda: _outcome(runtime, job, dataset, plan, done, staging)
        )
    except (ImportFailure, ExternalDataError) as error:
        raise ResourceFailed(str(error)) from None
    except _Stopped:
        _abandon(runtime, job.arn, Status.CREATE_STOPPED)
        return
    _finish(runtime, job, dataset, outcome)
    runtime.blobs.delete_prefix(staging)


def _outcome(
    runtime: Runtime,
    job: Resource,
    dataset: Resource,
    plan: dict[str, Any],
    done: dict[int, dict[str, Any]],
    staging: str,
) -> dict[str, Any]:
    """Write the version (``forecast_import_version``, as many partitions as this invocation
    has time for); what the job and the dataset record once it is written."""
    source = job.attributes["DataSource"]["S3Config"]["Path"]
    if not sum(int(summary["rows"]) for summary in done.values()):
        raise ImportFailure(f"{source} holds no data rows; there is nothing to import")
    written = write_version(
        runtime,
        import_spec(dataset, job),
        staging=staging,
        version=job.attributes[JOB_DATA_PREFIX],
        merge=job.attributes.get("ImportMode") == INCREMENTAL,
        uris=[str(uri) for uri, _ in plan["files"]],
        check_stop=lambda: _raise_if_stopping(_job(runtime, {"arn": job.arn})),
    )
    return {**written, "size": sum(int(summary["bytes"]) for summary in done.values())}


def import_spec(dataset: Resource, job: Resource) -> ImportSpec:
    """What the job's files must look like: the dataset's schema and the job's formats."""
    schema = dataset.attributes.get("Schema", {}).get("Attributes") or []
    frequency = dataset.attributes.get("DataFrequency")
    java = job.attributes.get("TimestampFormat")
    given = java if job.attributes.get(TIMESTAMP_FORMAT_GIVEN) else None
    return ImportSpec(
        attributes=tuple((a["AttributeName"], a["AttributeType"]) for a in schema),
        dataset_type=dataset.attributes["DatasetType"],
        identifier=domain(dataset.attributes["Domain"]).identifier,
        frequency=frequency,
        timestamp_formats=timestamp_formats.formats_for(given, frequency) if java else (),
        geolocation_format=job.attributes.get("GeolocationFormat") or "LAT_LONG",
        file_format=job.attributes.get("Format") or "CSV",
    )


def _check_files(path: str, uris: list[str]) -> None:
    if not uris:
        raise ImportFailure(f"No file was found at {path}")
    if len(uris) > MAX_FILES:
        raise ImportFailure(
            f"{path} holds {len(uris)} files; Forecast imports at most {MAX_FILES} files at once"
        )
    for uri in uris:
        stem = PurePosixPath(uri).stem
        if not _LETTER.search(stem):
            raise ImportFailure(
                f"{uri}: file names must contain at least one letter; files whose names are "
                "only numbers cannot be imported. Rename the file"
            )


def _previous_batches(
    runtime: Runtime, dataset: Resource, spec: ImportSpec, directory: Path
) -> Iterator[pa.RecordBatch]:
    """The current version's rows in the reader's schema; their file is -1 (no source line).
    One part is on local disk at a time."""
    prefix = dataset.attributes.get(DATA_PREFIX)
    schema = spec.arrow_schema(with_origin=True)
    for number, key in enumerate(runtime.blobs.list_keys(prefix) if prefix else []):
        if not key.endswith(".parquet"):
            continue
        path = directory / f"{number:05d}.parquet"
        runtime.blobs.download_file(key, path)
        for batch in pq.ParquetFile(path).iter_batches(columns=spec.names):
            columns = [batch.column(name).cast(schema.field(name).type) for name in spec.names]
            columns.append(pa.array([-1] * batch.num_rows, pa.int32()))
            columns.append(pa.array([0] * batch.num_rows, pa.int64()))
            yield pa.RecordBatch.from_arrays(columns, schema=schema)
        path.unlink()


class _Progress:
    """Keeps the job's EstimatedTimeRemainingInMinutes current as files are read.

    It also notices a stop request, so the reader need not poll the store itself.
    """

    def __init__(self, runtime: Runtime, arn: str, total: int, read: int = 0) -> None:
        self.runtime, self.arn, self.total = runtime, arn, total
        self.read = self.read_before = read
        self.started = time.monotonic()
        self.checked = self.started
        self._write((total - read) / ASSUMED_BYTES_PER_SECOND)

    def check_stop(self) -> None:
        """Raise ``_Stopped`` if the job was asked to stop (re-read at most once a second)."""
        now = time.monotonic()
        if now - self.checked < STOP_CHECK_SECONDS:
            return
        self.checked = now
        record = self.runtime.metadata.get(self.arn)
        if record is not None:
            _raise_if_stopping(record)

    def done(self, size: int) -> None:
        self.read += size
        elapsed = time.monotonic() - self.started
        now_read = self.read - self.read_before  # this invocation's rate
        rate = now_read / elapsed if elapsed > 0 and now_read else ASSUMED_BYTES_PER_SECOND
        self._write((self.total - self.read) / rate)

    def _write(self, seconds: float) -> None:
        minutes = max(0, math.ceil(seconds / 60))
        crud.update(
            self.runtime,
            self.arn,
            lambda record: record.with_attributes(EstimatedTimeRemainingInMinutes=minutes),
        )


def _finish(runtime: Runtime, job: Resource, dataset: Resource, outcome: dict[str, Any]) -> None:
    """Switch the dataset to the new version (unless a retry finds it done), then mark the
    job ACTIVE."""
    version = job.attributes[JOB_DATA_PREFIX]
    current = dataset.attributes.get(DATA_PREFIX)
    zone = job.attributes.get("TimeZone") or (
        "geolocation" if job.attributes.get("UseGeolocationForTimeZone") else None
    )
    if current != version:
        release_dataset(
            runtime,
            dataset.arn,
            job.arn,
            {
                DATA_PREFIX: version,
                PREVIOUS_DATA_PREFIX: current,
                DATA_ROWS: outcome["rows"],
                DATA_SETTINGS: {
                    m: job.attributes.get(m)
                    for m in ("TimestampFormat", "Format", "GeolocationFormat")
                },
                DATA_TIME_ZONE: zone,
                DATA_SPAN: outcome["span"],
            },
        )

    def complete(record: Resource) -> Resource:
        attributes = {
            k: v for k, v in record.attributes.items() if k != "EstimatedTimeRemainingInMinutes"
        }
        attributes.update(
            FieldStatistics=outcome["statistics"], DataSize=outcome["size"] / BYTES_PER_GB
        )
        return record.evolve(status=Status.ACTIVE.value, attributes=attributes)

    crud.update(runtime, job.arn, complete)
    switched = runtime.metadata.get(dataset.arn)
    if switched is not None:
        kept = {switched.attributes.get(DATA_PREFIX), switched.attributes.get(PREVIOUS_DATA_PREFIX)}
        delete_old_versions(runtime, dataset.arn, keep={version, *kept})


def _failed(runtime: Runtime, state: State, reason: str) -> None:
    """The job fails with ``reason``; its dataset is ACTIVE with the data it had."""
    _abandon(runtime, state["arn"], Status.CREATE_FAILED, reason)


def _abandon(runtime: Runtime, arn: str, status: Status, reason: str | None = None) -> None:
    """End the job ``status`` (failed or stopped): the dataset keeps the data it had. A job
    already ACTIVE keeps that status: its dataset uses its data (what failed after it was
    cleanup, which the next attempt or import redoes)."""
    job = runtime.metadata.get(arn)
    if job is None:
        return
    if Status(job.status) == Status.ACTIVE:
        runtime.blobs.delete_prefix(staging_prefix(job.attributes[JOB_DATA_PREFIX]))
        return

    def end(record: Resource) -> Resource:
        attributes = {
            k: v for k, v in record.attributes.items() if k != "EstimatedTimeRemainingInMinutes"
        }
        if reason is not None:
            attributes["Message"] = reason[:1024]
        return record.evolve(status=status.value, attributes=attributes)

    discard_import(runtime, str(job.parent_arn), job.attributes.get(JOB_DATA_PREFIX))
    crud.update(runtime, job.arn, end)
    release_dataset(runtime, str(job.parent_arn), job.arn)


def _job(runtime: Runtime, state: State) -> Resource:
    job = runtime.metadata.get(state["arn"])
    if job is None:
        raise ResourceFailed(f"Dataset import job {state['arn']} was deleted")
    return job


IMPORT = Workflow(
    name=IMPORT_WORKFLOW,
    steps=(
        Step("start", _start),
        Step("import", _import, retry=CONTINUE),
        Step("complete", _complete, retry=CONTINUE),
    ),
    on_failure=_failed,
)
