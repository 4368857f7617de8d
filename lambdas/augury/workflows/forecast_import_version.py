"""A Forecast import's new version, written partition by partition over as many step
invocations as it needs (the ``complete`` step of ``forecast_import``).

While the files were read, each one's rows were spilled by series hash under the job's
staging prefix (``spill/<file>/<partition>.arrow``, and ``spill/previous/`` for an
INCREMENTAL import's current rows). Here each partition's spills, from every file, are
sorted, checked for repeated rows and merged (``import_partitions.PartitionSorter``) into
one ``part-NNNNN.parquet``, FieldStatistics counted over the new rows meanwhile. After
each partition, what was done is saved in one write, so a partition counts once however
the invocations fall.
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from augury.forecast.data_spans import Span, local_span
from augury.forecast.domains import ITEM_METADATA
from augury.forecast.import_partitions import NEW, ORIGIN_COLUMN, PartitionSorter, write_part
from augury.forecast.import_reader import ImportSpec
from augury.forecast.import_statistics import DatasetStatistics
from augury.ports import BlobNotFound
from augury.resources.blob_downloads import download_all
from augury.scratch import scratch_directory
from augury.workflows.definition import ResourcePending
from augury.workflows.file_slices import Budget

if TYPE_CHECKING:
    from augury.runtime import Runtime

SORTING = "sorting.pickle"
"""Under the job's ``progress/``: how far ``complete`` got (:class:`_Sorting`)."""


@dataclass
class _Sorting:
    """How far the ``complete`` step got, carried between its invocations: the partitions
    written, the parts and rows so far, their time spans, the FieldStatistics counted over
    the new rows and the earliest repeated row found. Saved (pickled, in Augury's own
    bucket) after each partition, in one write, so a partition counts once."""

    statistics: DatasetStatistics
    finished: set[int] = field(default_factory=set)
    parts: int = 0
    rows: int = 0
    spans: list[Span] = field(default_factory=list)
    repeat: tuple[int, int, str] | None = None


def write_version(
    runtime: Runtime,
    spec: ImportSpec,
    *,
    staging: str,
    version: str,
    merge: bool,
    uris: list[str],
    check_stop: Callable[[], None],
) -> dict[str, Any]:
    """Sort and check each partition's rows (merged with the current ones when ``merge``)
    into one sorted part under ``version``, as many partitions as this invocation has time
    for (``ResourcePending`` goes on in the next); once all are written, the rows, the
    FieldStatistics and the time span. ``check_stop`` raises if the job was asked to stop;
    it is called before each partition."""
    by_partition: dict[int, list[str]] = defaultdict(list)
    for key in runtime.blobs.list_keys(f"{staging}spill/"):
        by_partition[int(PurePosixPath(key).stem)].append(key)
    saved = f"{staging}progress/{SORTING}"
    try:
        sorting = pickle.loads(runtime.blobs.get_bytes(saved))
    except BlobNotFound:
        runtime.blobs.delete_prefix(version)  # what a write cut short left
        sorting = _Sorting(DatasetStatistics(spec.attributes))
    sorter = PartitionSorter(
        spec,
        lambda index: uris[index],
        merge=merge,
        repeat=sorting.repeat,
    )
    budget = Budget()
    for number in sorted(by_partition):
        if number in sorting.finished:
            continue
        check_stop()
        if not budget.fits_another():
            raise ResourcePending(
                f"{len(sorting.finished)} of {len(by_partition)} partitions written; "
                "the import goes on"
            )
        with budget.reading():
            _write_partition(runtime, spec, sorter, sorting, by_partition[number], version)
        sorting.repeat = sorter.repeat
        sorting.finished.add(number)
        runtime.blobs.put_bytes(saved, pickle.dumps(sorting))
    sorter.raise_repeat()
    span = _joined(sorting.spans)
    return {
        "rows": sorting.rows,
        "statistics": sorting.statistics.result(),
        "span": span.recorded() if span else None,
    }


def _write_partition(
    runtime: Runtime,
    spec: ImportSpec,
    sorter: PartitionSorter,
    sorting: _Sorting,
    keys: list[str],
    version: str,
) -> None:
    """One partition's spills, from every file, as one sorted part (none once a repeated
    row was found, or when the partition has no rows to keep)."""
    with scratch_directory(runtime, "augury-import-") as scratch:
        local = download_all(runtime, keys, Path(scratch) / "spill", suffix=".arrow")
        table = pa.concat_tables(ipc.open_stream(path).read_all() for path in local)
        for batch in table.filter(pc.equal(table[ORIGIN_COLUMN], NEW)).to_batches():
            sorting.statistics.add(batch)
        data = sorter.sort(table)
        if data is None or not data.num_rows:
            return
        part = Path(scratch) / "part.parquet"
        write_part(data, part)
        if spec.dataset_type != ITEM_METADATA:
            found = local_span([part])
            if found is not None:
                sorting.spans.append(found)
        runtime.blobs.upload_file(part, f"{version}part-{sorting.parts:05d}.parquet")
    sorting.parts += 1
    sorting.rows += data.num_rows


def _joined(spans: list[Span]) -> Span | None:
    """The span the parts' spans cover together."""
    if not spans:
        return None
    return Span(min(s.start for s in spans), max(s.end for s in spans), sum(s.rows for s in spans))
