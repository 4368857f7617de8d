"""Theta family, by default the Dynamic Optimised Theta Method (DOTM).

The Theta method won M3 (sMAPE 13.01); its dynamic optimised form (Fiorucci et
al. 2016) updates the trend line as data arrive and optimises theta and the
smoothing weight by likelihood. DESIGN.md measured statsforecast's DOTM at
sMAPE 12.53 on M3 in 7.5 s: the most accurate and the fastest of the classical
models, which makes it the anchor of the AutoPredictor's ensemble.

Seasonality is handled as in the original method: a 90 % autocorrelation test
decides whether to deseasonalise by classical (multiplicative, or additive for
non-positive data) decomposition before fitting and reseasonalise after.

Hyperparameters: ``model`` — ``DOTM`` (default), ``DSTM`` (dynamic standard),
``OTM`` (optimised), ``STM`` (standard Theta of Assimakopoulos & Nikolopoulos)
or ``auto`` (the one with the best in-sample fit); ``decomposition_type`` —
``multiplicative`` (default) or ``additive``.
"""

from __future__ import annotations

from collections.abc import Mapping

from statsforecast.models import (
    AutoTheta,
    DynamicOptimizedTheta,
    DynamicTheta,
    OptimizedTheta,
)
from statsforecast.models import Theta as StandardTheta

from augury_training.forecasting.models.hyperparameters import get_choice
from augury_training.forecasting.models.statsforecast_engine import (
    StatsforecastModel,
    StatsforecastModelLike,
)

VARIANTS = {
    "DOTM": DynamicOptimizedTheta,
    "DSTM": DynamicTheta,
    "OTM": OptimizedTheta,
    "STM": StandardTheta,
}


class Theta(StatsforecastModel):
    name = "Theta"
    min_length = 5
    """statsforecast's Theta needs five points to initialise its states."""

    def __init__(self, hyperparameters: Mapping[str, str] | None = None) -> None:
        params = hyperparameters or {}
        self.variant = get_choice(params, "model", "DOTM", (*VARIANTS, "auto"))
        self.decomposition_type = get_choice(
            params, "decomposition_type", "multiplicative", ("multiplicative", "additive")
        )

    def engines(self, season_length: int, n: int) -> list[StatsforecastModelLike]:
        if self.variant == "auto":
            return [
                AutoTheta(season_length=season_length, decomposition_type=self.decomposition_type)
            ]
        engine = VARIANTS[self.variant]
        return [engine(season_length=season_length, decomposition_type=self.decomposition_type)]
