"""ETS: exponential smoothing with automatic model selection (Amazon's ``ETS``).

Amazon Forecast's ETS calls R's ``forecast::ets``; statsforecast's ``AutoETS``
is a compiled port of the same algorithm (the state space models of Hyndman et
al., chosen by AICc over error/trend/season types and damping), measured in
DESIGN.md at sMAPE 12.84 on M3 in 78 s where statsmodels took 1153 s for 13.17.

Seasonal state space models need one state per season and become unstable and
slow above 24 points per cycle, which is why R's ``ets`` ignores seasonality
there. Sub-daily and weekly data have such cycles (96 quarter-hours a day, 52
weeks a year), so for them this module uses STL + ETS instead (R's ``stlf``,
statsforecast's ``MSTL``): a robust seasonal decomposition, ETS on the
seasonally adjusted series, the last seasonal cycle added back. Series too
short for the chosen model are retried without seasonality, then fall back to
seasonal naive.

Hyperparameters (R ``ets`` arguments): ``model`` (three letters for error,
trend and season out of ``A``, ``M``, ``N``, ``Z`` = select; default ``ZZZ``),
``damped`` (``True``/``False``; default: select).
"""

from __future__ import annotations

from collections.abc import Mapping

from statsforecast.models import MSTL, AutoETS

from augury_training.forecasting.models.hyperparameters import get_optional_bool
from augury_training.forecasting.models.statsforecast_engine import (
    StatsforecastModel,
    StatsforecastModelLike,
)
from augury_training.parameter_values import ETS_MODEL

MAX_SEASON_LENGTH = 24
"""Above this many points per season, STL + ETS replaces seasonal ETS (R's ``ets`` limit)."""


class ETS(StatsforecastModel):
    name = "ETS"

    def __init__(self, hyperparameters: Mapping[str, str] | None = None) -> None:
        params = hyperparameters or {}
        if "model" in params:  # the rule CreatePredictor checks too
            ETS_MODEL.check("model", str(params["model"]))
        self.model = str(params.get("model", "ZZZ")).strip().upper() or "ZZZ"
        self.damped = get_optional_bool(params, "damped")

    def engines(self, season_length: int, n: int) -> list[StatsforecastModelLike]:
        engines: list[StatsforecastModelLike] = []
        nonseasonal = self.model[:2] + "N"
        if self.model[2] == "N":
            season_length = 1
        if 1 < season_length <= MAX_SEASON_LENGTH:
            engines.append(
                AutoETS(season_length=season_length, model=self.model, damped=self.damped)
            )
        elif season_length > MAX_SEASON_LENGTH and n >= 2 * season_length:
            trend = AutoETS(model=nonseasonal, damped=self.damped)
            engines.append(MSTL(season_length=season_length, trend_forecaster=trend))
        # Without seasonality: for short series and when the seasonal fit fails.
        engines.append(AutoETS(season_length=1, model=nonseasonal, damped=self.damped))
        return engines
