"""The AWS EventStream: JSON records on a Kinesis data stream.

``put_records`` takes at most 500 records and 5 MB per call and can fail some
records while accepting the rest; only the failed ones are sent again, a
bounded number of times, and then ``PublishError`` is raised so nothing is lost
silently. A retried record may land after a later record of its partition;
consumers order a user's events by their timestamps, not by arrival.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from augury.local.event_queue import check_record
from augury.ports import StreamRecord

MAX_RECORDS = 500
MAX_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024


class PublishError(RuntimeError):
    """Some records could not be put on the stream after every retry."""


class KinesisEventStream:
    """``EventStream`` on a Kinesis data stream."""

    def __init__(
        self,
        stream_name: str,
        client: Any = None,
        *,
        max_attempts: int = 5,
        retry_delay: float = 0.1,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("kinesis")
        self.stream_name = stream_name
        self.client = client
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay

    def publish(self, records: Sequence[StreamRecord]) -> None:
        entries = [_entry(check_record(record)) for record in records]
        for batch in _batches(entries):
            self._put(batch)

    def _put(self, batch: list[dict[str, Any]]) -> None:
        pending = batch
        for attempt in range(1, self.max_attempts + 1):
            response = self.client.put_records(StreamName=self.stream_name, Records=pending)
            if not response.get("FailedRecordCount"):
                return
            results = response["Records"]
            failed = [
                entry
                for entry, result in zip(pending, results, strict=True)
                if "ErrorCode" in result
            ]
            errors = {r["ErrorCode"] for r in results if "ErrorCode" in r}
            pending = failed
            if attempt < self.max_attempts:
                time.sleep(self.retry_delay * 2 ** (attempt - 1))
        raise PublishError(
            f"{len(pending)} records not put on {self.stream_name} after "
            f"{self.max_attempts} attempts ({', '.join(sorted(errors))})"
        )


def _entry(record: StreamRecord) -> dict[str, Any]:
    data = json.dumps(record.data, separators=(",", ":")).encode()
    size = len(data) + len(record.partition_key.encode())
    if size > MAX_RECORD_BYTES:
        raise ValueError(f"record of {size} bytes exceeds Kinesis's 1 MB limit")
    return {"Data": data, "PartitionKey": record.partition_key}


def _batches(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive groups within put_records's limits, order kept."""
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["Data"]) + len(entry["PartitionKey"].encode())
        if batch and (len(batch) == MAX_RECORDS or size + entry_size > MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += entry_size
    if batch:
        yield batch
