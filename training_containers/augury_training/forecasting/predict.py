"""Future forecasts: refit each item's chosen candidates on all its data and combine them.

Classical models are cheap to fit and their state is the data itself, so a
predictor stores no fitted parameters, only each item's weights: the forecast
job refits on the full history (which also picks up data imported after
training, as Amazon's CreateForecast does) and forecasts the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from augury_training.forecast_contract import GLOBAL_ALGORITHMS
from augury_training.forecasting.backtest import (
    BacktestPlan,
    context_for,
    load_model,
    run_model,
)
from augury_training.forecasting.data import Series
from augury_training.forecasting.ensemble import combine
from augury_training.forecasting.grid import Grid


@dataclass
class ItemForecast:
    key: str
    identity: tuple[str, ...]
    forecast: np.ndarray
    """``(h, 1 + L)``: the mean, then the quantile levels of the plan."""
    level: float
    """The item's recent level (mean of its last season), to scale cold starts."""
    metadata: dict[str, str]
    candidates: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class ForecastPlan:
    """A worker's instructions: the candidates and how to weigh them."""

    backtest: BacktestPlan
    weights: dict[str, tuple[float, ...]]
    """Item key → weights over ``backtest.candidates``; absent items use ``default``."""
    default: tuple[float, ...]
    keep_candidates: bool = False
    """Also return every candidate's own forecast (benchmarks compare them)."""


def recent_level(y: np.ndarray, season_length: int) -> float:
    """Mean absolute value over the last season (at least the last 4 points)."""
    window = y[-max(season_length, 4) :]
    window = window[~np.isnan(window)]
    return float(np.mean(np.abs(window))) if window.size else 0.0


def forecast_batch(
    batch: list[Series],
    plan: ForecastPlan,
    weights: dict[str, tuple[float, ...]] | None = None,
    global_forecasts: dict[str, dict[str, np.ndarray]] | None = None,
) -> list[ItemForecast]:
    """Every item's combined forecast of the horizon (a worker's job).

    ``weights`` (the batch's own items) overrides ``plan.weights``, so a job
    with many items sends each worker only the weights it needs.
    ``global_forecasts`` (item key → candidate → forecast) holds what the
    global candidates, which run in the parent, forecast for the batch.
    """
    table = plan.weights if weights is None else weights
    config = plan.backtest.config
    names = list(plan.backtest.candidates)
    levels = plan.backtest.levels
    grid = Grid(config.frequency, config.time_alignment_boundary)
    results = []
    for series in batch:
        weights = np.array(table.get(series.key, plan.default), dtype=float)
        wanted = (
            names
            if plan.keep_candidates
            else [n for n, w in zip(names, weights, strict=True) if w > 0]
        )
        context = context_for(series, len(series), config.horizon, config, grid)
        made = (global_forecasts or {}).get(series.key, {})
        forecasts = {
            name: made[name]
            if name in GLOBAL_ALGORITHMS
            else run_model(
                load_model(name, config.hyperparameters, plan.backtest.model_factory),
                name,
                series.y,
                config.horizon,
                levels,
                context,
            )
            for name in wanted
            if name in made or name not in GLOBAL_ALGORITHMS
        }
        results.append(
            ItemForecast(
                key=series.key,
                identity=series.identity,
                forecast=combine(forecasts, names, weights),
                level=recent_level(series.y, grid.frequency.season_length),
                metadata=series.metadata,
                candidates=forecasts if plan.keep_candidates else None,
            )
        )
    return results
