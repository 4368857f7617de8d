"""From the channels' Parquet files to filled, regular per-item series, streamed.

A :class:`Series` is one item (item id plus forecast dimensions) on the
forecast-frequency grid: from its first value to the dataset's global end,
aggregated (sum for the target, as Amazon does) when the data are finer than
the forecast frequency, and filled by Amazon's rules (see ``filling``). Its
related features cover the same points plus the horizon; a feature whose
future is missing (and not future-filled) is left out for that item, because
a model cannot use what it will not know when forecasting.

:class:`ForecastData` reads a job's channels and yields series in batches of a
bounded number of items. Small datasets are read once into memory; large ones
are split into item buckets on disk first (``partition``), so memory stays
bounded by a bucket, not the dataset.
"""

from __future__ import annotations

import itertools
import math
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augury_training.contract import TrainPaths
from augury_training.forecast_contract import (
    METADATA_CHANNEL,
    RELATED_CHANNEL,
    TARGET_CHANNEL,
    ForecastJobConfig,
)
from augury_training.forecasting.filling import FieldFilling, aggregate, fill_target
from augury_training.forecasting.grid import Grid
from augury_training.forecasting.partition import (
    KEY_SEPARATOR,
    Buckets,
    DataError,
    bucket_count,
    encode,
    item_keys,
    iter_batches,
    parquet_files,
    read_table,
    require_columns,
    row_count,
    schema_names,
)
from augury_training.forecasting.related import (
    RelatedEnd,
    RelatedEnds,
    align_related,
    group_related,
    past_only_related,
)

__all__ = ["DataError", "DatasetInfo", "ForecastData", "Series", "make_series"]

DEFAULT_BATCH_ITEMS = 64
DEFAULT_BUCKET_ROWS = 2_000_000


@dataclass
class Series:
    """One item's filled series on the forecast grid (what a model and a backtest see)."""

    key: str
    """``item_key`` of the identity: item id and dimensions joined."""
    identity: tuple[str, ...]
    start: int
    """Grid ordinal of ``y[0]``."""
    y: np.ndarray
    filled: np.ndarray
    """True where ``y`` was filled rather than observed."""
    X: np.ndarray | None = None
    """Related features, shape ``(len(y) + horizon, k)``, aligned with ``y``."""
    related_names: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    X_past: np.ndarray | None = None
    """Related features known over the history only, shape ``(len(y), k)`` (CNN-QR)."""
    past_names: tuple[str, ...] = ()

    @property
    def item_id(self) -> str:
        return self.identity[0]

    def __len__(self) -> int:
        return int(self.y.size)


def make_series(
    key: str,
    values: np.ndarray,
    *,
    start: int | None = None,
    X: np.ndarray | None = None,
    metadata: dict[str, str] | None = None,
) -> Series:
    """A complete series from plain values (benchmarks, tests): nothing filled.

    ``start`` is the grid ordinal of the first value; by default every series
    ends at ordinal -1, so series of any length share their last point, as the
    backtest windows need.
    """
    y = np.asarray(values, dtype=float)
    return Series(
        key=key,
        identity=tuple(key.split(KEY_SEPARATOR)),
        start=-y.size if start is None else start,
        y=y,
        filled=np.isnan(y),
        X=X,
        related_names=tuple(f"x{i}" for i in range(0 if X is None else X.shape[1])),
        metadata=dict(metadata or {}),
    )


def _with_values(table: pa.Table, target_field: str) -> pa.Table:
    """The rows of ``table`` with a target value (not empty, not NaN)."""
    target = table.column(target_field)
    return table.filter(pc.and_kleene(pc.is_valid(target), pc.invert(pc.is_nan(target))))


@dataclass
class DatasetInfo:
    """What one look at the target tells: its span on the grid and its items."""

    global_start: int
    global_end: int
    rows: int
    item_ids: set[str]
    dimension_values: list[tuple[str, ...]]
    series: int
    """How many series: distinct (item id, dimension values) combinations that occur,
    not every item in every store (ten items each sold in its own one of ten stores
    are ten series)."""
    related_ends: dict[str, RelatedEnd] = field(default_factory=dict)
    """Where each related feature's earliest-ending series stops (absent: no values)."""
    items_without_values: set[str] = field(default_factory=set)
    """Items with target rows but not one value in any of them: nothing to forecast from
    history, so the forecast treats them as new items (their metadata, if any)."""
    series_without_values: set[tuple[str, ...]] = field(default_factory=set)
    """Series (item id, dimension values) with rows but no value, of items that have
    values elsewhere (another store): each is forecast as a new item in its own
    dimension values only."""

    @property
    def length(self) -> int:
        """The TARGET_TIME_SERIES dataset length in forecast-frequency steps."""
        return self.global_end - self.global_start + 1


class ForecastData:
    """A job's data channels as batches of :class:`Series`."""

    def __init__(
        self,
        paths: TrainPaths,
        config: ForecastJobConfig,
        *,
        batch_items: int = DEFAULT_BATCH_ITEMS,
        bucket_rows: int = DEFAULT_BUCKET_ROWS,
    ) -> None:
        self.config = config
        self.grid = Grid(config.frequency, config.time_alignment_boundary)
        self.batch_items = batch_items
        self.identity = config.identity_fields
        self.target_filling = FieldFilling.for_target(config.target_field, config.featurizations)
        self._target_files = parquet_files(paths.channel(TARGET_CHANNEL))
        self._related_files = parquet_files(paths.channel(RELATED_CHANNEL))
        if not self._target_files:
            raise DataError("the target time series channel holds no Parquet files")
        self._target_columns = [*self.identity, config.timestamp_field, config.target_field]
        require_columns(self._target_files, self._target_columns, "target time series")
        self.related_fields = self._related_fields()
        self._related_fillings = {
            name: FieldFilling.for_related(name, config.featurizations)
            for name in self.related_fields
        }
        self.metadata = self._read_metadata(paths.channel(METADATA_CHANNEL))
        self._scratch = Path(tempfile.mkdtemp(prefix="augury-data-"))
        self._buckets: tuple[Buckets, Buckets | None] | None = None
        self._tables: tuple[pa.Table, pa.Table | None] | None = None
        self.info = self._scan(bucket_rows)

    @property
    def related_fillings(self) -> list[FieldFilling]:
        """How each related feature is filled, in ``related_fields`` order."""
        return [self._related_fillings[name] for name in self.related_fields]

    # -- reading -----------------------------------------------------------------

    def _related_fields(self) -> list[str]:
        if not self._related_files:
            return []
        names = schema_names(self._related_files)
        if self.config.related_fields:
            require_columns(
                self._related_files,
                [*self.identity, self.config.timestamp_field, *self.config.related_fields],
                "related time series",
            )
            return list(self.config.related_fields)
        schema = pq.read_schema(self._related_files[0])
        skip = {*self.identity, self.config.timestamp_field}
        return [
            name
            for name in names
            if name not in skip
            and (
                pa.types.is_integer(schema.field(name).type)
                or pa.types.is_floating(schema.field(name).type)
            )
        ]

    def _read_metadata(self, channel: Path) -> dict[str, dict[str, str]]:
        """Item metadata, whole: at most 10 fields per item, and one row per item."""
        files = parquet_files(channel)
        if not files:
            return {}
        item = self.config.item_field
        fields = list(self.config.metadata_fields) or [n for n in schema_names(files) if n != item]
        require_columns(files, [item, *fields], "item metadata")
        table = read_table(files, [item, *fields])
        columns = {
            name: pc.cast(table.column(name), pa.string()).to_pylist() for name in [item, *fields]
        }
        return {
            str(columns[item][row]): {
                name: "" if columns[name][row] is None else columns[name][row] for name in fields
            }
            for row in range(table.num_rows)
        }

    def _normalise(self, table: pa.Table | pa.RecordBatch, values: list[str]) -> pa.Table:
        """Canonical types: identity as strings, naive ns timestamps, float values."""
        ts_field = self.config.timestamp_field
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        for name in self.identity:
            columns[name] = pc.fill_null(pc.cast(table.column(name), pa.string()), "")
        stamp = table.column(ts_field)
        try:
            if pa.types.is_timestamp(stamp.type) and stamp.type.tz is not None:
                stamp = pc.cast(stamp, pa.timestamp("ns", stamp.type.tz))
            columns[ts_field] = pc.cast(stamp, pa.timestamp("ns"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(f"the {ts_field} column cannot be read as timestamps: {exc}") from exc
        for name in values:
            try:
                columns[name] = pc.cast(table.column(name), pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(f"the {name} column is not numeric: {exc}") from exc
        return pa.table(columns)

    def _scan(self, bucket_rows: int) -> DatasetInfo:
        """One pass over the target: its span, items and dimensions; buckets if big."""
        rows = row_count(self._target_files)
        related_columns = [*self.identity, self.config.timestamp_field, *self.related_fields]
        count = bucket_count(rows, bucket_rows)
        target_buckets = Buckets(self._scratch / "target", count) if count > 1 else None
        low, high, items = None, None, set()
        valued: set[tuple[str, ...]] = set()
        target_field = self.config.target_field
        identities: set[tuple[str, ...]] = set()
        kept: list[pa.Table] = []
        for batch in iter_batches(self._target_files, self._target_columns):
            table = self._normalise(batch, [self.config.target_field])
            stamps = table.column(self.config.timestamp_field)
            if stamps.null_count:
                raise DataError(f"the target time series has empty {self.config.timestamp_field}s")
            if table.num_rows:
                ordinals = self.grid.ordinals(stamps.to_numpy())
                low = min(low, int(ordinals.min())) if low is not None else int(ordinals.min())
                high = max(high, int(ordinals.max())) if high is not None else int(ordinals.max())
            if self.config.dimensions:
                identities.update(self._identity_tuples(table))
            else:
                items.update(pc.unique(table.column(self.config.item_field)).to_pylist())
            with_values = _with_values(table, target_field)
            if self.config.dimensions:
                valued.update(self._identity_tuples(with_values))
            else:
                item_column = with_values.column(self.config.item_field)
                valued.update((item,) for item in pc.unique(item_column).to_pylist())
            if target_buckets is not None:
                if table.num_rows:
                    target_buckets.add(table.to_batches()[0], self.identity)
            else:
                kept.append(table)
        if low is None:
            raise DataError("the target time series is empty")
        ends = RelatedEnds(self.identity, self.related_fields)
        if target_buckets is None:
            related = None
            if self._related_files:
                related = self._normalise(
                    read_table(self._related_files, related_columns), self.related_fields
                )
                self._note_related_ends(related, ends)
            self._tables = (pa.concat_tables(kept).combine_chunks(), related)
        else:
            target_buckets.close()
            related_buckets = None
            if self._related_files:
                related_buckets = Buckets(self._scratch / "related", count)
                for batch in iter_batches(self._related_files, related_columns):
                    table = self._normalise(batch, self.related_fields)
                    self._note_related_ends(table, ends)
                    if table.num_rows:
                        related_buckets.add(table.to_batches()[0], self.identity)
                related_buckets.close()
            self._buckets = (target_buckets, related_buckets)
        if not self.config.dimensions:
            info = DatasetInfo(low, high, rows, items, [()], len(items), ends.ends())
            info.items_without_values = items - {identity[0] for identity in valued}
            return info
        items = {identity[0] for identity in identities}
        dims = sorted({identity[1:] for identity in identities})
        info = DatasetInfo(low, high, rows, items, dims, len(identities), ends.ends())
        info.items_without_values = items - {identity[0] for identity in valued}
        info.series_without_values = {
            identity
            for identity in identities - valued
            if identity[0] not in info.items_without_values
        }
        return info

    def _note_related_ends(self, table: pa.Table, ends: RelatedEnds) -> None:
        """Fold each series' last grid step with a value of each feature into ``ends``."""
        if table.num_rows:
            stamps = table.column(self.config.timestamp_field).to_numpy()
            ends.add(table, self.grid.ordinals(stamps))

    def _identity_tuples(self, table: pa.Table) -> set[tuple[str, ...]]:
        """The (item id, dimension values...) combinations in ``table``."""
        unique = table.select(self.identity).group_by(self.identity).aggregate([])
        return set(zip(*(unique.column(n).to_pylist() for n in self.identity), strict=True))

    # -- series --------------------------------------------------------------------

    def batches(self) -> Iterator[list[Series]]:
        """Every item's series, ``batch_items`` at a time."""
        batch: list[Series] = []
        for target, related in self._bucket_tables():
            for series in self._series(target, related):
                batch.append(series)
                if len(batch) >= self.batch_items:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _bucket_tables(self) -> Iterator[tuple[pa.Table, pa.Table | None]]:
        if self._tables is not None:
            yield self._tables
            return
        assert self._buckets is not None
        target_buckets, related_buckets = self._buckets
        related_columns = [*self.identity, self.config.timestamp_field, *self.related_fields]
        for bucket in range(target_buckets.count):
            target = target_buckets.read(bucket, self._target_columns)
            if target is None:
                continue
            related = related_buckets.read(bucket, related_columns) if related_buckets else None
            yield target, related

    def _series(self, target: pa.Table, related: pa.Table | None) -> Iterator[Series]:
        cfg, end = self.config, self.info.global_end
        codes, keys = encode(item_keys(target, self.identity))
        ordinals = self.grid.ordinals(target.column(cfg.timestamp_field).to_numpy())
        values = target.column(cfg.target_field).to_numpy(zero_copy_only=False).astype(float)
        order = np.lexsort((ordinals, codes))
        codes, ordinals, values = codes[order], ordinals[order], values[order]
        bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
        related_rows = group_related(
            related,
            self.identity,
            self.config.timestamp_field,
            self.related_fields,
            self.grid,
            keys,
        )
        spacing: list[np.ndarray] = []
        for lo, hi in itertools.pairwise(bounds):
            key = keys[codes[lo]]
            ords, vals = aggregate(ordinals[lo:hi], values[lo:hi], self.target_filling.aggregation)
            present = ~np.isnan(vals)
            if not present.any():
                continue  # an item with no value at all cannot be forecast from history
            ords, vals = ords[np.argmax(present) :], vals[np.argmax(present) :]
            spacing.append(np.diff(ords[~np.isnan(vals)]))
            start = int(ords[0])
            raw = np.full(end - start + 1, np.nan)
            raw[ords - start] = vals
            y, filled = fill_target(raw, self.target_filling)
            identity = tuple(key.split(KEY_SEPARATOR)) if len(self.identity) > 1 else (key,)
            fillings = [self._related_fillings[name] for name in self.related_fields]
            rows = related_rows.get(key)
            X, names = align_related(rows, start, end + 1 - start, cfg.horizon, fillings)
            X_past, past_names = past_only_related(rows, start, end + 1 - start, fillings, names)
            yield Series(
                key,
                identity,
                start,
                y,
                filled,
                X,
                names,
                self.metadata.get(identity[0], {}),
                X_past,
                past_names,
            )
        self._check_frequency(spacing)

    def new_item_related(
        self, keys: list[str]
    ) -> dict[str, tuple[np.ndarray | None, tuple[str, ...]]]:
        """Related features over the horizon of items with no target history (cold starts),
        by item key: a promotion calendar or price known for a new item is what a global
        model forecasts it from, with its metadata. Streams the related files once,
        keeping only these items' rows."""
        if not self.related_fields or not keys or not self._related_files:
            return {}
        item = self.config.item_field
        wanted_items = pa.array(sorted({key.split(KEY_SEPARATOR)[0] for key in keys}))
        columns = [*self.identity, self.config.timestamp_field, *self.related_fields]
        kept = []
        for batch in iter_batches(self._related_files, columns):
            table = self._normalise(batch, self.related_fields)
            chosen = table.filter(pc.is_in(table.column(item), value_set=wanted_items))
            if chosen.num_rows:
                kept.append(chosen)
        if not kept:
            return {}
        rows = group_related(
            pa.concat_tables(kept),
            self.identity,
            self.config.timestamp_field,
            self.related_fields,
            self.grid,
            keys,
        )
        start = self.info.global_end + 1
        fillings = [self._related_fillings[name] for name in self.related_fields]
        return {
            key: align_related(rows.get(key), start, 0, self.config.horizon, fillings)
            for key in keys
        }

    def _check_frequency(self, spacing: list[np.ndarray]) -> None:
        """Data coarser than the forecast frequency: every gap a multiple of some g > 1."""
        steps = np.concatenate(spacing) if spacing else np.array([], dtype=np.int64)
        if steps.size >= 10:
            common = int(np.gcd.reduce(steps.astype(np.int64)))
            if common > 1:
                raise DataError(
                    f"the target time series is recorded every {common} periods of the forecast "
                    f"frequency {self.config.frequency}: the forecast frequency must be equal to "
                    "or coarser than the data frequency"
                )

    def close(self) -> None:
        """Remove the scratch buckets."""
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> ForecastData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batch_items_for(
    info: DatasetInfo, horizon: int, windows: int, workers: int, budget_points: int = 400_000
) -> int:
    """Items per batch: about ``budget_points`` values, and work for every worker.

    A batch is the unit of memory (its series and their forecasts are held at
    once) and of parallelism, so batches are small enough that each worker
    gets several (4 at least, when there are enough items) to balance slow and
    fast series.
    """
    per_item = max(1, info.length + horizon * (windows + 1))
    by_memory = math.floor(budget_points / per_item)
    by_workers = math.ceil(max(1, info.series) / (4 * max(1, workers)))
    return max(1, min(256, by_memory, by_workers))
