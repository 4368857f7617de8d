"""A Users, Items or Actions import's version, merged by ID one partition at a time.

Such a dataset keeps one row per ID: the newest, by file and line, over the previous
version's for an INCREMENTAL import. Amazon takes 100 GB in one FULL import, more than
one workflow-step invocation can merge at once, so the rows are split by ID into
partitions (``augury.personalize.id_partitions``) and each partition is merged on its
own, over as many invocations as it takes. In the job's staging prefix:

- ``spill/<partition>/<file>.parquet``: each source file's rows (with their sequence),
  split as the file is read (:func:`store_file_rows`);
- ``previous/<partition>/<part>.parquet``: an INCREMENTAL import's current rows, split
  one stored part at a time, each recorded in ``previous-progress/``
  (:func:`split_previous`);
- ``merge-progress/``: each merged partition's row count, recorded once its parts are
  stored in the version as ``part-<partition>-<n>.parquet`` (:func:`merge_partitions`).

How many partitions is decided once, as the import begins, from the source files' sizes
and the rows the dataset holds (:func:`planned_partitions`); embedded mode plans the same
way and, with no deadline, does all of it in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from augury.personalize.group_data import DATA_ROWS, parquet_keys
from augury.personalize.id_partitions import partition_count, partition_of
from augury.personalize.import_fields import ImportField, arrow_schema
from augury.personalize.import_store import READ_BATCH_ROWS, conform, merge_parts
from augury.resources.blob_downloads import download_all
from augury.workflows.definition import ResourcePending
from augury.workflows.file_slices import Budget, FileProgress

if TYPE_CHECKING:
    from augury.runtime import Runtime

PARTITION_DIGITS = 3


def partition_name(partition: int) -> str:
    return f"{partition:0{PARTITION_DIGITS}d}"


def planned_partitions(
    progress: FileProgress, input_bytes: Callable[[], int], previous_rows: int
) -> int:
    """The import's partition count, decided by its first invocation and kept."""
    return int(progress.once("partitions", lambda: partition_count(input_bytes(), previous_rows)))


def store_file_rows(
    runtime: Runtime,
    staging: str,
    index: int,
    parts: list[Path],
    id_column: str,
    partitions: int,
    scratch: Path,
) -> None:
    """File ``index``'s rows (``parts``, as ``VersionBuilder.spilled`` left them), split by
    ID into one Parquet file per partition and stored; the local parts are consumed. With
    one partition the parts are stored as they are."""
    if partitions == 1:
        target = f"{staging}spill/{partition_name(0)}/{index:05d}-"
        runtime.blobs.delete_prefix(target)  # what a read cut short left
        for number, part in enumerate(parts):
            runtime.blobs.upload_file(part, f"{target}{number:05d}.parquet")
            part.unlink()
        return
    written = _split(parts, id_column, partitions, scratch / f"split-{index:05d}", None)
    for partition, path in written.items():
        key = f"{staging}spill/{partition_name(partition)}/{index:05d}.parquet"
        runtime.blobs.upload_file(path, key)
        path.unlink()


def split_previous(
    runtime: Runtime,
    staging: str,
    previous_prefix: str,
    fields: tuple[ImportField, ...],
    id_column: str,
    partitions: int,
    budget: Budget,
    scratch: Path,
) -> None:
    """The current version's rows split by ID like the new ones, one stored part at a
    time, in the current schema (a part written before UpdateDataset added fields gets
    them, null); ``ResourcePending`` when the invocation has no time for another part.
    With one partition there is nothing to split: the merge reads the parts themselves."""
    if partitions == 1:
        return
    progress = FileProgress(runtime, f"{staging}previous-progress/")
    keys = progress.once("parts", lambda: parquet_keys(runtime, previous_prefix))
    done = progress.done()
    schema = arrow_schema(fields)
    for number, key in enumerate(keys):
        if number in done:
            continue
        if not budget.fits_another():
            raise ResourcePending(f"{len(done)} of {len(keys)} current parts split by ID")
        with budget.reading():
            local = scratch / f"previous-{number:05d}.parquet"
            runtime.blobs.download_file(key, local)
            written = _split([local], id_column, partitions, scratch / "previous", schema)
            for partition, path in written.items():
                name = f"{staging}previous/{partition_name(partition)}/{number:05d}.parquet"
                runtime.blobs.upload_file(path, name)
                path.unlink()
        progress.record(number, {"key": key})
        done[number] = {"key": key}


def merge_partitions(
    runtime: Runtime,
    staging: str,
    version: str,
    fields: tuple[ImportField, ...],
    id_column: str,
    partitions: int,
    budget: Budget,
    scratch: Path,
    previous_prefix: str | None = None,
) -> int:
    """Each partition's newest row per ID (over ``previous_prefix``'s rows, split by
    :func:`split_previous`), stored in ``version``; the rows it holds.

    A partition's parts are stored before its record, so a partition cut short is merged
    again from the start (its earlier parts deleted first); ``ResourcePending`` when the
    invocation has no time for another partition."""
    progress = FileProgress(runtime, f"{staging}merge-progress/")
    done = progress.done()
    schema = arrow_schema(fields)
    for partition in range(partitions):
        if partition in done:
            continue
        if not budget.fits_another():
            raise ResourcePending(f"{len(done)} of {partitions} partitions merged by ID")
        with budget.reading():
            name = partition_name(partition)
            folder = scratch / f"merge-{name}"
            new = download_all(runtime, parquet_keys(runtime, f"{staging}spill/{name}/"), folder)
            if partitions == 1:  # nothing was split: the current version's own parts
                previous_keys = parquet_keys(runtime, previous_prefix) if previous_prefix else []
            else:
                previous_keys = parquet_keys(runtime, f"{staging}previous/{name}/")
            previous = download_all(runtime, previous_keys, folder / "previous")
            written = merge_parts(schema, id_column, new, previous, folder / "parts", new_rows=0)
            runtime.blobs.delete_prefix(f"{version}part-{name}-")  # a merge cut short
            for number, part in enumerate(written.parts):
                runtime.blobs.upload_file(part, f"{version}part-{name}-{number:05d}.parquet")
                part.unlink()
            for path in previous:
                path.unlink()
        summary = {"rows": written.rows}
        progress.record(partition, summary)
        done[partition] = summary
    return sum(int(summary["rows"]) for summary in done.values())


def previous_rows(dataset_attributes: dict[str, Any]) -> int:
    """The rows the dataset's current version holds (0 when it has none)."""
    return int(dataset_attributes.get(DATA_ROWS) or 0)


def _split(
    parts: list[Path],
    id_column: str,
    partitions: int,
    folder: Path,
    schema: pa.Schema | None,
) -> dict[int, Path]:
    """``parts``' rows in one local Parquet file per partition they fall in (callers with
    one partition store their parts as they are); ``schema``, when given, is what each
    batch is conformed to first. The parts are consumed."""
    folder.mkdir(parents=True, exist_ok=True)
    writers: dict[int, pq.ParquetWriter] = {}
    paths: dict[int, Path] = {}
    try:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=READ_BATCH_ROWS):
                if schema is not None:
                    batch = conform(batch, schema)
                where = partition_of(batch.column(id_column), partitions)
                for partition in np.unique(where).tolist():
                    if partition not in writers:
                        paths[partition] = folder / f"{partition_name(partition)}.parquet"
                        writers[partition] = pq.ParquetWriter(paths[partition], batch.schema)
                    writers[partition].write_batch(batch.filter(pa.array(where == partition)))
            part.unlink()
    finally:
        for writer in writers.values():
            writer.close()
    return paths
