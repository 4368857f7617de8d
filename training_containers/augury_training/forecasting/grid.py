"""Amazon Forecast frequencies as an integer time grid.

Every timestamp is mapped to an *ordinal*: the index of the forecast-frequency
bucket it falls in. Regularising a series is then ``np.arange(first, last + 1)``,
aggregating finer data is a group-by on ordinals, and a bucket's label is the
timestamp of its start -- which is how Amazon labels aggregated points. Working
on integers instead of pandas offsets keeps the hot paths in NumPy and makes
"2W" or "45min" no harder than "D".

Bucket starts follow Amazon's time boundaries (``TimeAlignmentBoundary``): by
default years start in January, months on day 1, weeks on Monday and days at
hour 0; a predictor may move them (``{"DayOfWeek": "SUNDAY"}``, ``{"Hour": 6}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

_FREQUENCY = re.compile(r"^(?P<count>[1-9][0-9]*)?(?P<unit>Y|M|W|D|H|min)$")
_NS = {
    "min": 60 * 10**9,
    "H": 3600 * 10**9,
    "D": 86400 * 10**9,
    "W": 7 * 86400 * 10**9,
}
_MONDAY_EPOCH_DAYS = 4  # 1970-01-05 was a Monday
_WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_MONTHS = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)
_UNIT_ORDER = ("min", "H", "D", "W", "M", "Y")
_MAX_COUNT = {"min": 59, "H": 23, "D": 6, "W": 4, "M": 11, "Y": 1}
_APPROX_MINUTES = {"min": 1, "H": 60, "D": 1440, "W": 10080, "M": 43830, "Y": 525960}


@dataclass(frozen=True)
class Frequency:
    """An Amazon frequency such as ``D``, ``2W`` or ``15min``."""

    count: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Frequency:
        match = _FREQUENCY.match(str(text).strip())
        if match is None:
            raise ValueError(
                f"frequency {text!r} is not one Amazon Forecast understands: use an optional "
                "integer followed by Y, M, W, D or H, or an integer followed by min "
                "(for example D, 2W, 15min)"
            )
        unit, count = match["unit"], int(match["count"] or 0)
        if unit == "min" and not count:
            raise ValueError(f"frequency {text!r} needs a number of minutes, as in 1min")
        if count > _MAX_COUNT[unit]:
            raise ValueError(
                f"frequency {text!r} is not valid: at most {_MAX_COUNT[unit]}{unit}; "
                "use the next larger unit"
            )
        return cls(count or 1, unit)

    def __str__(self) -> str:
        return self.unit if self.count == 1 and self.unit != "min" else f"{self.count}{self.unit}"

    @property
    def approx_minutes(self) -> float:
        """Rough length, only to compare frequencies (a month is 30.4 days)."""
        return self.count * _APPROX_MINUTES[self.unit]

    @property
    def season_length(self) -> int:
        """Points per natural cycle: the seasonality models and MASE use.

        A day for sub-daily data, a week for daily, a year for weekly, monthly and
        quarterly data, 1 (no seasonality) for yearly data or when the frequency
        does not divide the cycle evenly.
        """
        cycles = {"min": 1440, "H": 24, "D": 7, "W": 52, "M": 12, "Y": 1}
        cycle = cycles[self.unit]
        if self.unit == "W":
            return max(1, round(cycle / self.count))
        if cycle % self.count == 0:
            return cycle // self.count
        if self.unit == "min" and 60 % self.count == 0:
            return 60 // self.count
        return 1


def _boundary(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Normalise a TimeAlignmentBoundary (Amazon's or snake_case keys) with defaults."""
    raw = dict(raw or {})
    get = lambda *names: next((raw[n] for n in names if raw.get(n) is not None), None)  # noqa: E731
    month = get("Month", "month") or "JANUARY"
    weekday = get("DayOfWeek", "day_of_week") or "MONDAY"
    day = int(get("DayOfMonth", "day_of_month") or 1)
    hour = int(get("Hour", "hour") or 0)
    if str(month).upper() not in _MONTHS:
        raise ValueError(f"TimeAlignmentBoundary Month {month!r} is not a month name")
    if str(weekday).upper() not in _WEEKDAYS:
        raise ValueError(f"TimeAlignmentBoundary DayOfWeek {weekday!r} is not a weekday name")
    if not 1 <= day <= 28:
        raise ValueError(f"TimeAlignmentBoundary DayOfMonth {day} is not between 1 and 28")
    if not 0 <= hour <= 23:
        raise ValueError(f"TimeAlignmentBoundary Hour {hour} is not between 0 and 23")
    return {
        "month": _MONTHS.index(str(month).upper()),
        "weekday": _WEEKDAYS.index(str(weekday).upper()),
        "day": day,
        "hour": hour,
    }


class Grid:
    """Maps timestamps to bucket ordinals of one frequency, and ordinals back."""

    def __init__(self, frequency: str | Frequency, boundary: dict[str, Any] | None = None):
        self.frequency = (
            frequency if isinstance(frequency, Frequency) else Frequency.parse(frequency)
        )
        self._b = _boundary(boundary)
        unit, count = self.frequency.unit, self.frequency.count
        if unit in _NS:
            origin_days = _MONDAY_EPOCH_DAYS + self._b["weekday"] if unit == "W" else 0
            hour = self._b["hour"] if unit in ("D", "W") else 0
            self._origin = np.int64(origin_days * _NS["D"] + hour * _NS["H"])
            self._step = np.int64(count * _NS[unit])

    def __repr__(self) -> str:
        return f"Grid({str(self.frequency)!r})"

    def ordinals(self, timestamps: np.ndarray) -> np.ndarray:
        """The bucket of each timestamp (``datetime64``), as ``int64``."""
        ts = np.asarray(timestamps).astype("datetime64[ns]")
        unit, count = self.frequency.unit, self.frequency.count
        if unit in _NS:
            return np.floor_divide(ts.astype(np.int64) - self._origin, self._step)
        months = ts.astype("datetime64[M]")
        day = (ts.astype("datetime64[D]") - months.astype("datetime64[D]")).astype(np.int64) + 1
        hour = (ts - ts.astype("datetime64[D]")).astype("timedelta64[h]").astype(np.int64)
        month_index = months.astype(np.int64)  # months since 1970-01
        before = (day < self._b["day"]) | ((day == self._b["day"]) & (hour < self._b["hour"]))
        if unit == "M":
            return np.floor_divide(month_index - before, count)
        month_of_year = month_index % 12
        year = month_index // 12
        early = (month_of_year < self._b["month"]) | ((month_of_year == self._b["month"]) & before)
        return np.floor_divide(year - early, count)

    def timestamps(self, ordinals: np.ndarray | int) -> np.ndarray:
        """The start of each bucket, as ``datetime64[ns]``."""
        index = np.asarray(ordinals, dtype=np.int64)
        unit, count = self.frequency.unit, self.frequency.count
        if unit in _NS:
            return (index * self._step + self._origin).astype("datetime64[ns]")
        month_index = index * count if unit == "M" else index * count * 12 + self._b["month"]
        start = month_index.astype("datetime64[M]").astype("datetime64[ns]")
        offset = np.timedelta64(self._b["day"] - 1, "D") + np.timedelta64(self._b["hour"], "h")
        return start + offset.astype("timedelta64[ns]")

    def is_finer_or_equal(self, other: Frequency) -> bool:
        """Whether this grid's frequency is at least as fine as ``other``."""
        return self.frequency.approx_minutes <= other.approx_minutes


def season_length(frequency: str) -> int:
    """Points per seasonal cycle for an Amazon frequency (7 for D, 12 for M...)."""
    return Frequency.parse(frequency).season_length
