"""The EventStream adapters: the in-process queue and Kinesis (moto)."""

from __future__ import annotations

import json
import logging
import threading

import boto3
import pytest

from augury.aws.kinesis_stream import MAX_RECORDS, KinesisEventStream, PublishError
from augury.local.event_journal import EventJournal
from augury.local.event_queue import InProcessEventStream
from augury.ports import StreamRecord


def records(n: int, start: int = 0) -> list[StreamRecord]:
    return [
        StreamRecord(partition_key=f"user-{i % 3}", data={"seq": i, "item": f"i{i}"})
        for i in range(start, start + n)
    ]


# -- in-process queue ---------------------------------------------------------------


def test_local_consumer_sees_records_in_order():
    seen: list[StreamRecord] = []
    stream = InProcessEventStream(seen.extend, batch_size=7)
    for start in range(0, 50, 10):
        stream.publish(records(10, start))
    stream.flush(timeout=5)
    assert [r.data["seq"] for r in seen] == list(range(50))
    assert seen[4] == StreamRecord("user-1", {"seq": 4, "item": "i4"})
    stream.close()


def test_local_consumer_runs_on_another_thread():
    threads: set[str] = set()
    stream = InProcessEventStream(lambda batch: threads.add(threading.current_thread().name))
    stream.publish(records(1))
    stream.flush(timeout=5)
    assert threads and threading.current_thread().name not in threads
    stream.close()


def test_local_failed_batch_is_retried(caplog):
    calls: list[int] = []
    seen: list[StreamRecord] = []

    def flaky(batch: list[StreamRecord]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("transient")
        seen.extend(batch)

    stream = InProcessEventStream(flaky, retry_delay=0.001)
    with caplog.at_level(logging.ERROR, logger="augury.local.event_queue"):
        stream.publish(records(3))
        stream.flush(timeout=5)
    assert [r.data["seq"] for r in seen] == [0, 1, 2]
    assert "transient" in caplog.text
    assert stream.dead_letters == []
    stream.close()


def test_local_batch_failing_every_time_is_logged_and_kept(caplog):
    def broken(batch: list[StreamRecord]) -> None:
        raise ValueError("poison")

    stream = InProcessEventStream(broken, max_attempts=2, retry_delay=0.001)
    with caplog.at_level(logging.ERROR, logger="augury.local.event_queue"):
        stream.publish(records(2))
        stream.flush(timeout=5)
    assert [r.data["seq"] for r in stream.dead_letters] == [0, 1]
    assert "dropping 2 event records" in caplog.text
    stream.close()


def test_local_records_wait_for_a_consumer():
    stream = InProcessEventStream()
    stream.publish(records(2))
    assert stream.drain(timeout=0.05) is False
    seen: list[StreamRecord] = []
    stream.set_consumer(seen.extend)
    assert stream.drain(timeout=5) is True
    assert len(seen) == 2
    stream.close()


def test_local_records_on_the_journal_survive_a_crash_and_are_applied_once(tmp_path):
    """What publish accepted is on disk before it returns: a stream that dies before
    applying it (no consumer here) leaves it to the next one, which applies it first."""
    crashed = InProcessEventStream(journal=EventJournal(tmp_path / "events.db"))
    crashed.publish(records(3))
    crashed.publish(records(2, start=3))  # never applied: the process "dies" here

    seen: list[StreamRecord] = []
    restarted = InProcessEventStream(journal=EventJournal(tmp_path / "events.db"))
    restarted.set_consumer(seen.extend)
    restarted.publish(records(1, start=5))
    restarted.flush(timeout=5)
    assert [r.data["seq"] for r in seen] == [0, 1, 2, 3, 4, 5]
    restarted.close()

    again: list[StreamRecord] = []
    third = InProcessEventStream(again.extend, journal=EventJournal(tmp_path / "events.db"))
    assert third.drain(timeout=0.2) and again == []  # applied records are not replayed
    third.close()


def test_a_batch_a_crash_interrupted_is_replayed_exactly_as_it_was_claimed(tmp_path):
    """The consumer names a batch's event file after its rows: replaying the same records
    together rewrites that file; regrouped, they would be written a second time."""
    journal = EventJournal(tmp_path / "events.db")
    seqs = journal.append(records(5))
    journal.claim(seqs[:3])  # the consumer had this batch when the process died
    batches: list[list[int]] = []
    stream = InProcessEventStream(
        lambda batch: batches.append([r.data["seq"] for r in batch]),
        batch_size=100,
        journal=EventJournal(tmp_path / "events.db"),
    )
    stream.flush(timeout=5)
    assert batches == [[0, 1, 2], [3, 4]]
    assert journal.pending() == []
    stream.close()


def test_local_records_refused_every_time_stay_on_the_journal_as_dead_letters(tmp_path):
    def broken(batch: list[StreamRecord]) -> None:
        raise ValueError("poison")

    journal = EventJournal(tmp_path / "events.db")
    stream = InProcessEventStream(broken, max_attempts=2, retry_delay=0.001, journal=journal)
    stream.publish(records(2))
    stream.flush(timeout=5)
    assert [r.data["seq"] for r in journal.dead_letters()] == [0, 1]
    assert journal.pending() == []
    stream.close()


def test_local_rejects_what_kinesis_would_refuse():
    stream = InProcessEventStream(lambda batch: None)
    with pytest.raises(ValueError):
        stream.publish([StreamRecord("u", {"when": object()})])
    with pytest.raises(ValueError):
        stream.publish([StreamRecord("", {})])
    stream.close()
    with pytest.raises(RuntimeError):
        stream.publish(records(1))


# -- Kinesis --------------------------------------------------------------------------


def read_stream(client, name: str) -> list[tuple[str, dict]]:
    shards = client.describe_stream(StreamName=name)["StreamDescription"]["Shards"]
    out = []
    for shard in shards:
        iterator = client.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        response = client.get_records(ShardIterator=iterator, Limit=10_000)
        out += [(r["PartitionKey"], json.loads(r["Data"])) for r in response["Records"]]
    return out


def test_kinesis_records_land_on_the_stream(aws):
    client = boto3.client("kinesis", region_name="us-east-1")
    client.create_stream(StreamName="events", ShardCount=1)
    stream = KinesisEventStream("events", client=client)
    stream.publish(records(5))
    stream.publish(records(MAX_RECORDS + 10, start=5))  # more than one put_records call
    landed = read_stream(client, "events")
    assert [data["seq"] for _, data in landed] == list(range(MAX_RECORDS + 15))
    assert landed[1] == ("user-1", {"seq": 1, "item": "i1"})


class FakeKinesis:
    """Fails the chosen record positions on the first ``failures`` calls."""

    def __init__(self, fail_positions: set[int], failures: int) -> None:
        self.fail_positions = fail_positions
        self.failures = failures
        self.calls: list[list[dict]] = []

    def put_records(self, StreamName: str, Records: list[dict]) -> dict:
        self.calls.append(Records)
        failing = len(self.calls) <= self.failures
        results = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"}
            if failing and i in self.fail_positions
            else {"SequenceNumber": "1", "ShardId": "shardId-0"}
            for i in range(len(Records))
        ]
        failed = sum("ErrorCode" in r for r in results)
        return {"FailedRecordCount": failed, "Records": results}


def test_kinesis_retries_only_the_failed_records():
    fake = FakeKinesis(fail_positions={1, 3}, failures=1)
    KinesisEventStream("s", client=fake, retry_delay=0).publish(records(5))
    assert len(fake.calls) == 2
    assert [json.loads(r["Data"])["seq"] for r in fake.calls[1]] == [1, 3]


def test_kinesis_gives_up_after_bounded_attempts():
    fake = FakeKinesis(fail_positions={0}, failures=100)
    stream = KinesisEventStream("s", client=fake, max_attempts=3, retry_delay=0)
    with pytest.raises(PublishError, match="1 records"):
        stream.publish(records(2))
    assert len(fake.calls) == 3


def test_kinesis_batches_respect_count_and_size_limits():
    fake = FakeKinesis(fail_positions=set(), failures=0)
    big = "x" * 900_000
    batch = [StreamRecord(f"u{i}", {"blob": big}) for i in range(12)]
    KinesisEventStream("s", client=fake).publish(batch + records(1200))
    sizes = [sum(len(r["Data"]) + len(r["PartitionKey"]) for r in call) for call in fake.calls]
    assert all(len(call) <= MAX_RECORDS for call in fake.calls)
    assert all(size <= 5 * 1024 * 1024 for size in sizes)
    assert sum(len(call) for call in fake.calls) == 1212
    flat = [json.loads(r["Data"]) for call in fake.calls for r in call]
    assert [d["seq"] for d in flat[12:]] == list(range(1200))


def test_kinesis_rejects_oversized_records():
    stream = KinesisEventStream("s", client=FakeKinesis(set(), 0))
    with pytest.raises(ValueError):
        stream.publish([StreamRecord("u", {"blob": "x" * (1024 * 1024)})])
