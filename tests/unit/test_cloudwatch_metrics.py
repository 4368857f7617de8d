"""What CloudWatchMetrics sends PutMetricData: calls CloudWatch accepts, and no lost chunks."""

from __future__ import annotations

from typing import Any

import pytest

from augury.aws.cloudwatch_metrics import MAX_DATA_PER_CALL, CloudWatchMetrics
from augury.ports import AttributionPoint

ARN = "arn:aws:personalize:us-east-1:000000000000:metric-attribution/m"


class FakeCloudWatch:
    """Records calls; refuses, as CloudWatch does, any call over 1,000 data."""

    def __init__(self, fail_calls: set[int] = frozenset()) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_calls = fail_calls

    def put_metric_data(self, **request: Any) -> None:
        number = len(self.calls)
        self.calls.append(request)
        assert len(request["MetricData"]) <= 1000
        if number in self.fail_calls:
            raise RuntimeError(f"call {number} refused")


def points(count: int, value: float = 1.0) -> list[AttributionPoint]:
    return [
        AttributionPoint(ARN, "CLICKS", "click", "SAMPLECOUNT", f"s{n}", 1_700_000_100, value)
        for n in range(count)
    ]


def test_points_go_out_in_calls_of_at_most_a_thousand() -> None:
    fake = FakeCloudWatch()
    CloudWatchMetrics("Augury/Personalize", client=fake).publish(points(2_500))
    assert [len(c["MetricData"]) for c in fake.calls] == [MAX_DATA_PER_CALL, MAX_DATA_PER_CALL, 500]
    datum = fake.calls[0]["MetricData"][0]
    assert fake.calls[0]["Namespace"] == "Augury/Personalize"
    assert datum["Dimensions"] == [
        {"Name": "MetricAttributionArn", "Value": ARN},
        {"Name": "EventAttributionSource", "Value": "s0"},
    ]
    assert datum["Timestamp"].timestamp() == 1_700_000_100 and datum["Unit"] == "Count"


def test_a_refused_chunk_does_not_stop_the_others_and_is_raised() -> None:
    fake = FakeCloudWatch(fail_calls={0})
    with pytest.raises(RuntimeError, match="call 0 refused"):
        CloudWatchMetrics("ns", client=fake).publish(points(1_500))
    assert len(fake.calls) == 2  # the second chunk went out all the same


def test_values_cloudwatch_would_refuse_are_left_out() -> None:
    fake = FakeCloudWatch()
    CloudWatchMetrics("ns", client=fake).publish(points(2, float("nan")) + points(1, 3.0))
    assert [d["Value"] for c in fake.calls for d in c["MetricData"]] == [3.0]


def test_no_client_is_made_until_something_is_published(monkeypatch) -> None:
    import boto3

    monkeypatch.setattr(boto3, "client", lambda *_a, **_k: pytest.fail("made a client"))
    CloudWatchMetrics("ns").publish([])
