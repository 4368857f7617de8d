"""Amazon Forecast's accuracy metrics, in NumPy, plus the M-competitions' sMAPE.

Definitions follow "Evaluating Predictor Accuracy" in the Amazon Forecast
developer guide. Where it is silent they follow GluonTS's ``Evaluator`` (the
open-source library behind Amazon's forecasting science) for how items are
averaged and how zeros are treated, and Amazon's own per-frequency season
table for MASE's ``m`` (:func:`mase_seasonality`):

``wQL[τ]``
    ``2 Σ_{i,t} [τ·max(y-q, 0) + (1-τ)·max(q-y, 0)] / Σ_{i,t} |y|`` over every item
    and point of a window. When ``Σ|y|`` is (about) zero the ratio is undefined and
    Amazon reports the numerator alone; so does :func:`weighted_quantile_loss`.
``Average wQL``
    the mean of ``wQL[τ]`` over the quantile forecast types (``mean`` has none).
``WAPE``
    ``Σ|y - ŷ| / Σ|y|`` on the mean forecast ``ŷ``; the numerator alone when
    ``Σ|y|`` is about zero.
``RMSE``
    ``sqrt(mean((y - ŷ)²))`` over every point of the window, on the mean forecast.
``MAPE``
    per item, the mean of ``|y - ŷ| / |y|`` over its points with ``y ≠ 0`` (a
    zero actual has no percentage error), then the mean over the items that have
    such points; ``None`` when no item has one.
``MASE``
    per item, ``mean|y - ŷ|`` divided by the item's in-sample seasonal naive
    error ``mean|y_t - y_{t-m}|`` (``m`` from :func:`mase_seasonality`, or 1 when
    the history is not longer than ``m``), then the mean over items with a
    non-zero scale; ``None`` when none has one.
``sMAPE`` (benchmarks only)
    per item the mean of ``200·|y - ŷ| / (|y| + |ŷ|)`` (0 where both are 0), then
    the mean over items: the M3/M4 competitions' definition.

Arrays are ``(items, horizon)`` (a 1-D array is one item). Actuals that are
not finite (missing) are left out of every metric.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

ZERO_TOLERANCE = 1e-10
"""``Σ|y|`` at or below this is "approximately zero" (the weighted ratios are undefined)."""

_MASE_SEASONALITY = {"min": 60, "H": 24, "D": 7, "W": 52, "M": 12, "Y": 1}
_FREQUENCY = re.compile(r"^\s*(\d*)\s*(min|T|H|h|D|W|M|Q|Y|A)\s*$")


def mase_seasonality(frequency: str) -> int:
    """MASE's season ``m`` for an Amazon frequency (``"M"`` -> 12, ``"D"`` -> 7, ``"15min"`` -> 4).

    Amazon documents one per-frequency season table, the one its ETS and ARIMA
    use (the R ``ts`` frequency): Y 1, M 12, W 52, D 7, H 24 and, below the
    hour, points per hour (30min 2, 15min 4, 10min 6, 5min 12, 1min 60). A
    multiple divides the base cycle when it can (``2H`` -> 12, ``3M`` -> 4 for
    quarterly data) and gives 1 otherwise; unknown frequencies give 1.
    """
    match = _FREQUENCY.match(frequency or "")
    if not match:
        return 1
    unit = {"T": "min", "h": "H", "A": "Y"}.get(match.group(2), match.group(2))
    multiple = int(match.group(1) or 1)
    if unit == "Q":
        unit, multiple = "M", 3 * multiple
    season, remainder = divmod(_MASE_SEASONALITY[unit], multiple)
    return season if remainder == 0 and season >= 1 else 1


def seasonal_scale(history: np.ndarray, season_length: int) -> float:
    """MASE's denominator for one item: the in-sample seasonal naive MAE.

    ``m`` falls back to 1 when the history is not longer than ``m`` (GluonTS's
    rule); missing values are skipped. NaN when fewer than two points remain.
    """
    values = np.asarray(history, dtype=float).ravel()
    m = season_length if 1 <= season_length < values.shape[0] else 1
    if values.shape[0] <= m:
        return float("nan")
    differences = np.abs(values[m:] - values[:-m])
    differences = differences[np.isfinite(differences)]
    return float(differences.mean()) if differences.shape[0] else float("nan")


def weighted_quantile_loss(y: np.ndarray, q: np.ndarray, tau: float) -> float:
    """``wQL[τ]`` over every item and point (see the module docstring)."""
    actual, forecast = _pair(y, q)
    numerator = 2.0 * float(np.sum(_pinball(actual, forecast, tau)))
    return _weighted(numerator, actual)


def average_weighted_quantile_loss(y: np.ndarray, quantiles: Mapping[float, np.ndarray]) -> float:
    """The mean of ``wQL[τ]`` over the given quantile levels."""
    if not quantiles:
        raise ValueError("average wQL needs at least one quantile forecast")
    return float(np.mean([weighted_quantile_loss(y, q, tau) for tau, q in quantiles.items()]))


def wape(y: np.ndarray, y_hat: np.ndarray) -> float:
    """``Σ|y - ŷ| / Σ|y|`` on the mean forecast."""
    actual, forecast = _pair(y, y_hat)
    return _weighted(float(np.sum(np.abs(actual - forecast))), actual)


def rmse(y: np.ndarray, y_hat: np.ndarray) -> float:
    """``sqrt(mean((y - ŷ)²))`` over every point."""
    actual, forecast = _pair(y, y_hat)
    if actual.shape[0] == 0:
        return float("nan")
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def mape(y: np.ndarray, y_hat: np.ndarray) -> float | None:
    """Mean over items of each item's mean ``|y - ŷ| / |y|`` on its non-zero actuals."""
    actual, forecast = _items(y), _items(y_hat)
    usable = np.isfinite(actual) & (actual != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(usable, np.abs(actual - forecast) / np.abs(actual), 0.0)
    counts = usable.sum(axis=1)
    has_points = counts > 0
    if not np.any(has_points):
        return None
    return float(np.mean(ratio.sum(axis=1)[has_points] / counts[has_points]))


def mase(y: np.ndarray, y_hat: np.ndarray, scales: np.ndarray) -> float | None:
    """Mean over items of ``mean|y - ŷ| / scale``; ``scales`` from :func:`seasonal_scale`."""
    actual, forecast = _items(y), _items(y_hat)
    scale = np.asarray(scales, dtype=float).ravel()
    if scale.shape[0] != actual.shape[0]:
        raise ValueError(f"{actual.shape[0]} items but {scale.shape[0]} MASE scales")
    usable = np.isfinite(actual)
    counts = usable.sum(axis=1)
    errors = np.where(usable, np.abs(actual - forecast), 0.0).sum(axis=1)
    keep = (counts > 0) & np.isfinite(scale) & (scale > ZERO_TOLERANCE)
    if not np.any(keep):
        return None
    return float(np.mean(errors[keep] / counts[keep] / scale[keep]))


def smape(y: np.ndarray, y_hat: np.ndarray) -> float:
    """M3/M4 sMAPE in percent: per item ``mean(200·|y-ŷ| / (|y|+|ŷ|))``, then over items."""
    actual, forecast = _items(y), _items(y_hat)
    usable = np.isfinite(actual)
    denominator = np.abs(actual) + np.abs(forecast)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(
            usable & (denominator > 0), 200.0 * np.abs(actual - forecast) / denominator, 0.0
        )
    counts = usable.sum(axis=1)
    has_points = counts > 0
    if not np.any(has_points):
        return float("nan")
    return float(np.mean(terms.sum(axis=1)[has_points] / counts[has_points]))


def window_metrics(
    y: np.ndarray,
    mean: np.ndarray,
    quantiles: Mapping[float, np.ndarray],
    scales: np.ndarray,
) -> dict[str, Any]:
    """Every GetAccuracyMetrics number for one window (or one item, with 1-row arrays).

    Returns ``weighted_quantile_losses`` (level → wQL),
    ``average_weighted_quantile_loss`` (None without quantiles), ``wape``,
    ``rmse``, ``mape`` and ``mase`` — the mean forecast for the last four.
    """
    losses = {float(tau): weighted_quantile_loss(y, q, tau) for tau, q in quantiles.items()}
    return {
        "weighted_quantile_losses": losses,
        "average_weighted_quantile_loss": float(np.mean(list(losses.values()))) if losses else None,
        "wape": wape(y, mean),
        "rmse": rmse(y, mean),
        "mape": mape(y, mean),
        "mase": mase(y, mean, scales),
    }


def _pinball(actual: np.ndarray, forecast: np.ndarray, tau: float) -> np.ndarray:
    if not 0.0 < tau < 1.0:
        raise ValueError(f"quantile level must be in (0, 1), got {tau}")
    error = actual - forecast
    return tau * np.maximum(error, 0.0) + (1.0 - tau) * np.maximum(-error, 0.0)


def _weighted(numerator: float, actual: np.ndarray) -> float:
    denominator = float(np.sum(np.abs(actual)))
    return numerator if denominator <= ZERO_TOLERANCE else numerator / denominator


def _items(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[None, :] if array.ndim == 1 else array


def _pair(y: np.ndarray, y_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flattened actuals and forecasts where the actual is known."""
    actual = np.asarray(y, dtype=float).ravel()
    forecast = np.broadcast_to(np.asarray(y_hat, dtype=float), np.shape(y)).ravel()
    known = np.isfinite(actual)
    return actual[known], forecast[known]
