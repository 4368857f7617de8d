"""What each column of a Personalize import must hold, from the dataset's Avro schema.

The reader (``import_csv``) checks values against these rules and the writer
stores them in these Arrow types, so both read one description. Column names
follow the data contract (``augury.personalize.group_data``): reserved names
upper-cased, other fields as the schema writes them.

Value limits are Amazon's, from the Amazon Personalize Developer Guide's
"Endpoints and quotas" page and the dataset schema requirement pages:
USER_ID and ITEM_ID at most 256 characters; categorical values (each one of a
``|``-separated list), impression values and other string values at most
1,000 characters; a textual field at most 20,000 characters. TIMESTAMP and
CREATION_TIMESTAMP are Unix epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from augury.personalize.avro_rules import ParsedSchema, SchemaField
from augury.personalize.group_data import column_name

ID_FIELDS = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})
TIMESTAMP_FIELDS = frozenset({"TIMESTAMP", "CREATION_TIMESTAMP", "ACTION_EXPIRATION_TIMESTAMP"})
MAX_ID_CHARACTERS = 256
MAX_STRING_CHARACTERS = 1_000
MAX_TEXTUAL_CHARACTERS = 20_000
CATEGORY_SEPARATOR = "|"
MAX_EPOCH_SECONDS = 10**11
"""Beyond the year 5000: such a value is milliseconds (or worse), not epoch seconds."""

INT32_RANGE = (-(2**31), 2**31 - 1)

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "long": pa.int64(),
    "float": pa.float64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
}
"""How each Avro type is stored: one integer and one float width keep readers simple."""

ID_COLUMN = {"USERS": "USER_ID", "ITEMS": "ITEM_ID", "ACTIONS": "ACTION_ID"}
"""The column that names a row in the datasets where a newer row replaces an older one."""


@dataclass(frozen=True)
class ImportField:
    """One schema field as an import sees it."""

    name: str
    """As the schema writes it."""
    column: str
    """As the data is stored (reserved names upper-cased)."""
    type: str
    nullable: bool
    categorical: bool = False
    textual: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]

    @property
    def max_characters(self) -> int | None:
        if self.type != "string":
            return None
        if self.column in ID_FIELDS:
            return MAX_ID_CHARACTERS
        return MAX_TEXTUAL_CHARACTERS if self.textual else MAX_STRING_CHARACTERS

    def describe(self) -> str:
        words = [
            w for w, on in (("categorical", self.categorical), ("textual", self.textual)) if on
        ]
        text = " ".join([*words, self.type])
        return f"{text}, null" if self.nullable else text


def import_field(field: SchemaField) -> ImportField:
    """One schema field as imports read and store it."""
    return ImportField(
        name=field.name,
        column=column_name(field.name),
        type=field.type,
        nullable=field.nullable,
        categorical=field.categorical,
        textual=field.textual,
    )


def import_fields(schema: ParsedSchema) -> tuple[ImportField, ...]:
    """The schema's fields in order, as imports read and store them."""
    return tuple(import_field(field) for field in schema.fields)


def timestamp_bounds(column: str) -> tuple[int, int]:
    """The epoch seconds a timestamp column holds, ``low <= value < high``: an interaction
    happens after 1970, an item may have been created before it."""
    return (0 if column == "TIMESTAMP" else -MAX_EPOCH_SECONDS), MAX_EPOCH_SECONDS


def timestamp_problem(column: str, seconds: float, shown: str) -> str | None:
    """Why ``seconds`` (written ``shown``) can't be the column's value, or None."""
    low, high = timestamp_bounds(column)
    if seconds < low and low == 0:
        return f"{shown} is before 1970; {column} is seconds since 1970-01-01"
    if seconds < low:
        return (
            f"{shown} is too small for Unix epoch seconds (negative milliseconds?); "
            f"{column} must be seconds since 1970-01-01 UTC"
        )
    if seconds >= high:
        return (
            f"{shown} is too large for Unix epoch seconds (milliseconds?); "
            f"{column} must be seconds since 1970-01-01 UTC"
        )
    return None


def length_problem(field: ImportField, value: str) -> str | None:
    """Why ``value`` is too long for the field (Amazon's character limits), or None."""
    limit = field.max_characters
    if limit is None:
        return None
    if field.categorical:
        longest = max(map(len, value.split(CATEGORY_SEPARATOR)))
        if longest <= limit:
            return None
        return (
            f"a categorical value has {longest} characters; Personalize allows at most "
            f"{limit} per value (values are separated by '{CATEGORY_SEPARATOR}')"
        )
    if len(value) <= limit:
        return None
    what = "textual value" if field.textual else "value"
    return (
        f"the {what} has {len(value)} characters; Personalize allows at most {limit} "
        f"for {field.name}"
    )


def arrow_schema(fields: tuple[ImportField, ...]) -> pa.Schema:
    """The stored Parquet schema: one column per field, in schema order."""
    return pa.schema([pa.field(f.column, f.arrow_type, nullable=True) for f in fields])
