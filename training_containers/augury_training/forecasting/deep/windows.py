"""Many series → the fixed-length windows a global model trains and predicts on.

A window is ``context_length + prediction_length`` consecutive points of one
series ending anywhere in its history (training) or at its end (prediction).
For every point the model sees:

* **lagged values** of the target at the lags :func:`lags_for_frequency` picks
  (the last week, the same day in previous weeks, last year...), divided by the
  window's **scale**, with a 0/1 mask saying whether each lag was observed.
  Missing values (NaN) and points before the series began are masked zeros, so
  gaps never need filling and the model learns what "unknown" means;
* **calendar features** of the point's timestamp for the frequency
  (:func:`calendar_features`, sin/cos pairs so December sits next to January);
* an **age** feature (log of points since the series began), which tells young
  series and cold-start items (age 0 at the forecast start) apart;
* **related time series**, standardised per column, known for the history and
  the forecast horizon;
* **past-only related series** (``past_related``: known for the history only,
  such as web traffic or a competitor's price), standardised like ``related``,
  for models whose encoder reads them (CNN-QR); they never reach the horizon;
* per-item **metadata codes**, turned into embeddings by the model.

The scale is the mean absolute observed value in the window's context, so
series of any magnitude look alike to the network (DeepAR's mean scaling).
When the context has no observation at all (a cold-start item, a window at a
series' very beginning) the caller's ``fallback_scale`` applies: the model
derives it from items with the same metadata, so the scale is never zero and
never a silent 1. A context of observed zeros is different: the item is there
and sells nothing (a discontinued product, a quiet stretch of an intermittent
one). It takes the caller's ``quiet_scale``, a slow item's level, so the network
can tell "nothing sold" from "nothing known": with the metadata fallback, an
item that stopped selling was forecast like a new item of its category.

Each series is stored once, padded with NaN on the left (room for the longest
lag and context before the first point) and on the right (the horizon), and all
series are laid end to end in one flat array: a batch of windows is then one
fancy-indexing gather, with no per-window Python work.

:func:`gather_windows` builds the lag tensors an autoregressive model
(DeepAR+) reads; :func:`gather_context_windows` is the lean form for models
that read the raw context directly (CNN-QR's convolutions): no lags, and the
past-only related series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from augury_training.forecasting.grid import Frequency, Grid

__all__ = [
    "ContextWindows",
    "PreparedSet",
    "SeriesSet",
    "Windows",
    "calendar_features",
    "gather_context_windows",
    "gather_windows",
    "lags_for_frequency",
    "past_related_statistics",
    "prepare",
    "related_statistics",
    "series_levels",
    "training_starts",
]

AGE_NORMALISER = 7.0
"""log1p(age) / 7 is about 1 after 1,100 points: an input of order one."""

_ANCHOR = np.datetime64("2000-01-01")
"""Where end-aligned series (no ``starts`` given) begin their forecast."""

# Natural cycles per unit, in that unit, and how many past cycles to look back over.
_CYCLES: dict[str, tuple[tuple[int, int], ...]] = {
    "min": ((60, 3), (1440, 1)),
    "H": ((24, 3), (168, 1)),
    "D": ((7, 3), (30, 1), (365, 1)),
    "W": ((4, 3), (52, 1)),
    "M": ((3, 1), (12, 3)),
    "Y": (),
}

# Calendar components shown to the model per unit; each becomes a sin/cos pair.
_CALENDAR: dict[str, tuple[str, ...]] = {
    "min": ("minute_of_hour", "hour_of_day", "day_of_week"),
    "H": ("hour_of_day", "day_of_week", "day_of_year"),
    "D": ("day_of_week", "day_of_month", "day_of_year"),
    "W": ("day_of_month", "day_of_year"),
    "M": ("month_of_year",),
    "Y": (),
}


@dataclass
class SeriesSet:
    """The series a global model trains on or forecasts, as plain NumPy.

    ``targets[i]`` is item i's history, oldest first, NaN where missing; it may
    be empty (a cold-start item: only metadata). ``starts[i]`` is the
    ``datetime64`` of its first point, or of its first forecast point when it
    is empty; ``None`` means every series ends at the same time (calendar
    features then use an arbitrary common date). ``related[i]``, when given,
    has one row per history point plus one per horizon step (the future values
    Amazon's related time series must cover). ``categories`` holds integer
    metadata codes, one row per item and one column per categorical attribute,
    -1 where unknown. ``past_related[i]``, when given, has one row per history
    point only (related series with no future values, which only models that
    encode the past use) and the same number of columns for every item.
    """

    targets: Sequence[np.ndarray]
    frequency: str
    starts: np.ndarray | None = None
    related: Sequence[np.ndarray] | None = None
    categories: np.ndarray | None = None
    past_related: Sequence[np.ndarray] | None = None

    def __post_init__(self) -> None:
        n = len(self.targets)
        if self.starts is not None and len(self.starts) != n:
            raise ValueError(f"starts has {len(self.starts)} entries for {n} series")
        if self.related is not None and len(self.related) != n:
            raise ValueError(f"related has {len(self.related)} arrays for {n} series")
        if self.categories is not None:
            codes = np.asarray(self.categories)
            if codes.ndim != 2 or codes.shape[0] != n:
                raise ValueError(f"categories must have shape ({n}, columns), got {codes.shape}")
        if self.past_related is not None:
            self._check_past_related(n)
        Frequency.parse(self.frequency)  # a bad frequency fails here, with Grid's message

    def _check_past_related(self, n: int) -> None:
        """One row per history point, and one column count for all items (a 1-D array is
        one column)."""
        assert self.past_related is not None
        if len(self.past_related) != n:
            raise ValueError(f"past_related has {len(self.past_related)} arrays for {n} series")
        widths = set()
        for i, (rows, target) in enumerate(zip(self.past_related, self.targets, strict=True)):
            shape = np.shape(rows)
            if len(shape) not in (1, 2) or shape[0] != len(target):
                raise ValueError(
                    f"past_related series {i} has shape {shape}; it needs one row per history "
                    f"point ({len(target)})"
                )
            if len(shape) == 2 or shape[0]:  # an empty 1-D array fits any column count
                widths.add(1 if len(shape) == 1 else shape[1])
        if len(widths) > 1:
            raise ValueError(f"past_related series differ in their column counts: {sorted(widths)}")

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(t) for t in self.targets], dtype=np.int64)


def lags_for_frequency(frequency: str, longest_history: int | None = None) -> np.ndarray:
    """The lags the model reads at every step: the last 7 points, then each natural cycle
    of the frequency (day, week, year...) plus and minus one point, over a few cycles.

    The ±1 neighbours let the model cope with cycles that drift (months of 30 or
    31 days, 52 or 53 weeks a year). Lags longer than the longest history are
    dropped: no window could ever fill them.
    """
    unit_frequency = Frequency.parse(frequency)
    lags = set(range(1, 8))
    for cycle, repeats in _CYCLES[unit_frequency.unit]:
        period = round(cycle / unit_frequency.count)
        if period < 2:
            continue
        for k in range(1, repeats + 1):
            lags.update((k * period - 1, k * period, k * period + 1))
    chosen = sorted(lag for lag in lags if lag >= 1)
    if longest_history is not None:
        chosen = [lag for lag in chosen if lag <= max(1, longest_history)] or [1]
    return np.array(chosen, dtype=np.int64)


def calendar_features(timestamps: np.ndarray, frequency: str) -> np.ndarray:
    """Sin/cos of where each timestamp sits in the cycles that matter at this frequency.

    Returns ``(len(timestamps), 2 * components)`` float32 (zero columns for yearly data).
    """
    unit = Frequency.parse(frequency).unit
    names = _CALENDAR[unit]
    ts = np.asarray(timestamps).astype("datetime64[m]")
    if not names:
        return np.zeros((ts.shape[0], 0), dtype=np.float32)
    minutes = ts.astype(np.int64)
    days = ts.astype("datetime64[D]")
    months = ts.astype("datetime64[M]")
    years = ts.astype("datetime64[Y]")
    phases = {
        "minute_of_hour": (minutes % 60) / 60.0,
        "hour_of_day": ((minutes // 60) % 24) / 24.0,
        # 1970-01-01 was a Thursday; Monday is 0.
        "day_of_week": ((days.astype(np.int64) + 3) % 7) / 7.0,
        "day_of_month": (days - months.astype("datetime64[D]")).astype(np.int64) / 31.0,
        "day_of_year": (days - years.astype("datetime64[D]")).astype(np.int64) / 366.0,
        "month_of_year": (months.astype(np.int64) % 12) / 12.0,
    }
    columns = []
    for name in names:
        angle = 2.0 * np.pi * phases[name]
        columns.extend((np.sin(angle), np.cos(angle)))
    return np.stack(columns, axis=1).astype(np.float32)


def related_statistics(data: SeriesSet) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-column mean and standard deviation of the related series (None: no related data).

    Computed once on the training set and reused at prediction, so a price means
    the same thing to the model in both.
    """
    return _column_statistics(data.related)


def past_related_statistics(data: SeriesSet) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`related_statistics` for the past-only related series."""
    return _column_statistics(data.past_related)


def _column_statistics(
    arrays: Sequence[np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    if arrays is None:
        return None
    rows = [np.asarray(r, dtype=np.float64).reshape(len(r), -1) for r in arrays if len(r)]
    stacked = np.concatenate(rows, axis=0) if rows else np.zeros((0, 0))
    if stacked.size == 0:
        return None
    mean = np.nanmean(stacked, axis=0)
    std = np.nanstd(stacked, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return mean, std


@dataclass
class PreparedSet:
    """A :class:`SeriesSet` laid out for fast window gathering (see the module docstring).

    Series i occupies ``values[offsets[i] : offsets[i] + pad + lengths[i] + horizon]``;
    its first history point is at block position ``pad``.
    """

    values: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    pad: int
    horizon: int
    first_ordinals: np.ndarray
    calendar: np.ndarray
    calendar_origin: int
    related: np.ndarray | None
    codes: np.ndarray
    past_related: np.ndarray | None = None

    @property
    def n_series(self) -> int:
        return int(self.lengths.shape[0])


def prepare(
    data: SeriesSet,
    horizon: int,
    context_length: int,
    lags: np.ndarray | None,
    related_stats: tuple[np.ndarray, np.ndarray] | None,
    n_related: int,
    *,
    past_related_stats: tuple[np.ndarray, np.ndarray] | None = None,
    n_past_related: int = 0,
) -> PreparedSet:
    """Pad, flatten and featurise ``data`` for windows of ``context_length + horizon``.

    ``n_related`` is the number of related columns the model was built with
    (0: none); every series must then bring exactly that many columns covering
    its history and the horizon. ``n_past_related`` is the same for the
    past-only related series, which cover the history only. ``lags`` is
    ``None`` for models that read no lags (no room is kept for them).
    """
    lengths = data.lengths
    n = lengths.shape[0]
    longest_lag = 0 if lags is None else int(lags.max())
    pad = longest_lag + context_length + horizon
    blocks = pad + lengths + horizon
    offsets = np.concatenate([[0], np.cumsum(blocks)[:-1]]).astype(np.int64)
    values = np.full(int(blocks.sum()), np.nan, dtype=np.float32)
    for i, target in enumerate(data.targets):
        start = offsets[i] + pad
        values[start : start + lengths[i]] = np.asarray(target, dtype=np.float32)
    related = None
    if n_related:
        related = _flat_related(data, lengths, offsets, blocks, pad, horizon, n_related)
        if related_stats is not None:
            related = (related - related_stats[0]) / related_stats[1]
        related = np.nan_to_num(related, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    past_related = None
    if n_past_related:
        past_related = _flat_past_related(data, lengths, offsets, blocks, pad, n_past_related)
        if past_related_stats is not None:
            past_related = (past_related - past_related_stats[0]) / past_related_stats[1]
        past_related = np.nan_to_num(past_related, nan=0.0, posinf=0.0, neginf=0.0)
        past_related = past_related.astype(np.float32)
    grid = Grid(data.frequency)
    if data.starts is None:
        first = int(grid.ordinals(np.array([_ANCHOR]))[0]) - lengths
    else:
        first = grid.ordinals(np.asarray(data.starts).astype("datetime64[ns]"))
    first = np.asarray(first, dtype=np.int64)
    origin = int(first.min()) - pad if n else 0
    last = int((first + lengths).max()) + horizon if n else 0
    calendar = calendar_features(grid.timestamps(np.arange(origin, last + 1)), data.frequency)
    if data.categories is None:
        codes = np.zeros((n, 0), dtype=np.int64)
    else:
        codes = np.asarray(data.categories, dtype=np.int64)
    return PreparedSet(
        values=values,
        offsets=offsets,
        lengths=lengths,
        pad=pad,
        horizon=horizon,
        first_ordinals=first,
        calendar=calendar,
        calendar_origin=origin,
        related=related,
        codes=codes,
        past_related=past_related,
    )


def _flat_related(
    data: SeriesSet,
    lengths: np.ndarray,
    offsets: np.ndarray,
    blocks: np.ndarray,
    pad: int,
    horizon: int,
    width: int,
) -> np.ndarray:
    if data.related is None:
        raise ValueError(f"the model was trained with {width} related columns; none were given")
    out = np.zeros((int(blocks.sum()), width), dtype=np.float64)
    for i, rows in enumerate(data.related):
        matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        expected = int(lengths[i]) + horizon
        if matrix.shape != (expected, width):
            raise ValueError(
                f"related series {i} has shape {matrix.shape}; it needs one row per history "
                f"point and forecast step ({expected}) and {width} columns"
            )
        out[offsets[i] + pad : offsets[i] + pad + expected] = matrix
    return out


def _flat_past_related(
    data: SeriesSet,
    lengths: np.ndarray,
    offsets: np.ndarray,
    blocks: np.ndarray,
    pad: int,
    width: int,
) -> np.ndarray:
    """Past-only related values in the flat layout: the history rows, NaN elsewhere (0 once
    standardised), so nothing after a window's context is ever read from them."""
    if data.past_related is None:
        raise ValueError(
            f"the model was trained with {width} past-only related columns; none were given"
        )
    out = np.full((int(blocks.sum()), width), np.nan)
    for i, rows in enumerate(data.past_related):
        if not len(rows) and not lengths[i]:
            continue  # a cold-start item: no history, nothing to read
        matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        if matrix.shape != (int(lengths[i]), width):
            raise ValueError(
                f"past_related series {i} has shape {matrix.shape}; it needs one row per "
                f"history point ({int(lengths[i])}) and {width} columns"
            )
        out[offsets[i] + pad : offsets[i] + pad + lengths[i]] = matrix
    return out


def series_levels(prepared: PreparedSet) -> np.ndarray:
    """Each series' mean absolute observed value (NaN: no non-zero observation at all)."""
    levels = np.full(prepared.n_series, np.nan)
    for i in range(prepared.n_series):
        start = prepared.offsets[i] + prepared.pad
        history = prepared.values[start : start + prepared.lengths[i]]
        observed = np.abs(history[np.isfinite(history)])
        if observed.size and observed.mean() > 0:
            levels[i] = float(observed.mean())
    return levels


def training_starts(
    prepared: PreparedSet,
    usable: np.ndarray,
    rng: np.random.Generator,
    max_windows: int,
) -> tuple[np.ndarray, np.ndarray]:
    """This epoch's training windows as (series, block position of the first predicted point).

    Series i trains on its first ``usable[i]`` points only (the rest is held
    out for validation). Its windows start anywhere from its very first point
    (an empty context: what a cold-start item looks like) to the last position
    whose horizon fits; it gets about one window per horizon's worth of
    history, and the whole epoch at most ``max_windows``, drawn at random.
    """
    horizon, pad = prepared.horizon, prepared.pad
    latest = pad + usable - horizon
    earliest = np.minimum(pad, latest)
    span = latest - earliest + 1
    eligible = usable > 0
    counts = np.where(eligible, np.maximum(1, -(-span // horizon)), 0)
    rows = np.repeat(np.arange(prepared.n_series), counts)
    if rows.size > max_windows:
        rows = np.sort(rng.choice(rows, size=max_windows, replace=False))
    starts = earliest[rows] + rng.integers(0, span[rows])
    return rows, starts.astype(np.int64)


@dataclass
class Windows:
    """A batch of B windows of L = context + horizon points (see the module docstring).

    ``lag_values`` and ``lag_mask`` are ``(B, L, n_lags)``, already divided by
    ``scale`` (``(B,)``); ``known`` is ``(B, L, K)`` (calendar, age, related);
    ``targets`` ``(B, L)`` in data units, NaN where unknown; ``codes`` ``(B, C)``.
    ``history`` is ``(B, max_lag + context)`` scaled values before the first
    predicted point (NaN-free, with ``history_mask``), for autoregressive sampling.
    """

    lag_values: np.ndarray
    lag_mask: np.ndarray
    known: np.ndarray
    targets: np.ndarray
    scale: np.ndarray
    codes: np.ndarray
    history: np.ndarray
    history_mask: np.ndarray


def gather_windows(
    prepared: PreparedSet,
    rows: np.ndarray,
    starts: np.ndarray,
    context_length: int,
    lags: np.ndarray,
    fallback_scale: np.ndarray,
    quiet_scale: float = float("nan"),
) -> Windows:
    """The windows of series ``rows`` whose first predicted point is at block position
    ``starts`` (``pad + lengths[row]`` forecasts right after the history).

    ``fallback_scale`` (one per series of ``prepared``) is used when a window's
    context has no observation, ``quiet_scale`` when it observed only zeros (NaN:
    the fallback then too, as models saved before the distinction had it).
    """
    positions, first = _window_positions(prepared, rows, starts, context_length)
    targets = prepared.values[positions]
    scale = _window_scale(targets[:, :context_length], fallback_scale[rows], quiet_scale)

    lagged = prepared.values[positions[:, :, None] - lags[None, None, :]]
    lag_mask = np.isfinite(lagged)
    lag_values = np.where(lag_mask, lagged / scale[:, None, None], 0.0).astype(np.float32)
    known = _known_features(prepared, rows, starts, positions, context_length)

    max_lag = int(lags.max())
    before = first[:, None] - max_lag + np.arange(max_lag + context_length)[None, :]
    past = prepared.values[before]
    history_mask = np.isfinite(past)
    history = np.where(history_mask, past / scale[:, None], 0.0).astype(np.float32)
    return Windows(
        lag_values=lag_values,
        lag_mask=lag_mask.astype(np.float32),
        known=known,
        targets=targets,
        scale=scale,
        codes=prepared.codes[rows],
        history=history,
        history_mask=history_mask.astype(np.float32),
    )


@dataclass
class ContextWindows:
    """A batch of B windows of L = context + horizon points, for models that read the raw
    context (no lags).

    ``targets`` is ``(B, L)`` in data units, NaN where unknown; ``scale`` ``(B,)``
    (as :func:`gather_windows` computes it); ``known`` ``(B, L, K)`` (calendar,
    age, related); ``past_related`` ``(B, context, P)`` standardised past-only
    related values (``None`` when the set has none); ``codes`` ``(B, C)``.
    """

    targets: np.ndarray
    scale: np.ndarray
    known: np.ndarray
    past_related: np.ndarray | None
    codes: np.ndarray


def gather_context_windows(
    prepared: PreparedSet,
    rows: np.ndarray,
    starts: np.ndarray,
    context_length: int,
    fallback_scale: np.ndarray,
    quiet_scale: float = float("nan"),
) -> ContextWindows:
    """:func:`gather_windows` without the lag tensors, plus the past-only related values
    over the context: one gather per array."""
    positions, _ = _window_positions(prepared, rows, starts, context_length)
    targets = prepared.values[positions]
    scale = _window_scale(targets[:, :context_length], fallback_scale[rows], quiet_scale)
    past_related = None
    if prepared.past_related is not None:
        past_related = prepared.past_related[positions[:, :context_length]]
    return ContextWindows(
        targets=targets,
        scale=scale,
        known=_known_features(prepared, rows, starts, positions, context_length),
        past_related=past_related,
        codes=prepared.codes[rows],
    )


def _window_positions(
    prepared: PreparedSet, rows: np.ndarray, starts: np.ndarray, context_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions ``(B, context + horizon)`` of each window, and of its first point."""
    steps = np.arange(context_length + prepared.horizon)
    first = prepared.offsets[rows] + starts - context_length
    return first[:, None] + steps[None, :], first


def _window_scale(context: np.ndarray, fallback: np.ndarray, quiet: float) -> np.ndarray:
    """Mean absolute observed value of each context row; where it is 0, ``quiet`` if the
    row observed anything (and ``quiet`` is a number), else ``fallback``."""
    observed = np.isfinite(context)
    counts = observed.sum(axis=1)
    sums = np.where(observed, np.abs(context), 0.0).sum(axis=1)
    means = sums / np.maximum(counts, 1)
    empty = fallback if not np.isfinite(quiet) else np.where(counts > 0, quiet, fallback)
    return np.where(means > 0, means, empty).astype(np.float32)


def _known_features(
    prepared: PreparedSet,
    rows: np.ndarray,
    starts: np.ndarray,
    positions: np.ndarray,
    context_length: int,
) -> np.ndarray:
    """Calendar, age and related features ``(B, L, K)`` of each window's points."""
    steps = np.arange(positions.shape[1])
    ordinals = prepared.first_ordinals[rows, None] + (starts - prepared.pad)[:, None]
    ordinals = ordinals - context_length + steps[None, :]
    calendar = prepared.calendar[ordinals - prepared.calendar_origin]
    age = np.maximum(starts[:, None] - prepared.pad - context_length + steps[None, :], 0)
    parts = [calendar, (np.log1p(age) / AGE_NORMALISER)[:, :, None]]
    if prepared.related is not None:
        parts.append(prepared.related[positions])
    return np.concatenate(parts, axis=2).astype(np.float32)
