"""Forecast shards in memory: what QueryForecast answers from.

A forecast is stored as ``FORECAST_SHARDS`` Parquet files, an item's rows in
shard ``shard_of(item key)`` (``augury_training.forecast_contract``). A query
needs one item, so it needs one shard: the first query of a shard reads it
(pyarrow only; no training framework), indexes it by item and keeps it; later
queries of any item in that shard are answered from memory. The cache is an LRU
bounded by shard count, shared by every request thread of the process.

Shards are keyed by the forecast's generation id as well as their blob key, so
a forecast deleted and created again under the same name is never answered from
the old one's cache.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from augury.ports import BlobNotFound, BlobStore
from augury.resources.per_store import PerStore
from augury_training.forecast_contract import item_key

DATE_COLUMN = "date"
DEFAULT_CAPACITY = 64
"""Shards kept per process: two forecasts' worth at 32 shards each."""


@dataclass(frozen=True)
class ItemForecast:
    """One item's forecast: its timestamps and one value list per forecast column."""

    timestamps: list[datetime]
    values: dict[str, list[float | None]]


class _Shard:
    """One loaded shard: every item's forecast, by item key."""

    def __init__(self, table: Any, identity: Sequence[str], columns: Sequence[str]) -> None:
        import pyarrow.compute as pc

        missing = [n for n in (*identity, DATE_COLUMN, *columns) if n not in table.column_names]
        if missing:
            raise ValueError(f"forecast shard lacks columns {', '.join(missing)}")
        order = pc.sort_indices(
            table, sort_keys=[(n, "ascending") for n in (*identity, DATE_COLUMN)]
        )
        table = table.take(order)
        ids = [table[n].to_pylist() for n in identity]
        dates = [_utc(d) for d in table[DATE_COLUMN].to_pylist()]
        data = {c: table[c].to_pylist() for c in columns}
        self.items: dict[str, ItemForecast] = {}
        start = 0
        for row in range(1, table.num_rows + 1):
            if row < table.num_rows and all(col[row] == col[start] for col in ids):
                continue
            key = item_key({n: ids[i][start] for i, n in enumerate(identity)}, list(identity))
            self.items[key] = ItemForecast(
                dates[start:row], {c: values[start:row] for c, values in data.items()}
            )
            start = row


def _utc(moment: datetime) -> datetime:
    """Shard timestamps are UTC wall-clock times; compare them naive."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class ForecastShards:
    """An LRU of loaded shards over one blob store."""

    def __init__(self, blobs: BlobStore, capacity: int = DEFAULT_CAPACITY) -> None:
        self.blobs = blobs
        self.capacity = capacity
        self._shards: OrderedDict[tuple[str, str], _Shard] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def item(
        self,
        *,
        generation: str,
        key: str,
        identity: Sequence[str],
        columns: Sequence[str],
        item: str,
    ) -> ItemForecast | None:
        """The forecast of ``item`` (an ``item_key``) in the shard stored at ``key``."""
        shard = self._shard((generation, key), identity, columns)
        return None if shard is None else shard.items.get(item)

    def _shard(
        self, cache_key: tuple[str, str], identity: Sequence[str], columns: Sequence[str]
    ) -> _Shard | None:
        with self._lock:
            found = self._shards.get(cache_key)
            if found is not None:
                self._shards.move_to_end(cache_key)
                return found
            loading = self._loading.setdefault(cache_key, threading.Lock())
        with loading:  # one thread reads a shard; the others wait for it
            with self._lock:
                found = self._shards.get(cache_key)
            if found is not None:
                return found
            shard = self._load(cache_key[1], identity, columns)
            with self._lock:
                self._loading.pop(cache_key, None)
                if shard is not None:
                    self._shards[cache_key] = shard
                    while len(self._shards) > self.capacity:
                        self._shards.popitem(last=False)
            return shard

    def _load(self, key: str, identity: Sequence[str], columns: Sequence[str]) -> _Shard | None:
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory(prefix="augury-shard-") as scratch:
            local = Path(scratch) / "shard.parquet"
            try:
                self.blobs.download_file(key, local)
            except BlobNotFound:
                return None  # no item of this forecast hashes to this shard
            table = pq.read_table(local, columns=[*identity, DATE_COLUMN, *columns])
        return _Shard(table, identity, columns)

    def clear(self) -> None:
        with self._lock:
            self._shards.clear()


_CACHES: PerStore[ForecastShards] = PerStore()


def shards_for(blobs: BlobStore) -> ForecastShards:
    """The process's shard cache for ``blobs`` (one per blob store)."""
    return _CACHES.get(blobs, lambda: ForecastShards(blobs))
