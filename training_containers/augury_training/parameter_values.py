"""What a TrainingParameters value may be, checked where CreatePredictor is called.

A value a model cannot use ("epochs": "0") used to pass CreatePredictor and fail
the training job once its parser read it: seconds to a minute later in embedded
mode, and on AWS after a GPU instance had started for nothing. Each parameter's
rule (:class:`Value`) is written down here, beside its name in
:mod:`augury_training.forecast_parameters`, and checked by the same readers the
models' parsers use (``forecasting.models.hyperparameters``), so the message is
word for word the one the job would have failed with. The control plane cannot
import the parsers (they live beside PyTorch, statsforecast and Prophet);
``tests/unit/test_forecast_parameters.py`` feeds every rule's edge values to the
real parser and to the rule, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from augury_training.forecasting.models.hyperparameters import (
    HyperparameterError,
    get_bool,
    get_choice,
    get_float,
    get_int,
    get_optional_bool,
)

__all__ = [
    "BOOLEAN",
    "BOOLEAN_OR_AUTO",
    "ETS_MODEL",
    "SEASONALITY",
    "HyperparameterError",
    "Value",
    "choice",
    "integer",
    "number",
]

INTEGER, NUMBER, CHOICE = "integer", "number", "choice"
_ETS_MODEL_PATTERN = re.compile(r"^[AMZ][AMNZ][AMNZ]$")
_SEASONALITY_WORDS = ("auto", "true", "false")


@dataclass(frozen=True)
class Value:
    """The rule for one parameter's value (strings, as TrainingParameters carries them)."""

    kind: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    """Choices Amazon offers that Augury does not, refused with that said."""

    def check(self, name: str, raw: str) -> None:
        """Raise :class:`HyperparameterError` unless ``raw`` is a value ``name`` may take."""
        given = {name: raw}
        if self.kind == INTEGER:
            get_int(given, name, None, minimum=_int(self.minimum), maximum=_int(self.maximum))
        elif self.kind == NUMBER:
            get_float(
                given,
                name,
                0.0,
                minimum=self.minimum,
                maximum=self.maximum,
                exclusive_minimum=self.exclusive_minimum,
            )
        elif self.kind == CHOICE:
            if str(raw).strip().lower() in {option.lower() for option in self.unsupported}:
                raise HyperparameterError(
                    f"{name} {raw!r} is an Amazon option Augury does not offer; use one of "
                    f"{', '.join(self.choices)}"
                )
            get_choice(given, name, self.choices[0], self.choices)
        elif self.kind == BOOLEAN.kind:
            get_bool(given, name, False)
        elif self.kind == BOOLEAN_OR_AUTO.kind:
            get_optional_bool(given, name)
        elif self.kind == ETS_MODEL.kind:
            _check_ets_model(raw)
        elif self.kind == SEASONALITY.kind:
            _check_seasonality(name, raw)
        else:  # pragma: no cover - the registry only builds the kinds above
            raise ValueError(f"unknown value kind {self.kind!r}")


def integer(minimum: int | None = None, maximum: int | None = None) -> Value:
    return Value(INTEGER, minimum, maximum)


def number(
    minimum: float | None = None, maximum: float | None = None, *, exclusive_minimum: bool = False
) -> Value:
    return Value(NUMBER, minimum, maximum, exclusive_minimum)


def choice(*choices: str, unsupported: tuple[str, ...] = ()) -> Value:
    """One of ``choices``, in any case (the models match them case-insensitively)."""
    return Value(CHOICE, choices=tuple(choices), unsupported=unsupported)


BOOLEAN = Value("boolean")
"""True or False (also yes/no, 1/0), in any case."""
BOOLEAN_OR_AUTO = Value("boolean or auto")
"""True, False, or auto (the engine chooses)."""
ETS_MODEL = Value("ets model")
"""statsforecast's three letters: error A|M|Z, trend A|M|N|Z, season A|M|N|Z."""
SEASONALITY = Value("seasonality")
"""Prophet's ``*_seasonality``: auto, True, False or a Fourier order (1 or more)."""


def check_values(rules: Mapping[str, Value], values: Mapping[str, str]) -> None:
    """Raise :class:`HyperparameterError` for the first of ``values`` its rule refuses
    (names without a rule are left to the name check)."""
    for name, raw in values.items():
        rule = rules.get(name)
        if rule is not None:
            rule.check(name, str(raw))


def _int(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


def _check_ets_model(raw: str) -> None:
    if not _ETS_MODEL_PATTERN.match(str(raw).strip().upper() or "ZZZ"):
        raise HyperparameterError(
            "model must be three letters: error A|M|Z, trend A|M|N|Z, season A|M|N|Z "
            f"(for example ZZZ or AAN); got {raw!r}"
        )


def _check_seasonality(name: str, raw: str) -> None:
    if str(raw).strip().lower() not in _SEASONALITY_WORDS:
        get_int({name: raw}, name, None, minimum=1)
