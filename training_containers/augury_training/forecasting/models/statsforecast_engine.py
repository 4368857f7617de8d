"""One series through statsforecast's compiled models, with a fallback chain.

ETS, ARIMA and Theta share the same shape: try one or more statsforecast model
objects in order (the full model, then a simpler one), turn the first that
succeeds into Gaussian quantiles, and fall back to seasonal naive when every
engine refuses the series (too short, degenerate, numerically singular).

Why call ``Model.forecast(y, h, level=...)`` directly and not
``StatsForecast(...).forecast(df)``: the orchestrator already parallelises over
series in worker processes, and the dataframe wrapper costs more per series
than the smaller models' fits (DESIGN.md section 4 measured the engines).

Why one 80 % interval: for engines with normal errors (ETS, ARIMA) the interval
is ``mean ± z·sigma``, so one interval fixes ``sigma`` per step and every other level
follows exactly; for simulated intervals (Theta) the central 80 % is the most
stable estimate of the spread that 200 sample paths give.
"""

from __future__ import annotations

import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from augury_training.forecasting.models.base import SeriesContext, SeriesForecast
from augury_training.forecasting.models.naive import seasonal_naive_forecast
from augury_training.forecasting.models.quantiles import (
    finalize,
    normal_quantiles,
    sigma_from_interval,
)
from augury_training.forecasting.models.series import (
    is_constant,
    is_non_negative,
    prepare,
    prepare_regressors,
)

logger = logging.getLogger(__name__)

INTERVAL_LEVEL = 80
"""The one interval asked of the engine (percent), from which sigma per step follows."""


class StatsforecastModelLike(Protocol):
    def forecast(
        self,
        y: np.ndarray,
        h: int,
        X: np.ndarray | None = None,
        X_future: np.ndarray | None = None,
        level: list[int] | None = None,
        fitted: bool = False,
    ) -> dict[str, Any]: ...


class StatsforecastModel(ABC):
    """Base for models backed by statsforecast; subclasses list their engines."""

    name = "statsforecast"
    min_length = 3
    """Shorter series go straight to seasonal naive: no engine estimates anything from less."""
    uses_regressors = False

    @abstractmethod
    def engines(self, season_length: int, n: int) -> list[StatsforecastModelLike]:
        """Engines to try in order for a series of ``n`` points."""

    def remove_season(
        self, y: np.ndarray, h: int, season_length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The series the engines fit, and what to add back to their forecasts.

        By default nothing: the engines model seasonality themselves.
        """
        return y, np.zeros(h)

    def regressors(
        self, context: SeriesContext, n: int, h: int, season_length: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Exogenous columns for the engines: the usable related features, if the model
        takes them. If the engine cannot fit with them, it is refitted without."""
        if not self.uses_regressors:
            return None, None
        return prepare_regressors(context.X, context.X_future, n, h)

    def season_length(self, context: SeriesContext) -> int:
        return max(1, int(context.season_length))

    def forecast(
        self, y: np.ndarray, h: int, quantiles: Sequence[float], context: SeriesContext
    ) -> SeriesForecast:
        y = prepare(y)
        m = self.season_length(context)
        if y.shape[0] < self.min_length or is_constant(y):
            return seasonal_naive_forecast(y, h, quantiles, m)
        adjusted, future_season = self.remove_season(y, h, m)
        X, X_future = self.regressors(context, y.shape[0], h, m)
        for engine in self.engines(m, y.shape[0]):
            result = _run(engine, adjusted, h, X, X_future)
            if result is None and X is not None:
                result = _run(engine, adjusted, h, None, None)
            if result is not None:
                mean, sigma = result
                mean = mean + future_season
                bands = normal_quantiles(mean, sigma, quantiles)
                mean, bands = finalize(mean, bands, non_negative=is_non_negative(y))
                return SeriesForecast(mean=mean, quantiles=bands)
        logger.debug("%s: every engine failed; seasonal naive instead", self.name)
        return seasonal_naive_forecast(y, h, quantiles, m)


def _run(
    engine: StatsforecastModelLike,
    y: np.ndarray,
    h: int,
    X: np.ndarray | None,
    X_future: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mean, sigma)`` from one engine, or ``None`` when it cannot fit this series.

    Any exception counts as "cannot fit": statsforecast signals tiny or
    degenerate series with NotImplementedError, ValueError, IndexError or a
    LinAlgError depending on the model, and one item must never fail a job.
    """
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = engine.forecast(y=y, h=h, X=X, X_future=X_future, level=[INTERVAL_LEVEL])
    except Exception as error:  # see the docstring: never let one item fail a job
        logger.debug("%s failed: %s", type(engine).__name__, error)
        return None
    mean = np.asarray(out["mean"], dtype=float)
    lower = np.asarray(out[f"lo-{INTERVAL_LEVEL}"], dtype=float)
    upper = np.asarray(out[f"hi-{INTERVAL_LEVEL}"], dtype=float)
    if mean.shape != (h,) or not np.all(np.isfinite(mean)):
        return None
    # Half the interval's width, so simulated (asymmetric) intervals centre on the mean too.
    sigma = sigma_from_interval(np.zeros(h), (upper - lower) / 2, INTERVAL_LEVEL / 100)
    return mean, sigma
