"""Writing an import's rows as a dataset version: Parquet parts sorted by series, then time.

Sorting data larger than memory needs a second pass, and this is it, bounded by
the size of one partition rather than the dataset: while the files stream past,
each batch is split by a stable hash of the row's series identity (item id and
forecast dimensions) into ``partitions`` spill files (Arrow IPC). Every series
then lives in exactly one partition, so each partition can be sorted, checked
for repeated rows and merged with the previous version on its own, and becomes
one ``part-NNNNN.parquet`` (snappy), sorted by identity then timestamp. A
training job can read the parts one by one and never split a series.

Repeated rows (same identity and timestamp; same item for item metadata):

- target time series: kept. Forecast sums rows that fall in one time step of
  the forecast frequency when it trains (howitworks-datasets-groups, "Resolving
  Conflicts in Data Collection Frequency"), so they are not an error.
- related time series and item metadata: refused, naming both lines. Forecast
  does not aggregate related time series (related-time-series-datasets), and an
  item has one row of metadata.

An INCREMENTAL import adds the current version's rows (``origin`` 0) beside the
new ones (``origin`` 1); where both have a key, the new rows replace the old
(Amazon Forecast Developer Guide, updating-data: "If an existing record and an
imported record have the same time series ID (item ID, dimension, and
timestamp), then the existing record is replaced with the newly imported
record").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from augury.forecast.domains import TARGET_TIME_SERIES
from augury.forecast.import_reader import FILE_COLUMN, LINE_COLUMN, ImportFailure, ImportSpec
from augury.forecast.timestamp_formats import timestamp_text

ORIGIN_COLUMN = "__origin"
NEW, PREVIOUS = 1, 0
PARTITION_INPUT_BYTES = 128 << 20
"""About this much input goes to one partition: what one sort holds in memory."""
MAX_PARTITIONS = 128
ROW_GROUP_ROWS = 1 << 20
_SEPARATOR = "\x1f"


def partition_count(input_bytes: int) -> int:
    """How many partitions for ``input_bytes`` of input, so each one sorts in memory."""
    return max(1, min(MAX_PARTITIONS, -(-input_bytes // PARTITION_INPUT_BYTES)))


@dataclass
class WrittenVersion:
    """The part files of a dataset version, and how many rows they hold."""

    parts: list[Path]
    rows: int


@dataclass
class PartitionedWriter:
    """Spills rows into hash partitions; ``finish`` sorts, checks and writes them."""

    spec: ImportSpec
    directory: Path
    partitions: int = 1
    describe_file: Callable[[int], str] = str
    """The name of the file with this index, for messages about repeated rows."""
    _writers: dict[int, Any] = field(default_factory=dict)
    _sinks: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._schema = self.spec.arrow_schema(with_origin=True).append(
            pa.field(ORIGIN_COLUMN, pa.int8())
        )

    def add(self, batch: pa.RecordBatch, origin: int = NEW) -> None:
        """Spill ``batch`` (the reader's schema, with ``__file`` and ``__line``)."""
        if not batch.num_rows:
            return
        batch = batch.append_column(
            ORIGIN_COLUMN, pa.array([origin] * batch.num_rows, pa.int8())
        ).select(self._schema.names)
        if self.partitions == 1:
            self._writer(0).write_batch(batch)
            return
        numbers = self._partition_of(batch)
        order = pc.sort_indices(numbers)
        batch, numbers = batch.take(order), numbers.take(order)
        start = 0
        for entry in pc.value_counts(numbers).to_pylist():
            length = entry["counts"]
            self._writer(entry["values"]).write_batch(batch.slice(start, length))
            start += length

    def spilled(self) -> dict[int, Path]:
        """Close the spill files: each partition's rows (an Arrow IPC stream), by number."""
        self._close()
        return {number: self._spill(number) for number in sorted(self._sinks)}

    def finish(self, output: Path, *, merge: bool = False) -> WrittenVersion:
        """Write the sorted parts to ``output``; fail on rows that must not repeat."""
        output.mkdir(parents=True, exist_ok=True)
        sorter = PartitionSorter(self.spec, self.describe_file, merge=merge)
        parts: list[Path] = []
        rows = 0
        for path in self.spilled().values():
            table = ipc.open_stream(path).read_all()
            path.unlink()
            data = sorter.sort(table)
            if data is None or not data.num_rows:
                continue
            part = output / f"part-{len(parts):05d}.parquet"
            write_part(data, part)
            parts.append(part)
            rows += data.num_rows
        sorter.raise_repeat()
        return WrittenVersion(parts, rows)

    def _partition_of(self, batch: pa.RecordBatch) -> pa.Array:
        """The partition of each row: a hash of its identity, stable across runs and machines."""
        identity = [batch.column(name) for name in self.spec.identity]
        joined = (
            identity[0]
            if len(identity) == 1
            else pc.binary_join_element_wise(*identity, _SEPARATOR, null_handling="replace")
        )
        encoded = pc.dictionary_encode(pc.fill_null(joined, ""))
        buckets = pa.array(
            [_bucket(v, self.partitions) for v in encoded.dictionary.to_pylist()],
            pa.int32(),
        )
        return pc.take(buckets, encoded.indices)

    def _writer(self, number: int) -> Any:
        writer = self._writers.get(number)
        if writer is None:
            sink = pa.OSFile(str(self._spill(number)), "wb")
            writer = ipc.new_stream(sink, self._schema)
            self._writers[number], self._sinks[number] = writer, sink
        return writer

    def _spill(self, number: int) -> Path:
        return self.directory / f"spill-{number:05d}.arrow"

    def _close(self) -> None:
        for number, writer in self._writers.items():
            writer.close()
            self._sinks[number].close()
        self._writers.clear()

    def discard(self) -> None:
        """Close and remove the spill files (after a failure)."""
        self._close()
        for number in list(self._sinks):
            self._spill(number).unlink(missing_ok=True)
        self._sinks.clear()


def write_part(data: pa.Table, path: Path) -> None:
    """One part of a version: snappy Parquet in large row groups."""
    pq.write_table(data, path, compression="snappy", row_group_size=ROW_GROUP_ROWS)


@dataclass
class PartitionSorter:
    """Sorts one partition's rows at a time, checks them for repeats and merges them with
    the previous version's; remembers the earliest repeat over all the partitions, so the
    message names the first bad line however the rows were partitioned."""

    spec: ImportSpec
    describe_file: Callable[[int], str] = str
    merge: bool = False
    repeat: tuple[int, int, str] | None = None
    """The earliest repeat found so far: file, line and message (work spread over several
    invocations carries it from one to the next)."""

    def sort(self, table: pa.Table) -> pa.Table | None:
        """The partition's rows as stored (sorted, merged, without the bookkeeping columns);
        ``None`` once a repeat was found anywhere (nothing more is written)."""
        new = table.filter(pc.equal(table[ORIGIN_COLUMN], NEW))
        new = new.sort_by(self._sort_keys())
        found = self._first_repeat(new)
        if found is not None and (self.repeat is None or found[:2] < self.repeat[:2]):
            self.repeat = found
        if self.repeat is not None:
            return None  # keep looking for an earlier repeat; nothing more is written
        if self.merge:
            new = self._merged(table, new)
        return new.drop_columns([FILE_COLUMN, LINE_COLUMN, ORIGIN_COLUMN])

    def raise_repeat(self) -> None:
        """Fail the import on the earliest repeat seen, if any."""
        if self.repeat is not None:
            raise ImportFailure(self.repeat[2])

    def _sort_keys(self) -> list[tuple[str, str]]:
        return [(name, "ascending") for name in self.spec.key]

    def _first_repeat(self, table: pa.Table) -> tuple[int, int, str] | None:
        """The earliest row (by file, line) that repeats the key of the row before it."""
        if self.spec.dataset_type == TARGET_TIME_SERIES or table.num_rows < 2:
            return None
        same: pa.Array | None = None
        for name in self.spec.key:
            column = table[name].combine_chunks()
            equal = pc.fill_null(pc.equal(column.slice(1), column.slice(0, len(column) - 1)), False)
            same = equal if same is None else pc.and_(same, equal)
        assert same is not None
        if not pc.any(same).as_py():
            return None
        later = pc.indices_nonzero(same)
        files = pc.take(table[FILE_COLUMN].combine_chunks().slice(1), later).to_pylist()
        lines = pc.take(table[LINE_COLUMN].combine_chunks().slice(1), later).to_pylist()
        at = min(range(len(later)), key=lambda i: (files[i], lines[i]))
        row = later[at].as_py() + 1
        first = table.slice(row - 1, 1).to_pylist()[0]
        second = table.slice(row, 1).to_pylist()[0]
        earlier, repeated = sorted((first, second), key=lambda r: (r[FILE_COLUMN], r[LINE_COLUMN]))
        key = ", ".join(f"{name} {_text(repeated[name])}" for name in self.spec.key)
        what = (
            "item metadata holds one row per item"
            if self.spec.dataset_type != "RELATED_TIME_SERIES"
            else "a related time series holds one row per series and timestamp; Forecast "
            "does not aggregate related time series"
        )
        place = (
            f"line {earlier[LINE_COLUMN]}"
            if earlier[FILE_COLUMN] == repeated[FILE_COLUMN]
            else f"{self.describe_file(earlier[FILE_COLUMN])} line {earlier[LINE_COLUMN]}"
        )
        message = (
            f"{self.describe_file(repeated[FILE_COLUMN])} line {repeated[LINE_COLUMN]}: "
            f"{key} repeats {place}; {what}"
        )
        return repeated[FILE_COLUMN], repeated[LINE_COLUMN], message

    def _merged(self, table: pa.Table, new: pa.Table) -> pa.Table:
        """The previous rows whose key the new rows do not have, with the new rows, sorted."""
        previous = table.filter(pc.equal(table[ORIGIN_COLUMN], PREVIOUS))
        if not previous.num_rows:
            return new
        keys = self.spec.key
        new_keys = new.select(keys).group_by(keys).aggregate([])
        kept = previous.join(new_keys, keys=keys, join_type="left anti")
        return pa.concat_tables([kept.select(new.column_names), new]).sort_by(self._sort_keys())


def _bucket(identity: str, partitions: int) -> int:
    """BLAKE2b, not CRC-32: CRC's low bits barely differ between keys like ``item1``, ``item2``."""
    digest = hashlib.blake2b(identity.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def _text(value: Any) -> str:
    if isinstance(value, date):
        return timestamp_text(value)
    return str(value)
