"""Writing an import's rows as a dataset version: Parquet parts, merged with the data before.

Pure: local files in and out. The import workflow streams the reader's
batches in (``add``), then ``finish`` turns them, and for an INCREMENTAL
import the current version's parts, into the new version's parts:

- Interactions: every row is kept; new rows follow the previous ones.
- Users and Items: one row per USER_ID / ITEM_ID. A later row replaces an
  earlier one with the same ID, within the files (file order, then line
  order) and over the previous data, which is how Amazon Personalize applies
  an INCREMENTAL import ("Updating data in datasets after training": records
  with the same ID are replaced).

Rows never sit in memory all at once: batches are spilled to Parquet as they
come, and the ID de-duplication holds only the ID column and a row sequence.
Previous parts written under an older schema (UpdateDataset adds nullable
fields) are conformed to the current one, the new fields null.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augury.personalize.import_fields import ID_COLUMN, ImportField, arrow_schema

ROWS_PER_PART = 1_000_000
READ_BATCH_ROWS = 65_536
MERGE_BATCH_ROWS = 1 << 20
_SEQUENCE = "__sequence"


class PartWriter:
    """Parquet files of at most ``rows_per_part`` rows each, named ``<stem>-00000.parquet``..."""

    def __init__(
        self, directory: Path, schema: pa.Schema, stem: str, rows_per_part: int = ROWS_PER_PART
    ) -> None:
        self.directory, self.schema, self.stem = directory, schema, stem
        self.rows_per_part = rows_per_part
        self.parts: list[Path] = []
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._in_part = 0
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        offset = 0
        while offset < data.num_rows:
            if self._writer is None or self._in_part >= self.rows_per_part:
                self._next_part()
            take = min(data.num_rows - offset, self.rows_per_part - self._in_part)
            chunk = data.slice(offset, take)
            table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_batches([chunk])
            assert self._writer is not None
            self._writer.write_table(table)
            self._in_part += take
            self.rows += take
            offset += take

    def _next_part(self) -> None:
        self._close_part()
        path = self.directory / f"{self.stem}-{len(self.parts):05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema)
        self.parts.append(path)
        self._in_part = 0

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> list[Path]:
        self._close_part()
        return self.parts


@dataclass(frozen=True)
class WrittenVersion:
    """A finished version: its part files (in order) and how many rows they hold."""

    parts: list[Path]
    rows: int
    new_rows: int
    """Rows the import's files held (before any replacement by ID)."""


class VersionBuilder:
    """Collects one import's rows, then writes the dataset's new version."""

    def __init__(
        self,
        fields: tuple[ImportField, ...],
        dataset_type: str,
        scratch: Path,
        rows_per_part: int = ROWS_PER_PART,
        first_sequence: int = 0,
    ) -> None:
        self.fields = fields
        self.schema = arrow_schema(fields)
        self.id_column = ID_COLUMN.get(dataset_type)
        self.scratch = scratch
        self.rows_per_part = rows_per_part
        self.first_sequence = first_sequence
        spill_schema = self.schema
        if self.id_column:
            spill_schema = spill_schema.append(pa.field(_SEQUENCE, pa.int64()))
        self._spill = PartWriter(scratch / "spill", spill_schema, "new", rows_per_part)

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return self._spill.rows

    def add(self, batch: pa.RecordBatch) -> None:
        if self.id_column:
            start = self.first_sequence + self._spill.rows
            sequence = pa.array(range(start, start + batch.num_rows), pa.int64())
            batch = pa.RecordBatch.from_arrays(
                [*batch.columns, sequence], schema=self._spill.schema
            )
        self._spill.write(batch)

    def spilled(self) -> list[Path]:
        """The rows as added, as Parquet parts: the stored schema, plus each row's sequence
        (from ``first_sequence``) for datasets with an ID. An import spread over several
        invocations stores these per file and merges them all with :func:`merge_parts`."""
        return self._spill.close()

    def finish(self, previous: Iterable[Path] = ()) -> WrittenVersion:
        """The new version in ``scratch/parts``: previous rows (still current) then new ones."""
        new_rows = self._spill.rows
        return merge_parts(
            self.schema,
            self.id_column,
            self.spilled(),
            previous,
            self.scratch / "parts",
            rows_per_part=self.rows_per_part,
            new_rows=new_rows,
        )


def merge_parts(
    schema: pa.Schema,
    id_column: str | None,
    new_parts: list[Path],
    previous: Iterable[Path],
    output: Path,
    *,
    rows_per_part: int = ROWS_PER_PART,
    new_rows: int,
) -> WrittenVersion:
    """A version's parts in ``output``: ``previous`` rows (those still current) then the
    new ones, spilled by :meth:`VersionBuilder.spilled`; by ID, the highest sequence wins.
    The new parts are consumed (moved or deleted)."""
    out = PartWriter(output, schema, "part", rows_per_part)
    if id_column:
        replaced, winners = _winners(id_column, new_parts)
        # is_in hashes its value set on every call: whole batches of a million rows keep
        # that to a few calls, and the winning sequences are looked up in sorted order.
        for batch in _batches(previous, schema, batch_size=MERGE_BATCH_ROWS):
            keep = pc.invert(pc.is_in(batch.column(id_column), value_set=replaced))
            out.write(batch.filter(keep))
        ordered = np.sort(winners.to_numpy())
        for path in new_parts:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH_ROWS):
                keep = _members(batch.column(_SEQUENCE).to_numpy(), ordered)
                out.write(batch.filter(pa.array(keep)).select(schema.names))
            path.unlink()
        return WrittenVersion(parts=out.close(), rows=out.rows, new_rows=new_rows)
    for batch in _batches(previous, schema):
        out.write(batch)
    parts, rows = out.close(), out.rows + new_rows
    for path in new_parts:  # already in the stored schema: moved, not rewritten
        parts.append(path.rename(out.directory / f"part-{len(parts):05d}.parquet"))
    return WrittenVersion(parts=parts, rows=rows, new_rows=new_rows)


def _winners(id_column: str, new_parts: list[Path]) -> tuple[pa.Array, pa.Array]:
    """The IDs the new rows carry, and the sequence of the last new row for each."""
    ids = [pq.read_table(p, columns=[id_column, _SEQUENCE]) for p in new_parts]
    if not ids:
        return pa.array([], pa.string()), pa.array([], pa.int64())
    last = pa.concat_tables(ids).group_by(id_column).aggregate([(_SEQUENCE, "max")])
    return (
        last.column(id_column).combine_chunks(),
        last.column(f"{_SEQUENCE}_max").combine_chunks(),
    )


def _members(values: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Which ``values`` are in ``ordered`` (sorted, unique): a binary search each."""
    if not len(ordered):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return ordered[at] == values


def _batches(
    parts: Iterable[Path], schema: pa.Schema, batch_size: int = READ_BATCH_ROWS
) -> Iterable[pa.RecordBatch]:
    """Previous parts' rows in the current schema."""
    for path in parts:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            yield conform(batch, schema)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with exactly ``schema``'s columns: missing ones null, types cast."""
    columns = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(batch.num_rows, field.type))
        else:
            columns.append(batch.column(index).cast(field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
