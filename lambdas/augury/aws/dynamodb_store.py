"""The AWS MetadataStore: one DynamoDB table for every resource.

Table design (the CDK stack creates it from :func:`table_definition`):

==============  ==========================================================
attribute       meaning
==============  ==========================================================
``arn`` (S)     partition key of the table
``kind`` (S)    resource kind; partition key of GSI ``by-kind``
``parent_arn``  parent's ARN; partition key of GSI ``by-parent`` (absent
(S)             for top-level resources, so they stay out of that index)
``sort_key``    ``<created_at as fixed-width UTC ISO>#<arn>``: the sort key of
(S)             both GSIs, so listings come back in creation order
``version`` (N) optimistic-locking counter; writes are conditional on it
``doc`` (S)     the resource as JSON (``Resource.to_json``)
==============  ==========================================================

Both GSIs project ALL attributes, so a listing never reads the table again.
Billing is PAY_PER_REQUEST. GSIs are eventually consistent: a record may show
up in a listing a moment after ``create`` returns (``get`` reads consistently).
A listing's cursor is the DynamoDB key of the last record returned, base64'd.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from datetime import UTC
from typing import Any

from augury.ports import AlreadyExists, ConcurrentUpdate, NotFound, Page
from augury.resources.record import Resource

BY_KIND = "by-kind"
BY_PARENT = "by-parent"


def table_definition(table_name: str | None = None) -> dict[str, Any]:
    """``create_table`` keyword arguments for the resources table."""

    def index(name: str, partition: str) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": partition, "KeyType": "HASH"},
                {"AttributeName": "sort_key", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }

    definition: dict[str, Any] = {
        "KeySchema": [{"AttributeName": "arn", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("arn", "kind", "parent_arn", "sort_key")
        ],
        "GlobalSecondaryIndexes": [index(BY_KIND, "kind"), index(BY_PARENT, "parent_arn")],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table_name is not None:
        definition["TableName"] = table_name
    return definition


def sort_key(resource: Resource) -> str:
    created = resource.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp}#{resource.arn}"


class DynamoDBMetadataStore:
    """``MetadataStore`` on a DynamoDB table laid out as :func:`table_definition` says."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client
        self._errors = client.exceptions

    def create(self, resource: Resource) -> None:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=self._item(resource),
                ConditionExpression="attribute_not_exists(arn)",
            )
        except self._errors.ConditionalCheckFailedException as exc:
            raise AlreadyExists(resource.arn) from exc

    def get(self, arn: str) -> Resource | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={"arn": {"S": arn}}, ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _resource(item)

    def update(self, resource: Resource) -> Resource:
        stored = replace(resource, version=resource.version + 1)
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=self._item(stored),
                ConditionExpression="attribute_exists(arn) AND version = :expected",
                ExpressionAttributeValues={":expected": {"N": str(resource.version)}},
            )
        except self._errors.ConditionalCheckFailedException as exc:
            if self.get(resource.arn) is None:
                raise NotFound(resource.arn) from exc
            raise ConcurrentUpdate(resource.arn) from exc
        return stored

    def delete(self, arn: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key={"arn": {"S": arn}})

    def list(
        self,
        *,
        kind: str | None = None,
        parent_arn: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        if kind is None and parent_arn is None:
            raise ValueError("list needs kind or parent_arn")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if parent_arn is not None:
            index, partition, value = BY_PARENT, "parent_arn", parent_arn
        else:
            index, partition, value = BY_KIND, "kind", kind
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": partition},
            "ExpressionAttributeValues": {":p": {"S": value}},
            "ScanIndexForward": True,
        }
        filtered = parent_arn is not None and kind is not None
        if filtered:
            query["FilterExpression"] = "#k = :k"
            query["ExpressionAttributeNames"]["#k"] = "kind"
            query["ExpressionAttributeValues"][":k"] = {"S": kind}
        start = _decode_cursor(cursor) if cursor is not None else None
        items: list[dict[str, Any]] = []
        # Read one item past the page so the last page says so (cursor None).
        while len(items) <= limit:
            needed = limit + 1 - len(items)
            if start is not None:
                query["ExclusiveStartKey"] = start
            response = self.client.query(**query, Limit=max(needed, 50) if filtered else needed)
            items.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if start is None:
                break
        page, more = items[:limit], len(items) > limit
        next_cursor = None
        if more:
            last = page[-1]
            next_cursor = _encode_cursor(
                {name: last[name] for name in ("arn", "sort_key", partition)}
            )
        return Page(items=[_resource(item) for item in page], cursor=next_cursor)

    @staticmethod
    def _item(resource: Resource) -> dict[str, Any]:
        item = {
            "arn": {"S": resource.arn},
            "kind": {"S": resource.kind},
            "sort_key": {"S": sort_key(resource)},
            "version": {"N": str(resource.version)},
            "doc": {"S": resource.to_json()},
        }
        if resource.parent_arn is not None:
            item["parent_arn"] = {"S": resource.parent_arn}
        return item


def _resource(item: dict[str, Any]) -> Resource:
    document = json.loads(item["doc"]["S"])
    document["version"] = int(item["version"]["N"])
    return Resource.from_document(document)


def _encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError("invalid pagination cursor") from exc
    valid = isinstance(key, dict) and all(
        isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values()
    )
    if not valid or "arn" not in key or "sort_key" not in key:
        raise ValueError("invalid pagination cursor")
    return key
