"""FieldStatistics for DescribeDatasetImportJob, computed while the rows stream past.

Nothing is held per row: every field keeps running counts, Min and Max, and for
numbers a running mean and sum of squared deviations, merged batch by batch
with Chan's parallel form of Welford's algorithm (numerically stable, unlike
sum-of-squares). Values are those of the imported file, not of the dataset
after an incremental merge: Amazon describes "each field in the input data".

Definitions (Amazon's Statistics shape, API_Statistics):

- ``Count``: values present (not null); ``CountNull``: missing values.
- ``CountNan``: float fields' NaN values, which are present but not numbers;
  ``Avg``, ``Stddev``, ``Min`` and ``Max`` are over the other numbers.
- ``Stddev`` is the sample standard deviation (n - 1), given from 2 values.
- ``Min`` and ``Max`` are strings: numbers as written back by Python, timestamps
  as ``yyyy-MM-dd HH:mm:ss``.
- Each count also comes as a ``...Long``; the 32-bit member is -1 when the count
  does not fit, as Amazon documents.
- ``CountDistinct`` is exact up to ``EXACT_DISTINCT_LIMIT`` distinct values per
  field; past that the field switches to a K-minimum-values sketch (the
  ``SKETCH_SIZE`` smallest 64-bit hashes), whose relative error is about
  1/sqrt(SKETCH_SIZE - 2), 1.6%. Memory stays bounded whatever the cardinality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import blake2b
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from augury.forecast.domains import FLOAT, INTEGER, TIMESTAMP
from augury.forecast.timestamp_formats import timestamp_text

EXACT_DISTINCT_LIMIT = 200_000
SKETCH_SIZE = 4096
INT32_MAX = 2_147_483_647
_HASH_SPACE = float(2**64)


class DistinctCounter:
    """How many distinct values: exact while small, then a bounded K-minimum-values sketch.

    The sketch keeps the ``sketch_size`` smallest distinct 64-bit hashes seen;
    if the k-th smallest is ``h``, about ``(k - 1) * 2**64 / h`` distinct values
    were hashed. Numbers and timestamps are hashed in Arrow (splitmix64 over
    their 64-bit patterns), strings with BLAKE2b: stable across processes, so a
    count carried from one invocation to the next (an import's ``complete``
    step, pickled between Lambda invocations) goes on where it stopped. Only a
    batch's distinct values are hashed.
    """

    def __init__(self, exact_limit: int = EXACT_DISTINCT_LIMIT, sketch_size: int = SKETCH_SIZE):
        self.exact_limit = exact_limit
        self.sketch_size = sketch_size
        self._exact: set[Any] | None = set()
        self._type: pa.DataType | None = None
        self._smallest = pa.array([], pa.uint64())

    def add(self, values: pa.Array) -> None:
        """Count the (non-null) ``values`` in."""
        self._type = values.type
        if self._exact is not None:
            self._exact.update(pc.unique(values).to_pylist())
            if len(self._exact) <= self.exact_limit:
                return
            values, self._exact = pa.array(list(self._exact), values.type), None
        self._offer(_hashes(pc.unique(values)))

    @property
    def exact(self) -> bool:
        return self._exact is not None

    def count(self) -> int:
        if self._exact is not None:
            return len(self._exact)
        if len(self._smallest) < self.sketch_size:
            return len(self._smallest)
        kth_smallest = self._smallest[-1].as_py()
        return round((self.sketch_size - 1) / ((kth_smallest + 1) / _HASH_SPACE))

    def _offer(self, hashes: pa.Array) -> None:
        hashes = pc.unique(hashes)
        if len(self._smallest) >= self.sketch_size:
            hashes = hashes.filter(pc.less(hashes, self._smallest[-1]))
        if not len(hashes):
            return
        merged = pc.unique(pa.concat_arrays([self._smallest, hashes]))
        kept = pc.take(merged, pc.bottom_k_unstable(merged, min(self.sketch_size, len(merged))))
        self._smallest = pc.take(kept, pc.sort_indices(kept))


def _hashes(values: pa.Array) -> pa.Array:
    """A well-mixed 64-bit hash of each value."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return pa.array(
            [
                int.from_bytes(blake2b(v.encode("utf-8"), digest_size=8).digest(), "big")
                for v in values.to_pylist()
            ],
            pa.uint64(),
        )
    if pa.types.is_floating(values.type):
        bits = pc.cast(values, pa.float64()).view(pa.uint64())
    else:
        bits = pc.cast(pc.cast(values, pa.int64()), pa.uint64(), safe=False)
    return _splitmix64(bits)


def _splitmix64(x: pa.Array) -> pa.Array:
    """Steele, Lea and Flood's splitmix64 finalizer, in wrapping unsigned arithmetic."""

    def shifted_xor(z: pa.Array, bits: int) -> pa.Array:
        return pc.bit_wise_xor(z, pc.shift_right(z, pa.scalar(bits, pa.uint64())))

    z = pc.add(x, pa.scalar(0x9E3779B97F4A7C15, pa.uint64()))
    z = pc.multiply(shifted_xor(z, 30), pa.scalar(0xBF58476D1CE4E5B9, pa.uint64()))
    z = pc.multiply(shifted_xor(z, 27), pa.scalar(0x94D049BB133111EB, pa.uint64()))
    return shifted_xor(z, 31)


@dataclass
class FieldStatistics:
    """The running statistics of one field."""

    kind: str
    count: int = 0
    nulls: int = 0
    nans: int = 0
    minimum: Any = None
    maximum: Any = None
    numbers: int = 0
    mean: float = 0.0
    squared_deviations: float = 0.0
    distinct: DistinctCounter = field(default_factory=DistinctCounter)

    def add(self, column: pa.Array) -> None:
        nulls = column.null_count
        self.nulls += nulls
        self.count += len(column) - nulls
        values = column.drop_null() if nulls else column
        if self.kind == FLOAT:
            is_nan = pc.is_nan(values)
            nans = pc.sum(is_nan).as_py() or 0
            if nans:
                self.nans += nans
                values = values.filter(pc.invert(is_nan))
        if not len(values):
            return
        self.distinct.add(values)
        if self.kind in (INTEGER, FLOAT, TIMESTAMP):
            bounds = pc.min_max(values)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            self.minimum = low if self.minimum is None else min(self.minimum, low)
            self.maximum = high if self.maximum is None else max(self.maximum, high)
        if self.kind in (INTEGER, FLOAT):
            self._merge_moments(values)

    def _merge_moments(self, values: pa.Array) -> None:
        """Chan et al.'s pairwise update: combine this batch's moments with the running ones."""
        size = len(values)
        batch_mean = pc.mean(values).as_py()
        batch_squares = pc.variance(values, ddof=0).as_py() * size
        total = self.numbers + size
        delta = batch_mean - self.mean
        self.mean += delta * size / total
        self.squared_deviations += batch_squares + delta * delta * self.numbers * size / total
        self.numbers = total

    def result(self) -> dict[str, Any]:
        """The field's entry in FieldStatistics, in Amazon's member names."""
        out: dict[str, Any] = {}
        _count(out, "Count", self.count)
        _count(out, "CountDistinct", self.distinct.count())
        _count(out, "CountNull", self.nulls)
        if self.kind == FLOAT:
            _count(out, "CountNan", self.nans)
        if self.minimum is not None:
            out["Min"] = _text(self.minimum)
            out["Max"] = _text(self.maximum)
        if self.kind in (INTEGER, FLOAT) and self.numbers:
            out["Avg"] = self.mean
            if self.numbers > 1:
                out["Stddev"] = math.sqrt(self.squared_deviations / (self.numbers - 1))
        return out


class DatasetStatistics:
    """FieldStatistics for every attribute of the schema."""

    def __init__(self, attributes: tuple[tuple[str, str], ...]) -> None:
        self.fields = {name: FieldStatistics(kind) for name, kind in attributes}
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for name, statistics in self.fields.items():
            statistics.add(batch.column(name))

    def result(self) -> dict[str, dict[str, Any]]:
        return {name: statistics.result() for name, statistics in self.fields.items()}


def _count(out: dict[str, Any], member: str, value: int) -> None:
    out[member] = value if value <= INT32_MAX else -1
    out[f"{member}Long"] = value


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return timestamp_text(value)
    return repr(value) if isinstance(value, float) else str(value)
