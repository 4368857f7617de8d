"""CNN-QR's output: a fixed grid of quantile levels, and how any level and the mean are read
from it.

The network is trained on :data:`QUANTILE_GRID`, which covers every ForecastType.
Another level is interpolated linearly between the two grid levels around it
(extrapolated by the edge slope outside 0.01-0.99), which is monotone in the
level. The mean is the integral of that piecewise-linear quantile function over
(0, 1): the mean of a distribution is the average of its quantiles.
"""

from __future__ import annotations

import numpy as np

__all__ = ["QUANTILE_GRID", "level_from_grid", "mean_from_grid"]

QUANTILE_GRID = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
"""The levels the network is trained on; any other level is interpolated between them."""


def level_from_grid(grid: np.ndarray, level: float, non_negative: bool) -> np.ndarray:
    """The ``level`` quantile from the grid outputs ``(..., Q)``: linear between the two
    grid levels around it, linear by the edge slope outside the grid."""
    levels = np.asarray(QUANTILE_GRID)
    i = int(np.clip(np.searchsorted(levels, level, side="right") - 1, 0, len(levels) - 2))
    weight = (level - levels[i]) / (levels[i + 1] - levels[i])
    value = grid[..., i] + weight * (grid[..., i + 1] - grid[..., i])
    return (np.maximum(value, 0.0) if non_negative else value).astype(np.float32)


def mean_from_grid(grid: np.ndarray, non_negative: bool) -> np.ndarray:
    """∫₀¹ Q(u) du for the piecewise-linear quantile function through the grid, extended
    linearly by the edge slopes to levels 0 and 1 (trapezoid rule, exact for it)."""
    levels = np.asarray(QUANTILE_GRID)
    low = grid[..., 0] - levels[0] * (grid[..., 1] - grid[..., 0]) / (levels[1] - levels[0])
    high_slope = (grid[..., -1] - grid[..., -2]) / (levels[-1] - levels[-2])
    high = grid[..., -1] + (1.0 - levels[-1]) * high_slope
    if non_negative:
        low = np.maximum(low, 0.0)
    values = np.concatenate([low[..., None], grid, high[..., None]], axis=-1)
    knots = np.concatenate([[0.0], levels, [1.0]])
    widths = np.diff(knots)
    mean = ((values[..., 1:] + values[..., :-1]) / 2 * widths).sum(axis=-1)
    return mean.astype(np.float32)
