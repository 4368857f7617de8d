"""Reading channel Parquet files, and splitting big ones into item buckets on disk.

Series are independent, but rows of one item may be anywhere in any file. To
build series without holding the whole dataset, a dataset larger than a
bucket is streamed once (record batch by record batch) into ``B`` Parquet
files by a stable hash of the item key -- the same CRC32 that shards
forecasts -- so every item's rows end up in exactly one bucket, and target and
related rows of an item in buckets of the same number. Each bucket is then
read, turned into series and dropped before the next: memory is bounded by
the bucket size, not the dataset size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augury_training.contract import ClientError
from augury_training.forecast_contract import shard_of

KEY_SEPARATOR = "\x1f"
MAX_BUCKETS = 256
READ_BATCH_ROWS = 262_144


class DataError(ClientError):
    """The data cannot be used as configured; the message says what to change."""


def parquet_files(channel_dir: Path) -> list[Path]:
    """The channel's Parquet files, in a stable order (hidden and ``_`` files skipped)."""
    if not channel_dir.is_dir():
        return []
    return sorted(
        path
        for path in channel_dir.rglob("*")
        if path.is_file()
        and not any(part.startswith((".", "_")) for part in path.relative_to(channel_dir).parts)
        and path.suffix in (".parquet", ".parq", "")
    )


def schema_names(files: list[Path]) -> list[str]:
    """Column names of the first file (the import writes one schema per dataset)."""
    return list(pq.read_schema(files[0]).names) if files else []


def row_count(files: list[Path]) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)


def require_columns(files: list[Path], columns: list[str], what: str) -> None:
    """Fail with a readable message when a configured column is absent."""
    names = schema_names(files)
    missing = [name for name in columns if name not in names]
    if missing:
        raise DataError(
            f"the {what} has no column {', '.join(repr(m) for m in missing)} "
            f"(its columns: {', '.join(names) or 'none'}); check the dataset schema "
            "against the predictor's configuration"
        )


def iter_batches(files: list[Path], columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Every record batch of the files, only ``columns``, in file order."""
    for path in files:
        try:
            handle = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"{path.name} is not a readable Parquet file: {exc}") from exc
        yield from handle.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns)


def read_table(files: list[Path], columns: list[str]) -> pa.Table:
    """All files' ``columns`` as one table (small datasets and buckets)."""
    batches = list(iter_batches(files, columns))
    if not batches:
        return pa.table({name: pa.array([], pa.string()) for name in columns})
    return pa.Table.from_batches(batches).combine_chunks()


def item_keys(table: pa.Table | pa.RecordBatch, identity: list[str]) -> pa.Array:
    """One string per row: the identity fields joined as ``item_key`` joins them."""
    parts = [pc.fill_null(pc.cast(table.column(name), pa.string()), "") for name in identity]
    if len(parts) == 1:
        return (
            pa.concat_arrays(parts[0].chunks) if isinstance(parts[0], pa.ChunkedArray) else parts[0]
        )
    joined = pc.binary_join_element_wise(*parts, KEY_SEPARATOR)
    return pa.concat_arrays(joined.chunks) if isinstance(joined, pa.ChunkedArray) else joined


def encode(keys: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Integer codes per row and the distinct keys, in order of first appearance."""
    encoded = pc.dictionary_encode(keys)
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pylist()


def bucket_count(rows: int, bucket_rows: int) -> int:
    return max(1, min(MAX_BUCKETS, math.ceil(rows / max(1, bucket_rows))))


class Buckets:
    """A dataset split into ``count`` bucket files under ``directory``."""

    def __init__(self, directory: Path, count: int) -> None:
        self.directory = directory
        self.count = count
        directory.mkdir(parents=True, exist_ok=True)
        self._writers: dict[int, pq.ParquetWriter] = {}

    def path(self, bucket: int) -> Path:
        return self.directory / f"bucket-{bucket:04d}.parquet"

    def add(self, batch: pa.RecordBatch, identity: list[str]) -> None:
        """Route each row of ``batch`` to its item's bucket."""
        codes, keys = encode(item_keys(batch, identity))
        per_key = np.array([shard_of(key, self.count) for key in keys], dtype=np.int64)
        row_bucket = per_key[codes] if codes.size else codes
        table = pa.Table.from_batches([batch])
        for bucket in np.unique(row_bucket):
            rows = table.filter(pa.array(row_bucket == bucket))
            writer = self._writers.get(int(bucket))
            if writer is None:
                writer = pq.ParquetWriter(self.path(int(bucket)), table.schema)
                self._writers[int(bucket)] = writer
            writer.write_table(rows)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def read(self, bucket: int, columns: list[str]) -> pa.Table | None:
        path = self.path(bucket)
        return pq.read_table(path, columns=columns) if path.exists() else None
