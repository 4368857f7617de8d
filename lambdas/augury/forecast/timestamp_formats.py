"""Forecast's TimestampFormat: Java-style patterns, translated for Arrow's ``strptime``.

Amazon Forecast documents two formats, ``yyyy-MM-dd`` (for Y, M, W and D data)
and ``yyyy-MM-dd HH:mm:ss`` (for every frequency, and the default when none is
given), and its model lets a pattern hold letters, digits, ``-:.,'`` and
spaces. Augury reads any pattern made of the calendar fields below and quoted
literals (``yyyy-MM-dd'T'HH:mm:ss``); anything else is refused up front with
an ``InvalidInputException`` naming the token, rather than importing dates
wrongly.

Sources: API_CreateDatasetImportJob (TimestampFormat) and "Dataset Guidelines
for Forecast" (dataset-import-guidelines-troubleshooting): "For Year, Month,
Week and Day collection frequencies, Forecast supports the yyyy-MM-dd timestamp
format and, optionally, the HH:mm:ss format. For Hour and Minute frequencies,
Forecast supports only the yyyy-MM-dd HH:mm:ss format."
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

DEFAULT = "yyyy-MM-dd HH:mm:ss"
DATE_ONLY = "yyyy-MM-dd"

_TOKENS = {
    "yyyy": "%Y",
    "yy": "%y",
    "MM": "%m",
    "dd": "%d",
    "HH": "%H",
    "mm": "%M",
    "ss": "%S",
}
_TIME_TOKENS = ("HH",)
_LITERALS = set("-:., ")
_PIECE = re.compile(r"'[^']*'|([A-Za-z])\1*|.", re.DOTALL)
_DATE_ONLY_UNITS = ("Y", "M", "W", "D")


class FormatError(ValueError):
    """The pattern cannot be read; the message is for the user."""


@dataclass(frozen=True)
class TimestampFormat:
    """One pattern: as the user wrote it, as ``strptime`` reads it, and whether it has a time."""

    java: str
    strptime: str
    has_time: bool

    @classmethod
    def parse(cls, java: str) -> TimestampFormat:
        pieces: list[str] = []
        has_time = False
        fields: list[str] = []
        for match in _PIECE.finditer(java):
            piece = match.group(0)
            if piece.startswith("'"):
                pieces.append(piece[1:-1].replace("%", "%%") if len(piece) > 2 else "'")
            elif piece in _TOKENS:
                pieces.append(_TOKENS[piece])
                fields.append(piece)
                has_time = has_time or piece in _TIME_TOKENS
            elif piece in _LITERALS:
                pieces.append(piece)
            else:
                raise FormatError(
                    f"TimestampFormat {java} is not supported: {piece!r} is not one of "
                    f"{', '.join(_TOKENS)} or a separator ({''.join(sorted(_LITERALS))}); "
                    f"use {DATE_ONLY} or {DEFAULT}"
                )
        if not any(f in fields for f in ("yyyy", "yy")) or "MM" not in fields or "dd" not in fields:
            raise FormatError(
                f"TimestampFormat {java} must contain a year (yyyy), a month (MM) and a day (dd)"
            )
        if fields.count("mm") and not has_time:
            raise FormatError(f"TimestampFormat {java} has minutes (mm) but no hour (HH)")
        return cls(java, "".join(pieces), has_time)


def formats_for(java: str | None, frequency: str | None) -> tuple[TimestampFormat, ...]:
    """The formats an import accepts, in the order they are tried.

    An explicit ``TimestampFormat`` is the only one. Without one, Forecast
    expects ``yyyy-MM-dd HH:mm:ss`` and also reads plain dates for Y, M, W and
    D data. Hourly and minute data must carry a time of day.
    """
    unit = _unit(frequency)
    if java is None:
        chosen = [TimestampFormat.parse(DEFAULT)]
        if unit in _DATE_ONLY_UNITS:
            chosen.append(TimestampFormat.parse(DATE_ONLY))
        return tuple(chosen)
    parsed = TimestampFormat.parse(java)
    if unit in ("H", "min") and not parsed.has_time:
        raise FormatError(
            f"TimestampFormat {java} has no time of day, but the dataset's DataFrequency "
            f"{frequency} is hourly or finer: use {DEFAULT}"
        )
    return (parsed,)


def _unit(frequency: str | None) -> str | None:
    if not frequency:
        return None
    return frequency.lstrip("0123456789")


def timestamp_text(value: date) -> str:
    """``yyyy-MM-dd HH:mm:ss``, the form Forecast's messages and FieldStatistics show.

    The year is padded here: ``strftime("%Y")`` leaves years before 1000 unpadded on
    Linux (``1-01-01``), and such dates do import.
    """
    return f"{value.year:04d}{value.strftime('-%m-%d %H:%M:%S')}"
