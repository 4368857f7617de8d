"""The ``import-dataset`` workflow: read a Forecast import's files into a new dataset version.

Steps, each safe to run again:

``start``
    The job goes CREATE_IN_PROGRESS and its dataset UPDATE_IN_PROGRESS.
``import``
    Lists the source (one object, or every object under a folder or bucket, at
    most 10,000), copies each file from the user's storage, streams it through
    ``import_reader`` (checks, FieldStatistics) into ``import_partitions``
    (sorted Parquet parts), and uploads the parts under a new version prefix
    ``resources/forecast/dataset/<dataset>/data/<job>/``. Only when every row
    has passed does the dataset's ``_data_prefix`` move to the new version, in
    the same update that makes it ACTIVE again: a failed import leaves the
    dataset's data exactly as it was.

StopResource moves the job to CREATE_STOPPING; the reader looks for that
between batches (at most once a second) and ends the job CREATE_STOPPED, with
the dataset and its data exactly as on failure.

On failure the job is CREATE_FAILED with a Message naming the file, line and
field, the dataset is ACTIVE with its previous data, and the partial version is
removed. The version before the current one is kept until the next import, for
work (a training job) that may still be reading it; older ones are deleted.

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
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from augury.forecast import timestamp_formats
from augury.forecast.data_spans import DATA_SPAN, Span, local_span
from augury.forecast.domains import ITEM_METADATA, domain
from augury.forecast.import_partitions import (
    PREVIOUS,
    PartitionedWriter,
    WrittenVersion,
    partition_count,
)
from augury.forecast.import_reader import (
    FileReader,
    ImportFailure,
    ImportSpec,
    SourceFile,
)
from augury.forecast.import_statistics import DatasetStatistics
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
from augury.resources.data_versions import (
    DATA_PREFIX,
    PREVIOUS_DATA_PREFIX,
    delete_old_versions,
)
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows.definition import ResourceFailed, Retry, State, Step, Workflow

if TYPE_CHECKING:
    from augury.runtime import Runtime

logger = logging.getLogger(__name__)

MAX_FILES = 10_000
BYTES_PER_GB = 1024**3
ASSUMED_BYTES_PER_SECOND = 20e6
"""The read rate assumed for EstimatedTimeRemainingInMinutes until one is measured."""
PREVIOUS_VERSION_EXPANSION = 3
"""Parquet is compact: a previous version weighs about this much more once spilled."""
_LETTER = re.compile(r"[^\W\d_]")


STOP_CHECK_SECONDS = 1.0
"""How often, at most, a running import re-reads its record for a stop request."""


class _Stopped(Exception):
    """StopResource asked this import to stop; nothing it read is kept."""


def _start(runtime: Runtime, state: State) -> None:
    job = _job(runtime, state)
    if Status(job.status) == Status.CREATE_PENDING:
        crud.set_status(runtime, job.arn, Status.CREATE_IN_PROGRESS)
    dataset = runtime.metadata.get(str(job.parent_arn))
    if dataset is not None and Status(dataset.status) == Status.UPDATE_PENDING:
        crud.set_status(runtime, dataset.arn, Status.UPDATE_IN_PROGRESS)


def _import(runtime: Runtime, state: State) -> None:
    job = _job(runtime, state)
    if Status(job.status) == Status.ACTIVE:
        return  # done before a retry
    dataset = runtime.metadata.get(str(job.parent_arn))
    if dataset is None:
        raise ResourceFailed(f"Dataset {job.parent_arn} was deleted during the import")
    version = job.attributes[JOB_DATA_PREFIX]
    runtime.blobs.delete_prefix(version)  # a retried run starts clean
    try:
        _raise_if_stopping(job)
        with scratch_directory(runtime, "augury-import-") as scratch:
            outcome = _run(runtime, job, dataset, Path(scratch))
            for part in outcome.version.parts:
                runtime.blobs.upload_file(part, f"{version}{part.name}")
        _raise_if_stopping(_job(runtime, state))
    except (ImportFailure, ExternalDataError) as error:
        raise ResourceFailed(str(error)) from None
    except _Stopped:
        _abandon(runtime, job.arn, Status.CREATE_STOPPED)
        return
    _finish(runtime, job, dataset, outcome)


def _raise_if_stopping(job: Resource) -> None:
    if Status(job.status) in (Status.CREATE_STOPPING, Status.CREATE_STOPPED):
        raise _Stopped


class _Outcome:
    """What a successful read produced: the written version, its time span (time series
    only) and the job's statistics."""

    def __init__(
        self,
        version: WrittenVersion,
        statistics: dict[str, Any],
        size: int,
        span: Span | None = None,
    ) -> None:
        self.version = version
        self.statistics = statistics
        self.size = size
        self.span = span


def _run(runtime: Runtime, job: Resource, dataset: Resource, scratch: Path) -> _Outcome:
    source = job.attributes["DataSource"]["S3Config"]
    role = source.get("RoleArn")
    uris = [u for u in runtime.external.list_objects(source["Path"], role_arn=role)]
    _check_files(source["Path"], uris)
    downloads = scratch / "source"
    files: list[SourceFile] = []
    for index, uri in enumerate(uris):
        local = downloads / f"{index:05d}"
        runtime.external.download(uri, local, role_arn=role)
        files.append(SourceFile(uri, local, index))
    size = sum(f.path.stat().st_size for f in files)
    spec = import_spec(dataset, job)
    incremental = job.attributes.get("ImportMode") == INCREMENTAL
    previous = _previous_parts(runtime, dataset, scratch / "previous") if incremental else []
    previous_bytes = sum(p.stat().st_size for p in previous)
    writer = PartitionedWriter(
        spec,
        scratch / "spill",
        partition_count(size + PREVIOUS_VERSION_EXPANSION * previous_bytes),
        describe_file=lambda index: uris[index],
    )
    statistics = DatasetStatistics(spec.attributes)
    reader = FileReader(spec)
    progress = _Progress(runtime, job.arn, size)
    try:
        for file in files:
            for batch in reader.batches(file):
                statistics.add(batch)
                writer.add(batch)
                progress.check_stop()
            progress.done(file.path.stat().st_size)
            file.path.unlink()
        if not statistics.rows:
            raise ImportFailure(f"{source['Path']} holds no data rows; there is nothing to import")
        for batch in _previous_batches(previous, spec):
            writer.add(batch, origin=PREVIOUS)
        version = writer.finish(scratch / "parts", merge=incremental)
    except BaseException:
        writer.discard()
        raise
    span = local_span(version.parts) if spec.dataset_type != ITEM_METADATA else None
    return _Outcome(version, statistics.result(), size, span)


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


def _previous_parts(runtime: Runtime, dataset: Resource, directory: Path) -> list[Path]:
    prefix = dataset.attributes.get(DATA_PREFIX)
    parts = []
    for number, key in enumerate(runtime.blobs.list_keys(prefix) if prefix else []):
        if key.endswith(".parquet"):
            local = directory / f"{number:05d}.parquet"
            runtime.blobs.download_file(key, local)
            parts.append(local)
    return parts


def _previous_batches(parts: list[Path], spec: ImportSpec) -> Iterator[pa.RecordBatch]:
    """The current version's rows in the reader's schema; their file is -1 (no source line)."""
    schema = spec.arrow_schema(with_origin=True)
    for path in parts:
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

    def __init__(self, runtime: Runtime, arn: str, total: int) -> None:
        self.runtime, self.arn, self.total = runtime, arn, total
        self.read = 0
        self.started = time.monotonic()
        self.checked = self.started
        self._write(total / ASSUMED_BYTES_PER_SECOND)

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
        rate = self.read / elapsed if elapsed > 0 and self.read else ASSUMED_BYTES_PER_SECOND
        self._write((self.total - self.read) / rate)

    def _write(self, seconds: float) -> None:
        minutes = max(0, math.ceil(seconds / 60))
        crud.update(
            self.runtime,
            self.arn,
            lambda record: record.with_attributes(EstimatedTimeRemainingInMinutes=minutes),
        )


def _finish(runtime: Runtime, job: Resource, dataset: Resource, outcome: _Outcome) -> None:
    """Switch the dataset to the new version, then mark the job ACTIVE."""
    version = job.attributes[JOB_DATA_PREFIX]
    current = dataset.attributes.get(DATA_PREFIX)
    zone = job.attributes.get("TimeZone") or (
        "geolocation" if job.attributes.get("UseGeolocationForTimeZone") else None
    )
    release_dataset(
        runtime,
        dataset.arn,
        job.arn,
        {
            DATA_PREFIX: version,
            PREVIOUS_DATA_PREFIX: current if current != version else None,
            DATA_ROWS: outcome.version.rows,
            DATA_SETTINGS: {
                m: job.attributes.get(m) for m in ("TimestampFormat", "Format", "GeolocationFormat")
            },
            DATA_TIME_ZONE: zone,
            DATA_SPAN: outcome.span.recorded() if outcome.span else None,
        },
    )

    def complete(record: Resource) -> Resource:
        attributes = {
            k: v for k, v in record.attributes.items() if k != "EstimatedTimeRemainingInMinutes"
        }
        attributes.update(FieldStatistics=outcome.statistics, DataSize=outcome.size / BYTES_PER_GB)
        return record.evolve(status=Status.ACTIVE.value, attributes=attributes)

    crud.update(runtime, job.arn, complete)
    delete_old_versions(runtime, dataset.arn, keep={version, current})


def _failed(runtime: Runtime, state: State, reason: str) -> None:
    """The job fails with ``reason``; its dataset is ACTIVE with the data it had."""
    _abandon(runtime, state["arn"], Status.CREATE_FAILED, reason)


def _abandon(runtime: Runtime, arn: str, status: Status, reason: str | None = None) -> None:
    """End the job ``status`` (failed or stopped): the dataset keeps the data it had."""
    job = runtime.metadata.get(arn)
    if job is None:
        return

    def end(record: Resource) -> Resource:
        attributes = {
            k: v for k, v in record.attributes.items() if k != "EstimatedTimeRemainingInMinutes"
        }
        if reason is not None:
            attributes["Message"] = reason[:1024]
        return record.evolve(status=status.value, attributes=attributes)

    crud.update(runtime, job.arn, end)
    dataset_arn = str(job.parent_arn)
    release_dataset(runtime, dataset_arn, job.arn)
    dataset = runtime.metadata.get(dataset_arn)
    version = job.attributes.get(JOB_DATA_PREFIX)
    in_use = {
        dataset.attributes.get(DATA_PREFIX) if dataset else None,
        dataset.attributes.get(PREVIOUS_DATA_PREFIX) if dataset else None,
    }
    if version and version not in in_use:
        runtime.blobs.delete_prefix(version)


def _job(runtime: Runtime, state: State) -> Resource:
    job = runtime.metadata.get(state["arn"])
    if job is None:
        raise ResourceFailed(f"Dataset import job {state['arn']} was deleted")
    return job


IMPORT = Workflow(
    name=IMPORT_WORKFLOW,
    steps=(
        Step("start", _start),
        Step("import", _import, retry=Retry(max_attempts=1)),
    ),
    on_failure=_failed,
)
