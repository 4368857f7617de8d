"""Amazon Forecast's accuracy metrics as additive sums, so they can be streamed.

A backtest sees items batch by batch, in several processes; the window metric
over all items is a ratio of sums over items (wQL, WAPE), a root of a mean
(RMSE) or a mean of per-item values (MASE). :class:`Sums` keeps exactly those
sums; adding two gives the sums of the union, and :func:`finalize` turns them
into Amazon's metrics (Developer Guide, "Evaluating Predictor Accuracy"):

- ``wQL[t] = 2 * sum(t * max(y - q, 0) + (1 - t) * max(q - y, 0)) / sum(|y|)``
- ``Average wQL`` = mean of wQL over the quantile forecast types
- ``WAPE = sum(|y - mean|) / sum(|y|)``, ``RMSE = sqrt(mean((y - mean)^2))``
- ``MAPE`` = mean over items of the item's ``mean(|(y - mean) / y|)`` where ``y != 0``
- ``MASE`` = mean over items of ``mean(|y - mean|) / mean(|y_t - y_{t-m}|)``,
  the scale taken on the item's training data with its seasonality ``m``

These are the definitions of ``metrics`` (the module the control plane and the
benchmarks share; the tests check that both agree), including its rule that a
ratio to ``sum(|y|)`` is reported as its numerator when ``sum(|y|)`` is zero.

WAPE, RMSE, MAPE and MASE use the mean forecast. Which items count follows the
target's filling, as GetAccuracyMetrics documents it ("If you want all items to
contribute, specify zero. If you want only those items that have complete data
in the range being evaluated to contribute, specify nan"): an item whose window
is complete once filled (zero, value, mean...) counts in every metric, with its
filled values as actuals; an item whose window keeps a NaN (``nan`` filling)
counts in none. ``points`` is the number of data points that counted, Amazon's
ItemCount. Every array may carry leading axes (candidates, subsets of
candidates) so many forecasts are scored in one NumPy call.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from augury_training.forecasting.metrics import ZERO_TOLERANCE

AVERAGE_WQL = "AverageWeightedQuantileLoss"
OPTIMIZATION_METRICS = (AVERAGE_WQL, "WAPE", "RMSE", "MAPE", "MASE")


@dataclass
class Sums:
    """Additive pieces of the metrics; every field has the same leading shape."""

    ql: np.ndarray
    """Sum of pinball losses per quantile level, shape ``(..., L)``."""
    ql_actual: np.ndarray
    abs_error: np.ndarray
    abs_actual: np.ndarray
    sq_error: np.ndarray
    points: np.ndarray
    ape: np.ndarray
    ape_points: np.ndarray
    mase: np.ndarray
    mase_items: np.ndarray
    items: np.ndarray

    @classmethod
    def zeros(cls, shape: tuple[int, ...], levels: int) -> Sums:
        values = {f.name: np.zeros(shape) for f in fields(cls)}
        values["ql"] = np.zeros((*shape, levels))
        return cls(**values)

    def __iadd__(self, other: Sums) -> Sums:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def __getitem__(self, index) -> Sums:
        return Sums(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def quantile_types(forecast_types: list[str] | tuple[str, ...]) -> list[str]:
    """The quantile forecast types, ascending: the order of every quantile axis here."""
    return sorted({t for t in forecast_types if t != "mean"}, key=float)


def window_sums(
    actual: np.ndarray,
    forecast: np.ndarray,
    scale: float,
    levels: np.ndarray,
) -> Sums:
    """The sums of one item's window.

    ``forecast`` has shape ``(..., h, 1 + L)``: the mean, then one column per
    quantile level in ``levels``.
    """
    lead = forecast.shape[:-2]
    sums = Sums.zeros(lead, levels.size)
    if np.isnan(actual).any():
        return sums  # incomplete after filling (nan): the item does not count
    y = actual
    mean = forecast[..., 0]
    if levels.size:
        diff = y[:, None] - forecast[..., 1:]
        sums.ql = np.maximum(levels * diff, (levels - 1.0) * diff).sum(axis=-2)
    sums.ql_actual = np.full(lead, np.abs(y).sum())
    sums.items = np.ones(lead)
    error = y - mean
    sums.abs_error = np.abs(error).sum(axis=-1)
    sums.abs_actual = np.full(lead, np.abs(y).sum())
    sums.sq_error = (error**2).sum(axis=-1)
    sums.points = np.full(lead, float(y.size))
    nonzero = y != 0
    if nonzero.any():  # an item's MAPE is the mean over its non-zero actuals
        ape = np.abs(np.where(nonzero, error / np.where(nonzero, y, 1.0), 0.0)).sum(axis=-1)
        sums.ape = ape / nonzero.sum()
        sums.ape_points = np.ones(lead)
    if np.isfinite(scale) and scale > ZERO_TOLERANCE:
        sums.mase = np.abs(error).mean(axis=-1) / scale
        sums.mase_items = np.ones(lead)
    return sums


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator > 0 else None


def _weighted(numerator: float, actual: float, items: float) -> float | None:
    """A ratio to ``sum(|y|)``; Amazon reports the numerator alone when that is ~0."""
    if items == 0:
        return None
    return float(numerator if actual <= ZERO_TOLERANCE else numerator / actual)


def finalize(sums: Sums, forecast_types: list[str]) -> dict:
    """Amazon's metrics from scalar sums; a metric that is undefined is ``None``.

    Returns ``{"wql": {type: value}, "average_wql", "wape", "rmse", "mape", "mase",
    "items", "points"}``.
    """
    items = float(sums.items)
    wql = {
        t: _weighted(2.0 * float(sums.ql[i]), float(sums.ql_actual), items)
        for i, t in enumerate(quantile_types(forecast_types))
    }
    defined = [v for v in wql.values() if v is not None]
    rmse = _ratio(float(sums.sq_error), float(sums.points))
    return {
        "wql": wql,
        "average_wql": float(np.mean(defined)) if defined and len(defined) == len(wql) else None,
        "wape": _weighted(float(sums.abs_error), float(sums.abs_actual), float(sums.points)),
        "rmse": None if rmse is None else float(np.sqrt(rmse)),
        "mape": _ratio(float(sums.ape), float(sums.ape_points)),
        "mase": _ratio(float(sums.mase), float(sums.mase_items)),
        "items": int(sums.items),
        "points": int(sums.points),
    }


def objective(sums: Sums, metric: str) -> np.ndarray:
    """The optimization metric over the leading axes (NaN where undefined); lower is better.

    Used to rank candidates and their combinations, so it is vectorised
    rather than going through :func:`finalize`.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == AVERAGE_WQL and sums.ql.shape[-1]:
            value = 2.0 * sums.ql.mean(axis=-1)
            value = np.where(sums.ql_actual > ZERO_TOLERANCE, value / sums.ql_actual, value)
            return np.where(sums.items > 0, value, np.nan)
        if metric == "RMSE":
            return np.where(sums.points > 0, np.sqrt(sums.sq_error / sums.points), np.nan)
        if metric == "MAPE":
            return np.where(sums.ape_points > 0, sums.ape / sums.ape_points, np.nan)
        if metric == "MASE":
            return np.where(sums.mase_items > 0, sums.mase / sums.mase_items, np.nan)
        # WAPE, and AverageWeightedQuantileLoss when only the mean is forecast
        value = np.where(
            sums.abs_actual > ZERO_TOLERANCE, sums.abs_error / sums.abs_actual, sums.abs_error
        )
        return np.where(sums.points > 0, value, np.nan)
