"""The QueryForecast shard reader: one shard read per item hash, then memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augury.local.file_blobs import FileBlobStore
from augury.serving.forecast_shards import ForecastShards, shards_for
from augury_training.forecast_contract import item_key

IDENTITY = ["item_id", "location"]
COLUMNS = ["p10", "p50"]
KEY = "resources/forecast/forecast/f/shards/shard=3.parquet"


class CountingBlobs(FileBlobStore):
    """A file blob store that counts downloads, to see the cache work."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.downloads = 0

    def download_file(self, key: str, path: Path) -> None:
        self.downloads += 1
        super().download_file(key, path)


def write_shard(blobs: FileBlobStore, key: str, rows: list[dict], tmp_path: Path) -> None:
    local = tmp_path / "shard.parquet"
    pq.write_table(pa.Table.from_pylist(rows), local)
    blobs.upload_file(local, key)


def rows(item: str, location: str, start: datetime, values: list[float]) -> list[dict]:
    return [
        {
            "item_id": item,
            "location": location,
            "date": start + timedelta(days=n),
            "p10": v / 2,
            "p50": v,
        }
        for n, v in enumerate(values)
    ]


@pytest.fixture
def blobs(tmp_path: Path) -> CountingBlobs:
    store = CountingBlobs(tmp_path / "blobs")
    start = datetime(2024, 3, 1)
    shard = (
        rows("b", "x", start, [5, 6])
        + rows("a", "y", start, [1, 2, 3])
        + rows("a", "x", start, [7])
    )
    shard.reverse()  # the reader must not rely on the file's order
    write_shard(store, KEY, shard, tmp_path)
    return store


def lookup(cache: ForecastShards, item: str, location: str, generation: str = "g1"):
    return cache.item(
        generation=generation,
        key=KEY,
        identity=IDENTITY,
        columns=COLUMNS,
        item=item_key({"item_id": item, "location": location}, IDENTITY),
    )


def test_an_items_forecast_comes_back_in_time_order(blobs):
    found = lookup(ForecastShards(blobs), "a", "y")
    assert found is not None
    assert found.timestamps == [datetime(2024, 3, 1) + timedelta(days=n) for n in range(3)]
    assert found.values == {"p10": [0.5, 1.0, 1.5], "p50": [1.0, 2.0, 3.0]}
    other = lookup(ForecastShards(blobs), "a", "x")
    assert other is not None and other.values["p50"] == [7.0]


def test_a_shard_is_read_once_and_answered_from_memory(blobs):
    cache = ForecastShards(blobs)
    for item, location in (("a", "y"), ("b", "x"), ("a", "x"), ("a", "y")):
        assert lookup(cache, item, location) is not None
    assert blobs.downloads == 1
    assert lookup(cache, "z", "x") is None  # not in the forecast
    assert blobs.downloads == 1


def test_another_generation_never_sees_the_old_shard(blobs, tmp_path):
    cache = ForecastShards(blobs)
    assert lookup(cache, "a", "y").values["p50"] == [1.0, 2.0, 3.0]
    write_shard(blobs, KEY, rows("a", "y", datetime(2025, 1, 1), [9]), tmp_path)
    assert lookup(cache, "a", "y").values["p50"] == [1.0, 2.0, 3.0]  # same forecast: cached
    assert lookup(cache, "a", "y", generation="g2").values["p50"] == [9.0]


def test_the_cache_is_bounded_and_evicts_the_least_recently_used(blobs):
    cache = ForecastShards(blobs, capacity=1)
    lookup(cache, "a", "y", generation="g1")
    lookup(cache, "a", "y", generation="g2")
    lookup(cache, "a", "y", generation="g1")
    assert blobs.downloads == 3


def test_a_shard_no_item_hashed_to_is_an_empty_answer(tmp_path):
    cache = ForecastShards(FileBlobStore(tmp_path / "empty"))
    assert lookup(cache, "a", "y") is None


def test_zoned_timestamps_are_compared_as_utc(tmp_path):
    store = FileBlobStore(tmp_path / "blobs")
    zoned = rows("a", "y", datetime(2024, 3, 1, tzinfo=UTC), [1])
    write_shard(store, KEY, zoned, tmp_path)
    assert lookup(ForecastShards(store), "a", "y").timestamps == [datetime(2024, 3, 1)]


def test_one_cache_per_blob_store(tmp_path):
    store = FileBlobStore(tmp_path / "blobs")
    assert shards_for(store) is shards_for(store)
    assert shards_for(store) is not shards_for(FileBlobStore(tmp_path / "other"))
