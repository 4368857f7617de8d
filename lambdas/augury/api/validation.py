"""Input validation against the service model, reported as Amazon reports it.

botocore's ``ParamValidator`` checks types, required members and minimums; the
service side also enforces maximums, enums and patterns, which botocore leaves
to the server. Violations come back as one ``ValidationException`` in the
wording of Amazon's front end::

    1 validation error detected: Value 'my-group' at 'datasetGroupName' failed to
    satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z]...
"""

from __future__ import annotations

from functools import cache
from typing import Any

import regex
from botocore.model import Shape
from botocore.validate import ParamValidator

from augury.resources.errors import ValidationError

_MAX_REPORTED = 10
_NUMBERS = {
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
}
"""Numeric shape types, and what a value of each must be."""

PATTERN_EXEMPT_SHAPES = frozenset({"Frequency"})
"""Shapes whose model pattern is narrower than what the service accepts.

Forecast's ``Frequency`` pattern lists ``Y|M|W|D|H|30min|...`` while the
service documents integer multiples (``2W``, ``45min``); the operations check
the documented forms themselves.
"""

PATTERN_EXEMPT_MEMBERS = frozenset(
    {("EncryptionConfig", "RoleArn"), ("S3Config", "RoleArn"), ("Filter", "Value")}
)
"""Members typed with Forecast's shared ``Arn`` shape (``...:forecast:...``) that in
fact carry other values: IAM role ARNs, and List filters' values, which are statuses
(``{"Key": "Status", "Value": "ACTIVE"}``) as often as ARNs. Amazon accepts both."""


def validate(params: dict[str, Any], shape: Shape | None) -> None:
    """Raise ``ValidationError`` if ``params`` break ``shape``'s constraints."""
    if shape is None:
        return
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ValidationError(_botocore_message(report.generate_report()))
    problems: list[str] = []
    _check(params, shape, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        shown = "; ".join(problems[:_MAX_REPORTED])
        raise ValidationError(f"{count} validation {noun} detected: {shown}")


def _botocore_message(report: str) -> str:
    lines = [line.strip() for line in report.splitlines() if line.strip()]
    details = [line for line in lines if not line.startswith("Parameter validation failed")]
    return "1 validation error detected: " + "; ".join(details) if details else report


def _check(
    value: Any, shape: Shape, path: str, problems: list[str], pattern_exempt: bool = False
) -> None:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                exempt = (shape.name, name) in PATTERN_EXEMPT_MEMBERS
                _check(value[name], member, _join(path, _lower_first(name)), problems, exempt)
        return
    if kind == "list" and isinstance(value, list):
        _check_size(value, shape, path, problems, "length")
        for index, item in enumerate(value, start=1):
            _check(item, shape.member, f"{path}.{index}.member", problems)
        return
    if kind == "map" and isinstance(value, dict):
        _check_size(value, shape, path, problems, "length")
        for key, item in value.items():
            _check(key, shape.key, f"{path}.key", problems)
            _check(item, shape.value, f"{path}.{key}", problems)
        return
    if kind == "string" and isinstance(value, str):
        _check_string(value, shape, path, problems, pattern_exempt)
    elif kind in _NUMBERS and isinstance(value, bool):
        # botocore's validator takes a JSON true for the integer 1 (bool is an int in Python)
        problems.append(
            f"Value '{str(value).lower()}' at '{path}' failed to satisfy constraint: "
            f"Member must be {_NUMBERS[kind]}, not a boolean"
        )
    elif kind in _NUMBERS and isinstance(value, int | float):
        _check_range(value, shape, path, problems)


def _check_string(
    value: str, shape: Shape, path: str, problems: list[str], pattern_exempt: bool
) -> None:
    _check_size(value, shape, path, problems, "length")
    enum = shape.enum
    if enum and value not in enum:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(enum)}]"
        )
    pattern = shape.metadata.get("pattern")
    if pattern_exempt or shape.name in PATTERN_EXEMPT_SHAPES:
        return
    if pattern and not _compiled(pattern).fullmatch(value):
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {pattern}"
        )


def _check_size(value: Any, shape: Shape, path: str, problems: list[str], what: str) -> None:
    """Maximum sizes only: botocore's validator has already reported minimums."""
    high = shape.metadata.get("max")
    if high is not None and len(value) > high:
        problems.append(
            f"Value at '{path}' failed to satisfy constraint: "
            f"Member must have {what} less than or equal to {high}"
        )


def _check_range(value: float, shape: Shape, path: str, problems: list[str]) -> None:
    """Maximum values only: botocore's validator has already reported minimums."""
    high = shape.metadata.get("max")
    if high is not None and value > high:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {high}"
        )


@cache
def _compiled(pattern: str) -> regex.Pattern[str]:
    """Patterns are Java regular expressions; ``regex`` understands ``\\p{L}`` and friends."""
    return regex.compile(pattern)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]
