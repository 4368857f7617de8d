"""Amazon Forecast's filling and aggregation, on NumPy arrays.

Amazon names the regions of a series it fills (Developer Guide, "Handling
Missing Values", and the ``filling`` FeaturizationMethod):

- *front*: before the item's first value. The target is never front-filled
  (``frontfill: none``), so a series starts at its item's first point;
- *middle*: gaps between the item's first and last value;
- *back*: from the item's last value to the dataset's global end;
- *future* (related time series only): from the global end to the end of the
  forecast horizon.

Methods are ``zero``, ``nan``, ``value`` (with ``<region>_value``), ``mean``,
``median``, ``min`` and ``max``. The target defaults to ``zero`` for middle and
back; related time series have no defaults. The statistics are computed, as
Amazon documents, over a rolling window of the 64 most recent observed values
before each gap, so a long series' distant past does not set today's fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from augury_training.contract import ClientError
from augury_training.forecast_contract import Featurization

STATISTIC_WINDOW = 64
"""Observed values before a gap that mean/median/min/max filling looks at."""

METHODS = ("zero", "nan", "value", "mean", "median", "min", "max")
AGGREGATIONS = ("sum", "avg", "first", "min", "max")
_STATISTICS = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}


class FillingError(ClientError):
    """A featurization the container cannot apply (unknown method, missing value)."""


@dataclass(frozen=True)
class FillMethod:
    """One region's method; ``value`` only for the ``value`` method."""

    method: str
    value: float | None = None

    @classmethod
    def parse(cls, field: str, region: str, method: str | None, value: float | None):
        """Amazon's ``(method, <region>_value)`` pair, or ``None`` for no filling.

        A bare number as the method (``"middlefill": "2"``) is accepted as
        ``value`` too, which is how the contract documents it.
        """
        if method is None or str(method).lower() == "none":
            return None
        text = str(method).strip().lower()
        if text not in METHODS:
            try:
                return cls("value", float(text))
            except ValueError:
                raise FillingError(
                    f"{region} method {method!r} for attribute {field} is not valid; "
                    f"use one of {', '.join(METHODS)}"
                ) from None
        if text == "value":
            if value is None or (isinstance(value, float) and math.isnan(value)):
                raise FillingError(
                    f"{region} is 'value' for attribute {field} but {region}_value is missing"
                )
            return cls("value", float(value))
        return cls(text)


@dataclass(frozen=True)
class FieldFilling:
    """The filling of one attribute: a method (or None) per region, and aggregation."""

    field: str
    front: FillMethod | None
    middle: FillMethod | None
    back: FillMethod | None
    future: FillMethod | None
    aggregation: str = "sum"

    @classmethod
    def for_target(cls, field: str, featurizations: list[Featurization]) -> FieldFilling:
        """The target's filling: Amazon's defaults (middle and back ``zero``) unless set."""
        f = _find(field, featurizations) or Featurization(field=field)
        if f.frontfill not in (None, "none"):
            raise FillingError(
                f"frontfill for the target attribute {field} must be 'none': Amazon Forecast "
                "starts each series at its first value"
            )
        aggregation = (f.aggregation or "sum").lower()
        if aggregation not in AGGREGATIONS:
            raise FillingError(
                f"aggregation {f.aggregation!r} for attribute {field} is not valid; "
                f"use one of {', '.join(AGGREGATIONS)}"
            )
        return cls(
            field,
            None,
            FillMethod.parse(field, "middlefill", f.middlefill or "zero", f.middlefill_value),
            FillMethod.parse(field, "backfill", f.backfill or "zero", f.backfill_value),
            None,
            aggregation,
        )

    @classmethod
    def for_related(cls, field: str, featurizations: list[Featurization]) -> FieldFilling:
        """A related attribute's filling: no defaults, as Amazon has none.

        Related data are averaged when they are finer than the forecast
        frequency (Amazon takes no aggregation for them; a price is not summed).
        """
        f = _find(field, featurizations)
        if f is None:
            return cls(field, None, None, None, None, "avg")
        return cls(
            field,
            FillMethod.parse(field, "frontfill", f.frontfill, None),
            FillMethod.parse(field, "middlefill", f.middlefill, f.middlefill_value),
            FillMethod.parse(field, "backfill", f.backfill, f.backfill_value),
            FillMethod.parse(field, "futurefill", f.futurefill, f.futurefill_value),
            "avg",
        )


def _find(field: str, featurizations: list[Featurization]) -> Featurization | None:
    return next((f for f in featurizations if f.field == field), None)


def aggregate(ordinals: np.ndarray, values: np.ndarray, how: str = "sum"):
    """Collapse points sharing a bucket: ``(unique ordinals, one value each)``.

    ``ordinals`` must be sorted. Missing values (NaN) are ignored; a bucket
    with no value stays NaN so it is filled like any other gap.
    """
    if ordinals.size == 0:
        return ordinals, values.astype(float)
    starts = np.flatnonzero(np.r_[True, ordinals[1:] != ordinals[:-1]])
    unique = ordinals[starts]
    if starts.size == ordinals.size:
        return unique, values.astype(float)
    present = ~np.isnan(values)
    counts = np.add.reduceat(present.astype(np.int64), starts)
    if how in ("sum", "avg"):
        sums = np.add.reduceat(np.where(present, values, 0.0), starts)
        result = sums / np.maximum(counts, 1) if how == "avg" else sums
    elif how == "min":
        result = np.fmin.reduceat(values, starts)
    elif how == "max":
        result = np.fmax.reduceat(values, starts)
    elif how == "first":
        position = np.where(present, np.arange(values.size), values.size)
        first = np.minimum.reduceat(position, starts)
        result = np.where(first < values.size, values[np.minimum(first, values.size - 1)], np.nan)
    else:
        raise FillingError(f"aggregation {how!r} is not valid; use one of {AGGREGATIONS}")
    return unique, np.where(counts > 0, result, np.nan)


def fill_region(
    values: np.ndarray, observed: np.ndarray, region: np.ndarray, method: FillMethod
) -> None:
    """Fill ``values[region]`` in place with ``method``.

    Statistics come from the last ``STATISTIC_WINDOW`` observed values before
    each contiguous gap of ``region`` (all observed values when none precede
    it, e.g. a related series' front); ``observed`` marks real data points.
    """
    positions = np.flatnonzero(region)
    if positions.size == 0:
        return
    if method.method in ("zero", "nan", "value"):
        values[positions] = {"zero": 0.0, "nan": np.nan}.get(method.method, method.value)
        return
    statistic = _STATISTICS[method.method]
    observed_at = np.flatnonzero(observed)
    if observed_at.size == 0:
        values[positions] = np.nan
        return
    gap_starts = positions[np.r_[True, np.diff(positions) > 1]]
    gap_ends = np.r_[positions[np.flatnonzero(np.diff(positions) > 1)], positions[-1]]
    for start, end in zip(gap_starts, gap_ends, strict=True):
        before = np.searchsorted(observed_at, start)
        window = observed_at[max(0, before - STATISTIC_WINDOW) : before]
        if window.size == 0:
            window = observed_at[:STATISTIC_WINDOW]
        values[start : end + 1][region[start : end + 1]] = statistic(values[window])


def fill_target(values: np.ndarray, filling: FieldFilling) -> tuple[np.ndarray, np.ndarray]:
    """Fill a regular target series that runs from its first value to the global end.

    Returns ``(filled values, filled mask)``; the mask marks points that were
    not observed. A point filled with ``nan`` stays NaN, and a backtest window
    holding one leaves its item out of the accuracy metrics (``scoring``).
    """
    values = np.asarray(values, dtype=float).copy()
    observed = ~np.isnan(values)
    missing = ~observed
    if not missing.any():
        return values, missing
    last = int(np.flatnonzero(observed)[-1]) if observed.any() else -1
    index = np.arange(values.size)
    if filling.middle is not None:
        fill_region(values, observed, missing & (index < last), filling.middle)
    if filling.back is not None:
        fill_region(values, observed, missing & (index > last), filling.back)
    return values, missing


def fill_related(values: np.ndarray, history_end: int, filling: FieldFilling) -> np.ndarray | None:
    """Fill one related attribute over ``[item start, global end + horizon)``.

    ``history_end`` is the index of the first future point. Front gaps use
    ``frontfill``, else ``middlefill``. Returns ``None`` when a missing value
    has no method (or stays NaN): Amazon then cannot use the attribute for this
    item, and neither does Augury.
    """
    values = np.asarray(values, dtype=float).copy()
    observed = ~np.isnan(values)
    if observed.all():
        return values
    if not observed.any():
        return None
    index = np.arange(values.size)
    first, last = np.flatnonzero(observed)[[0, -1]]
    regions = (
        (index < first, filling.front or filling.middle),
        ((index > first) & (index < last), filling.middle),
        ((index > last) & (index < history_end), filling.back),
        ((index > last) & (index >= history_end), filling.future),
    )
    for where, method in regions:
        where = where & ~observed
        if where.any():
            if method is None:
                return None
            fill_region(values, observed, where, method)
    return None if np.isnan(values).any() else values
