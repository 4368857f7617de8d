"""The contract every forecasting algorithm meets: one series in, quantiles out.

Algorithms know only NumPy. The orchestrator (``augury_training.forecasting``)
handles items, dimensions, filling, parallelism and files; a model sees one
already-filled series ``y`` (oldest first), optional related features aligned
with it (``X``, one row per point of ``y``) and their future values
(``X_future``, one row per forecast step), and returns the mean and the asked
quantiles for the next ``h`` points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class SeriesContext:
    """What a model may use besides the values themselves."""

    season_length: int
    """Points per seasonal cycle for the frequency (7 for D, 12 for M, 24 for H...)."""
    frequency: str
    timestamps: np.ndarray | None = None
    """``datetime64`` of each point of ``y`` (Prophet and holiday features need them)."""
    future_timestamps: np.ndarray | None = None
    X: np.ndarray | None = None
    X_future: np.ndarray | None = None
    holiday_country: str | None = None
    seed: int = 0
    hyperparameters: dict[str, str] = field(default_factory=dict)


@dataclass
class SeriesForecast:
    mean: np.ndarray
    """Shape ``(h,)``."""
    quantiles: dict[float, np.ndarray]
    """Quantile level (0.1) → shape ``(h,)``; non-decreasing in the level."""


class Model(Protocol):
    """A forecasting algorithm, stateless between series."""

    name: str

    def forecast(
        self, y: np.ndarray, h: int, quantiles: Sequence[float], context: SeriesContext
    ) -> SeriesForecast:
        """Fit on ``y`` and forecast ``h`` steps; never raise for short or flat series
        (fall back to a simpler method and still return every quantile)."""
