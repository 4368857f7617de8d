"""DeepAR+'s hyperparameters: Amazon's names, parsed and checked, and the learning rates
and contexts its fit tries (:class:`.deepar.DeepARPlus`; the names and defaults are
described in :mod:`.deepar`'s docstring).

Kept apart from the model: what a user may set, and which settings a fit tries when
they are left out, is one idea; how the network trains and forecasts is another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from augury_training.forecast_parameters import TRAINING_PARAMETERS
from augury_training.forecasting.deep import context_choice, seasonal_adjustment
from augury_training.forecasting.deep.likelihoods import LIKELIHOODS, STUDENT_T
from augury_training.forecasting.models.hyperparameters import (
    bounded_int,
    get_bool,
    get_choice,
    get_float,
    get_int,
)

ALGORITHM = "Deep_AR_Plus"
"""Amazon's name for the algorithm (``arn:aws:forecast:::algorithm/Deep_AR_Plus``)."""
AUTO = "auto"
DEFAULT_LEARNING_RATE = 1e-3
"""Amazon's default, kept unless the faster rate validates clearly better."""
FASTER_LEARNING_RATES = (3e-3, 1e-2)
"""Tried in turn when no ``learning_rate`` is given, each only while the one before it
validated clearly better than its predecessor: a climb that stops at the first rate
that does not win. With 1e-3 the network settles early on some data: with a context
of 18, M3's monthly series scored mean wQL 0.0880 with 1e-3, 0.0794 with 3e-3 and
0.0770 with 1e-2 (validation wQL 0.1153, 0.1093, 0.1020); on Tourism's quarterly
and monthly series 3e-3 forecast 16% and 21% worse than 1e-3. No rate is the better
default, and the validation horizons told them apart where it mattered
(docs/benchmarks/forecast_deep.md), so the fit keeps a faster rate only when it
validates better by :data:`.context_choice.SWITCH_MARGIN`, and data that the first
climb does not help train four fits, not six."""
MAX_CONTEXT = 500
DEFAULT_SAMPLES = 200
"""Sample paths each pooled fit draws. Quantiles read off too few paths are noisy,
and the noise adds to the quantile loss: on M3's monthly series the same fit
(seed 0) scored mean wQL 0.07728, 0.07709 and 0.07713 over sampling seeds 0-2
with 100 paths, 0.07705, 0.07703 and 0.07706 with 200, and 0.07703 to 0.07707
with 400, so 200 is where more paths stop paying. Drawing them took 23 s with
100 and 42 s with 200 (1,428 series, four pooled fits, 2 CPU cores)."""


@dataclass(frozen=True)
class DeepARHyperparameters:
    """DeepAR+'s settings, parsed from string hyperparameters (:mod:`.deepar` describes
    each)."""

    context_length: int | None = None
    epochs: int = 500
    learning_rate: float = DEFAULT_LEARNING_RATE
    num_layers: int = 2
    num_cells: int = 40
    likelihood: str = STUDENT_T
    dropout_rate: float = 0.1
    mini_batch_size: int = 128
    num_averaged_models: int = 1
    learning_rate_decay: float = 0.5
    max_learning_rate_decays: int | None = None
    num_samples: int = DEFAULT_SAMPLES
    """Sample paths per pooled fit: see :data:`DEFAULT_SAMPLES`."""
    early_stopping_patience: int = 10
    max_batches_per_epoch: int = 100
    mixed_precision: bool = True
    seasonal_adjustment: str = seasonal_adjustment.NONE
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def parse_hyperparameters(values: Mapping[str, str]) -> DeepARHyperparameters:
    """Check and parse string hyperparameters; unknown names are ignored.

    Raises :class:`HyperparameterError` (a ``ValueError``) naming the parameter
    and what it accepts, so a training job fails before any work with a reason
    the user can act on.
    """
    if values.get("likelihood"):  # Amazon's options Augury lacks are named as such
        TRAINING_PARAMETERS[ALGORITHM].values["likelihood"].check(
            "likelihood", str(values["likelihood"])
        )
    return DeepARHyperparameters(
        context_length=get_int(values, "context_length", None, minimum=1, maximum=500),
        epochs=bounded_int(values, "epochs", 500, 1, 1000),
        learning_rate=get_float(
            values, "learning_rate", DEFAULT_LEARNING_RATE, minimum=1e-5, maximum=1e-1
        ),
        num_layers=bounded_int(values, "num_layers", 2, 1, 8),
        num_cells=bounded_int(values, "num_cells", 40, 1, 200),
        likelihood=get_choice(values, "likelihood", STUDENT_T, (*LIKELIHOODS, AUTO)),
        dropout_rate=get_float(values, "dropout_rate", 0.1, minimum=0.0, maximum=0.9),
        mini_batch_size=bounded_int(values, "mini_batch_size", 128, 1, 4096),
        num_averaged_models=bounded_int(values, "num_averaged_models", 1, 1, 5),
        learning_rate_decay=get_float(
            values, "learning_rate_decay", 0.5, minimum=0.0, maximum=1.0, exclusive_minimum=True
        ),
        max_learning_rate_decays=get_int(
            values, "max_learning_rate_decays", None, minimum=0, maximum=1000
        ),
        num_samples=bounded_int(values, "num_samples", DEFAULT_SAMPLES, 1, 10_000),
        early_stopping_patience=bounded_int(values, "early_stopping_patience", 10, 1, 1000),
        max_batches_per_epoch=bounded_int(values, "max_batches_per_epoch", 100, 1, 100_000),
        mixed_precision=get_bool(values, "mixed_precision", True),
        seasonal_adjustment=get_choice(
            values,
            "seasonal_adjustment",
            seasonal_adjustment.NONE,
            (seasonal_adjustment.ALWAYS, seasonal_adjustment.NONE),
        ),
        extra={key: str(value) for key, value in values.items()},
    )


def learning_rate_candidates(params: DeepARHyperparameters) -> tuple[float, ...]:
    """The learning rates :meth:`DeepARPlus.fit` may train, the one it keeps by default
    first: the one given (by the user or PerformHPO), else :data:`DEFAULT_LEARNING_RATE`
    then each of :data:`FASTER_LEARNING_RATES` while the climb pays."""
    if "learning_rate" in params.extra:
        return (params.learning_rate,)
    return (DEFAULT_LEARNING_RATE, *FASTER_LEARNING_RATES)


def context_candidates(horizon: int, chosen: int | None = None) -> tuple[int, ...]:
    """The contexts :meth:`DeepARPlus.fit` trains, the one it keeps by default first:
    ``chosen`` alone, or four horizons (at most 500 points) then one
    (:mod:`.context_choice` says why)."""
    default = min(context_choice.DEFAULT_CONTEXT_HORIZONS * horizon, MAX_CONTEXT)
    return context_choice.context_candidates(default, horizon, chosen)
