"""The ``properties`` JSON of PutEvents, PutUsers and PutItems, checked against a schema.

Amazon names each property after a schema field in camel case: the field
``NUMBER_OF_RATINGS`` is the key ``numberOfRatings``. Keys are matched here
ignoring case and underscores (the same equivalence Amazon's schema rules use
to call two field names the same), so ``numberOfRatings``,
``NUMBER_OF_RATINGS`` and ``number_of_ratings`` all mean that field. A key that
matches no field, or a value that does not fit the field's type, is the
caller's mistake: ``InvalidInputException`` naming the key and the reason.

Values are normalised to what the dataset column holds: numbers from numeric
strings (Amazon's own examples send ``"12"``), ``|``-joined strings from lists
of categories, booleans from ``"true"`` / ``"false"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from augury.personalize.avro_rules import ParsedSchema, SchemaField, parse_schema_text
from augury.personalize.import_fields import (
    TIMESTAMP_FIELDS,
    import_field,
    length_problem,
    timestamp_problem,
)
from augury.resources.errors import InvalidInput

_INTEGER_TYPES = ("int", "long")
_FLOAT_TYPES = ("float", "double")
_INT32 = 2**31


def camel_case(field_name: str) -> str:
    """The property key Amazon documents: ``NUMBER_OF_RATINGS`` → ``numberOfRatings``."""
    parts = [part for part in field_name.split("_") if part]
    if not parts:
        return field_name
    if len(parts) == 1 and not field_name.isupper():
        return field_name[0].lower() + field_name[1:]
    return parts[0].lower() + "".join(part.capitalize() for part in parts[1:])


def _match_key(name: str) -> str:
    return name.replace("_", "").lower()


@lru_cache(maxsize=256)
def cached_schema(text: str) -> ParsedSchema:
    """A stored schema's parsed form; schemas never change once created, so cache by text."""
    return parse_schema_text(text)


def parse_properties(
    text: str | None,
    schema: ParsedSchema,
    *,
    where: str,
    label: str,
    from_members: Mapping[str, str],
) -> dict[str, Any]:
    """The properties as ``{UPPER_FIELD_NAME: value}``, checked against ``schema``.

    ``where`` says which part of the request this is (``eventList[2].properties``)
    and ``label`` which dataset (``Interactions``). ``from_members`` maps the
    upper-cased fields the request sets through its own members to those
    members' names; such a field is refused as a property.
    """
    if text is None:
        return {}
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{where} is not valid JSON: {error.msg}") from None
    if not isinstance(values, dict):
        raise InvalidInput(f"{where} must be a JSON object of field names to values")
    fields = {_match_key(field.name): field for field in schema.fields}
    result: dict[str, Any] = {}
    for key, value in values.items():
        field = fields.get(_match_key(key))
        if field is None:
            known = sorted(
                camel_case(f.name) for f in schema.fields if f.name.upper() not in from_members
            )
            raise InvalidInput(
                f"{where}: property {key!r} matches no field of the {label} schema"
                + (f"; its fields are {', '.join(known)}" if known else "")
            )
        upper = field.name.upper()
        if upper in from_members:
            raise InvalidInput(
                f"{where}: property {key!r} is the {field.name} field, which the request's "
                f"{from_members[upper]} member sets; remove it from the properties"
            )
        result[upper] = coerce(value, field, f"{where}: property {key!r}")
    return result


def coerce(value: Any, field: SchemaField, where: str) -> Any:
    """``value`` as the field's column holds it, or ``InvalidInputException`` saying why not.

    The limits are an import's (:mod:`.import_fields`), so what streams in can be exported
    and imported again."""
    if value is None:
        if field.nullable:
            return None
        raise InvalidInput(f"{where} is null, but the {field.name} field is not nullable")
    stored = import_field(field)
    if field.type == "string":
        text = _as_string(value, field, where)
        problem = length_problem(stored, text)
        if problem is not None:
            raise InvalidInput(f"{where}: {problem}")
        return text
    if field.type in _INTEGER_TYPES:
        number = _as_integer(value, field, where)
        problem = (
            timestamp_problem(stored.column, number, str(number))
            if stored.column in TIMESTAMP_FIELDS
            else None
        )
        if problem is not None:
            raise InvalidInput(f"{where}: {problem}")
        return number
    if field.type in _FLOAT_TYPES:
        return _as_float(value, field, where)
    return _as_boolean(value, field, where)


def _mistyped(value: Any, field: SchemaField, where: str, wanted: str) -> InvalidInput:
    return InvalidInput(
        f"{where} is {json.dumps(value)}, but the {field.name} field is {field.describe()}: "
        f"send {wanted}"
    )


def _as_string(value: Any, field: SchemaField, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and field.categorical and all(isinstance(v, str) for v in value):
        return "|".join(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    wanted = "a string (categories joined with '|')" if field.categorical else "a string"
    raise _mistyped(value, field, where, wanted)


def _as_integer(value: Any, field: SchemaField, where: str) -> int:
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip()) if value.strip() else None
        except ValueError:
            number = None
    is_number = isinstance(number, int | float) and not isinstance(number, bool)
    if not is_number or not math.isfinite(number) or number != int(number):
        raise _mistyped(value, field, where, "a whole number")
    result = int(number)
    if field.type == "int" and not -_INT32 <= result < _INT32:
        raise InvalidInput(f"{where} is {result}, too large for the {field.name} field (int)")
    return result


def _as_float(value: Any, field: SchemaField, where: str) -> float:
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    is_number = isinstance(number, int | float) and not isinstance(number, bool)
    if not is_number or not math.isfinite(number):
        raise _mistyped(value, field, where, "a number")
    return float(number)


def _as_boolean(value: Any, field: SchemaField, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _mistyped(value, field, where, "true or false")


def missing_required(
    schema: ParsedSchema, present: Iterable[str], *, where: str, label: str
) -> None:
    """Refuse a row that lacks a field the schema does not allow to be null."""
    have = set(present)
    for field in schema.fields:
        if not field.nullable and field.name.upper() not in have:
            raise InvalidInput(
                f"{where} has no value for {field.name}, which the {label} schema requires "
                f"(send it as the property {camel_case(field.name)!r})"
            )
