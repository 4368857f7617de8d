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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AlgorithmParameters:
    """The TrainingParameters one algorithm takes."""

    amazon: tuple[str, ...]
    """Names Amazon Forecast documents for the algorithm."""
    augury: tuple[str, ...] = ()
    """Names Augury adds."""

    @property
    def names(self) -> frozenset[str]:
        return frozenset((*self.amazon, *self.augury))


TRAINING_PARAMETERS: dict[str, AlgorithmParameters] = {
    "Deep_AR_Plus": AlgorithmParameters(
        amazon=(
            "context_length",
            "epochs",
            "learning_rate",
            "learning_rate_decay",
            "likelihood",
            "max_learning_rate_decays",
            "num_averaged_models",
            "num_cells",
            "num_layers",
        ),
        augury=(
            "dropout_rate",
            "early_stopping_patience",
            "max_batches_per_epoch",
            "mini_batch_size",
            "mixed_precision",
            "num_samples",
            "seasonal_adjustment",
        ),
    ),
    "CNN-QR": AlgorithmParameters(
        amazon=("context_length", "epochs", "use_item_metadata", "use_related_data"),
        augury=(
            "decoder_width",
            "dropout_rate",
            "early_stopping_patience",
            "kernel_size",
            "learning_rate",
            "max_batches_per_epoch",
            "mini_batch_size",
            "mixed_precision",
            "num_averaged_models",
            "num_filters",
            "num_layers",
            "seasonal_adjustment",
        ),
    ),
    "NPTS": AlgorithmParameters(
        amazon=(
            "context_length",
            "exp_kernel_weights",
            "kernel_type",
            "use_default_time_features",
            "use_seasonal_model",
        ),
        augury=("num_samples",),
    ),
    "Prophet": AlgorithmParameters(
        amazon=(),
        augury=(
            "changepoint_prior_scale",
            "changepoint_range",
            "daily_seasonality",
            "growth",
            "holidays_prior_scale",
            "n_changepoints",
            "seasonality_mode",
            "seasonality_prior_scale",
            "uncertainty_samples",
            "weekly_seasonality",
            "yearly_seasonality",
        ),
    ),
    "ETS": AlgorithmParameters(amazon=(), augury=("damped", "model")),
    "ARIMA": AlgorithmParameters(
        amazon=(),
        augury=(
            "D",
            "allowdrift",
            "allowmean",
            "approximation",
            "d",
            "ic",
            "max_D",
            "max_P",
            "max_Q",
            "max_d",
            "max_order",
            "max_p",
            "max_q",
            "seasonal",
            "stationary",
            "stepwise",
        ),
    ),
    "Theta": AlgorithmParameters(amazon=(), augury=("decomposition_type", "model")),
    "SeasonalNaive": AlgorithmParameters(amazon=(), augury=("season_length",)),
}
"""Algorithm (as in ``arn:aws:forecast:::algorithm/<name>``) → the names it takes."""


def unknown_parameters(algorithm: str, names: Iterable[str]) -> list[str]:
    """The ``names`` that ``algorithm`` does not take, in the order given."""
    accepted = TRAINING_PARAMETERS[algorithm].names
    return [name for name in names if name not in accepted]
