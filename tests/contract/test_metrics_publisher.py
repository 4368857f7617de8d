"""The MetricsPublisher contract: what is published can be read back, summed per window.

Embedded mode's CSV files and CloudWatch (under moto) must agree: a point's
value lands in its metric, its source's dimension and its 15-minute window, and
two publishes of the same window add up, as CloudWatch's ``Sum`` statistic does.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from augury.aws.cloudwatch_metrics import CloudWatchMetrics
from augury.local.metric_files import MetricFiles
from augury.ports import REPORT_COLUMNS, AttributionPoint
from tests.contract.conftest import REGION

ARN = "arn:aws:personalize:us-east-1:000000000000:metric-attribution/shop-metrics"
NAMESPACE = "Augury/Personalize"
WINDOW = int(time.time()) // 900 * 900 - 3600

Reader = Callable[[str, str], dict[int, float]]
"""(metric name, source) → {window start: summed value}."""


@pytest.fixture(params=["file", "cloudwatch"])
def publisher(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[object, Reader]]:
    if request.param == "file":
        files = MetricFiles(tmp_path / "metrics")

        def read_file(metric: str, source: str) -> dict[int, float]:
            sums: dict[int, float] = defaultdict(float)
            with files.path_for(ARN).open(newline="") as handle:
                rows = list(csv.reader(handle))
            assert tuple(rows[0]) == REPORT_COLUMNS
            for row in rows[1:]:
                entry = dict(zip(REPORT_COLUMNS, row, strict=True))
                if (entry["METRIC_NAME"], entry["EVENT_ATTRIBUTION_SOURCE"]) == (metric, source):
                    sums[int(entry["TIMESTAMP"])] += float(entry["VALUE"])
            return dict(sums)

        yield files, read_file
        return
    request.getfixturevalue("aws")
    client = boto3.client("cloudwatch", region_name=REGION)

    def read_cloudwatch(metric: str, source: str) -> dict[int, float]:
        answer = client.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=metric,
            Dimensions=[
                {"Name": "MetricAttributionArn", "Value": ARN},
                {"Name": "EventAttributionSource", "Value": source},
            ],
            StartTime=datetime.fromtimestamp(WINDOW, UTC) - timedelta(hours=1),
            EndTime=datetime.fromtimestamp(WINDOW, UTC) + timedelta(hours=1),
            Period=900,
            Statistics=["Sum"],
        )
        return {int(p["Timestamp"].timestamp()): p["Sum"] for p in answer["Datapoints"]}

    yield CloudWatchMetrics(NAMESPACE, client=client), read_cloudwatch


def point(source: str, window: int, value: float, metric: str = "CLICKS") -> AttributionPoint:
    return AttributionPoint(ARN, metric, "click", "SAMPLECOUNT", source, window, value)


def test_points_add_up_per_metric_source_and_window(publisher) -> None:
    sink, read = publisher
    campaign = "arn:aws:personalize:us-east-1:000000000000:campaign/popular"
    sink.publish([point(campaign, WINDOW, 2.0), point("newsletter", WINDOW, 1.0)])
    sink.publish([point(campaign, WINDOW, 3.0), point(campaign, WINDOW + 900, 1.0)])
    sink.publish([])
    assert read("CLICKS", campaign) == {WINDOW: 5.0, WINDOW + 900: 1.0}
    assert read("CLICKS", "newsletter") == {WINDOW: 1.0}


def test_many_points_are_published_in_calls_cloudwatch_accepts(publisher) -> None:
    sink, read = publisher
    sink.publish([point(f"source-{n % 3}", WINDOW, 1.0) for n in range(1_200)])
    assert read("CLICKS", "source-0") == {WINDOW: 400.0}
