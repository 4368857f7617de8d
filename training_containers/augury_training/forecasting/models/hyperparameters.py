"""Reading Amazon-style hyperparameters, which always arrive as strings.

``CreatePredictor``'s ``TrainingParameters`` and SageMaker's hyperparameters.json
are ``{"name": "value"}`` with string values (``"True"``, ``"0.5"``, ``"100"``).
A bad value is the user's mistake, so it raises :class:`HyperparameterError`
naming the parameter and the values it accepts: the training job turns that
into the predictor's FailureReason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from augury_training.contract import ClientError


class HyperparameterError(ClientError):
    """A hyperparameter value that the algorithm cannot use."""


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def get_bool(params: Mapping[str, str], name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise HyperparameterError(f"{name} must be True or False, got {raw!r}")


def get_optional_bool(params: Mapping[str, str], name: str) -> bool | None:
    """``None`` when absent or ``"auto"``: let the engine choose."""
    raw = params.get(name)
    if raw is None or str(raw).strip().lower() in {"", "auto", "none", "null"}:
        return None
    return get_bool(params, name, False)


def get_int(
    params: Mapping[str, str],
    name: str,
    default: int | None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(float(str(raw).strip()))
    except ValueError as error:
        raise HyperparameterError(f"{name} must be an integer, got {raw!r}") from error
    if float(str(raw).strip()) != value:
        raise HyperparameterError(f"{name} must be an integer, got {raw!r}")
    _check_range(name, value, minimum, maximum)
    return value


def get_float(
    params: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = float(str(raw).strip())
    except ValueError as error:
        raise HyperparameterError(f"{name} must be a number, got {raw!r}") from error
    if value != value or value in (float("inf"), float("-inf")):
        raise HyperparameterError(f"{name} must be a finite number, got {raw!r}")
    if exclusive_minimum and minimum is not None and value <= minimum:
        raise HyperparameterError(f"{name} must be greater than {minimum:g}, got {raw!r}")
    _check_range(name, value, None if exclusive_minimum else minimum, maximum)
    return value


def get_choice(params: Mapping[str, str], name: str, default: str, choices: Sequence[str]) -> str:
    """A value from ``choices``, matched case-insensitively, returned as spelled there."""
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    by_lower = {choice.lower(): choice for choice in choices}
    chosen = by_lower.get(str(raw).strip().lower())
    if chosen is None:
        raise HyperparameterError(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
    return chosen


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise HyperparameterError(f"{name} must be at least {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise HyperparameterError(f"{name} must be at most {maximum:g}, got {value:g}")


def bounded_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """``get_int`` with a default, so never ``None``: the form most hyperparameters take."""
    value = get_int(params, name, default, minimum=low, maximum=high)
    assert value is not None
    return value
