"""The AWS MetricsPublisher: metric attribution points as CloudWatch custom metrics.

Amazon Personalize publishes to its own ``AWS/Personalize`` namespace, which
no account may write, so Augury publishes to the deployment's namespace
(``cloudwatch://<namespace>``; the stack's role may write only there). Each
point becomes one datum named after the metric, with the dimensions
``MetricAttributionArn`` and ``EventAttributionSource``, stamped with its
15-minute window: the ``Sum`` statistic over a 15-minute period gives what
Amazon's console graphs. CloudWatch takes data at most two weeks old, which is
why metric attributions report only events less than 14 days old there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from augury.ports import AttributionPoint

MAX_DATA_PER_CALL = 1000
"""PutMetricData's limit on MetricData entries per call."""


class CloudWatchMetrics:
    """``MetricsPublisher`` calling PutMetricData."""

    def __init__(self, namespace: str, client: Any = None) -> None:
        self.namespace = namespace
        self._client = client

    @property
    def client(self) -> Any:
        """Made on first use: most functions bootstrap this adapter and never publish."""
        if self._client is None:
            import boto3

            self._client = boto3.client("cloudwatch")
        return self._client

    def publish(self, points: Sequence[AttributionPoint]) -> None:
        """Every chunk is tried; the first failure is raised once all have been.

        CloudWatch refuses a whole call for one bad datum, so points it could never take
        (a value that is not a finite number) are left out here.
        """
        data = [_datum(point) for point in points if math.isfinite(point.value)]
        failure: Exception | None = None
        for start in range(0, len(data), MAX_DATA_PER_CALL):
            try:
                self.client.put_metric_data(
                    Namespace=self.namespace, MetricData=data[start : start + MAX_DATA_PER_CALL]
                )
            except Exception as error:  # the other chunks still go out
                failure = failure or error
        if failure is not None:
            raise failure


def _datum(point: AttributionPoint) -> dict[str, Any]:
    return {
        "MetricName": point.metric_name,
        "Dimensions": [
            {"Name": "MetricAttributionArn", "Value": point.attribution_arn},
            {"Name": "EventAttributionSource", "Value": point.source[:1024]},
        ],
        "Timestamp": datetime.fromtimestamp(point.window_start, tz=UTC),
        "Value": float(point.value),
        "Unit": "Count" if point.function == "SAMPLECOUNT" else "None",
    }
