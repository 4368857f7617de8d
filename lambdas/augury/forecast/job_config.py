"""From a predictor's request to the forecasting container's job configuration.

The two create calls (CreateAutoPredictor, CreatePredictor) speak different
vocabularies; both are reduced at create time to one ``PredictorSpec`` stored
on the predictor record. The training workflow then joins the spec with the
dataset group's data (``GroupData``) into the ``ForecastJobConfig`` that the
container reads, the one contract between the two sides
(``augury_training.forecast_contract``). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from augury.forecast.group_data import GroupData
from augury_training.forecast_contract import (
    CONFIG_HYPERPARAMETER,
    DEEP_MIN_OBSERVATIONS,
    GLOBAL_ALGORITHMS,
    Featurization,
    ForecastJobConfig,
)

SPEC_ATTRIBUTE = "_spec"
"""Where a predictor record keeps its ``PredictorSpec`` (never shown by Describe)."""
CONFIG_ATTRIBUTE = "_job_config"
"""Where a predictor record keeps the training job's configuration, as JSON."""

AUTO_CANDIDATES = ("ETS", "ARIMA", "Theta", "NPTS", "SeasonalNaive", *GLOBAL_ALGORITHMS)
"""The AutoPredictor's candidates. Prophet joins them when the predictor has related
time series or holidays: it is the one candidate that uses either, and it is the
slowest, so it is not paid for when it has nothing extra to learn from. The deep
models (DeepAR+, CNN-QR) are listed always; the container backtests them only when
the data is large enough for a global model (its explanation says which way it went)."""
AUTOML_CANDIDATES = ("ARIMA", "ETS", "NPTS", "Prophet", *GLOBAL_ALGORITHMS)
"""Legacy PerformAutoML's candidates: the available algorithms of CreatePredictor."""
AUTO_PREDICTOR = "AutoPredictor"


@dataclass
class PredictorSpec:
    """What a predictor was asked to learn, whichever create call asked for it."""

    frequency: str
    horizon: int
    forecast_types: list[str]
    algorithms: list[str]
    auto: bool
    dimensions: list[str] = field(default_factory=list)
    optimization_metric: str = "AverageWeightedQuantileLoss"
    backtest_windows: int = 1
    backtest_offset: int | None = None
    featurizations: list[Featurization] = field(default_factory=list)
    holiday_country: str | None = None
    time_alignment_boundary: dict[str, Any] | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    horizon_fraction: int = 4
    """The horizon may be at most 1/``horizon_fraction`` of the target series' length."""
    perform_hpo: bool = False
    hpo_ranges: dict[str, Any] | None = None
    """HPOConfig's ParameterRanges (``None``: the algorithm's default ranges)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PredictorSpec:
        values = dict(raw)
        values["featurizations"] = [Featurization(**f) for f in values.get("featurizations", [])]
        return cls(**values)


def auto_candidates(group: GroupData, holiday_country: str | None) -> list[str]:
    candidates = list(AUTO_CANDIDATES)
    if group.related is not None or holiday_country:
        candidates.append("Prophet")
    return candidates


def training_config(spec: PredictorSpec, group: GroupData, seed: int = 0) -> ForecastJobConfig:
    """The ``train`` job for ``spec`` on ``group``'s data."""
    return ForecastJobConfig(
        mode="train",
        frequency=spec.frequency,
        horizon=spec.horizon,
        item_field=group.item_field,
        target_field=group.target_field,
        dimensions=list(spec.dimensions),
        forecast_types=list(spec.forecast_types),
        algorithms=list(spec.algorithms),
        auto=spec.auto,
        optimization_metric=spec.optimization_metric,
        backtest_windows=spec.backtest_windows,
        backtest_offset=spec.backtest_offset,
        featurizations=[dataclasses.replace(f) for f in spec.featurizations],
        holiday_country=spec.holiday_country,
        related_fields=group.related_fields(),
        metadata_fields=group.metadata_fields(),
        time_alignment_boundary=spec.time_alignment_boundary,
        hyperparameters=dict(spec.hyperparameters),
        seed=seed,
        perform_hpo=spec.perform_hpo,
        hpo_ranges=None if spec.hpo_ranges is None else dict(spec.hpo_ranges),
    )


def needs_accelerator(config: ForecastJobConfig, rows: int) -> bool:
    """Whether the training job should get a GPU: a deep model will (or may) train.

    An AutoPredictor's deep candidates train only on large enough data (the
    container decides with exact counts); ``rows`` is the target's row count, a
    cheap upper bound of its observations, so small datasets stay on a CPU.
    """
    deep = any(name in GLOBAL_ALGORITHMS for name in config.algorithms)
    return deep and (not config.auto or rows >= DEEP_MIN_OBSERVATIONS)


def config_to_json(config: ForecastJobConfig) -> str:
    return config.to_hyperparameters()[CONFIG_HYPERPARAMETER]


def config_from_json(text: str) -> ForecastJobConfig:
    return ForecastJobConfig.from_hyperparameters({CONFIG_HYPERPARAMETER: text})


def forecast_config(
    training: ForecastJobConfig, forecast_types: Sequence[str]
) -> ForecastJobConfig:
    """The ``forecast`` job: the predictor's configuration with the forecast's types."""
    return dataclasses.replace(training, mode="forecast", forecast_types=list(forecast_types))


def algorithm_arn(name: str) -> str:
    return f"arn:aws:forecast:::algorithm/{name}"


def algorithm_name(arn: str) -> str:
    """``ETS`` from ``arn:aws:forecast:::algorithm/ETS``; the text itself when not an ARN."""
    return arn.rsplit("/", 1)[-1]
