"""When a metric attribution reports, and where (Amazon's rules, applied to both modes).

- **Events** (PutEvents): each new event of a group with an ACTIVE metric
  attribution, received after the attribution was created and recent enough
  for CloudWatch (under 14 days old, not ahead of the clock), is counted and
  published through ``runtime.metrics`` (CloudWatch on AWS, a CSV file per
  attribution in embedded mode). The consumer calls :func:`report_events` with
  the events the history took for the first time, so a batch delivered twice
  is counted once.
- **Imports** into the Interactions dataset, by jobs created after the
  attribution (:class:`ImportMetrics`):

  - an INCREMENTAL import's rows recent enough for CloudWatch are published
    like events;
  - with ``publishAttributionMetricsToS3``, every row of a FULL or INCREMENTAL
    import is counted into ``AggregatedAttributionMetrics-<mode>-<epoch>.csv``
    under the attribution's ``s3DataDestination``, written before the import
    switches the dataset's data: a report that cannot be written fails the job,
    and the data stays as it was.

Publishing to CloudWatch is best effort: a failure is logged, never lost data.
``SUM(Items.X)`` reads only the item IDs and the summed columns of the Items
dataset, overlaid by PutItems rows, kept ``ITEM_VALUES_FRESHNESS`` seconds.
"""

from __future__ import annotations

import csv
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from augury.forecast.export_files import join_uri
from augury.personalize.attribution_metrics import Tally, cloudwatch_bounds
from augury.personalize.attribution_sources import resolver
from augury.personalize.metric_attributions import OUTPUT, active_attribution, specs_of
from augury.ports import REPORT_COLUMNS
from augury.resources.record import Resource

if TYPE_CHECKING:
    from augury.runtime import Runtime

log = logging.getLogger(__name__)

REPORT_PREFIX = "AggregatedAttributionMetrics"
ITEM_VALUES_FRESHNESS = 5.0
_ITEM_VALUES: dict[tuple[str, tuple[str, ...]], tuple[float, pa.Table]] = {}
_ITEM_VALUES_LOCK = threading.Lock()


def new_tally(runtime: Runtime, attribution: Resource) -> Tally:
    """A tally of the attribution's metrics, reading items only if a metric sums them."""
    specs = specs_of(attribution)
    group = str(attribution.parent_arn)
    columns = tuple(sorted({s.column for s in specs if s.dataset == "ITEMS" and s.column}))
    return Tally(
        attribution.arn,
        specs,
        resolver(runtime).source_of_tag,
        item_values=lambda: item_values(runtime, group, columns) if columns else None,
    )


def item_values(runtime: Runtime, group: str, columns: Sequence[str]) -> pa.Table:
    """ITEM_ID and ``columns`` (upper-cased) per item: the Items dataset's rows overlaid by
    the newest PutItems row, cached a few seconds per process."""
    key = (group, tuple(columns))
    with _ITEM_VALUES_LOCK:
        cached = _ITEM_VALUES.get(key)
        if cached is not None and time.monotonic() - cached[0] < ITEM_VALUES_FRESHNESS:
            return cached[1]
    table = _read_item_values(runtime, group, columns)
    with _ITEM_VALUES_LOCK:
        _ITEM_VALUES[key] = (time.monotonic(), table)
    return table


def _read_item_values(runtime: Runtime, group: str, columns: Sequence[str]) -> pa.Table:
    from augury.personalize import event_data
    from augury.personalize.group_data import group_datasets, read_table

    wanted = ["ITEM_ID", *columns]
    items = group_datasets(runtime, group).get("ITEMS")
    tables = []
    if items is not None and items.data_prefix:
        stored = {name.upper(): name for name in items.field_names()}
        names = [stored[c] for c in wanted if c in stored]
        base = read_table(runtime, items.data_prefix, missing_ok=True, columns=names)
        tables.append(_upper(base))
    recent = event_data.recent_items(runtime, group)
    if recent:
        tables.append(pa.table({c: [row.get(c) for row in recent] for c in wanted}))
    tables = [_conformed(t, wanted) for t in tables if t.num_rows]
    if not tables:
        return pa.table(
            {c: pa.array([], pa.string() if c == "ITEM_ID" else pa.float64()) for c in wanted}
        )
    table = pa.concat_tables(tables)
    order = pa.array(range(table.num_rows), pa.int64())
    table = table.append_column("_order", order)
    newest = table.group_by("ITEM_ID").aggregate([("_order", "max")])["_order_max"]
    return table.filter(pc.is_in(table["_order"], value_set=newest)).drop_columns("_order")


def _upper(table: pa.Table) -> pa.Table:
    return table.rename_columns([name.upper() for name in table.column_names])


def _conformed(table: pa.Table, wanted: Sequence[str]) -> pa.Table:
    columns = {}
    for name in wanted:
        kind = pa.string() if name == "ITEM_ID" else pa.float64()
        if name in table.column_names:
            try:
                columns[name] = table[name].cast(kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                columns[name] = pa.nulls(table.num_rows, kind)
        else:
            columns[name] = pa.nulls(table.num_rows, kind)
    return pa.table(columns)


def report_events(
    runtime: Runtime,
    events: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    now: float | None = None,
) -> None:
    """Publish the metrics of new events, by dataset group; errors are logged, not raised."""
    now = time.time() if now is None else now
    low, high = cloudwatch_bounds(now)
    for group, group_events in events.items():
        try:
            attribution = active_attribution(runtime, group)
            if attribution is None:
                continue
            created = attribution.created_at.timestamp()
            tally = new_tally(runtime, attribution)
            tally.add_rows(
                [
                    event
                    for event in group_events
                    if float(event.get("RECEIVED_AT") or now) >= created
                    and low <= float(event.get("TIMESTAMP") or 0) < high
                ]
            )
            if not tally.is_empty:
                runtime.metrics.publish(tally.points())
        except Exception:
            log.exception("could not report metric attribution data for %s", group)


class ImportMetrics:
    """What one Interactions import reports: to CloudWatch, to S3, or both."""

    def __init__(
        self,
        runtime: Runtime,
        job: Resource,
        attribution: Resource,
        mode: str,
        bounds: tuple[float, float] | None = None,
    ) -> None:
        self.runtime = runtime
        self.job = job
        self.attribution = attribution
        self.mode = mode
        self.bounds = bounds if bounds is not None else cloudwatch_bounds(time.time())
        publish = bool(job.attributes.get("publishAttributionMetricsToS3"))
        destination = (attribution.attributes.get(OUTPUT) or {}).get("s3DataDestination")
        self.report = new_tally(runtime, attribution) if publish and destination else None
        self.recent = new_tally(runtime, attribution) if mode == "INCREMENTAL" else None

    @classmethod
    def for_job(
        cls,
        runtime: Runtime,
        job: Resource,
        group_arn: str,
        dataset_type: str,
        mode: str,
        bounds: tuple[float, float] | None = None,
    ) -> ImportMetrics | None:
        """The job's reporting, or ``None`` when there is nothing to report. ``bounds`` are
        the CloudWatch window of recent rows (``cloudwatch_bounds``), taken once for an
        import read over several invocations; now's by default."""
        if dataset_type != "INTERACTIONS":
            return None
        attribution = active_attribution(runtime, group_arn)
        if attribution is None or job.created_at < attribution.created_at:
            return None  # Amazon does not report data imported before the attribution
        found = cls(runtime, job, attribution, mode, bounds)
        return found if found.report is not None or found.recent is not None else None

    def add(self, batch: pa.RecordBatch) -> None:
        """Count one batch of imported rows."""
        tally = self.report if self.report is not None else self.recent
        if tally is None:
            return
        table = _upper(pa.Table.from_batches([batch]))
        table = table.select([c for c in tally.columns if c in table.column_names])
        if self.report is not None:
            self.report.add_table(table)
        if self.recent is not None and "TIMESTAMP" in table.column_names:
            seconds = table["TIMESTAMP"].cast(pa.float64())
            low, high = self.bounds
            recent = pc.and_(pc.greater_equal(seconds, low), pc.less(seconds, high))
            self.recent.add_table(table.filter(recent))

    def counted(self) -> dict[str, list[list[Any]]]:
        """Both tallies, JSON-safe (``Tally.counted``): a file's share of a long import."""
        return {
            name: tally.counted()
            for name, tally in (("report", self.report), ("recent", self.recent))
            if tally is not None
        }

    def add_counted(self, counted: Mapping[str, Sequence[Sequence[Any]]]) -> None:
        """Add a :meth:`counted` share."""
        for name, tally in (("report", self.report), ("recent", self.recent)):
            if tally is not None:
                tally.add_counted(counted.get(name) or [])

    def write_report(self, scratch: Path) -> None:
        """The S3 report, if asked for; raises ``ExternalDataError`` if it cannot be written."""
        if self.report is None:
            return
        output = self.attribution.attributes[OUTPUT]
        destination = output["s3DataDestination"]
        stamp = int(self.job.created_at.timestamp())
        name = f"{REPORT_PREFIX}-{self.mode}-{stamp}.csv"
        path = scratch / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(REPORT_COLUMNS)
            writer.writerows(point.report_row() for point in self.report.points())
        self.runtime.external.upload(
            path,
            join_uri(destination["path"], name),
            role_arn=output.get("roleArn"),
            kms_key_arn=destination.get("kmsKeyArn"),
        )

    def publish(self) -> None:
        """The recent rows' metrics to CloudWatch (or embedded mode's files); logged on error."""
        if self.recent is None or self.recent.is_empty:
            return
        try:
            self.runtime.metrics.publish(self.recent.points())
        except Exception:
            log.exception("could not publish metric attribution data for %s", self.job.arn)
