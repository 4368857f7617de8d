"""Rows of one ID always land in one partition, whichever file, batch or process reads
them, and IDs spread evenly over the partitions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa

from augury.personalize.id_partitions import (
    MAX_PARTITIONS,
    PARTITION_INPUT_BYTES,
    id_hashes,
    partition_count,
    partition_of,
)

IDS = [f"user-{n}" for n in range(20_000)]


def test_an_id_hashes_the_same_whatever_array_holds_it() -> None:
    whole = id_hashes(pa.array(IDS))
    chunked = id_hashes(pa.chunked_array([IDS[:7], IDS[7:]]))
    sliced = id_hashes(pa.array(["x", *IDS, "y"]).slice(1, len(IDS)))
    large = id_hashes(pa.array(IDS, pa.large_string()))
    assert np.array_equal(whole, chunked) and np.array_equal(whole, sliced)
    assert np.array_equal(whole, large)
    assert len(set(whole.tolist())) == len(IDS)  # no collisions among these


def test_the_same_in_another_process() -> None:
    """Python's own ``hash`` of a string changes per process; the partition must not."""
    code = (
        "import pyarrow as pa; from augury.personalize.id_partitions import id_hashes; "
        "print(id_hashes(pa.array(['user-1', 'é-ü', 'Z' * 256])).tolist())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    here = id_hashes(pa.array(["user-1", "é-ü", "Z" * 256])).tolist()
    assert other.strip() == str(here)


def test_ids_spread_evenly_and_empty_or_missing_ones_are_placed() -> None:
    counts = np.bincount(partition_of(pa.array(IDS), 8), minlength=8)
    assert counts.min() > 0.9 * len(IDS) / 8 and counts.max() < 1.1 * len(IDS) / 8
    odd = partition_of(pa.array(["", None, "a"]), 5)
    assert odd.tolist()[0] == odd.tolist()[1] and all(0 <= p < 5 for p in odd.tolist())
    assert partition_of(pa.array(IDS), 1).tolist() == [0] * len(IDS)
    assert id_hashes(pa.array([], pa.string())).tolist() == []


def test_partitions_grow_with_the_input_and_the_rows_kept() -> None:
    assert partition_count(0) == 1
    assert partition_count(PARTITION_INPUT_BYTES) == 1
    assert partition_count(PARTITION_INPUT_BYTES + 1) == 2
    assert partition_count(0, previous_rows=50_000_000) > 1
    assert partition_count(10**15) == MAX_PARTITIONS
