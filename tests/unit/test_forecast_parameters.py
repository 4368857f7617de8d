"""The TrainingParameters registry the control plane checks names against, and the
parsers it stands for: every name listed is read by the algorithm's parser, and the
parser reads nothing that is not listed, so CreatePredictor never refuses a name a
model takes nor lets through one it would silently ignore."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from augury_training.forecast_contract import ALGORITHMS
from augury_training.forecast_parameters import TRAINING_PARAMETERS, unknown_parameters
from augury_training.forecasting.deep import cnnqr, deepar
from augury_training.forecasting.models.registry import MODELS


class ReadRecorder(dict):
    """An empty hyperparameter mapping that remembers every name looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)

    def __bool__(self) -> bool:
        return True  # parsers write ``hyperparameters or {}``: keep this one


PARSERS: dict[str, Callable[[Mapping[str, str]], Any]] = {
    "Deep_AR_Plus": deepar.parse_hyperparameters,
    "CNN-QR": cnnqr.parse_hyperparameters,
    **MODELS,
}


def test_every_algorithm_has_its_names_listed() -> None:
    assert set(TRAINING_PARAMETERS) == set(ALGORITHMS) == set(PARSERS)


@pytest.mark.parametrize("algorithm", sorted(PARSERS))
def test_the_names_listed_are_exactly_those_the_parser_reads(algorithm: str) -> None:
    recorder = ReadRecorder()
    PARSERS[algorithm](recorder)
    assert recorder.read == TRAINING_PARAMETERS[algorithm].names


def test_amazons_documented_names_are_listed_as_amazons() -> None:
    deep_ar = TRAINING_PARAMETERS["Deep_AR_Plus"]
    assert {"learning_rate_decay", "max_learning_rate_decays", "likelihood"} <= set(deep_ar.amazon)
    assert set(TRAINING_PARAMETERS["CNN-QR"].amazon) == {
        "context_length",
        "epochs",
        "use_item_metadata",
        "use_related_data",
    }
    assert TRAINING_PARAMETERS["Prophet"].amazon == ()


def test_unknown_names_are_returned_in_the_order_given() -> None:
    assert unknown_parameters("Deep_AR_Plus", ["epoch", "epochs", "foo"]) == ["epoch", "foo"]
    assert unknown_parameters("Prophet", ["n_changepoints"]) == []
