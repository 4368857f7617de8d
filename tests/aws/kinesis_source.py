"""Lambda's Kinesis event source mapping, played by the test: real batches from moto's stream.

moto's own mapping invokes the function once per record, synchronously inside
PutRecord, which is neither how Lambda delivers nor what the consumer is built
for. ``KinesisEventSource.drain`` does what Lambda's poller does: per shard, it
reads the records after its checkpoint with GetRecords (at most
``batch_size``), wraps them in the ``{"Records": [...]}`` event Lambda sends
(base64 data, sequence numbers, ``eventSourceARN``), invokes the consumer
function through ``lambda.invoke``, and, with ``ReportBatchItemFailures``,
moves the checkpoint to just before the first failed record and delivers the
rest again. A batch still failing after ``max_retries`` is an error here
(on AWS it would go to the on-failure destination).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3


@dataclass
class KinesisEventSource:
    stream_name: str
    function_name: str
    region: str
    batch_size: int = 100
    max_retries: int = 3
    checkpoints: dict[str, str] = field(default_factory=dict)
    """Shard ID → sequence number of the last record delivered successfully."""
    batches: list[int] = field(default_factory=list)
    """The size of every batch delivered, in order (retries included)."""

    def drain(self) -> int:
        """Deliver every record not yet delivered; return how many were."""
        kinesis = boto3.client("kinesis", region_name=self.region)
        stream = kinesis.describe_stream(StreamName=self.stream_name)["StreamDescription"]
        delivered = 0
        for shard in stream["Shards"]:
            while batch := self._read(kinesis, shard["ShardId"]):
                self._deliver(shard["ShardId"], stream["StreamARN"], batch)
                delivered += len(batch)
        return delivered

    def _read(self, kinesis: Any, shard_id: str) -> list[dict[str, Any]]:
        after = self.checkpoints.get(shard_id)
        position: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
            if after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = kinesis.get_shard_iterator(
            StreamName=self.stream_name, ShardId=shard_id, **position
        )["ShardIterator"]
        return kinesis.get_records(ShardIterator=iterator, Limit=self.batch_size)["Records"]

    def _deliver(self, shard_id: str, stream_arn: str, batch: list[dict[str, Any]]) -> None:
        client = boto3.client("lambda", region_name=self.region)
        for _ in range(self.max_retries + 1):
            self.batches.append(len(batch))
            response = client.invoke(
                FunctionName=self.function_name,
                Payload=json.dumps(_event(shard_id, stream_arn, self.region, batch)).encode(),
            )
            answer = json.loads(response["Payload"].read() or b"{}")
            if response.get("FunctionError"):
                failed = batch[0]["SequenceNumber"]  # the whole batch is retried
            else:
                failures = answer.get("batchItemFailures") or []
                if not failures:
                    self.checkpoints[shard_id] = batch[-1]["SequenceNumber"]
                    return
                failed = failures[0]["itemIdentifier"]
            index = next(i for i, record in enumerate(batch) if record["SequenceNumber"] == failed)
            if index:
                self.checkpoints[shard_id] = batch[index - 1]["SequenceNumber"]
            batch = batch[index:]
        raise AssertionError(
            f"{self.function_name} kept failing on {len(batch)} records of {shard_id}: {answer}"
        )


def _event(
    shard_id: str, stream_arn: str, region: str, batch: list[dict[str, Any]]
) -> dict[str, Any]:
    """The event Lambda sends a Kinesis-triggered function."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record["PartitionKey"],
                    "sequenceNumber": record["SequenceNumber"],
                    "data": base64.b64encode(record["Data"]).decode(),
                    "approximateArrivalTimestamp": _epoch(
                        record.get("ApproximateArrivalTimestamp")
                    ),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{record['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{stream_arn.split(':')[4]}:role/augury-events",
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for record in batch
        ]
    }


def _epoch(value: datetime | float | None) -> float:
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    return float(value or 0.0)
