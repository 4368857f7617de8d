"""The TrainingParameters registry the control plane checks names and values against, and
the parsers it stands for: every name listed is read by the algorithm's parser, and the
parser reads nothing that is not listed, so CreatePredictor never refuses a name a
model takes nor lets through one it would silently ignore; and each value rule accepts
and refuses, with the same message, exactly what the parser does at its edges."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from augury_training.forecast_contract import ALGORITHMS
from augury_training.forecast_parameters import (
    TRAINING_PARAMETERS,
    check_parameter_values,
    unknown_parameters,
)
from augury_training.forecasting.deep import cnnqr, deepar
from augury_training.forecasting.models.hyperparameters import HyperparameterError
from augury_training.forecasting.models.registry import MODELS
from augury_training.parameter_values import CHOICE, INTEGER, NUMBER, Value


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
    assert dict(TRAINING_PARAMETERS["Prophet"].amazon) == {}


def test_unknown_names_are_returned_in_the_order_given() -> None:
    assert unknown_parameters("Deep_AR_Plus", ["epoch", "epochs", "foo"]) == ["epoch", "foo"]
    assert unknown_parameters("Prophet", ["n_changepoints"]) == []


def _edges(rule: Value) -> list[str]:
    """Values on and around a rule's edges, and ones of the wrong kind."""
    if rule.kind == INTEGER:
        low, high = rule.minimum, rule.maximum
        probes = ["abc", "1.5", "2e1", " 7 "]
        for bound in (low, high):
            if bound is not None:
                probes += [f"{bound - 1:g}", f"{bound:g}", f"{bound + 1:g}"]
        return probes
    if rule.kind == NUMBER:
        probes = ["abc", "nan", "inf", "-1e-7", "0", "0.5"]
        for bound in (rule.minimum, rule.maximum):
            if bound is not None:
                probes += [repr(bound), repr(bound * 0.999 - 1e-9), repr(bound * 1.001 + 1e-9)]
        return probes
    if rule.kind == CHOICE:
        options = [*rule.choices, *rule.unsupported]
        return [*options, *(o.upper() for o in options), *(o.title() for o in options), "bogus"]
    return ["true", "False", "YES", "0", "auto", "Auto", "maybe", "ZZZ", "aan", "AXN", "12", "-3"]


def _parser_verdict(algorithm: str, name: str, raw: str) -> str | None:
    try:
        PARSERS[algorithm]({name: raw})
    except HyperparameterError as error:
        return str(error)
    return None


def _rule_verdict(algorithm: str, name: str, raw: str) -> str | None:
    try:
        check_parameter_values(algorithm, {name: raw})
    except HyperparameterError as error:
        return str(error)
    return None


@pytest.mark.parametrize("algorithm", sorted(PARSERS))
def test_each_value_rule_refuses_what_the_parser_refuses_with_its_words(algorithm: str) -> None:
    """CreatePredictor checks values by the rules; the job's parser would check them again.
    At every rule's edges both accept the same values and refuse the others with the same
    message, so a value CreatePredictor lets through never fails the job."""
    rules = TRAINING_PARAMETERS[algorithm].values
    assert set(rules) == TRAINING_PARAMETERS[algorithm].names
    for name, rule in rules.items():
        for raw in _edges(rule):
            expected = _parser_verdict(algorithm, name, raw)
            assert _rule_verdict(algorithm, name, raw) == expected, (name, raw)


def test_values_are_checked_before_any_job_with_the_parsers_message() -> None:
    with pytest.raises(HyperparameterError, match="epochs must be at least 1, got 0"):
        check_parameter_values("Deep_AR_Plus", {"epochs": "0"})
    with pytest.raises(HyperparameterError, match="Amazon option Augury does not offer"):
        check_parameter_values("Deep_AR_Plus", {"likelihood": "beta"})
    with pytest.raises(HyperparameterError, match="use_related_data must be one of"):
        check_parameter_values("CNN-QR", {"use_related_data": "MAYBE"})
    check_parameter_values("CNN-QR", {"use_related_data": "forward_looking", "epochs": "3"})
    check_parameter_values("Prophet", {"bogus": "x"})  # names are the name check's business
