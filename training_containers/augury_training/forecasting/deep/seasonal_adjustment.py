"""Seasonal adjustment around a global network: divide the season out, multiply it back.

Why: a network trained across many series must learn each series' seasonal
shape from its context, and the shapes differ from series to series. The
classical answer, the one behind the Theta method and the hybrid models that
won the M4 competition, is to take the season out of each series first with a
multiplicative decomposition, let the model forecast what is left (level,
trend, the irregular part), and put the season back on the forecast. The
network then spends its capacity on what the series share. On M3's monthly
series this took CNN-QR's mean wQL from 0.0781 to 0.0760
(docs/benchmarks/forecast_deep.md has the figures).

Per series, and only where it is safe:

* the frequency has a season (:func:`.grid.season_length` above 1);
* the history holds at least :data:`MIN_CYCLES` full seasons of observed values,
  every one of them positive (a ratio to a trend means nothing around zero, so
  intermittent counts and data that go negative are left alone);
* the autocorrelation at the seasonal lag passes the 90% test the Theta method
  uses (:data:`SEASONALITY_Z`), so series without a season are not given one.

The indices are those of the classical decomposition: each observed value's
ratio to a centred moving average over one season, averaged by position in the
season and normalised to mean 1. They are a function of the history alone, so
prediction recomputes them from the history it is given, and a model stores
nothing per series. Missing values (NaN) stay missing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from augury_training.forecasting.deep.common import DeepForecast
from augury_training.forecasting.deep.windows import SeriesSet
from augury_training.forecasting.grid import season_length

__all__ = [
    "AUTO",
    "CHOICES",
    "MIN_CYCLES",
    "NONE",
    "SEASONALITY_Z",
    "Adjusted",
    "adjust",
    "seasonal_indices",
]

AUTO = "auto"
"""Adjust each series whose season passes the test (the default)."""
NONE = "none"
"""Never adjust: the network sees the series as they are."""
CHOICES = (AUTO, NONE)

MIN_CYCLES = 3
"""Seasons of observed history needed before a series' indices are estimated."""
SEASONALITY_Z = 1.645
"""One-sided 90% normal quantile of the autocorrelation test at the seasonal lag."""


def seasonal_indices(history: np.ndarray, season: int) -> np.ndarray | None:
    """The ``season`` multiplicative indices of ``history`` (mean 1; entry ``k`` belongs to
    positions ``k, k + season, ...`` counted from the first point), or ``None`` where the
    series should not be adjusted (see the module docstring)."""
    values = np.asarray(history, dtype=np.float64)
    observed = values[np.isfinite(values)]
    if season < 2 or observed.size < MIN_CYCLES * season or (observed <= 0).any():
        return None
    if not _has_season(values, season):
        return None
    weights = np.r_[0.5, np.ones(season - 1), 0.5] / season
    if season % 2:
        weights = np.ones(season) / season
    trend = np.convolve(values, weights, mode="valid")  # NaN wherever a window holds a gap
    first = (len(weights) - 1) // 2
    ratios = values[first : first + trend.size] / trend
    phases = (np.arange(trend.size) + first) % season
    sums = np.bincount(phases, np.where(np.isfinite(ratios), ratios, 0.0), minlength=season)
    counts = np.bincount(phases, np.isfinite(ratios), minlength=season)
    if (counts == 0).any():
        return None
    indices = sums / counts
    return indices / indices.mean()


def _has_season(values: np.ndarray, season: int) -> bool:
    """Whether the autocorrelation at lag ``season`` is significant at 90% (Bartlett's
    standard error, with the lower lags' autocorrelations), on the observed points."""
    centred = values - np.nanmean(values)
    centred = np.where(np.isfinite(centred), centred, 0.0)
    denominator = float(np.dot(centred, centred))
    if denominator <= 0:
        return False
    acf = np.array([np.dot(centred[:-k], centred[k:]) / denominator for k in range(1, season + 1)])
    limit = SEASONALITY_Z * np.sqrt((1.0 + 2.0 * np.sum(acf[:-1] ** 2)) / values.size)
    return bool(abs(acf[-1]) > limit)


@dataclass(frozen=True)
class Adjusted:
    """Series with their season divided out, and what puts it back on their forecasts.

    ``future`` is ``(series, horizon)``: the index of each forecast step, 1 for series
    left as they were. ``count`` is how many series were adjusted.
    """

    data: SeriesSet
    future: np.ndarray
    count: int

    def reseasonalise(self, forecast: DeepForecast) -> DeepForecast:
        """``forecast`` of the adjusted series, in the original series' units. The indices
        are positive, so quantiles stay ordered and the mean stays the mean."""
        if not self.count:
            return forecast
        samples = forecast.samples
        return DeepForecast(
            mean=(forecast.mean * self.future).astype(forecast.mean.dtype),
            quantiles={
                q: (values * self.future).astype(values.dtype)
                for q, values in forecast.quantiles.items()
            },
            samples=None if samples is None else samples * self.future[:, None, :],
        )


def adjust(data: SeriesSet, horizon: int, mode: str) -> Adjusted:
    """``data`` with each seasonal series divided by its indices (``mode`` :data:`AUTO`), or
    unchanged (:data:`NONE`, or a frequency without a season)."""
    n = len(data.targets)
    future = np.ones((n, horizon), dtype=np.float64)
    season = season_length(data.frequency)
    if mode == NONE or season < 2:
        return Adjusted(data, future, 0)
    targets = []
    count = 0
    for i, target in enumerate(data.targets):
        values = np.asarray(target)
        indices = seasonal_indices(values, season)
        if indices is None:
            targets.append(target)
            continue
        length = values.shape[0]
        dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
        targets.append((values / indices[np.arange(length) % season]).astype(dtype))
        future[i] = indices[np.arange(length, length + horizon) % season]
        count += 1
    return Adjusted(replace(data, targets=targets), future, count)
