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

The mixture is taken on a fixed grid of quantile levels (:data:`MIXTURE_LEVELS`),
whatever levels the forecast asks for, and read at those levels at the end: a
new item's P50 must not move when another level is asked for beside it (it
did by about 9% when the mixture was taken on the levels asked for, each
standing for the band up to its neighbours). The forecast job computes the
warm items at the grid's levels too when there are new items
(:func:`job_levels`).

Warm items stream past once (in forecast order); each new item keeps at most
``capacity`` of its best matches, so memory does not grow with the dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from augury_training.forecasting.predict import ItemForecast

DEFAULT_CAPACITY = 50

MIXTURE_LEVELS = (0.01, *(round(0.05 * k, 2) for k in range(1, 20)), 0.99)
"""The levels new items' mixtures are taken on: 0.01, 0.05, 0.10 ... 0.95, 0.99.

Evenly spaced inside, so a level's band is centred on it and a mixture of one
forecast is that forecast at every level from 0.10 to 0.90.
"""


def _level_key(level: float) -> float:
    """A level as a lookup key: ``0.15`` and ``0.05 * 3`` are the same level."""
    return round(float(level), 6)


def job_levels(requested: Sequence[float], new_items: bool) -> np.ndarray:
    """The quantile levels a forecast job computes: those asked for, plus the mixture's
    grid when there are new items to forecast from their neighbours."""
    levels = {_level_key(level) for level in requested}
    if new_items:
        levels.update(MIXTURE_LEVELS)
    return np.array(sorted(levels), dtype=float)


def level_columns(levels: Sequence[float], wanted: Sequence[float]) -> np.ndarray:
    """Columns of a ``(h, 1 + L)`` forecast at ``levels`` holding the mean and ``wanted``."""
    index = {_level_key(level): column for column, level in enumerate(levels, start=1)}
    return np.array([0, *(index[_level_key(level)] for level in wanted)], dtype=np.intp)


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
        """``levels``: the quantile levels of the observed forecasts' columns after the
        mean; the mixture uses those of :data:`MIXTURE_LEVELS` among them.
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
        present = {_level_key(level) for level in levels}
        self.levels = np.array([q for q in MIXTURE_LEVELS if q in present], dtype=float)
        """The levels of the pooled forecasts and of the mixtures, a subset of the grid."""
        self._columns = level_columns(levels, self.levels)
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
        on_grid: dict[int, np.ndarray] = {}  # each kept forecast sliced once, shared by pools
        for target, pool in enumerate(self._pools):
            best = int(scores[target].max())
            if best < pool.score:
                continue
            if best > pool.score:
                pool.score, pool.forecasts = best, []
            for index in np.flatnonzero(scores[target] == best):
                if len(pool.forecasts) >= self.capacity:
                    break
                if index not in on_grid:
                    on_grid[index] = forecasts[int(index)].forecast[:, self._columns]
                pool.forecasts.append(on_grid[index])

    def forecasts(self) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """``(identity, (h, 1 + G) forecast)`` for every new item and dimension value, at
        the mixture's levels (``self.levels``); :func:`mixture` reads other levels."""
        result = []
        for (item, dims), pool in zip(self.targets, self._pools, strict=True):
            if pool.forecasts:
                result.append(((item, *dims), mixture(np.stack(pool.forecasts), self.levels)))
        return result


def mixture(
    forecasts: np.ndarray,
    levels: np.ndarray,
    at: np.ndarray | None = None,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """The mixture of ``forecasts`` ``(n, h, 1 + L)``, in equal parts unless ``weights``
    are given, as one ``(h, 1 + A)`` forecast at the levels ``at`` (default: ``levels``).

    The mean is the members' weighted mean. For the quantiles, each member's value at
    level ``levels[j]`` carries the probability of the band around that level
    (half-way to the neighbouring levels, 0 and 1 at the ends); the pooled
    values, sorted per step, are read at each level of ``at`` by linear
    interpolation between the bands' midpoints. A single member read at its
    own levels gives back its quantiles where the levels are evenly spaced
    around; the result is non-decreasing in the level.
    """
    at = levels if at is None else np.asarray(at, dtype=float)
    n, steps, columns = forecasts.shape
    if columns != 1 + levels.size:
        raise ValueError(f"{columns} forecast columns for {levels.size} quantile levels")
    shares = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=float)
    if shares.shape != (n,) or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"weights {shares.tolist()} for {n} forecasts")
    shares = shares / shares.sum()
    out = np.empty((steps, 1 + at.size), dtype=float)
    out[:, 0] = np.tensordot(shares, forecasts[:, :, 0], axes=1)
    if at.size == 0:
        return out
    if levels.size == 0:
        raise ValueError(f"no quantile levels to read levels {at.tolist()} from")
    bounds = np.concatenate([[0.0], (levels[1:] + levels[:-1]) / 2, [1.0]])
    mass = (shares[:, None] * np.diff(bounds)[None, :]).ravel()
    values = forecasts[:, :, 1:].transpose(1, 0, 2).reshape(steps, -1)
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    band = mass[order]
    positions = np.cumsum(band, axis=1) - band / 2
    for step in range(steps):
        out[step, 1:] = np.interp(at, positions[step], ordered[step])
    return out
