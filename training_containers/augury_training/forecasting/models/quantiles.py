"""Turning what an engine gives (intervals, a spread, samples) into the quantiles asked for.

Every model answers any quantile level in (0, 1), not only the levels its engine
knows: the orchestrator asks for Amazon's forecast types (``0.1``, ``0.5``,
``0.9`` by default, any of ``0.01``..``0.99``). The helpers here share three
guarantees, so that no model has to remember them:

* quantiles are non-decreasing in the level at every step (a crossing P10/P90
  breaks wQL and confuses users);
* values are finite (a NaN from an engine becomes the point forecast);
* a series whose history is non-negative gets non-negative forecasts (demand,
  counts and traffic cannot go below zero; clipping is a monotone map, so it
  keeps the ordering).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

_STANDARD_NORMAL = NormalDist()


def z_score(level: float) -> float:
    """The standard normal quantile at ``level`` (``z_score(0.9) ≈ 1.2816``)."""
    return _STANDARD_NORMAL.inv_cdf(level)


def sigma_from_interval(mean: np.ndarray, upper: np.ndarray, coverage: float) -> np.ndarray:
    """The per-step standard deviation implied by a symmetric normal interval.

    ``upper`` is the upper bound of a central ``coverage`` interval (0.8 for an
    engine's ``level=[80]``); engines that assume normal errors (ETS, ARIMA) give
    exactly ``mean + z·sigma``, so one interval is enough to answer every level.
    """
    z = z_score(0.5 + coverage / 2)
    sigma = (np.asarray(upper, dtype=float) - np.asarray(mean, dtype=float)) / z
    return np.where(np.isfinite(sigma), np.abs(sigma), 0.0)


def normal_quantiles(
    mean: np.ndarray, sigma: np.ndarray, levels: Sequence[float]
) -> dict[float, np.ndarray]:
    """``mean + z(τ)·sigma`` for each level τ: Gaussian predictive quantiles."""
    mean = np.asarray(mean, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    return {float(q): mean + z_score(float(q)) * sigma for q in levels}


def sample_quantiles(samples: np.ndarray, levels: Sequence[float]) -> dict[float, np.ndarray]:
    """Empirical quantiles of sample paths shaped ``(num_samples, h)``."""
    if len(levels) == 0:
        return {}
    values = np.quantile(samples, [float(q) for q in levels], axis=0)
    return {float(q): values[i] for i, q in enumerate(levels)}


def finalize(
    mean: np.ndarray,
    quantiles: dict[float, np.ndarray],
    *,
    non_negative: bool,
) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Make the guarantees of this module hold for any engine's output.

    Non-finite values fall back to the mean (or to 0 when the mean itself is
    not finite); levels are sorted and a running maximum removes crossings;
    ``non_negative`` clips at zero.
    """
    mean = np.asarray(mean, dtype=float).copy()
    mean[~np.isfinite(mean)] = 0.0
    levels = sorted(quantiles)
    if levels:
        stacked = np.vstack([np.asarray(quantiles[q], dtype=float) for q in levels])
        stacked = np.where(np.isfinite(stacked), stacked, mean[None, :])
        stacked = np.maximum.accumulate(stacked, axis=0)
    else:
        stacked = np.empty((0, mean.shape[0]))
    if non_negative:
        mean = np.maximum(mean, 0.0)
        stacked = np.maximum(stacked, 0.0)
    return mean, {q: stacked[i] for i, q in enumerate(levels)}
