"""Algorithm name → model, as ``arn:aws:forecast:::algorithm/<name>`` names them.

The training job looks algorithms up here by the names in
``forecast_contract.ALGORITHMS`` and passes the predictor's
``TrainingParameters`` (strings) to the factory, which validates them at once:
a bad hyperparameter fails the job before any fitting, with a reason that
names it. Names Amazon knows but this container does not run (the deep
models, which have their own container) raise :class:`UnsupportedAlgorithmError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from augury_training.contract import ClientError
from augury_training.forecast_contract import ALGORITHMS
from augury_training.forecasting.models.arima import ARIMA
from augury_training.forecasting.models.base import Model
from augury_training.forecasting.models.ets import ETS
from augury_training.forecasting.models.naive import SeasonalNaive
from augury_training.forecasting.models.npts import NPTS
from augury_training.forecasting.models.prophet_model import ProphetModel
from augury_training.forecasting.models.theta import Theta

ModelFactory = Callable[[Mapping[str, str]], Model]

MODELS: dict[str, ModelFactory] = {
    "ETS": ETS,
    "ARIMA": ARIMA,
    "Theta": Theta,
    "NPTS": NPTS,
    "Prophet": ProphetModel,
    "SeasonalNaive": SeasonalNaive,
}
"""Every algorithm this container fits, by its Amazon name."""


class UnsupportedAlgorithmError(ClientError):
    """An algorithm name this container cannot fit."""


def get_model(name: str, hyperparameters: Mapping[str, str] | None = None) -> Model:
    """A ready model for ``name``, configured from Amazon-style string hyperparameters.

    Raises :class:`UnsupportedAlgorithmError` for unknown names and
    :class:`~augury_training.forecasting.models.hyperparameters.HyperparameterError`
    for invalid values.
    """
    factory = MODELS.get(name)
    if factory is None:
        if name in ALGORITHMS:
            raise UnsupportedAlgorithmError(
                f"Algorithm {name} is not available in the statistical forecasting "
                f"container; available: {', '.join(MODELS)}"
            )
        raise UnsupportedAlgorithmError(
            f"Unknown algorithm {name!r}; available: {', '.join(MODELS)}"
        )
    return factory(dict(hyperparameters or {}))
