"""Amazon's backtesting: where the windows are, who is in them, and what each candidate forecasts.

Windows (EvaluationParameters): 1 to 5, the last one's test period starting
``BackTestWindowOffset`` points before the end of the data (default: the
horizon), each earlier one a horizon further back, so with the default offset
the windows tile the end of the data. Every item's series ends at the global
end (it is back-filled there), so the windows are the same dates for all items.
An item enters a window when it has history before the window's start; shorter
items are skipped in that window, as Amazon skips them.

:func:`backtest_batch` is what a worker process runs: for each item, window and
candidate, fit on the history before the window and forecast the mean and the
quantiles over it. It returns plain arrays (:class:`ItemBacktest`); scoring and
ensembling happen in the parent, which sees every batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from augury_training.forecast_contract import GLOBAL_ALGORITHMS, ForecastJobConfig
from augury_training.forecasting.data import DataError, DatasetInfo, Series
from augury_training.forecasting.grid import Grid
from augury_training.forecasting.metrics import mase_seasonality, seasonal_scale
from augury_training.forecasting.models.base import SeriesContext
from augury_training.forecasting.scoring import quantile_types

log = logging.getLogger(__name__)

MAX_HORIZON = 500
MAX_WINDOWS = 5


@dataclass(frozen=True)
class Window:
    """One backtest window: the test period is ``[cutoff, cutoff + horizon)`` on the grid."""

    index: int
    cutoff: int
    horizon: int


def quantile_levels(forecast_types: Sequence[str]) -> np.ndarray:
    """The quantile levels among the forecast types, ascending (see ``quantile_types``)."""
    return np.array([float(t) for t in quantile_types(list(forecast_types))], dtype=float)


def check_limits(info: DatasetInfo, config: ForecastJobConfig, *, backtest: bool) -> None:
    """Amazon's rules on horizon, windows and offset, with Amazon's wording.

    CreateAutoPredictor allows a horizon of at most 500 or 1/4 of the
    TARGET_TIME_SERIES length; CreatePredictor 500 or 1/3.
    """
    length, horizon = info.length, config.horizon
    if horizon < 1:
        raise DataError(f"ForecastHorizon must be at least 1, not {horizon}")
    share, name = (4, "1/4") if config.auto else (3, "1/3")
    limit = min(MAX_HORIZON, length // share)
    if horizon > limit:
        raise DataError(
            f"The maximum forecast horizon is the lesser of {MAX_HORIZON} time-steps or {name} "
            f"of the TARGET_TIME_SERIES dataset length. The dataset spans {length} time-steps "
            f"at frequency {config.frequency}, so ForecastHorizon {horizon} must be at most "
            f"{limit}; provide longer time series or shorten the horizon"
        )
    if not backtest:
        return
    if not 1 <= config.backtest_windows <= MAX_WINDOWS:
        raise DataError(
            f"NumberOfBacktestWindows must be between 1 and {MAX_WINDOWS}, "
            f"not {config.backtest_windows}"
        )
    offset = backtest_offset(config)
    if not horizon <= offset < length / 2:
        raise DataError(
            "BackTestWindowOffset must be greater than or equal to the forecast horizon and "
            "less than half of the TARGET_TIME_SERIES dataset length (ForecastHorizon <= "
            f"BackTestWindowOffset < 1/2 * TARGET_TIME_SERIES dataset length): it is {offset}, "
            f"the horizon {horizon} and the dataset length {length}"
        )
    earliest = offset + (config.backtest_windows - 1) * horizon
    if earliest >= length:
        raise DataError(
            f"{config.backtest_windows} backtest windows of {horizon} points with offset "
            f"{offset} reach {earliest} points back, but the dataset spans only {length}: "
            "use fewer windows"
        )


def backtest_offset(config: ForecastJobConfig) -> int:
    return config.backtest_offset if config.backtest_offset else config.horizon


def plan_windows(info: DatasetInfo, config: ForecastJobConfig) -> list[Window]:
    """The windows, earliest first."""
    count, h = config.backtest_windows, config.horizon
    last_cutoff = info.global_end + 1 - backtest_offset(config)
    return [Window(i, last_cutoff - (count - 1 - i) * h, h) for i in range(count)]


@dataclass
class WindowResult:
    """One item's window: the truth and every candidate's forecast."""

    window: int
    actual: np.ndarray
    """The window's target after filling: NaN where ``nan`` filling left a gap."""
    scale: float
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)
    """Candidate → array ``(h, 1 + L)``: the mean, then the quantile levels."""


@dataclass
class ItemBacktest:
    key: str
    identity: tuple[str, ...]
    windows: list[WindowResult]


@dataclass(frozen=True)
class BacktestPlan:
    """Everything a worker needs besides the series (small and picklable)."""

    config: ForecastJobConfig
    candidates: tuple[str, ...]
    windows: tuple[Window, ...] = ()
    model_factory: Callable[[str, dict[str, str]], object] | None = None
    """``get_model``'s stand-in (a module-level function, so it pickles); tests use it."""

    @property
    def levels(self) -> np.ndarray:
        return quantile_levels(self.config.forecast_types)

    @property
    def local_candidates(self) -> tuple[str, ...]:
        """The per-item candidates workers fit (global ones run in the parent)."""
        return tuple(name for name in self.candidates if name not in GLOBAL_ALGORITHMS)


def interpolate_gaps(y: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN (``nan`` filling): classical models need every point."""
    missing = np.isnan(y)
    if not missing.any():
        return y
    if missing.all():
        return np.zeros_like(y)
    index = np.arange(y.size)
    return np.interp(index, index[~missing], y[~missing])


def context_for(
    series: Series, length: int, horizon: int, config: ForecastJobConfig, grid: Grid
) -> SeriesContext:
    """The model context for fitting on ``series.y[:length]`` and forecasting ``horizon``."""
    ordinals = series.start + np.arange(length + horizon)
    stamps = grid.timestamps(ordinals)
    X = X_future = None
    if series.X is not None and series.X.shape[0] >= length + horizon:
        X, X_future = series.X[:length], series.X[length : length + horizon]
    return SeriesContext(
        season_length=grid.frequency.season_length,
        frequency=config.frequency,
        timestamps=stamps[:length],
        future_timestamps=stamps[length:],
        X=X,
        X_future=X_future,
        holiday_country=config.holiday_country,
        seed=config.seed,
        hyperparameters=dict(config.hyperparameters),
    )


def run_model(
    model, name: str, y: np.ndarray, horizon: int, levels: np.ndarray, context: SeriesContext
) -> np.ndarray:
    """One forecast as ``(h, 1 + L)``: mean then quantiles, sorted so they never cross.

    Models promise not to raise; if one does anyway, the item gets a seasonal
    naive forecast and the job goes on (one bad series must not fail a predictor).
    """
    try:
        result = model.forecast(interpolate_gaps(y), horizon, list(levels), context)
        columns = [np.asarray(result.mean, dtype=float)]
        columns += [np.asarray(result.quantiles[float(q)], dtype=float) for q in levels]
        out = np.column_stack(columns)
        if out.shape != (horizon, 1 + levels.size) or not np.isfinite(out).all():
            raise ValueError(f"forecast of shape {out.shape} with non-finite values")
    except Exception as exc:
        log.warning(
            "%s failed on a series of %d points (%s); using seasonal naive", name, y.size, exc
        )
        out = fallback_forecast(interpolate_gaps(y), horizon, levels, context.season_length)
    if levels.size > 1:
        out[:, 1:] = np.sort(out[:, 1:], axis=1)
    return out


def fallback_forecast(y: np.ndarray, horizon: int, levels: np.ndarray, season: int) -> np.ndarray:
    """Seasonal naive with empirical residual quantiles: never fails, never great."""
    if y.size == 0:
        return np.zeros((horizon, 1 + levels.size))
    m = season if y.size >= 2 * season else 1
    last = y[-m:]
    mean = np.resize(last, horizon) if m > 1 else np.full(horizon, y[-1])
    residuals = y[m:] - y[:-m] if y.size > m else np.zeros(1)
    spread = np.quantile(residuals, levels) if levels.size else np.zeros(0)
    growth = np.sqrt(np.arange(1, horizon + 1))[:, None]
    return np.column_stack([mean, mean[:, None] + growth * spread[None, :]])


_MODELS: dict[tuple[str, tuple], object] = {}


def load_model(name: str, hyperparameters: dict[str, str], factory=None):
    """The registry's model (or ``factory``'s), cached per process across batches."""
    cache_key = (name, tuple(sorted(hyperparameters.items())), factory)
    if cache_key not in _MODELS:
        if factory is None:
            from augury_training.forecasting.models.registry import get_model

            factory = get_model
        _MODELS[cache_key] = factory(name, hyperparameters)
    return _MODELS[cache_key]


def backtest_batch(batch: list[Series], plan: BacktestPlan) -> list[ItemBacktest]:
    """Every candidate's forecast of every window of every item (a worker's job)."""
    config, levels = plan.config, plan.levels
    grid = Grid(config.frequency, config.time_alignment_boundary)
    mase_season = mase_seasonality(config.frequency)
    models = {
        name: load_model(name, config.hyperparameters, plan.model_factory)
        for name in plan.local_candidates
    }
    results = []
    for series in batch:
        windows = []
        for window in plan.windows:
            length = window.cutoff - series.start
            if length < 1 or np.isnan(series.y[:length]).all():
                continue  # too short for this window
            test = slice(length, length + window.horizon)
            actual = series.y[test]
            if np.isnan(actual).all():
                continue
            train = series.y[:length]
            context = context_for(series, length, window.horizon, config, grid)
            scale = seasonal_scale(train, mase_season)
            result = WindowResult(window.index, actual, scale)
            for name, model in models.items():
                result.forecasts[name] = run_model(
                    model, name, train, window.horizon, levels, context
                )
            windows.append(result)
        results.append(ItemBacktest(series.key, series.identity, windows))
    return results
