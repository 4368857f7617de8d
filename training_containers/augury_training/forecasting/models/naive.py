"""Seasonal naive: next season repeats the last one, with empirical residual quantiles.

It is the baseline every other model must beat (MASE is scaled by its
in-sample error) and the fallback every other model uses when its engine
cannot fit a series: it needs one point, never fails, and is exactly right for
constant and all-zero series.

Quantiles come from the in-sample seasonal differences ``y[t] - y[t-m]``
rather than a normal law, so skewed and intermittent series get skewed
intervals. The differences are centred on their median, so that the P50 is the
point forecast (a drift would otherwise move every quantile but not the mean).
A forecast ``j`` seasons ahead is a sum of ``j`` such differences, so the
residual quantiles are widened by ``sqrt(j)`` (the random-walk rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from augury_training.forecasting.models.base import SeriesContext, SeriesForecast
from augury_training.forecasting.models.hyperparameters import get_int
from augury_training.forecasting.models.quantiles import finalize
from augury_training.forecasting.models.series import is_non_negative, prepare


def seasonal_naive_forecast(
    y: np.ndarray, h: int, quantiles: Sequence[float], season_length: int
) -> SeriesForecast:
    """The seasonal naive forecast of an already prepared series (any length, even 0)."""
    n = y.shape[0]
    if n == 0:
        zeros = np.zeros(h)
        return SeriesForecast(mean=zeros, quantiles={float(q): zeros.copy() for q in quantiles})
    m = season_length if 1 < season_length < n else 1
    steps = np.arange(h)
    mean = y[n - m + steps % m].astype(float)
    residuals = y[m:] - y[:-m]
    residuals = residuals - np.median(residuals) if residuals.shape[0] else residuals
    if residuals.shape[0] < 2:
        # Too few differences to have a shape: assume a symmetric spread around zero.
        residuals = np.concatenate([residuals, -residuals, [0.0]])
    seasons_ahead = np.sqrt(steps // m + 1.0)
    levels = [float(q) for q in quantiles]
    offsets = np.quantile(residuals, levels) if levels else np.zeros(0)
    bands = {q: mean + seasons_ahead * offsets[i] for i, q in enumerate(levels)}
    mean, bands = finalize(mean, bands, non_negative=is_non_negative(y))
    return SeriesForecast(mean=mean, quantiles=bands)


class SeasonalNaive:
    """``y[T+k] = y[T+k-m·ceil(k/m)]``; naive (``m = 1``) when the history is under a season.

    Hyperparameters: ``season_length`` (default: the frequency's).
    """

    name = "SeasonalNaive"

    def __init__(self, hyperparameters: Mapping[str, str] | None = None) -> None:
        self.season_length = get_int(hyperparameters or {}, "season_length", None, minimum=1)

    def forecast(
        self, y: np.ndarray, h: int, quantiles: Sequence[float], context: SeriesContext
    ) -> SeriesForecast:
        m = self.season_length or context.season_length
        return seasonal_naive_forecast(prepare(y), h, quantiles, m)
