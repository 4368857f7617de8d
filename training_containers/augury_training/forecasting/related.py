"""Related time series, aligned with each item's target series and its horizon.

A model sees related features as a matrix with one row per point of the
item's series plus one per step of the horizon. Each feature is averaged onto
the forecast grid, then filled by the attribute's own filling methods (related
data have no defaults, as in Amazon Forecast). A feature that still has a hole
-- most often: no values for the horizon and no ``futurefill`` -- is left out
for that item: a model must not train on a feature it will not have when it
forecasts (CNN-QR's encoder alone reads such features: ``past_only_related``).

A predictor that names DeepAR+ or Prophet cannot leave its related data out
that way: the user chose the algorithm for that data, and Amazon requires every
series of it to extend over the forecast horizon for them.
:func:`check_future_values` fails such a training job, or a forecast of a
target that grew since, with the reason and the way out.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from augury_training.forecast_contract import FORWARD_LOOKING_ONLY, ForecastJobConfig
from augury_training.forecasting.filling import FieldFilling, aggregate, fill_related
from augury_training.forecasting.grid import Grid
from augury_training.forecasting.partition import DataError, encode, item_keys

_FOLD_ROWS = 1 << 20
"""Rows of per-batch summaries :class:`RelatedEnds` keeps before regrouping them."""


@dataclass(frozen=True)
class RelatedEnd:
    """Where one related feature stops first: the series whose values end earliest, and
    its last grid step with a value (None: that series has rows but no value of it)."""

    step: int | None
    series: tuple[str, ...]


class RelatedEnds:
    """Folds batches of related rows into each series' last step with a value, per feature.

    Amazon requires every series of the related data to reach the end of the horizon,
    not only the latest one, so the check needs the series that stops first. The fold
    keeps one row per series, however many batches the rows arrive in.
    """

    def __init__(self, identity: Sequence[str], fields: Sequence[str]) -> None:
        self._identity, self._fields = list(identity), list(fields)
        self._table: pa.Table | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def add(self, table: pa.Table, ordinals: np.ndarray) -> None:
        """Fold in ``table``'s rows, whose grid steps are ``ordinals``."""
        if not table.num_rows or not self._fields:
            return
        columns: dict[str, pa.Array] = {name: table.column(name) for name in self._identity}
        for name in self._fields:
            values = table.column(name).to_numpy(zero_copy_only=False).astype(float)
            columns[name] = pa.array(ordinals, pa.int64(), mask=np.isnan(values))
        batch = self._fold(pa.table(columns))
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        # regroup once the pending rows outgrow what is folded: linear time in all
        folded = 0 if self._table is None else self._table.num_rows
        if self._pending_rows > max(folded, _FOLD_ROWS):
            self._settle()

    def _settle(self) -> None:
        parts = ([self._table] if self._table is not None else []) + self._pending
        if parts:
            self._table = self._fold(pa.concat_tables(parts))
        self._pending, self._pending_rows = [], 0

    def _fold(self, rows: pa.Table) -> pa.Table:
        """One row per series: each feature's latest step with a value (null: none)."""
        folded = rows.group_by(self._identity).aggregate([(name, "max") for name in self._fields])
        return pa.table(
            {
                **{name: folded.column(name) for name in self._identity},
                **{name: folded.column(f"{name}_max") for name in self._fields},
            }
        )

    def ends(self) -> dict[str, RelatedEnd]:
        """Each feature with a value anywhere: where its earliest-ending series stops."""
        self._settle()
        result: dict[str, RelatedEnd] = {}
        if self._table is None:
            return result
        for name in self._fields:
            steps = self._table.column(name)
            if steps.null_count == len(steps):
                continue
            if steps.null_count:
                at, step = int(pc.index(pc.is_null(steps), True).as_py()), None
            else:
                numbers = steps.to_numpy()
                at = int(np.argmin(numbers))
                step = int(numbers[at])
            series = tuple(str(self._table.column(n)[at].as_py()) for n in self._identity)
            result[name] = RelatedEnd(step, series)
        return result


def group_related(
    related: pa.Table | None,
    identity: list[str],
    timestamp_field: str,
    fields: list[str],
    grid: Grid,
    keys: list[str],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The related rows of the items ``keys``: ``key -> (sorted ordinals, values matrix)``."""
    if related is None or not fields or related.num_rows == 0:
        return {}
    codes, related_keys = encode(item_keys(related, identity))
    wanted = set(keys)
    ordinals = grid.ordinals(related.column(timestamp_field).to_numpy())
    matrix = np.column_stack(
        [related.column(n).to_numpy(zero_copy_only=False).astype(float) for n in fields]
    )
    order = np.lexsort((ordinals, codes))
    codes, ordinals, matrix = codes[order], ordinals[order], matrix[order]
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
    result = {}
    for lo, hi in itertools.pairwise(bounds):
        key = related_keys[codes[lo]]
        if key in wanted:
            result[key] = (ordinals[lo:hi], matrix[lo:hi])
    return result


def align_related(
    rows: tuple[np.ndarray, np.ndarray] | None,
    start: int,
    history: int,
    horizon: int,
    fillings: list[FieldFilling],
) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The item's usable features over ``history`` points from ``start`` plus ``horizon``.

    Returns the ``(history + horizon, k)`` matrix (``None`` when no feature is
    usable) and the names of its ``k`` columns.
    """
    return _usable_features(rows, start, history + horizon, history, fillings, ())


def past_only_related(
    rows: tuple[np.ndarray, np.ndarray] | None,
    start: int,
    history: int,
    fillings: list[FieldFilling],
    skip: tuple[str, ...],
) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The features known over the item's history but not its horizon (``skip``: those
    known over both, which :func:`align_related` returned).

    Only CNN-QR reads these, in its encoder, as Amazon's CNN-QR accepts related
    data without future values; every other model must not see a feature it will
    not have when it forecasts.
    """
    if history < 1:
        return None, ()
    return _usable_features(rows, start, history, history, fillings, skip)


def _usable_features(
    rows: tuple[np.ndarray, np.ndarray] | None,
    start: int,
    length: int,
    history: int,
    fillings: list[FieldFilling],
    skip: tuple[str, ...],
) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Each feature (but ``skip``) over ``length`` points from ``start``, filled by its
    own methods; a feature that keeps a hole is left out."""
    if rows is None:
        return None, ()
    ordinals, matrix = rows
    columns, names = [], []
    for index, filling in enumerate(fillings):
        if filling.field in skip:
            continue
        ords, values = aggregate(ordinals, matrix[:, index], filling.aggregation)
        inside = (ords >= start) & (ords < start + length)
        raw = np.full(length, np.nan)
        raw[ords[inside] - start] = values[inside]
        filled = fill_related(raw, history, filling)
        if filled is not None:
            columns.append(filled)
            names.append(filling.field)
    if not columns:
        return None, ()
    return np.column_stack(columns), tuple(names)


def check_future_values(
    config: ForecastJobConfig,
    ends: Mapping[str, RelatedEnd],
    fillings: Sequence[FieldFilling],
    last: int,
    grid: Grid,
) -> None:
    """Fail a DeepAR+ or Prophet predictor, or its forecast, whose related features stop
    before the horizon in any series.

    ``ends`` holds where each feature's earliest-ending series stops
    (:class:`RelatedEnds`), ``last`` the target's last step. Amazon's rule is per
    series: every one in the related data reaches the target's end plus the horizon.
    A feature with a ``futurefill`` is filled over the horizon, so it passes. An
    AutoPredictor (or AutoML) is not failed: it uses such features with CNN-QR only,
    as Amazon's does.
    """
    named = [name for name in config.algorithms if name in FORWARD_LOOKING_ONLY]
    if config.auto or not named:
        return
    needed = last + config.horizon
    short = {
        filling.field: ends.get(filling.field)
        for filling in fillings
        if filling.future is None
        and (
            filling.field not in ends
            or ends[filling.field].step is None
            or ends[filling.field].step < needed
        )
    }
    if not short:
        return
    ended = ", ".join(f"{name} ({_stops(grid, end)})" for name, end in short.items())
    algorithm = named[0]
    raise DataError(
        f"The RELATED_TIME_SERIES data does not cover the forecast horizon in every series, "
        f"which {algorithm} needs: {ended}, but the {config.horizon}-step horizon after the "
        f"target time series' last time step ({_when(grid, last)}) runs to "
        f"{_when(grid, needed)}. {algorithm} uses related time series only with future "
        f"values. Import the future values of {', '.join(short)} for every series (or give "
        f"{'it' if len(short) == 1 else 'them'} a futurefill), or train CNN-QR, the only "
        "algorithm that accepts related time series without future values"
    )


def _stops(grid: Grid, end: RelatedEnd | None) -> str:
    if end is None:
        return "has no values"
    series = "/".join(end.series)
    if end.step is None:
        return f"{series} has no values"
    return f"{series} ends at {_when(grid, end.step)}"


def _when(grid: Grid, ordinal: int) -> str:
    """A grid step's start as ``yyyy-MM-dd HH:mm:ss``."""
    stamp = grid.timestamps(np.array([ordinal]))[0]
    return str(np.datetime_as_string(stamp, unit="s")).replace("T", " ")
