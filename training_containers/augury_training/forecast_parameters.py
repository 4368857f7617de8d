"""Which TrainingParameters each forecasting algorithm takes: Amazon's names and Augury's.

Amazon Forecast refuses a name an algorithm does not take, when CreatePredictor
is called ("Invalid Training parameter: n_changepoints specified for
algorithmArn: arn:aws:forecast:::algorithm/Prophet"). The models' own parsers
(``parse_hyperparameters`` of the deep models, the statistical models'
constructors) read the names they use and ignore the rest, so a typo such as
``epoch`` would silently train with the defaults. The control plane checks the
names here instead, before any job starts; it cannot import the models (they
need PyTorch, statsforecast and Prophet), so the names are written down once
in this standard-library module, and ``tests/unit/test_forecast_parameters.py``
checks them against what each parser really reads, so the two cannot drift.

Each algorithm lists Amazon's documented names first (what a predictor ported
from Amazon Forecast sends), then the ones Augury adds (each model's docstring
says what they do). Amazon's ETS, ARIMA and Prophet take none; Augury's take
the arguments of the libraries they are built on.

Each name comes with the rule its value follows (:mod:`augury_training.parameter_values`),
so CreatePredictor refuses ``"epochs": "0"`` too, instead of a training job failing
on it later; the same unit test holds each rule to what the parser accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from augury_training.parameter_values import (
    BOOLEAN,
    BOOLEAN_OR_AUTO,
    ETS_MODEL,
    SEASONALITY,
    HyperparameterError,
    Value,
    check_values,
    choice,
    integer,
    number,
)

__all__ = [
    "TRAINING_PARAMETERS",
    "AlgorithmParameters",
    "HyperparameterError",
    "check_parameter_values",
    "unknown_parameters",
]


@dataclass(frozen=True)
class AlgorithmParameters:
    """The TrainingParameters one algorithm takes, each with the rule its value follows."""

    amazon: Mapping[str, Value]
    """Names Amazon Forecast documents for the algorithm."""
    augury: Mapping[str, Value] = field(default_factory=dict)
    """Names Augury adds."""

    @property
    def names(self) -> frozenset[str]:
        return frozenset((*self.amazon, *self.augury))

    @property
    def values(self) -> dict[str, Value]:
        return {**self.amazon, **self.augury}


_CONTEXT = integer(1, 500)
_EPOCHS = integer(1, 1000)
_LEARNING_RATE = number(1e-5, 1e-1)
_DROPOUT = number(0.0, 0.9)
_PATIENCE = integer(1, 1000)
_BATCHES_PER_EPOCH = integer(1, 100_000)
_MINI_BATCH = integer(1, 4096)
_AVERAGED_MODELS = integer(1, 5)
_NON_NEGATIVE = integer(0)
_POSITIVE = number(0.0, exclusive_minimum=True)

TRAINING_PARAMETERS: dict[str, AlgorithmParameters] = {
    "Deep_AR_Plus": AlgorithmParameters(
        amazon={
            "context_length": _CONTEXT,
            "epochs": _EPOCHS,
            "learning_rate": _LEARNING_RATE,
            "learning_rate_decay": number(0.0, 1.0, exclusive_minimum=True),
            "likelihood": choice(
                "student-t",
                "negative-binomial",
                "gaussian",
                "auto",
                unsupported=("beta", "deterministic-L1", "piecewise-linear"),
            ),
            "max_learning_rate_decays": integer(0, 1000),
            "num_averaged_models": _AVERAGED_MODELS,
            "num_cells": integer(1, 200),
            "num_layers": integer(1, 8),
        },
        augury={
            "dropout_rate": _DROPOUT,
            "early_stopping_patience": _PATIENCE,
            "max_batches_per_epoch": _BATCHES_PER_EPOCH,
            "mini_batch_size": _MINI_BATCH,
            "mixed_precision": BOOLEAN,
            "num_samples": integer(1, 10_000),
            "seasonal_adjustment": choice("always", "none"),
        },
    ),
    "CNN-QR": AlgorithmParameters(
        amazon={
            "context_length": _CONTEXT,
            "epochs": _EPOCHS,
            "use_item_metadata": choice("ALL", "NONE"),
            "use_related_data": choice("ALL", "NONE", "HISTORICAL", "FORWARD_LOOKING"),
        },
        augury={
            "decoder_width": integer(4, 512),
            "dropout_rate": _DROPOUT,
            "early_stopping_patience": _PATIENCE,
            "kernel_size": integer(2, 9),
            "learning_rate": _LEARNING_RATE,
            "max_batches_per_epoch": _BATCHES_PER_EPOCH,
            "mini_batch_size": _MINI_BATCH,
            "mixed_precision": BOOLEAN,
            "num_averaged_models": _AVERAGED_MODELS,
            "num_filters": integer(4, 512),
            "num_layers": integer(1, 10),
            "seasonal_adjustment": choice("auto", "always", "none"),
        },
    ),
    "NPTS": AlgorithmParameters(
        amazon={
            "context_length": integer(1),
            "exp_kernel_weights": _POSITIVE,
            "kernel_type": choice("exponential", "uniform"),
            "use_default_time_features": BOOLEAN,
            "use_seasonal_model": BOOLEAN,
        },
        augury={"num_samples": integer(1, 100_000)},
    ),
    "Prophet": AlgorithmParameters(
        amazon={},
        augury={
            "changepoint_prior_scale": _POSITIVE,
            "changepoint_range": number(0.0, 1.0),
            "daily_seasonality": SEASONALITY,
            "growth": choice("linear", "flat"),
            "holidays_prior_scale": _POSITIVE,
            "n_changepoints": _NON_NEGATIVE,
            "seasonality_mode": choice("additive", "multiplicative"),
            "seasonality_prior_scale": _POSITIVE,
            "uncertainty_samples": integer(1, 100_000),
            "weekly_seasonality": SEASONALITY,
            "yearly_seasonality": SEASONALITY,
        },
    ),
    "ETS": AlgorithmParameters(amazon={}, augury={"damped": BOOLEAN_OR_AUTO, "model": ETS_MODEL}),
    "ARIMA": AlgorithmParameters(
        amazon={},
        augury={
            "D": _NON_NEGATIVE,
            "allowdrift": BOOLEAN,
            "allowmean": BOOLEAN,
            "approximation": BOOLEAN_OR_AUTO,
            "d": _NON_NEGATIVE,
            "ic": choice("aicc", "aic", "bic"),
            "max_D": _NON_NEGATIVE,
            "max_P": _NON_NEGATIVE,
            "max_Q": _NON_NEGATIVE,
            "max_d": _NON_NEGATIVE,
            "max_order": _NON_NEGATIVE,
            "max_p": _NON_NEGATIVE,
            "max_q": _NON_NEGATIVE,
            "seasonal": BOOLEAN,
            "stationary": BOOLEAN,
            "stepwise": BOOLEAN,
        },
    ),
    "Theta": AlgorithmParameters(
        amazon={},
        augury={
            "decomposition_type": choice("multiplicative", "additive"),
            "model": choice("DOTM", "DSTM", "OTM", "STM", "auto"),
        },
    ),
    "SeasonalNaive": AlgorithmParameters(amazon={}, augury={"season_length": integer(1)}),
}
"""Algorithm (as in ``arn:aws:forecast:::algorithm/<name>``) → the names it takes."""


def unknown_parameters(algorithm: str, names: Iterable[str]) -> list[str]:
    """The ``names`` that ``algorithm`` does not take, in the order given."""
    accepted = TRAINING_PARAMETERS[algorithm].names
    return [name for name in names if name not in accepted]


def check_parameter_values(algorithm: str, values: Mapping[str, str]) -> None:
    """Raise :class:`HyperparameterError`, with the message the model's parser would give,
    for the first value ``algorithm`` cannot use (unknown names are not checked here)."""
    check_values(TRAINING_PARAMETERS[algorithm].values, values)
