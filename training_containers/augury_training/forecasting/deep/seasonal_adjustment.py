"""Seasonal adjustment around a global network: divide the season out, multiply it back.

Why: a network trained across many series must learn each series' seasonal
shape from its context, and the shapes differ from series to series. The
classical answer, the one behind the Theta method and the hybrid models that
won the M4 competition, is to take the season out of each series first with a
multiplicative decomposition, let the model forecast what is left (level,
trend, the irregular part), and put the season back on the forecast.

It is not always better. On M3's monthly series it took CNN-QR's mean wQL from
0.0781 to 0.0760; on Tourism's and M1's monthly series, whose seasons the
network reads well from the raw context, it made it 13% and 12% worse
(docs/benchmarks/forecast_deep.md). So the model decides on held-out data
(:data:`AUTO`, CNN-QR's default): it fits both ways and keeps the adjusted fit
only when it forecasts the validation horizons better in the data's units
(:func:`prefers_adjusted`). The indices of a fit that validates are estimated
without the held-out points (``hold_out``), so they cannot flatter it.

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
    "ALWAYS",
    "AUTO",
    "CHOICES",
    "MIN_CYCLES",
    "NONE",
    "SEASONALITY_Z",
    "Adjusted",
    "adjust",
    "prefers_adjusted",
    "seasonal_indices",
]

AUTO = "auto"
"""Train both ways and keep what forecasts the held-out horizons better (the model decides)."""
ALWAYS = "always"
"""Adjust each series whose season passes the test."""
NONE = "none"
"""Never adjust: the network sees the series as they are."""
CHOICES = (AUTO, ALWAYS, NONE)

MIN_CYCLES = 3
"""Seasons of observed history needed before a series' indices are estimated."""
SEASONALITY_Z = 1.645
"""One-sided 90% normal quantile of the autocorrelation test at the seasonal lag."""


def prefers_adjusted(as_is_wql: float | None, adjusted_wql: float | None) -> bool:
    """Whether the fit on seasonally adjusted series validated better than the fit on the
    series as they are (both wQL on the same held-out horizons, in the data's units)."""
    if as_is_wql is None or adjusted_wql is None:
        return False
    return adjusted_wql < as_is_wql


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
    left as they were. ``held_out`` is ``(series, hold_out)``: the index of each of the
    last ``hold_out`` history points (what turns a validation forecast of the adjusted
    series back into the data's units). ``count`` is how many series were adjusted.
    ``mode`` is the setting that made it (:data:`ALWAYS` or :data:`NONE`).
    """

    mode: str
    data: SeriesSet
    future: np.ndarray
    held_out: np.ndarray
    count: int

    def describe(self) -> str:
        """What the job log says about the adjustment."""
        return f"{self.count} of {len(self.data.targets)} series divided by their seasonal indices"

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


def adjust(data: SeriesSet, horizon: int, mode: str, hold_out: int = 0) -> Adjusted:
    """``data`` with each seasonal series divided by its indices (``mode`` :data:`ALWAYS`), or
    unchanged (:data:`NONE`, or a frequency without a season).

    With ``hold_out``, the indices are estimated without each series' last ``hold_out``
    points, so a forecast of those points validated after training has not seen them.
    """
    if mode not in (ALWAYS, NONE):
        raise ValueError(f"adjust takes {ALWAYS!r} or {NONE!r}; the model resolves {mode!r}")
    n = len(data.targets)
    future = np.ones((n, horizon), dtype=np.float64)
    held_out = np.ones((n, hold_out), dtype=np.float64)
    season = season_length(data.frequency)
    if mode == NONE or season < 2:
        return Adjusted(mode, data, future, held_out, 0)
    targets = []
    count = 0
    for i, target in enumerate(data.targets):
        values = np.asarray(target)
        length = values.shape[0]
        indices = seasonal_indices(values[: max(length - hold_out, 0)], season)
        if indices is None:
            targets.append(target)
            continue
        dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
        targets.append((values / indices[np.arange(length) % season]).astype(dtype))
        future[i] = indices[np.arange(length, length + horizon) % season]
        held_out[i] = indices[np.arange(length - hold_out, length) % season]
        count += 1
    return Adjusted(mode, replace(data, targets=targets), future, held_out, count)
