"""NPTS: Amazon's Non-Parametric Time Series forecaster, in its four variants.

Each forecast step draws, for every sample path, one past value of the series
(or an earlier step of the same path) with probability ``q_T(t)``; quantiles and
the mean are read off the sample paths. Forecasts therefore stay inside the
observed range, which is what makes NPTS a good baseline for intermittent,
bursty demand (many zeros, small counts) where parametric models go negative
or smooth the bursts away.

The kernel follows the reference implementation (GluonTS's ``NPTSPredictor``,
which Amazon Forecast's NPTS is):

* every time point ``t`` has a feature vector ``f(t)``: its position rescaled
  to ``[-0.5, 0.5]`` over history plus horizon (exponential kernel only), plus
  for the seasonal variants its phase in the season, also in ``[-0.5, 0.5]``
  and multiplied by ``feature_scale = 1000`` so that other phases are all but
  excluded, plus related features ``X`` times ``feature_scale`` when given;
* ``exponential`` kernel: ``q_T(t) = exp(-alpha Σ|f_i(t) - f_i(T)|)`` with ``alpha =
  exp_kernel_weights`` — recent points are likelier, and a larger ``alpha`` decays
  faster (with the default ``alpha = 1`` the oldest point is ``e`` times less likely
  than the newest);
* ``uniform`` kernel (climatological): ``q_T(t) = 1`` when the features match
  exactly (same phase for the seasonal variant; every point otherwise).

Variants by hyperparameters (Amazon's names and defaults):

========================================  ===============  ==================
variant                                   ``kernel_type``  ``use_seasonal_model``
========================================  ===============  ==================
seasonal NPTS (the default)               exponential      True
NPTS                                      exponential      False
seasonal climatological                   uniform          True
climatological                            uniform          False
========================================  ===============  ==================

Also ``exp_kernel_weights`` (alpha, default 1), ``use_default_time_features``
(default True; False uses only the related features for seasonality, when
there are some), ``context_length`` (default: the whole series) and
``num_samples`` (sample paths, default 100 as GluonTS's ``predict``).

The season is the frequency's season length (month-of-year for monthly data,
hour-of-day for hourly, day-of-week for daily...), counted from the series'
position, so it needs no timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from augury_training.forecasting.models.base import SeriesContext, SeriesForecast
from augury_training.forecasting.models.hyperparameters import (
    get_bool,
    get_choice,
    get_float,
    get_int,
)
from augury_training.forecasting.models.quantiles import finalize, sample_quantiles
from augury_training.forecasting.models.series import (
    is_non_negative,
    prepare,
    prepare_regressors,
)

FEATURE_SCALE = 1000.0
"""GluonTS's weight of seasonal and related features relative to the time index."""


class NPTS:
    name = "NPTS"

    def __init__(self, hyperparameters: Mapping[str, str] | None = None) -> None:
        p = hyperparameters or {}
        self.kernel_type = get_choice(p, "kernel_type", "exponential", ("exponential", "uniform"))
        self.alpha = get_float(p, "exp_kernel_weights", 1.0, minimum=0.0, exclusive_minimum=True)
        self.use_seasonal_model = get_bool(p, "use_seasonal_model", True)
        self.use_default_time_features = get_bool(p, "use_default_time_features", True)
        self.num_samples = get_int(p, "num_samples", 100, minimum=1, maximum=100_000)
        self.context_length = get_int(p, "context_length", None, minimum=1)

    def forecast(
        self, y: np.ndarray, h: int, quantiles: Sequence[float], context: SeriesContext
    ) -> SeriesForecast:
        full = prepare(y)
        history = full[-self.context_length :] if self.context_length else full
        n = history.shape[0]
        if n == 0:
            zeros = np.zeros(h)
            return SeriesForecast(zeros, {float(q): zeros.copy() for q in quantiles})
        samples = self.sample_paths(history, h, context, offset=full.shape[0] - n)
        mean = samples.mean(axis=0)
        bands = sample_quantiles(samples, quantiles)
        mean, bands = finalize(mean, bands, non_negative=is_non_negative(history))
        return SeriesForecast(mean=mean, quantiles=bands)

    def sample_paths(
        self, history: np.ndarray, h: int, context: SeriesContext, offset: int = 0
    ) -> np.ndarray:
        """``(num_samples, h)`` sample paths drawn step by step from the kernel."""
        n = history.shape[0]
        total = n + h
        features = self._features(n, h, context, offset)
        exponential = self.kernel_type == "exponential"
        rng = np.random.default_rng(context.seed)
        paths = np.empty((self.num_samples, total))
        paths[:, :n] = history
        rows = np.arange(self.num_samples)
        for step in range(n, total):
            # Step ``step`` may draw any earlier point, its own earlier forecasts included.
            distance = np.abs(features[:step] - features[step]).sum(axis=1)
            if exponential:
                log_weights = -self.alpha * distance
                weights = np.exp(log_weights - log_weights.max())
            else:
                weights = (distance == 0).astype(float)
            total_weight = weights.sum()
            if not np.isfinite(total_weight) or total_weight <= 0:
                weights, total_weight = np.ones(step), float(step)
            drawn = rng.choice(step, size=self.num_samples, p=weights / total_weight)
            paths[:, step] = paths[rows, drawn]
        return paths[:, n:]

    def _features(self, n: int, h: int, context: SeriesContext, offset: int) -> np.ndarray:
        """``(n + h, D)`` feature map of history and horizon, as GluonTS builds it."""
        total = n + h
        columns: list[np.ndarray] = []
        if self.kernel_type == "exponential":
            index = np.arange(total, dtype=float)
            columns.append(index / max(total - 1, 1) - 0.5)
        if self.use_seasonal_model:
            X, X_future = prepare_regressors(context.X, context.X_future, n, h)
            if X is not None and X_future is not None:
                columns.extend(FEATURE_SCALE * np.vstack([X, X_future]).T)
            m = int(context.season_length)
            if m > 1 and (self.use_default_time_features or X is None):
                phase = (np.arange(total) + offset) % m
                columns.append(FEATURE_SCALE * (phase / (m - 1) - 0.5))
        if not columns:
            return np.zeros((total, 1))
        return np.column_stack(columns)
