"""Forecasts for new items: in the item metadata, absent from the target time series.

A new item has no history, only metadata (category, brand...). The items that
share the most metadata values with it are the best evidence of what it will
do, but not of which of them it will resemble: one new drink may sell like
the best seller, another like the slowest. So, per new item (and per
forecast-dimension value, e.g. each store), the forecast is the *mixture* of
the forecasts of the warm items sharing the most metadata values with it:
its mean is their mean, and its quantiles are those of the pooled predictive
distributions (each item's forecast quantiles standing for the probability
around them). The spread of levels across those items widens the quantiles,
which a median shape scaled by a median level does not: on the retail check
(``scripts/check_forecast_deep.py``) that older rule scored new items at mean
wQL 0.3963 with ETS forecasts. Items in the same dimension values (the same
store) are preferred among equals.

Warm items stream past once (in forecast order); each new item keeps at most
``capacity`` of its best matches, so memory does not grow with the dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from augury_training.forecasting.predict import ItemForecast

DEFAULT_CAPACITY = 50


@dataclass
class _Pool:
    score: int = -1
    forecasts: list[np.ndarray] = field(default_factory=list)


class ColdStart:
    """Collects the nearest warm items of every new item and forecasts it."""

    def __init__(
        self,
        new_items: dict[str, dict[str, str]],
        dimension_values: list[tuple[str, ...]],
        levels: Sequence[float] = (),
        *,
        capacity: int = DEFAULT_CAPACITY,
        empty_series: Mapping[tuple[str, ...], Mapping[str, str]] | None = None,
    ) -> None:
        """``levels``: the quantile levels of the forecasts' columns after the mean.
        ``empty_series``: series (item id, dimension values...) with no history, of items
        that have history in other dimension values, with their item's metadata: each is
        forecast in its own dimension values only, like a new item there."""
        empty = dict(empty_series or {})
        metadata = {**{identity[0]: values for identity, values in empty.items()}, **new_items}
        self.fields = sorted({name for values in metadata.values() for name in values})
        self.targets = [(item, dims) for item in sorted(new_items) for dims in dimension_values]
        self.targets += [(identity[0], tuple(identity[1:])) for identity in sorted(empty)]
        self.metadata = metadata
        """Each target item's metadata."""
        self._codes: dict[tuple[str, str], int] = {}
        self._target_codes = np.array(
            [
                [self._code(name, metadata[item].get(name, "")) for name in self.fields]
                for item, _ in self.targets
            ],
            dtype=np.int64,
        ).reshape(len(self.targets), len(self.fields))
        self._target_dims = [dims for _, dims in self.targets]
        self.levels = np.asarray(levels, dtype=float)
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
                pool.score, pool.forecasts = best, []
            for index in np.flatnonzero(scores[target] == best):
                if len(pool.forecasts) >= self.capacity:
                    break
                pool.forecasts.append(forecasts[int(index)].forecast)

    def forecasts(self) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """``(identity, (h, 1 + L) forecast)`` for every new item and dimension value."""
        result = []
        for (item, dims), pool in zip(self.targets, self._pools, strict=True):
            if pool.forecasts:
                result.append(((item, *dims), mixture(np.stack(pool.forecasts), self.levels)))
        return result


def mixture(forecasts: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The equal mixture of ``forecasts`` ``(n, h, 1 + L)``, as one ``(h, 1 + L)`` forecast.

    The mean is the members' mean. For the quantiles, each member's value at
    level ``levels[j]`` carries the probability of the band around that level
    (half-way to the neighbouring levels, 0 and 1 at the ends); the pooled
    values, sorted per step, are read at each level by linear interpolation
    between the bands' midpoints. With a single member this returns its own
    quantiles; the result is non-decreasing in the level.
    """
    n, steps, columns = forecasts.shape
    if columns != 1 + levels.size:
        raise ValueError(f"{columns} forecast columns for {levels.size} quantile levels")
    out = np.empty(forecasts.shape[1:], dtype=float)
    out[:, 0] = forecasts[:, :, 0].mean(axis=0)
    if levels.size == 0:
        return out
    bounds = np.concatenate([[0.0], (levels[1:] + levels[:-1]) / 2, [1.0]])
    mass = np.tile(np.diff(bounds), n) / n
    values = forecasts[:, :, 1:].transpose(1, 0, 2).reshape(steps, -1)
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    weights = mass[order]
    positions = np.cumsum(weights, axis=1) - weights / 2
    for step in range(steps):
        out[step, 1:] = np.interp(levels, positions[step], ordered[step])
    return out
