"""Personalize Events: PutEvents, PutUsers, PutItems, PutActions, PutActionInteractions.

Each call is checked in full against the dataset's schema before anything is
accepted (a bad event refuses the whole call, naming the event and field),
then its records go on the event stream (``runtime.events``) and the call
returns. The consumer (``augury.personalize.event_consumer``) applies them:
in embedded mode within milliseconds, on AWS from Kinesis.

Each event gets its ``EVENT_ID`` here, before publishing, so a record the
stream delivers twice is recognised as one: the caller's ``eventId`` when
given (Amazon keeps only the first event with an ID), otherwise a digest of
the event's content, since Amazon keeps one of two events with the same
timestamp and properties. Records are partitioned by session (events) or by
row ID (users, items), so one session's events stay in order.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.local.history_window import encode
from augury.personalize.avro_rules import DATASET_TYPES, ParsedSchema
from augury.personalize.event_data import dataset_arn, dataset_scope
from augury.personalize.event_properties import (
    cached_schema,
    missing_required,
    parse_properties,
)
from augury.personalize.event_trackers import Tracker, tracker_for
from augury.personalize.import_fields import MAX_STRING_CHARACTERS, timestamp_problem
from augury.personalize.resource_types import DATASET
from augury.ports import StreamRecord
from augury.resources.errors import InvalidInput, ResourceInUse, ResourceNotFound
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize-events")

INTERACTION = "interaction"
USER = "user"
ITEM = "item"
ACTION = "action"
ACTION_INTERACTION = "action-interaction"

ACTION_EVENT_TYPES = {"TAKEN": "TAKEN", "NOT_TAKEN": "NOT_TAKEN", "VIEWED": "VIEWED"}
"""Action interaction event types, by their upper-case form with spaces as underscores:
Amazon's API writes ``Taken``, ``Not Taken`` and ``Viewed``, its datasets ``TAKEN``..."""
ACTION_INTERACTION_MEMBERS = {
    "USER_ID": "userId",
    "ACTION_ID": "actionId",
    "TIMESTAMP": "timestamp",
    "EVENT_TYPE": "eventType",
    "IMPRESSION": "impression",
    "RECOMMENDATION_ID": "recommendationId",
}
"""Action interactions fields a PutActionInteractions call sets through its own members."""

EVENT_MEMBERS = {
    "USER_ID": "userId",
    "ITEM_ID": "itemId",
    "TIMESTAMP": "sentAt",
    "EVENT_TYPE": "eventType",
    "EVENT_VALUE": "eventValue",
    "IMPRESSION": "impression",
    "RECOMMENDATION_ID": "recommendationId",
    "EVENT_ATTRIBUTION_SOURCE": "metricAttribution",
}
"""Interactions fields a PutEvents call sets through its own members, not properties."""


def _partition(*parts: str) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()


def _dataset(runtime: Runtime, arn: str) -> Resource | None:
    record = runtime.metadata.get(arn)
    return record if record is not None and record.kind == DATASET.kind else None


def _usable(dataset: Resource) -> None:
    status = Status(dataset.status)
    if status != Status.ACTIVE:
        raise ResourceInUse(
            f"Dataset {dataset.arn} is {status.render('personalize')}; "
            "data can be recorded once it is ACTIVE"
        )


def _schema(runtime: Runtime, dataset: Resource) -> ParsedSchema:
    record = runtime.metadata.get(str(dataset.attributes.get("schemaArn")))
    if record is None:
        raise ResourceNotFound(
            f"The schema of dataset {dataset.arn}, {dataset.attributes.get('schemaArn')}, "
            "no longer exists"
        )
    return cached_schema(record.attributes["schema"])


def _tracked(
    runtime: Runtime, request: Mapping[str, Any], dataset_type: str, what: str
) -> tuple[Tracker, Resource, ParsedSchema]:
    """The request's tracker, and its group's ``dataset_type`` dataset (ACTIVE) and schema."""
    tracker = tracker_for(runtime, request["trackingId"])
    group = tracker.dataset_group_arn
    dataset = _dataset(runtime, dataset_arn(group, dataset_type))
    if dataset is None:
        raise InvalidInput(
            f"Dataset group {group} has no {DATASET_TYPES[dataset_type]} dataset; create one "
            f"(it can be empty) before recording {what}"
        )
    _usable(dataset)
    return tracker, dataset, _schema(runtime, dataset)


def _tracked_record(
    kind: str,
    tracker: Tracker,
    dataset: Resource,
    user_id: str | None,
    session_id: str,
    row: dict[str, Any],
    received: float,
) -> StreamRecord:
    """One tracked event on the stream, partitioned by session so a session stays in order."""
    return StreamRecord(
        partition_key=_partition(tracker.tracking_id, session_id),
        data={
            "kind": kind,
            "group": tracker.dataset_group_arn,
            "dataset": dataset.arn,
            "scope": dataset_scope(dataset),
            "userId": user_id,
            "sessionId": session_id,
            "event": row,
            "receivedAt": received,
        },
    )


# --- PutEvents ---------------------------------------------------------------------------


@operations("PutEvents")
def put_events(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Record up to 10 interactions of one user (or anonymous session).

    botocore's model declares only InvalidInputException for PutEvents, so an unknown,
    deleted or not yet ACTIVE tracker is refused with it (PutActionInteractions, which
    declares them, says ResourceNotFoundException and ResourceInUseException)."""
    try:
        tracker, interactions, schema = _tracked(runtime, request, "INTERACTIONS", "events")
    except (ResourceNotFound, ResourceInUse) as error:
        raise InvalidInput(error.message) from None
    user_id, session_id = request.get("userId"), request["sessionId"]
    received = time.time()
    records = []
    for index, event in enumerate(request["eventList"]):
        row = interaction_row(event, schema, user_id, session_id, where=f"eventList[{index}]")
        row["RECEIVED_AT"] = received
        records.append(
            _tracked_record(INTERACTION, tracker, interactions, user_id, session_id, row, received)
        )
    runtime.events.publish(records)
    return {}


def interaction_row(
    event: Mapping[str, Any],
    schema: ParsedSchema,
    user_id: str | None,
    session_id: str,
    *,
    where: str,
) -> dict[str, Any]:
    """One event as the history and the Interactions columns hold it (upper-cased names)."""
    properties = parse_properties(
        event.get("properties"),
        schema,
        where=f"{where}.properties",
        label="Interactions",
        from_members=EVENT_MEMBERS,
    )
    item_id = event.get("itemId")
    item_field = schema.get("ITEM_ID")
    if item_id is None and item_field is not None and not item_field.nullable:
        raise InvalidInput(f"{where} has no itemId; the Interactions schema requires ITEM_ID")
    value = event.get("eventValue")
    value_field = schema.get("EVENT_VALUE")
    if value is None and value_field is not None and not value_field.nullable:
        raise InvalidInput(
            f"{where} has no eventValue; the Interactions schema requires EVENT_VALUE"
        )
    sent_at = event["sentAt"]
    timestamp = sent_at.timestamp() if isinstance(sent_at, datetime) else float(sent_at)
    problem = timestamp_problem("TIMESTAMP", timestamp, str(sent_at))
    if problem is not None:
        raise InvalidInput(f"{where}.sentAt: {problem}")
    impression = event.get("impression")
    attribution = (event.get("metricAttribution") or {}).get("eventAttributionSource")
    if attribution is not None and len(attribution) > MAX_STRING_CHARACTERS:
        raise InvalidInput(
            f"{where}.metricAttribution.eventAttributionSource has {len(attribution)} "
            f"characters; Personalize allows at most {MAX_STRING_CHARACTERS} for "
            "EVENT_ATTRIBUTION_SOURCE"
        )
    row: dict[str, Any] = {
        "ITEM_ID": item_id,
        "EVENT_TYPE": event["eventType"],
        "EVENT_VALUE": float(value) if value is not None else None,
        "TIMESTAMP": timestamp,
        "RECOMMENDATION_ID": event.get("recommendationId"),
        "IMPRESSION": "|".join(impression) if impression else None,
        "EVENT_ATTRIBUTION_SOURCE": attribution,
        **properties,
    }
    present = {name for name, member_value in row.items() if member_value is not None}
    missing_required(schema, present | {"USER_ID"}, where=where, label="Interactions")
    row["EVENT_ID"] = event.get("eventId") or _content_id(user_id, session_id, row)
    return row


def _content_id(user_id: str | None, session_id: str, row: Mapping[str, Any]) -> str:
    """Equal events (same subject, timestamp and fields) get equal IDs, as Amazon dedupes them."""
    subject = f"u:{user_id}" if user_id else f"s:{session_id}"
    return "auto-" + hashlib.sha256(encode([subject, dict(row)]).encode()).hexdigest()[:32]


# --- PutUsers / PutItems -----------------------------------------------------------------


@operations("PutUsers")
def put_users(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Add or replace up to 10 users of a Users dataset."""
    _put_rows(runtime, request, "USERS", "users", "userId", USER)
    return {}


@operations("PutItems")
def put_items(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Add or replace up to 10 items of an Items dataset."""
    _put_rows(runtime, request, "ITEMS", "items", "itemId", ITEM)
    return {}


@operations("PutActions")
def put_actions(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Add or replace up to 10 actions of an Actions dataset."""
    _put_rows(runtime, request, "ACTIONS", "actions", "actionId", ACTION)
    return {}


def _put_rows(
    runtime: Runtime,
    request: Mapping[str, Any],
    dataset_type: str,
    list_member: str,
    id_member: str,
    kind: str,
) -> None:
    arn = request["datasetArn"]
    dataset = _dataset(runtime, arn)
    if dataset is None:
        raise ResourceNotFound(f"No dataset found with ARN {arn}")
    actual = str(dataset.attributes.get("datasetType", "")).upper()
    label = dataset_type.capitalize()
    if actual != dataset_type:
        operation = {USER: "PutUsers", ITEM: "PutItems", ACTION: "PutActions"}[kind]
        raise InvalidInput(
            f"Dataset {arn} is the group's {dataset.attributes.get('datasetType')} dataset; "
            f"{operation} records into its {label} dataset"
        )
    _usable(dataset)
    schema = _schema(runtime, dataset)
    id_column = f"{dataset_type[:-1]}_ID"
    received = time.time()
    records = []
    for index, entry in enumerate(request[list_member]):
        where = f"{list_member}[{index}]"
        row = {
            id_column: entry[id_member],
            **parse_properties(
                entry.get("properties"),
                schema,
                where=f"{where}.properties",
                label=label,
                from_members={id_column: id_member},
            ),
        }
        missing_required(schema, row, where=where, label=label)
        records.append(
            StreamRecord(
                partition_key=_partition(arn, entry[id_member]),
                data={
                    "kind": kind,
                    "group": dataset.parent_arn,
                    "dataset": arn,
                    "scope": dataset_scope(dataset),
                    "id": entry[id_member],
                    "row": row,
                    "receivedAt": received,
                },
            )
        )
    runtime.events.publish(records)


# --- PutActionInteractions ---------------------------------------------------------------


@operations("PutActionInteractions")
def put_action_interactions(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Record up to 10 interactions of users with actions (Next-Best-Action's events)."""
    tracker, dataset, schema = _tracked(
        runtime, request, "ACTION_INTERACTIONS", "action interactions"
    )
    received = time.time()
    records = []
    for index, entry in enumerate(request["actionInteractions"]):
        where = f"actionInteractions[{index}]"
        row = action_interaction_row(entry, schema, where=where)
        row["RECEIVED_AT"] = received
        records.append(
            _tracked_record(
                ACTION_INTERACTION,
                tracker,
                dataset,
                entry.get("userId"),
                entry["sessionId"],
                row,
                received,
            )
        )
    runtime.events.publish(records)
    return {}


def action_interaction_row(
    entry: Mapping[str, Any], schema: ParsedSchema, *, where: str
) -> dict[str, Any]:
    """One action interaction as the Action_Interactions columns hold it."""
    if not entry.get("userId"):
        raise InvalidInput(
            f"{where} has no userId; Next-Best-Action learns from identified users, and the "
            "Action_Interactions schema requires USER_ID"
        )
    written = str(entry["eventType"])
    event_type = ACTION_EVENT_TYPES.get(written.strip().upper().replace(" ", "_"))
    if event_type is None:
        raise InvalidInput(
            f"{where}.eventType {written!r} is not an action interaction event type; use "
            "Taken, Not Taken or Viewed"
        )
    properties = parse_properties(
        entry.get("properties"),
        schema,
        where=f"{where}.properties",
        label="Action_Interactions",
        from_members=ACTION_INTERACTION_MEMBERS,
    )
    sent_at = entry["timestamp"]
    timestamp = sent_at.timestamp() if isinstance(sent_at, datetime) else float(sent_at)
    problem = timestamp_problem("TIMESTAMP", timestamp, str(sent_at))
    if problem is not None:
        raise InvalidInput(f"{where}.timestamp: {problem}")
    impression = entry.get("impression")
    row: dict[str, Any] = {
        "USER_ID": entry["userId"],
        "ACTION_ID": entry["actionId"],
        "EVENT_TYPE": event_type,
        "TIMESTAMP": timestamp,
        "RECOMMENDATION_ID": entry.get("recommendationId"),
        "IMPRESSION": "|".join(impression) if impression else None,
        **properties,
    }
    present = {name for name, value in row.items() if value is not None}
    missing_required(schema, present, where=where, label="Action_Interactions")
    row["EVENT_ID"] = entry.get("eventId") or _content_id(
        entry["userId"], str(entry["sessionId"]), row
    )
    return row
