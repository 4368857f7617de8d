"""What the Forecast control plane and the forecasting container agree on.

Both sides import this module (it needs only the standard library), so the job
configuration, the channel names and the artifact layout are written once.

A forecasting job runs in one of two modes:

``train``
    Channels ``target`` (required), ``related`` and ``metadata`` (optional)
    hold the datasets' Parquet files as the import wrote them (one column per
    schema attribute, ``timestamp`` columns as Arrow timestamps). The job
    backtests every candidate algorithm, picks the AutoPredictor ensemble, and
    writes to ``model/``::

        predictor.json                      PredictorSummary (below), as JSON
        backtest/window=<i>/part-0.parquet  per backtest window: identity columns,
                                            timestamp, the actual target, and one
                                            column per forecast type ("p10", "mean")
        backtest/item_metrics.parquet       per item, window and algorithm: the
                                            metrics, for the backtest export
        model/...                           whatever the forecast mode needs again
                                            (per-item choice of algorithm, weights)

``forecast``
    The same data channels plus ``model`` (the predictor's model files, i.e.
    the contents of its ``model.tar.gz``). The job writes the future
    forecasts for every item (and cold-start items from ``metadata``) as
    ``forecast/shard=<k>.parquet`` with ``k = shard_of(item key)``: identity
    columns, ``date`` (the forecast timestamp), then one column per forecast
    type. Sharding by a stable hash is the index QueryForecast reads: one
    shard per query, never a scan.

The configuration travels as one hyperparameter, ``config``: a JSON document.
SageMaker passes hyperparameters as strings of at most 2500 characters, so on AWS
a longer one travels in parts that the contract joins back
(``augury_training.contract.split_long_values``).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIG_HYPERPARAMETER = "config"

TARGET_CHANNEL = "target"
RELATED_CHANNEL = "related"
METADATA_CHANNEL = "metadata"
MODEL_CHANNEL = "model"

PREDICTOR_SUMMARY_FILE = "predictor.json"
BACKTEST_DIR = "backtest"
ITEM_METRICS_FILE = "backtest/item_metrics.parquet"
FORECAST_DIR = "forecast"
FORECAST_SHARDS = 32
"""How many shards a forecast is split into; a query reads exactly one."""

MEAN = "mean"
DEFAULT_FORECAST_TYPES = ("0.1", "0.5", "0.9")

ALGORITHMS = ("ETS", "ARIMA", "Theta", "NPTS", "Prophet", "SeasonalNaive", "Deep_AR_Plus", "CNN-QR")
"""Algorithm names as they appear after ``arn:aws:forecast:::algorithm/``."""
GLOBAL_ALGORITHMS = ("Deep_AR_Plus", "CNN-QR")
"""The deep models: trained across all items at once (and on a GPU when the job has one)."""
DEEP_SECONDS_PER_POINT = {"Deep_AR_Plus": 0.011, "CNN-QR": 0.003}
"""Rough CPU seconds per data point of one deep fit (its early-stopped epochs and the
settings it tries), from the M3 benchmark on 2 cores: 199,196 points took DeepAR+
2,128 s on a shared machine (1,305 s on a quiet one) and CNN-QR 593 s. It only feeds
EstimatedTimeRemainingInMinutes, which errs on the long side, as the statistical
models' rate does."""
HPO_TRIALS = 8
"""PerformHPO's trials per deep algorithm: the first is the current values, the rest
random draws."""
FORWARD_LOOKING_ONLY = ("Deep_AR_Plus", "Prophet")
"""Algorithms that take a RELATED_TIME_SERIES only with values over the forecast horizon:
Amazon's CNN-QR "is the only Forecast algorithm that accepts related time series data
without future values". A predictor that names one of these fails on related data that
ends with the target (an AutoPredictor or AutoML leaves such data out for them instead)."""
DEEP_MIN_ITEMS = 100
DEEP_MIN_OBSERVATIONS = 10_000
"""An AutoPredictor backtests the deep models from this much data: below it, a global
network has too few series to learn shared patterns from, and the statistical
candidates fit each item better (Amazon recommends DeepAR+ for hundreds of series)."""


def forecast_type_column(forecast_type: str) -> str:
    """The column for a forecast type: ``"0.1"`` → ``"p10"``, ``"0.05"`` → ``"p5"``,
    ``"mean"`` → ``"mean"`` (the names QueryForecast's ``Predictions`` map uses)."""
    if forecast_type == MEAN:
        return MEAN
    percent = round(float(forecast_type) * 100, 6)
    return f"p{percent:g}"


def shard_of(item_key: str, shards: int = FORECAST_SHARDS) -> int:
    """The shard an item's forecast lives in: stable across processes and machines."""
    return zlib.crc32(item_key.encode("utf-8")) % shards


def item_key(identity: dict[str, str], identity_fields: list[str]) -> str:
    """One string for an item's identity (item id plus forecast dimensions)."""
    return "\x1f".join(str(identity[name]) for name in identity_fields)


@dataclass
class Featurization:
    """How missing values are filled, per Amazon's FeaturizationMethodParameters.

    Values are Amazon's: ``zero``, ``nan``, ``mean``, ``median``, ``min``,
    ``max`` or a number as a string (``value``); ``*_value`` hold the number.
    """

    field: str
    frontfill: str | None = None
    middlefill: str = "zero"
    backfill: str = "zero"
    futurefill: str | None = None
    middlefill_value: float | None = None
    backfill_value: float | None = None
    futurefill_value: float | None = None
    aggregation: str = "sum"
    """How finer data is aggregated to the forecast frequency: ``sum`` (Amazon's
    default for the target), ``avg``, ``first``, ``min`` or ``max``."""


@dataclass
class ForecastJobConfig:
    """Everything a forecasting job needs besides its data."""

    mode: str
    """``train`` or ``forecast``."""
    frequency: str
    """The forecast frequency (Amazon's form: ``D``, ``W``, ``15min``, ``2H``...)."""
    horizon: int
    item_field: str
    """The domain's identifier: ``item_id``, ``instance_type``, ``metric_name``..."""
    target_field: str
    timestamp_field: str = "timestamp"
    dimensions: list[str] = field(default_factory=list)
    """Forecast dimensions: further identity columns (``location``...)."""
    forecast_types: list[str] = field(default_factory=lambda: list(DEFAULT_FORECAST_TYPES))
    algorithms: list[str] = field(default_factory=list)
    """Candidates; one algorithm for a legacy predictor, several for AutoPredictor."""
    auto: bool = True
    """Build a per-item ensemble of the candidates (AutoPredictor)."""
    optimization_metric: str = "AverageWeightedQuantileLoss"
    backtest_windows: int = 1
    backtest_offset: int | None = None
    """Points between the end of the data and the last window's start; default horizon."""
    featurizations: list[Featurization] = field(default_factory=list)
    holiday_country: str | None = None
    related_fields: list[str] = field(default_factory=list)
    """Related time series features to use (numeric columns of ``related``)."""
    metadata_fields: list[str] = field(default_factory=list)
    time_alignment_boundary: dict[str, Any] | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    """Algorithm hyperparameters as Amazon names them (TrainingParameters)."""
    seed: int = 0
    time_budget_seconds: int | None = None
    perform_hpo: bool = False
    """Tune the deep algorithm's hyperparameters (CreatePredictor's PerformHPO)."""
    hpo_ranges: dict[str, Any] | None = None
    """HPOConfig's ParameterRanges; ``None`` searches the algorithm's default ranges."""

    @property
    def identity_fields(self) -> list[str]:
        return [self.item_field, *self.dimensions]

    def to_hyperparameters(self) -> dict[str, str]:
        return {CONFIG_HYPERPARAMETER: json.dumps(asdict(self), separators=(",", ":"))}

    @classmethod
    def from_hyperparameters(cls, hyperparameters: dict[str, str]) -> ForecastJobConfig:
        raw = json.loads(hyperparameters[CONFIG_HYPERPARAMETER])
        raw["featurizations"] = [Featurization(**f) for f in raw.get("featurizations", [])]
        return cls(**raw)


@dataclass
class WindowMetrics:
    """One backtest window's accuracy, in GetAccuracyMetrics' vocabulary."""

    test_window_start: str
    test_window_end: str
    item_count: int
    weighted_quantile_losses: dict[str, float]
    """Forecast type (``"0.1"``) → wQL."""
    wape: float | None
    rmse: float | None
    mape: float | None
    mase: float | None
    average_weighted_quantile_loss: float | None


@dataclass
class AlgorithmResult:
    algorithm: str
    windows: list[WindowMetrics]


@dataclass
class PredictorSummary:
    """What ``predictor.json`` holds: enough for Describe and GetAccuracyMetrics."""

    results: list[AlgorithmResult]
    """One entry per candidate, plus ``AutoPredictor`` for the ensemble when auto."""
    chosen_algorithms: dict[str, int]
    """Algorithm → how many items the ensemble gives it the largest weight."""
    item_count: int
    training_seconds: float
    explanation: str = ""
    """Why these candidates and this ensemble (shown in Describe)."""
    training_parameters: dict[str, str] = field(default_factory=dict)
    """The hyperparameters the predictor trained with, tuned ones included (PerformHPO)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> PredictorSummary:
        raw = json.loads(text)
        raw["results"] = [
            AlgorithmResult(r["algorithm"], [WindowMetrics(**w) for w in r["windows"]])
            for r in raw["results"]
        ]
        return cls(**raw)
