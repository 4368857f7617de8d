"""The AWS UserHistoryStore: one DynamoDB table, keyed by dataset scope and subject.

Table design (the CDK stack creates it from :func:`history_table_definition`):

===============  =============================================================
attribute        meaning
===============  =============================================================
``pk`` (S)       partition key. A history: ``h|<len(scope)>|<scope>|<subject>``,
                 one item per user or session, so each user's reads and writes
                 land on their own partition. Rows: ``r|<scope>``, so one query
                 lists a dataset's PutItems or PutUsers rows.
``sk`` (S)       sort key: ``-`` for a history, the row ID for a row
``events`` (S)   a history: its events as one JSON list, oldest first
``version`` (N)  a history: optimistic-locking counter for read-merge-write
``stamp`` (N)    a row: the writer's stamp; a write with an older one is refused
``doc`` (S)      a row: the row as JSON
``expires_at``   epoch seconds; the table's TTL attribute. DynamoDB removes
(N)              expired items lazily (within days), so reads filter them too
===============  =============================================================

A history is one item because serving reads it on every call: one
consistent ``GetItem``. ``merge_events`` bounds it by count and bytes, well
under the 400 KB item limit. Concurrent appends to one subject (two Kinesis
shards carrying two sessions of one user) meet at the version condition and
the loser merges again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from augury.local.history_window import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_EVENTS,
    DEFAULT_TTL_SECONDS,
    encode,
    merge_events,
)
from augury.ports import ConcurrentUpdate

HISTORY_SORT_KEY = "-"
TTL_ATTRIBUTE = "expires_at"


def history_table_definition(table_name: str | None = None) -> dict[str, Any]:
    """``create_table`` keyword arguments for the history table (TTL is set separately)."""
    definition: dict[str, Any] = {
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table_name is not None:
        definition["TableName"] = table_name
    return definition


def history_key(scope: str, subject: str) -> dict[str, Any]:
    """The length prefix keeps the key unambiguous whatever the scope and subject hold."""
    return {"pk": {"S": f"h|{len(scope)}|{scope}|{subject}"}, "sk": {"S": HISTORY_SORT_KEY}}


def row_key(scope: str, row_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"r|{scope}"}, "sk": {"S": row_id}}


class DynamoDBUserHistoryStore:
    """``UserHistoryStore`` on a DynamoDB table laid out as :func:`history_table_definition`."""

    def __init__(
        self,
        table_name: str,
        client: Any = None,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        attempts: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self.attempts = attempts
        self._clock = clock
        self._errors = client.exceptions

    def append(self, scope: str, subject: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
        if not events:
            return []
        key = history_key(scope, subject)
        for attempt in range(self.attempts):
            now = self._clock()
            item = self._get(key)
            live = item is not None and not _expired(item, now)
            existing = json.loads(item["events"]["S"]) if live else []
            merged, added = merge_events(
                existing, events, max_events=self.max_events, max_bytes=self.max_bytes
            )
            if not added:
                return []
            version = int(item["version"]["N"]) if item is not None else 0
            new_item = {
                **key,
                "events": {"S": encode(merged)},
                "version": {"N": str(version + 1)},
                TTL_ATTRIBUTE: {"N": str(int(now + self.ttl_seconds))},
            }
            condition: dict[str, Any] = (
                {
                    "ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": {":expected": {"N": str(version)}},
                }
                if item is not None
                else {"ConditionExpression": "attribute_not_exists(pk)"}
            )
            try:
                self.client.put_item(TableName=self.table_name, Item=new_item, **condition)
                return added
            except self._errors.ConditionalCheckFailedException:
                time.sleep(0.005 * (attempt + 1))
        raise ConcurrentUpdate(f"history of {subject} kept changing; gave up")

    def history(self, scope: str, subject: str) -> list[dict[str, Any]]:
        item = self._get(history_key(scope, subject))
        if item is None or _expired(item, self._clock()):
            return []
        return json.loads(item["events"]["S"])

    def discard(self, scope: str, subject: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=history_key(scope, subject))

    def put_row(self, scope: str, row_id: str, row: Mapping[str, Any], *, stamp: float) -> bool:
        now = self._clock()
        item = {
            **row_key(scope, row_id),
            "stamp": {"N": repr(float(stamp))},
            "doc": {"S": encode(dict(row))},
            TTL_ATTRIBUTE: {"N": str(int(now + self.ttl_seconds))},
        }
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR stamp <= :stamp OR #ttl <= :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":stamp": {"N": repr(float(stamp))},
                    ":now": {"N": str(int(now))},
                },
            )
        except self._errors.ConditionalCheckFailedException:
            return False
        return True

    def discard_row(self, scope: str, row_id: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=row_key(scope, row_id))

    def get_row(self, scope: str, row_id: str) -> dict[str, Any] | None:
        item = self._get(row_key(scope, row_id))
        if item is None or _expired(item, self._clock()):
            return None
        return json.loads(item["doc"]["S"])

    def rows(self, scope: str) -> dict[str, dict[str, Any]]:
        now = self._clock()
        found: list[dict[str, Any]] = []
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"r|{scope}"}},
            "ConsistentRead": True,
        }
        while True:
            response = self.client.query(**query)
            found += [item for item in response.get("Items", []) if not _expired(item, now)]
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
            query["ExclusiveStartKey"] = start
        found.sort(key=lambda item: (float(item["stamp"]["N"]), item["sk"]["S"]))
        return {item["sk"]["S"]: json.loads(item["doc"]["S"]) for item in found}

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)
        return response.get("Item")


def _expired(item: Mapping[str, Any], now: float) -> bool:
    expires = item.get(TTL_ATTRIBUTE)
    return expires is not None and float(expires["N"]) <= now
