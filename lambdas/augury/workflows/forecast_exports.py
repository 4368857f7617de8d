"""The export workflows: a forecast, or a predictor's backtests, written to the user's storage.

Both read Augury's own Parquet files (a forecast's shards; the backtest files
the container left in the predictor's model) one file at a time, so memory is
bounded by one shard or one backtest window, and write part files named as
Amazon names them (``augury.forecast.export_files``) through the
``ExternalStorage`` port, as the role the request named. A StopResource
between two parts stops the export (CREATE_STOPPED); files already written stay.

Backtest exports follow the developer guide ("Exporting Accuracy Metrics"):
``forecasted-values/`` holds, per backtest window, the identity fields, the
timestamp, the actual ``target_value``, the window's start and end, and one
column per forecast type; ``accuracy-metrics-values/`` holds the container's
per-item metrics for each window (``backtest_window`` = ``Computed``) and their
average over the windows (``Summary``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augury.forecast import export_files
from augury.forecast.accuracy import SUMMARY_ATTRIBUTE
from augury.forecast.backtest_exports import BACKTEST_EXPORT_WORKFLOW
from augury.forecast.exports import FORECAST_EXPORT_WORKFLOW
from augury.forecast.forecasts import IDENTITY_FIELDS, SHARDS_PREFIX
from augury.forecast.job_config import (
    AUTO_PREDICTOR,
    CONFIG_ATTRIBUTE,
    SPEC_ATTRIBUTE,
    PredictorSpec,
    config_from_json,
)
from augury.ports import ExternalDataError
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows import forecast_jobs
from augury.workflows.definition import ResourceFailed, State, Step, Workflow
from augury.workflows.forecast_training import MODEL_PREFIX
from augury_training.forecast_contract import BACKTEST_DIR, ITEM_METRICS_FILE, forecast_type_column

if TYPE_CHECKING:
    from augury.runtime import Runtime

FORECASTED_VALUES = "forecasted-values"
ACCURACY_METRICS = "accuracy-metrics-values"
WINDOW_START = "backtestwindow_start_time"
WINDOW_END = "backtestwindow_end_time"
_WINDOW_FILE = re.compile(rf"^{BACKTEST_DIR}/window=(\d+)/[^/]+\.parquet$")
_SHARD_FILE = re.compile(r"shard=(\d+)\.parquet$")


class _Writer:
    """Writes numbered part files of one export to one destination folder."""

    def __init__(self, runtime: Runtime, record: Resource, scratch: Path) -> None:
        config = record.attributes["Destination"]["S3Config"]
        self.runtime, self.scratch = runtime, scratch
        self.path = config["Path"]
        self.role = config.get("RoleArn")
        self.key = config.get("KMSKeyArn")
        self.format = record.attributes.get("Format") or export_files.CSV
        self.job = record.name
        self.stamp = export_files.export_timestamp(record.created_at)

    def part(self, table: Any, number: int, folder: str | None = None) -> None:
        name = export_files.part_name(self.job, self.stamp, number, self.format)
        local = self.scratch / name
        export_files.write(table, local, self.format)
        self._upload(local, *(n for n in (folder, name) if n))
        local.unlink()

    def success(self) -> None:
        marker = self.scratch / export_files.SUCCESS_MARKER
        marker.write_bytes(b"")
        self._upload(marker, export_files.SUCCESS_MARKER)

    def _upload(self, local: Path, *names: str) -> None:
        uri = export_files.join_uri(self.path, *names)
        self.runtime.external.upload(local, uri, role_arn=self.role, kms_key_arn=self.key)


def _parent(runtime: Runtime, record: Resource, label: str) -> Resource:
    parent = runtime.metadata.get(str(record.parent_arn))
    if parent is None or Status(parent.status) != Status.ACTIVE:
        raise ResourceFailed(f"The {label} {record.parent_arn} is no longer ACTIVE")
    return parent


def _run(runtime: Runtime, state: State, body: Callable[[Resource, _Writer], bool]) -> Any:
    """Common frame: stop requests, the scratch folder, storage errors, the ending."""
    arn = state["arn"]
    if forecast_jobs.stop_requested(forecast_jobs.current(runtime, arn)):
        return forecast_jobs.end_stopped(runtime, arn)
    record = forecast_jobs.begin(runtime, arn)
    try:
        with scratch_directory(runtime, "augury-export-") as scratch:
            writer = _Writer(runtime, record, Path(scratch))
            if not body(record, writer):
                return forecast_jobs.end_stopped(runtime, arn)
            writer.success()
    except ExternalDataError as error:
        raise ResourceFailed(str(error)) from None
    forecast_jobs.finish(runtime, arn)
    return None


def _stopped(runtime: Runtime, arn: str) -> bool:
    return forecast_jobs.stop_requested(forecast_jobs.current(runtime, arn))


def _read(runtime: Runtime, key: str, scratch: Path) -> Any:
    import pyarrow.parquet as pq

    local = scratch / "input.parquet"
    runtime.blobs.download_file(key, local)
    table = pq.read_table(local)
    local.unlink()
    return table


def _export_forecast(runtime: Runtime, state: State) -> Any:
    def body(record: Resource, writer: _Writer) -> bool:
        forecast = _parent(runtime, record, "forecast")
        identity = list(forecast.attributes[IDENTITY_FIELDS])
        columns = [forecast_type_column(t) for t in forecast.attributes["ForecastTypes"]]
        keys = list(runtime.blobs.list_keys(forecast.attributes[SHARDS_PREFIX]))
        keys.sort(key=lambda k: int(m[1]) if (m := _SHARD_FILE.search(k)) else -1)
        number = 0
        for key in keys:
            if _stopped(runtime, record.arn):
                return False
            table = _read(runtime, key, writer.scratch)
            if table.num_rows:
                writer.part(export_files.ordered(table, [*identity, "date", *columns]), number)
                number += 1
        return True

    return _run(runtime, state, body)


def _export_backtest(runtime: Runtime, state: State) -> Any:
    def body(record: Resource, writer: _Writer) -> bool:
        predictor = _parent(runtime, record, "predictor")
        spec = PredictorSpec.from_dict(predictor.attributes[SPEC_ATTRIBUTE])
        config = config_from_json(predictor.attributes[CONFIG_ATTRIBUTE])
        identity = config.identity_fields
        model = predictor.attributes[MODEL_PREFIX]
        reported = AUTO_PREDICTOR if spec.auto else spec.algorithms[0]
        windows = _window_bounds(predictor.attributes.get(SUMMARY_ATTRIBUTE) or {}, reported)
        columns = [forecast_type_column(t) for t in spec.forecast_types]
        files = sorted(
            (int(match[1]), key)
            for key in runtime.blobs.list_keys(model + BACKTEST_DIR + "/")
            if (match := _WINDOW_FILE.match(key[len(model) :]))
        )
        lead = [*identity, "timestamp", "target_value", WINDOW_START, WINDOW_END, *columns]
        for number, (window, key) in enumerate(files):
            if _stopped(runtime, record.arn):
                return False
            table = _read(runtime, key, writer.scratch)
            table = _with_target_value(table, config.target_field)
            table = _with_bounds(table, windows, [window] * table.num_rows)
            writer.part(export_files.ordered(table, lead), number, FORECASTED_VALUES)
        metrics_key = model + ITEM_METRICS_FILE
        if next(iter(runtime.blobs.list_keys(metrics_key)), None) == metrics_key:
            table = _accuracy_table(_read(runtime, metrics_key, writer.scratch), reported, windows)
            lead = [*identity, "backtest_window", WINDOW_START, WINDOW_END]
            writer.part(export_files.ordered(table, lead), 0, ACCURACY_METRICS)
        return True

    return _run(runtime, state, body)


def _window_bounds(summary: dict[str, Any], algorithm: str) -> list[tuple[datetime, datetime]]:
    """Each backtest window's start and end, from ``predictor.json``."""
    results = summary.get("results") or []
    chosen = next((r for r in results if r["algorithm"] == algorithm), None)
    chosen = chosen or (results[0] if results else {"windows": []})
    return [
        (_moment(w["test_window_start"]), _moment(w["test_window_end"])) for w in chosen["windows"]
    ]


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _with_target_value(table: Any, target_field: str) -> Any:
    for name in (target_field, "target", "actual"):
        if name in table.column_names and "target_value" not in table.column_names:
            names = ["target_value" if n == name else n for n in table.column_names]
            return table.rename_columns(names)
    return table


def _with_bounds(table: Any, windows: list[tuple[datetime, datetime]], index: list[int]) -> Any:
    import pyarrow as pa

    def bound(position: int) -> list[Any]:
        return [windows[i][position] if 0 <= i < len(windows) else None for i in index]

    if not windows and WINDOW_START in table.column_names:
        return table  # the container wrote the bounds itself and predictor.json has none
    kind = pa.timestamp("s")
    table = table.drop_columns([n for n in (WINDOW_START, WINDOW_END) if n in table.column_names])
    table = table.append_column(WINDOW_START, pa.array(_naive(bound(0)), kind))
    return table.append_column(WINDOW_END, pa.array(_naive(bound(1)), kind))


def _naive(moments: list[datetime | None]) -> list[datetime | None]:
    """UTC wall-clock times, as the exported timestamp columns hold them."""
    return [
        None if m is None else (m.astimezone(UTC) if m.tzinfo else m).replace(tzinfo=None)
        for m in moments
    ]


def _accuracy_table(table: Any, algorithm: str, windows: list[tuple[datetime, datetime]]) -> Any:
    """Per item: each window's metrics (Computed) and their average (Summary)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if "algorithm" in table.column_names:
        chosen = table.filter(pc.equal(table["algorithm"], algorithm))
        table = (chosen if chosen.num_rows else table).drop_columns(["algorithm"])
    if "window" not in table.column_names:
        return table
    index = [int(i) for i in table["window"].to_pylist()]
    computed = _with_bounds(table.drop_columns(["window"]), windows, index)
    computed = computed.append_column("backtest_window", pa.array(["Computed"] * len(index)))
    metrics = [
        f.name
        for f in computed.schema
        if pa.types.is_floating(f.type) or pa.types.is_integer(f.type)
    ]
    keys = [
        f.name
        for f in computed.schema
        if pa.types.is_string(f.type) and f.name != "backtest_window"
    ]
    if not keys or not metrics:
        return computed
    summary = computed.group_by(keys).aggregate([(m, "mean") for m in metrics])
    summary = summary.rename_columns([n.removesuffix("_mean") for n in summary.column_names])
    span = [(min(w[0] for w in windows), max(w[1] for w in windows))] if windows else []
    summary = _with_bounds(summary, span, [0] * summary.num_rows)
    summary = summary.append_column("backtest_window", pa.array(["Summary"] * summary.num_rows))
    return pa.concat_tables([computed, summary.select(computed.column_names)])


EXPORT_FORECAST = Workflow(
    name=FORECAST_EXPORT_WORKFLOW,
    steps=(Step("export", _export_forecast),),
    on_failure=forecast_jobs.fail,
)

EXPORT_PREDICTOR_BACKTEST = Workflow(
    name=BACKTEST_EXPORT_WORKFLOW,
    steps=(Step("export", _export_backtest),),
    on_failure=forecast_jobs.fail,
)
