"""Users, Items and Actions rows split by ID into partitions, so a merge by ID works on one
partition at a time.

A Users import may bring 100 GB (Amazon's limit for a FULL import), far more than one
workflow-step invocation can merge by ID at once. Every row of one ID lands in the same
partition, in whichever file or invocation it is read, so each partition merges on its
own (``augury.workflows.personalize_id_merge``).

The partition of an ID is a hash of its UTF-8 bytes computed with NumPy over Arrow's
buffers, a few nanoseconds a byte: the same in every process (unlike Python's ``hash``)
and fast enough for hundreds of millions of IDs (unlike a digest per row in Python).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

PARTITION_INPUT_BYTES = 512 << 20
"""CSV bytes per partition: its new rows, and as much again of the previous version's,
merge in well under the workflow step's memory."""
PREVIOUS_ROW_BYTES = 100
"""What a previous row counts for, in CSV bytes, when the partitions are planned."""
MAX_PARTITIONS = 256

_MULTIPLIER = np.uint64(0x100000001B3)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def partition_count(input_bytes: int, previous_rows: int = 0) -> int:
    """How many partitions for ``input_bytes`` of new CSV and ``previous_rows`` kept rows."""
    size = input_bytes + previous_rows * PREVIOUS_ROW_BYTES
    return max(1, min(MAX_PARTITIONS, -(-size // PARTITION_INPUT_BYTES)))


def partition_of(ids: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """The partition (``0 <= p < partitions``) of each ID."""
    if partitions == 1:
        return np.zeros(len(ids), dtype=np.int64)
    return (id_hashes(ids) % np.uint64(partitions)).astype(np.int64)


def id_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each ID's UTF-8 bytes (nulls hash as empty strings)."""
    array = ids.cast(pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    count = len(array)
    if count == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int64, count=count + 1, offset=array.offset * 8
    )
    lengths = np.diff(offsets)
    if array.null_count:
        lengths = np.where(array.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    data = array.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    sums = np.zeros(count, dtype=np.uint64)
    filled = lengths > 0
    if filled.any():
        starts = offsets[:-1][filled]
        sizes = lengths[filled]
        # each byte, at its position within its ID, weighted by a power of the multiplier
        owner_start = np.repeat(starts, sizes)
        position = np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(sizes) - sizes, sizes
        )
        body = raw[owner_start + position].astype(np.uint64) + np.uint64(1)
        terms = body * _powers(int(position.max()) + 1)[position]
        sums[filled] = np.add.reduceat(terms, np.cumsum(sizes) - sizes)
    return _mixed(sums ^ (lengths.astype(np.uint64) * _MIX_2))


def _powers(length: int) -> np.ndarray:
    """``_MULTIPLIER ** i`` modulo 2**64 for ``i < length``."""
    powers = np.full(length, _MULTIPLIER, dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)


def _mixed(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit reaches the low bits a modulo reads."""
    z = values.copy()
    z ^= z >> np.uint64(30)
    z *= _MIX_1
    z ^= z >> np.uint64(27)
    z *= _MIX_2
    z ^= z >> np.uint64(31)
    return z
