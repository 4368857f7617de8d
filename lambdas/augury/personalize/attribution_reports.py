"""When a metric attribution reports, and where (Amazon's rules, applied to both modes).

- **Events** (PutEvents): each new event of a group with an ACTIVE metric
  attribution, received after the attribution was created and less than 14
  days old, is counted and published through ``runtime.metrics`` (CloudWatch on
  AWS, a CSV file per attribution in embedded mode). The consumer calls
  :func:`report_events` with the events the history took for the first time, so
  a batch delivered twice is counted once.
- **Imports** into the Interactions dataset, by jobs created after the
  attribution (:class:`ImportMetrics`):

  - an INCREMENTAL import's rows less than 14 days old are published like events;
  - with ``publishAttributionMetricsToS3``, every row of a FULL or INCREMENTAL
    import is counted into ``AggregatedAttributionMetrics-<mode>-<epoch>.csv``
    under the attribution's ``s3DataDestination``, written before the import
    switches the dataset's data: a report that cannot be written fails the job,
    and the data stays as it was.

Publishing to CloudWatch is best effort: a failure is logged, never lost data.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augury.forecast.export_files import join_uri
from augury.personalize.attribution_metrics import (
    CLOUDWATCH_MAX_AGE_SECONDS,
    COLUMNS_READ,
    Tally,
)
from augury.personalize.attribution_sources import resolver
from augury.personalize.metric_attributions import OUTPUT, active_attribution, specs_of
from augury.ports import REPORT_COLUMNS
from augury.resources.record import Resource

if TYPE_CHECKING:
    import pyarrow as pa

    from augury.runtime import Runtime

log = logging.getLogger(__name__)

REPORT_PREFIX = "AggregatedAttributionMetrics"


def new_tally(runtime: Runtime, attribution: Resource) -> Tally:
    """A tally of the attribution's metrics, reading items only if a metric sums them."""
    specs = specs_of(attribution)
    tally = Tally(attribution.arn, specs, resolver(runtime).source)
    if any(spec.dataset == "ITEMS" for spec in specs):
        tally.item_row = _item_lookup(runtime, str(attribution.parent_arn))
    return tally


def _item_lookup(runtime: Runtime, group: str) -> Callable[[str], Mapping[str, Any] | None]:
    """The group's Items rows by ID (imported, overlaid by PutItems), read on first use."""
    from augury.personalize.serving_catalogs import catalogs

    rows: Mapping[str, Mapping[str, Any]] | None = None

    def item_row(item_id: str) -> Mapping[str, Any] | None:
        nonlocal rows
        if rows is None:
            rows = catalogs(runtime).items(runtime, group).rows
        return rows.get(item_id)

    return item_row


def report_events(
    runtime: Runtime,
    events: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    now: float | None = None,
) -> None:
    """Publish the metrics of new events, by dataset group; errors are logged, not raised."""
    now = time.time() if now is None else now
    for group, group_events in events.items():
        try:
            attribution = active_attribution(runtime, group)
            if attribution is None:
                continue
            created = attribution.created_at.timestamp()
            tally = new_tally(runtime, attribution)
            tally.add_all(
                event
                for event in group_events
                if float(event.get("RECEIVED_AT") or now) >= created
                and _recent(event.get("TIMESTAMP"), now)
            )
            if tally:
                runtime.metrics.publish(tally.points())
        except Exception:
            log.exception("could not report metric attribution data for %s", group)


def _recent(timestamp: Any, now: float) -> bool:
    return timestamp is not None and float(timestamp) >= now - CLOUDWATCH_MAX_AGE_SECONDS


class ImportMetrics:
    """What one Interactions import reports: to CloudWatch, to S3, or both."""

    def __init__(self, runtime: Runtime, job: Resource, attribution: Resource, mode: str) -> None:
        self.runtime = runtime
        self.job = job
        self.attribution = attribution
        self.mode = mode
        self.now = time.time()
        publish = bool(job.attributes.get("publishAttributionMetricsToS3"))
        destination = (attribution.attributes.get(OUTPUT) or {}).get("s3DataDestination")
        self.report = new_tally(runtime, attribution) if publish and destination else None
        self.recent = new_tally(runtime, attribution) if mode == "INCREMENTAL" else None

    @classmethod
    def for_job(
        cls, runtime: Runtime, job: Resource, group_arn: str, dataset_type: str, mode: str
    ) -> ImportMetrics | None:
        """The job's reporting, or ``None`` when there is nothing to report."""
        if dataset_type != "INTERACTIONS":
            return None
        attribution = active_attribution(runtime, group_arn)
        if attribution is None or job.created_at < attribution.created_at:
            return None  # Amazon does not report data imported before the attribution
        found = cls(runtime, job, attribution, mode)
        return found if found.report is not None or found.recent is not None else None

    def add(self, batch: pa.RecordBatch) -> None:
        """Count one batch of imported rows."""
        rows = _rows(batch, self.report or self.recent)
        if self.report is not None:
            self.report.add_all(rows)
        if self.recent is not None:
            self.recent.add_all(r for r in rows if _recent(r.get("TIMESTAMP"), self.now))

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
        if not self.recent:
            return
        try:
            self.runtime.metrics.publish(self.recent.points())
        except Exception:
            log.exception("could not publish metric attribution data for %s", self.job.arn)


def _rows(batch: pa.RecordBatch, tally: Tally | None) -> list[dict[str, Any]]:
    """The batch's rows of the tally's event types, with the columns it reads, upper-cased."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if tally is None:
        return []
    upper = {name.upper(): name for name in batch.schema.names}
    if "EVENT_TYPE" not in upper:
        return []
    wanted = set(COLUMNS_READ) | {s.column for s in tally.specs if s.dataset == "INTERACTIONS"}
    names = [name for name in wanted if name in upper]
    table = pa.Table.from_batches([batch]).select([upper[name] for name in names])
    table = table.rename_columns(names)
    mask = pc.is_in(table["EVENT_TYPE"], value_set=pa.array(tally.event_types, pa.string()))
    return table.filter(mask).to_pylist()
