"""Forecasts for new items: in the item metadata, absent from the target time series.

A new item has no history, only metadata (category, brand...). Items that
share the most metadata values with it are the best evidence of its shape, and
their typical volume is the best guess of its level. So, per new item (and per
forecast-dimension value, e.g. each store), the forecast is the median of the
*normalised* forecasts (each divided by its item's recent level) of the warm
items sharing the most metadata values with it, times the median level of
those items. Items in the same dimension values (the same store) are preferred
among equals. The median is taken per step and quantile, so P10 <= P50 <= P90
still holds.

Warm items stream past once (in forecast order); each new item keeps at most
``capacity`` of its best matches, so memory does not grow with the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from augury_training.forecasting.predict import ItemForecast

DEFAULT_CAPACITY = 50


@dataclass
class _Pool:
    score: int = -1
    shapes: list[np.ndarray] = field(default_factory=list)
    levels: list[float] = field(default_factory=list)


class ColdStart:
    """Collects the nearest warm items of every new item and forecasts it."""

    def __init__(
        self,
        new_items: dict[str, dict[str, str]],
        dimension_values: list[tuple[str, ...]],
        *,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.fields = sorted({name for values in new_items.values() for name in values})
        self.targets = [(item, dims) for item in sorted(new_items) for dims in dimension_values]
        self._codes: dict[tuple[str, str], int] = {}
        self._target_codes = np.array(
            [
                [self._code(name, new_items[item].get(name, "")) for name in self.fields]
                for item, _ in self.targets
            ],
            dtype=np.int64,
        ).reshape(len(self.targets), len(self.fields))
        self._target_dims = [dims for _, dims in self.targets]
        self.capacity = capacity
        self._pools = [_Pool() for _ in self.targets]

    def __len__(self) -> int:
        return len(self.targets)

    def _code(self, name: str, value: str) -> int:
        """An integer per (field, value); empty values never match (code -1)."""
        if value in ("", None):
            return -1
        return self._codes.setdefault((name, str(value)), len(self._codes))

    def observe(self, forecasts: list[ItemForecast]) -> None:
        """Offer a batch of warm items' forecasts to every new item's pool."""
        if not self.targets or not forecasts:
            return
        codes = np.array(
            [
                [self._codes.get((n, str(f.metadata.get(n, ""))), -2) for n in self.fields]
                for f in forecasts
            ],
            dtype=np.int64,
        ).reshape(len(forecasts), len(self.fields))
        shared = ((self._target_codes[:, None, :] == codes[None, :, :]) & (codes >= 0)).sum(-1)
        same_dims = np.array(
            [[dims == f.identity[1:] for f in forecasts] for dims in self._target_dims]
        )
        scores = 2 * shared + same_dims  # sharing metadata counts before sharing a store
        for target, pool in enumerate(self._pools):
            best = int(scores[target].max())
            if best < pool.score:
                continue
            if best > pool.score:
                pool.score, pool.shapes, pool.levels = best, [], []
            for index in np.flatnonzero(scores[target] == best):
                if len(pool.shapes) >= self.capacity:
                    break
                item = forecasts[int(index)]
                level = item.level if item.level > 0 else 0.0
                shape = (
                    item.forecast / item.level if item.level > 0 else np.zeros_like(item.forecast)
                )
                pool.shapes.append(shape)
                pool.levels.append(level)

    def forecasts(self) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """``(identity, (h, 1 + L) forecast)`` for every new item and dimension value."""
        result = []
        for (item, dims), pool in zip(self.targets, self._pools, strict=True):
            if not pool.shapes:
                continue
            shape = np.median(np.stack(pool.shapes), axis=0)
            result.append(((item, *dims), shape * float(np.median(pool.levels))))
        return result
