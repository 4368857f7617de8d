"""Embedded mode's MetricsPublisher: one CSV file per metric attribution.

There is no CloudWatch on one machine, so what Amazon Personalize would send it
for events and incremental imports is appended to
``<data dir>/metrics/<metric attribution name>.csv``, in the columns of
Amazon's own S3 reports (``REPORT_COLUMNS``). Each batch of events appends its
own rows, so one 15-minute window may have several: sum ``VALUE`` over rows with
the same ``METRIC_NAME``, ``EVENT_ATTRIBUTION_SOURCE`` and ``TIMESTAMP``, as
CloudWatch's ``Sum`` statistic does.
"""

from __future__ import annotations

import csv
import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from augury.ports import REPORT_COLUMNS, AttributionPoint

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class MetricFiles:
    """``MetricsPublisher`` appending CSV rows under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def path_for(self, attribution_arn: str) -> Path:
        """The file of the attribution named at the end of ``attribution_arn``."""
        name = attribution_arn.rsplit("/", 1)[-1]
        return self.directory / f"{_UNSAFE.sub('_', name)}.csv"

    def publish(self, points: Sequence[AttributionPoint]) -> None:
        by_file: dict[Path, list[AttributionPoint]] = defaultdict(list)
        for point in points:
            by_file[self.path_for(point.attribution_arn)].append(point)
        with self._lock:
            for path, rows in by_file.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                new = not path.exists()
                with path.open("a", newline="", encoding="utf-8") as handle:
                    writer = csv.writer(handle)
                    if new:
                        writer.writerow(REPORT_COLUMNS)
                    writer.writerows(point.report_row() for point in rows)


class DiscardedMetrics:
    """``MetricsPublisher`` for a runtime with nowhere to report (``AUGURY_METRICS=none://``)."""

    def publish(self, points: Sequence[AttributionPoint]) -> None:
        return None
