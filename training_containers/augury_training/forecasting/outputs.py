"""The Parquet files a forecasting job writes, written incrementally.

Rows are buffered per file and flushed as a row group every few thousand rows,
so a job writes as it goes and holds one buffer per file, never the dataset.
Column names follow Amazon's export files where one exists
(``backtestwindow_start_time``, ``wQL[0.1]``, ``Average wQL``...) so the
export jobs can copy them through.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from augury_training.forecast_contract import (
    BACKTEST_DIR,
    FORECAST_DIR,
    FORECAST_SHARDS,
    ITEM_METRICS_FILE,
    MEAN,
    forecast_type_column,
    shard_of,
)
from augury_training.forecasting.backtest import ItemBacktest, Window
from augury_training.forecasting.scoring import quantile_types

FLUSH_ROWS = 50_000
WEIGHTS_FILE = "model/weights.parquet"
ENSEMBLE_FILE = "model/ensemble.json"


def type_columns(forecast_types: list[str]) -> list[tuple[str, int]]:
    """``(column name, index into a (h, 1 + L) forecast array)`` per forecast type.

    Index 0 is the mean; quantiles follow in ascending level (``quantile_types``).
    """
    ordered = quantile_types(forecast_types)
    columns = []
    for forecast_type in forecast_types:
        index = 0 if forecast_type == MEAN else 1 + ordered.index(forecast_type)
        columns.append((forecast_type_column(forecast_type), index))
    return columns


class TableWriter:
    """One Parquet file, appended to in row groups of buffered rows."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self._buffer: dict[str, list] = defaultdict(list)
        self._rows = 0
        self._writer: pq.ParquetWriter | None = None

    def add(self, columns: dict[str, list | np.ndarray]) -> None:
        count = None
        for name, values in columns.items():
            self._buffer[name].extend(values.tolist() if isinstance(values, np.ndarray) else values)
            count = len(values)
        self._rows += count or 0
        if self._rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, self.schema)
        if self._rows:
            arrays = [pa.array(self._buffer[f.name], f.type) for f in self.schema]
            self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self._buffer.clear()
        self._rows = 0

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()


class BacktestWriter:
    """The train job's per-item outputs: window forecasts, item metrics and weights.

    It is the pipeline's sink (``pipeline.Sink``).
    """

    def __init__(
        self,
        model_dir: Path,
        identity: list[str],
        target_field: str,
        forecast_types: list[str],
        candidates: list[str],
        windows: list[Window],
        bounds: dict[int, tuple[str, str]],
    ) -> None:
        self.identity = identity
        self.target_field = target_field
        self.bounds = bounds
        self.candidates = candidates
        types = list(forecast_types) + ([MEAN] if MEAN not in forecast_types else [])
        self.columns = type_columns(types)
        ids = [pa.field(name, pa.string()) for name in identity]
        period = [
            pa.field("backtestwindow_start_time", pa.string()),
            pa.field("backtestwindow_end_time", pa.string()),
        ]
        window_schema = pa.schema(
            [
                *ids,
                pa.field("timestamp", pa.timestamp("ms")),
                pa.field(target_field, pa.float64()),
                *period,
                *[pa.field(name, pa.float64()) for name, _ in self.columns],
            ]
        )
        self.windows = {
            w.index: TableWriter(
                model_dir / BACKTEST_DIR / f"window={w.index}" / "part-0.parquet", window_schema
            )
            for w in windows
        }
        self.quantile_names = [f"wQL[{t}]" for t in quantile_types(forecast_types)]
        metric_names = [*self.quantile_names, "Average wQL", "WAPE", "RMSE", "MASE", "MAPE"]
        self.metrics = TableWriter(
            model_dir / ITEM_METRICS_FILE,
            pa.schema(
                [
                    *ids,
                    pa.field("algorithm", pa.string()),
                    pa.field("window", pa.int32()),
                    *period,
                    *[pa.field(name, pa.float64()) for name in metric_names],
                ]
            ),
        )
        self.weights = TableWriter(
            model_dir / WEIGHTS_FILE,
            pa.schema(
                [
                    pa.field("item_key", pa.string()),
                    *ids,
                    *[pa.field(name, pa.float64()) for name in candidates],
                ]
            ),
        )
        self._timestamps = {}

    def set_timestamps(self, window: int, stamps: np.ndarray) -> None:
        """The test period's timestamps of a window (same for every item)."""
        self._timestamps[window] = stamps.astype("datetime64[ms]")

    def item(self, item: ItemBacktest, weights, final, metrics) -> None:
        ids = dict(zip(self.identity, item.identity, strict=True))
        for result, forecast in zip(item.windows, final, strict=True):
            h = result.actual.size
            start, end = self.bounds[result.window]
            columns = {name: [value] * h for name, value in ids.items()}
            columns["timestamp"] = list(self._timestamps[result.window][:h])
            columns[self.target_field] = [None if np.isnan(v) else float(v) for v in result.actual]
            columns["backtestwindow_start_time"] = [start] * h
            columns["backtestwindow_end_time"] = [end] * h
            for name, index in self.columns:
                columns[name] = forecast[:, index]
            self.windows[result.window].add(columns)
        for window, algorithm, values in metrics:
            start, end = self.bounds[window]
            row = {name: [value] for name, value in ids.items()}
            row.update(
                algorithm=[algorithm],
                window=[window],
                backtestwindow_start_time=[start],
                backtestwindow_end_time=[end],
            )
            for name, forecast_type in zip(self.quantile_names, values["wql"], strict=True):
                row[name] = [values["wql"][forecast_type]]
            row["Average wQL"] = [values["average_wql"]]
            for name in ("WAPE", "RMSE", "MASE", "MAPE"):
                row[name] = [values[name.lower()]]
            self.metrics.add(row)
        row = {"item_key": [item.key], **{name: [value] for name, value in ids.items()}}
        row.update({name: [float(w)] for name, w in zip(self.candidates, weights, strict=True)})
        self.weights.add(row)

    def close(self) -> None:
        for writer in (*self.windows.values(), self.metrics, self.weights):
            writer.close()


class ShardWriter:
    """``forecast/shard=<k>.parquet`` for every k: identity columns, ``date``, forecast types."""

    def __init__(self, model_dir: Path, identity: list[str], forecast_types: list[str]) -> None:
        self.identity = identity
        self.columns = type_columns(forecast_types)
        schema = pa.schema(
            [
                *[pa.field(name, pa.string()) for name in identity],
                pa.field("date", pa.timestamp("ms")),
                *[pa.field(name, pa.float64()) for name, _ in self.columns],
            ]
        )
        self.shards = [
            TableWriter(model_dir / FORECAST_DIR / f"shard={k}.parquet", schema)
            for k in range(FORECAST_SHARDS)
        ]
        self.items = 0

    def add(self, identity: tuple[str, ...], dates: np.ndarray, forecast: np.ndarray) -> None:
        key = "\x1f".join(identity)
        columns = {
            name: [value] * dates.size for name, value in zip(self.identity, identity, strict=True)
        }
        columns["date"] = list(dates.astype("datetime64[ms]"))
        for name, index in self.columns:
            columns[name] = forecast[:, index]
        self.shards[shard_of(key)].add(columns)
        self.items += 1

    def close(self) -> None:
        for shard in self.shards:
            shard.close()  # every shard exists, even empty: a query never misses a file
