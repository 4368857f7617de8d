"""Converting one column of an import to its attribute's type, and finding its first bad value.

Pure functions over Arrow arrays, vectorized: each returns the converted column
and, when a value cannot be converted, the index of the first bad row with a
message for the user (``'abc' is not a number``). ``import_reader`` adds the
file, line and field. Text is trimmed for numbers, timestamps and geolocations;
identifiers are taken as written. Rules and sources: see ``import_reader``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from augury.forecast.timestamp_formats import TimestampFormat

TIMESTAMP_UNIT = "s"
LAT_LONG = "LAT_LONG"
CC_POSTALCODE = "CC_POSTALCODE"
GEOLOCATION_FORMATS = (LAT_LONG, CC_POSTALCODE)

_INTEGER = r"^[+-]?[0-9]+$"
_FLOAT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NAN = r"^[+-]?(?i:nan)$"
_LAT_LONG = re.compile(r"^([+-]?[0-9]+(?:\.[0-9]+)?)_([+-]?[0-9]+(?:\.[0-9]+)?)$")
_CC_POSTALCODE = r"^US_[0-9]{5}$"
_UNIT_SECONDS = {"min": 60, "H": 3600, "D": 86_400, "W": 604_800}


def first_true(mask: pa.Array) -> int | None:
    if not len(mask) or not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, True).as_py())


def _trimmed(column: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(column)


def _quote(value: Any) -> str:
    return repr(str(value)) if value is not None else "an empty value"


def integers(column: pa.Array) -> tuple[pa.Array, tuple[int, str] | None]:
    if pa.types.is_integer(column.type):
        return pc.cast(column, pa.int64()), None
    if pa.types.is_floating(column.type):
        whole = pc.or_kleene(pc.is_null(column), pc.equal(pc.floor(column), column))
        index = first_true(pc.invert(whole))
        if index is not None:
            return column, (index, f"{column[index].as_py()} is not an integer")
        return pc.cast(column, pa.int64()), None
    text = _trimmed(as_text(column))
    empty = pc.equal(pc.utf8_length(text), 0)
    valid = pc.or_(empty, pc.match_substring_regex(text, _INTEGER))
    index = first_true(pc.invert(valid))
    if index is not None:
        return column, (index, f"{_quote(text[index].as_py())} is not an integer")
    values = pc.if_else(
        empty, pa.scalar(None, pa.string()), pc.replace_substring_regex(text, r"^\+", "")
    )
    try:
        return pc.cast(values, pa.int64()), None
    except pa.ArrowInvalid:
        for index, value in enumerate(values.to_pylist()):
            if value is not None and not -(2**63) <= int(value) < 2**63:
                return column, (index, f"{value} is out of range for an integer")
        raise


def floats(column: pa.Array) -> tuple[pa.Array, tuple[int, str] | None]:
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.cast(column, pa.float64()), None
    text = _trimmed(as_text(column))
    empty = pc.equal(pc.utf8_length(text), 0)
    nan = pc.match_substring_regex(text, _NAN)
    valid = pc.or_(pc.or_(empty, nan), pc.match_substring_regex(text, _FLOAT))
    index = first_true(pc.invert(valid))
    if index is not None:
        return column, (index, f"{_quote(text[index].as_py())} is not a number")
    numbers = pc.if_else(
        pc.or_(empty, nan), pa.scalar(None, pa.string()), text
    )  # parsed below; NaN restored after
    values = pc.cast(numbers, pa.float64())
    values = pc.if_else(nan, pa.scalar(float("nan"), pa.float64()), values)
    return values, None


def timestamps(
    column: pa.Array, formats: Sequence[TimestampFormat]
) -> tuple[pa.Array, tuple[int, str] | None]:
    target = pa.timestamp(TIMESTAMP_UNIT)
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        values = column
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            values = pc.cast(column, pa.timestamp(column.type.unit))  # keep the UTC wall time
        values = pc.cast(values, target, safe=False)
        index = first_true(pc.is_null(values))
        if index is not None:
            return values, (index, "is empty; every row needs a timestamp")
        return values, None
    text = _trimmed(as_text(column))
    distinct = pc.unique(text)  # a time series repeats its timestamps: parse each once
    parsed_distinct: pa.Array | None = None
    for fmt in formats:
        attempt = _strict_strptime(distinct, fmt)
        parsed_distinct = (
            attempt if parsed_distinct is None else pc.coalesce(parsed_distinct, attempt)
        )
    assert parsed_distinct is not None
    parsed = pc.take(parsed_distinct, pc.index_in(text, value_set=distinct))
    index = first_true(pc.is_null(parsed))
    if index is not None:
        value = text[index].as_py()
        if not value:
            return parsed, (index, "is empty; every row needs a timestamp")
        expected = " or ".join(fmt.java for fmt in formats)
        return parsed, (index, f"{value!r} is not a timestamp in the format {expected}")
    return pc.cast(parsed, target), None


def _strict_strptime(text: pa.Array, fmt: TimestampFormat) -> pa.Array:
    """``strptime`` that refuses what Arrow would roll over (2019-02-30 is not March 2nd).

    Values that do not print back exactly as written (no leading zeros, say) are
    checked again with Python's ``datetime.strptime``, which knows calendars.
    """
    parsed = pc.strptime(text, format=fmt.strptime, unit=TIMESTAMP_UNIT, error_is_null=True)
    printed = pc.strftime(parsed, format=fmt.strptime)
    suspect = pc.and_kleene(pc.is_valid(parsed), pc.not_equal(printed, text))
    if not pc.any(suspect).as_py():
        return parsed
    values = parsed.to_pylist()
    for index in pc.indices_nonzero(pc.fill_null(suspect, False)).to_pylist():
        try:
            values[index] = datetime.strptime(text[index].as_py(), fmt.strptime)
        except ValueError:
            values[index] = None
    return pa.array(values, pa.timestamp(TIMESTAMP_UNIT))


def identifiers(
    column: pa.Array, name: str, required: bool
) -> tuple[pa.Array, tuple[int, str] | None]:
    empty = pc.fill_null(pc.equal(pc.utf8_length(column), 0), True)
    if required:
        index = first_true(empty)
        if index is not None:
            return column, (
                index,
                f"is empty; every row needs a value for {name}, which identifies its series",
            )
        return column, None
    return pc.if_else(empty, pa.scalar(None, pa.string()), column), None


def geolocations(
    column: pa.Array, geolocation_format: str, required: bool
) -> tuple[pa.Array, tuple[int, str] | None]:
    text = _trimmed(column)
    empty = pc.fill_null(pc.equal(pc.utf8_length(text), 0), True)
    if required:
        index = first_true(empty)
        if index is not None:
            return column, (index, "is empty; every row needs a geolocation")
    if geolocation_format == CC_POSTALCODE:
        valid = pc.or_(empty, pc.match_substring_regex(text, _CC_POSTALCODE))
        index = first_true(pc.invert(valid))
        if index is not None:
            return column, (
                index,
                f"{text[index].as_py()!r} is not a US postal code in the CC_POSTALCODE format "
                "(US_ followed by the 5-digit ZIP code, as in US_98121)",
            )
        return text, None
    for value in pc.unique(text).to_pylist():  # in order of first appearance
        if value and not _valid_lat_long(value):
            return column, (
                int(pc.index(text, value).as_py()),
                f"{value!r} is not a latitude and longitude in the LAT_LONG format "
                "(decimal degrees joined by an underscore, as in 47.61_-122.33; latitude "
                "-90 to 90, longitude -180 to 180)",
            )
    return text, None


def _valid_lat_long(value: str) -> bool:
    match = _LAT_LONG.match(value)
    if match is None:
        return False
    latitude, longitude = float(match.group(1)), float(match.group(2))
    return -90 <= latitude <= 90 and -180 <= longitude <= 180


def as_text(column: pa.Array) -> pa.Array:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def phases(timestamps: pa.Array, frequency: str) -> pa.Array:
    """Each timestamp's position within one period of ``frequency``: equal on one grid."""
    count_text = frequency.rstrip("YMWDHmin")
    unit = frequency[len(count_text) :]
    count = int(count_text or 1)
    if unit in _UNIT_SECONDS:
        seconds = pc.cast(pc.cast(timestamps, pa.int64()), pa.float64())
        period = float(count * _UNIT_SECONDS[unit])
        whole = pc.multiply(pc.floor(pc.divide(seconds, period)), period)
        return pc.cast(pc.subtract(seconds, whole), pa.int64())
    time_of_day = pc.add(
        pc.add(pc.multiply(pc.hour(timestamps), 3600), pc.multiply(pc.minute(timestamps), 60)),
        pc.second(timestamps),
    )
    if unit == "M":
        months = pc.add(pc.multiply(pc.year(timestamps), 12), pc.subtract(pc.month(timestamps), 1))
        month_phase = pc.subtract(
            months,
            pc.multiply(pc.cast(pc.floor(pc.divide(months, float(count))), pa.int64()), count),
        )
        day = pc.add(pc.multiply(month_phase, 32), pc.day(timestamps))
    else:  # Y
        day = pc.add(pc.multiply(pc.month(timestamps), 32), pc.day(timestamps))
    return pc.cast(pc.add(pc.multiply(day, 86_400), time_of_day), pa.int64())
