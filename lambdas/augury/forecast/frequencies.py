"""Forecast frequencies (``D``, ``2W``, ``15min``...): parsing, ordering and counting periods.

A predictor's horizon and backtest limits are stated in time steps of the
forecast frequency ("1/4 of the TARGET_TIME_SERIES dataset length"), so the
control plane must count how many steps a dataset spans. Months and years are
calendar units, not fixed durations, and are counted on the calendar.

Rules (Amazon Forecast API reference, CreateAutoPredictor / FeaturizationConfig
``ForecastFrequency``): an optional integer followed by Y, M, W, D or H, or an
integer followed by ``min``; minutes 1-59, hours 1-23, days 1-6, weeks 1-4,
months 1-11, years 1. ``1D`` and ``D`` are the same frequency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from augury.resources.errors import InvalidInput

_PATTERN = re.compile(r"^(?P<count>[1-9][0-9]*)?(?P<unit>Y|M|W|D|H|min)$")
_LIMITS = {"min": 59, "H": 23, "D": 6, "W": 4, "M": 11, "Y": 1}
_FIXED = {"min": timedelta(minutes=1), "H": timedelta(hours=1), "D": timedelta(days=1)}
_FIXED["W"] = timedelta(weeks=1)
_APPROXIMATE_MINUTES = {"min": 1, "H": 60, "D": 1440, "W": 10080, "M": 43830, "Y": 525960}
"""Average length of each unit, used only to order frequencies (a month is 30.4 days)."""


@dataclass(frozen=True)
class Frequency:
    """A parsed frequency: ``count`` units of ``unit``."""

    count: int
    unit: str

    def __str__(self) -> str:
        return f"{self.count}{self.unit}" if self.count != 1 or self.unit == "min" else self.unit

    @property
    def approximate_minutes(self) -> float:
        return self.count * _APPROXIMATE_MINUTES[self.unit]

    @property
    def calendar(self) -> bool:
        """Months and years: steps are counted on the calendar, not in seconds."""
        return self.unit in ("M", "Y")

    def periods_between(self, start: datetime, end: datetime) -> int:
        """Whole steps from ``start`` to ``end`` (``end`` after ``start``)."""
        if self.calendar:
            months = (end.year - start.year) * 12 + (end.month - start.month)
            if (end.day, end.time()) < (start.day, start.time()):
                months -= 1
            per_step = self.count * (12 if self.unit == "Y" else 1)
            return max(0, months // per_step)
        step = _FIXED[self.unit] * self.count
        return max(0, (end - start) // step)

    def length(self, start: datetime, end: datetime) -> int:
        """How many time steps a series from ``start`` to ``end`` (inclusive) holds."""
        return self.periods_between(start, end) + 1


def parse(text: str, member: str = "ForecastFrequency") -> Frequency:
    """The frequency ``text`` names, or ``InvalidInput`` saying what is allowed."""
    match = _PATTERN.match(text or "")
    if match is None:
        raise InvalidInput(
            f"{member} {text} is not valid: use an optional integer followed by Y, M, W, D or H, "
            "or an integer followed by min (for example D, 2W, 3M or 15min)"
        )
    unit = match["unit"]
    if unit == "min" and not match["count"]:
        raise InvalidInput(f"{member} {text} needs a number of minutes, as in 15min")
    count = int(match["count"] or 1)
    limit = _LIMITS[unit]
    if count > limit:
        raise InvalidInput(
            f"{member} {text} is not valid: {unit} takes 1 to {limit}; a longer interval "
            "overlaps the next larger unit (use it instead, as in 1H rather than 60min)"
        )
    return Frequency(count, unit)


def same(a: str, b: str) -> bool:
    """``D`` and ``1D`` are the same frequency."""
    return parse(a) == parse(b)
