"""Event trackers and the personalize-events API end to end, through stock boto3 clients."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from augury.personalize import event_data
from augury.personalize.event_files import ARRIVAL_COLUMN
from augury.personalize.group_data import read_table

INTERACTIONS = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "NUMBER_OF_RATINGS", "type": ["null", "int"]},
    ],
    "version": "1.0",
}
ITEMS = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}
USERS = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "MEMBERSHIP", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def personalize(client: Callable[[str], Any]) -> Any:
    return client("personalize")


@pytest.fixture
def events(client: Callable[[str], Any]) -> Any:
    return client("personalize-events")


def make_group(personalize: Any, wait: Callable[[], None], name: str = "shop") -> str:
    arn = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    wait()
    return arn


def make_dataset(personalize: Any, group: str, kind: str, body: dict[str, Any]) -> str:
    name = f"{group.rsplit('/', 1)[-1]}-{kind}"
    schema = personalize.create_schema(name=name, schema=json.dumps(body))
    return personalize.create_dataset(
        name=kind.lower(),
        schemaArn=schema["schemaArn"],
        datasetGroupArn=group,
        datasetType=kind,
    )["datasetArn"]


@pytest.fixture
def shop(personalize: Any, wait_for_workflows: Callable[[], None]) -> dict[str, str]:
    """An ACTIVE group with the three datasets and an ACTIVE tracker."""
    group = make_group(personalize, wait_for_workflows)
    found = {"group": group}
    for kind, body in (("Interactions", INTERACTIONS), ("Items", ITEMS), ("Users", USERS)):
        found[kind] = make_dataset(personalize, group, kind, body)
    tracker = personalize.create_event_tracker(name="clicks", datasetGroupArn=group)
    found.update(tracker=tracker["eventTrackerArn"], trackingId=tracker["trackingId"])
    wait_for_workflows()
    return found


def click(item: str = "i1", **extra: Any) -> dict[str, Any]:
    return {"eventType": "click", "itemId": item, "sentAt": datetime.now(UTC), **extra}


# --- event trackers ----------------------------------------------------------------------


def test_tracker_lifecycle(
    personalize: Any, events: Any, shop: dict[str, str], wait_for_workflows: Callable[[], None]
) -> None:
    tracker = personalize.describe_event_tracker(eventTrackerArn=shop["tracker"])["eventTracker"]
    assert tracker["eventTrackerArn"].endswith(":event-tracker/clicks")
    assert tracker["status"] == "ACTIVE"
    assert tracker["trackingId"] == shop["trackingId"] and len(shop["trackingId"]) == 36
    assert tracker["datasetGroupArn"] == shop["group"]
    assert tracker["accountId"] == "000000000000"

    listed = personalize.list_event_trackers(datasetGroupArn=shop["group"])["eventTrackers"]
    assert [t["eventTrackerArn"] for t in listed] == [shop["tracker"]]
    assert "trackingId" not in listed[0]  # EventTrackerSummary has no tracking ID
    assert personalize.list_event_trackers()["eventTrackers"][0]["name"] == "clicks"

    code, message = error_of(
        lambda: personalize.delete_dataset_group(datasetGroupArn=shop["group"])
    )
    assert code == "ResourceInUseException"

    personalize.delete_event_tracker(eventTrackerArn=shop["tracker"])
    wait_for_workflows()
    code, _ = error_of(lambda: personalize.describe_event_tracker(eventTrackerArn=shop["tracker"]))
    assert code == "ResourceNotFoundException"
    code, message = error_of(
        lambda: events.put_events(
            trackingId=shop["trackingId"], userId="u", sessionId="s", eventList=[click()]
        )
    )
    # botocore's model declares only InvalidInputException for PutEvents
    assert code == "InvalidInputException" and shop["trackingId"] in message
    # The group's one tracker slot is free again.
    again = personalize.create_event_tracker(name="clicks-2", datasetGroupArn=shop["group"])
    assert again["trackingId"] != shop["trackingId"]


def test_tracker_is_pending_until_the_workflow_runs(
    personalize: Any,
    events: Any,
    server: EmbeddedServer,
    wait_for_workflows: Callable[[], None],
) -> None:
    group = make_group(personalize, wait_for_workflows)
    make_dataset(personalize, group, "Interactions", INTERACTIONS)
    wait_for_workflows()
    engine = server.runtime.workflows
    original, held = engine.start, []
    engine.start = lambda workflow, payload: held.append((workflow, payload)) or "held"
    try:
        created = personalize.create_event_tracker(name="t", datasetGroupArn=group)
    finally:
        engine.start = original
    described = personalize.describe_event_tracker(eventTrackerArn=created["eventTrackerArn"])
    assert described["eventTracker"]["status"] == "CREATE PENDING"
    code, message = error_of(
        lambda: events.put_events(
            trackingId=created["trackingId"], sessionId="s", eventList=[click()]
        )
    )
    assert code == "InvalidInputException" and "CREATE PENDING" in message
    for workflow, payload in held:
        original(workflow, payload)
    wait_for_workflows()
    described = personalize.describe_event_tracker(eventTrackerArn=created["eventTrackerArn"])
    assert described["eventTracker"]["status"] == "ACTIVE"


def test_one_tracker_per_group_and_unique_names(
    personalize: Any, shop: dict[str, str], wait_for_workflows: Callable[[], None]
) -> None:
    code, message = error_of(
        lambda: personalize.create_event_tracker(name="second", datasetGroupArn=shop["group"])
    )
    assert code == "LimitExceededException" and shop["tracker"] in message
    other = make_group(personalize, wait_for_workflows, name="other")
    code, _ = error_of(
        lambda: personalize.create_event_tracker(name="clicks", datasetGroupArn=other)
    )
    assert code == "ResourceAlreadyExistsException"
    missing = shop["group"] + "-missing"
    code, _ = error_of(lambda: personalize.create_event_tracker(name="x", datasetGroupArn=missing))
    assert code == "ResourceNotFoundException"


def test_tracker_tags(personalize: Any, shop: dict[str, str], wait_for_workflows) -> None:
    other = make_group(personalize, wait_for_workflows, name="tagged")
    arn = personalize.create_event_tracker(
        name="tagged", datasetGroupArn=other, tags=[{"tagKey": "team", "tagValue": "ml"}]
    )["eventTrackerArn"]
    tags = personalize.list_tags_for_resource(resourceArn=arn)["tags"]
    assert tags == [{"tagKey": "team", "tagValue": "ml"}]


# --- PutEvents -----------------------------------------------------------------------------


def test_events_are_visible_within_a_second(
    events: Any, shop: dict[str, str], server: EmbeddedServer
) -> None:
    """Freshness: the time from PutEvents returning to the event showing in recent_events."""
    runtime, group = server.runtime, shop["group"]
    delays = []
    for number in range(100):
        user = f"user-{number % 20}"
        before = len(event_data.recent_events(runtime, group, user, limit=500))
        events.put_events(
            trackingId=shop["trackingId"],
            userId=user,
            sessionId=f"session-{number % 20}",
            eventList=[click(f"item-{number}")],
        )
        returned = time.perf_counter()
        while len(event_data.recent_events(runtime, group, user, limit=500)) == before:
            assert time.perf_counter() - returned < 1.0, "event not visible within a second"
            time.sleep(0.0005)
        delays.append(time.perf_counter() - returned)
    delays.sort()
    p50, p99 = statistics.median(delays), delays[int(len(delays) * 0.99) - 1]
    print(f"PutEvents to visible, {len(delays)} events: p50 {p50:.4f} s, p99 {p99:.4f} s")
    assert p99 < 1.0


def test_events_feed_the_training_data(
    events: Any, shop: dict[str, str], server: EmbeddedServer
) -> None:
    events.put_events(
        trackingId=shop["trackingId"],
        userId="u1",
        sessionId="s1",
        eventList=[
            click("i1", properties=json.dumps({"numberOfRatings": "12"}), eventId="e1"),
            click("i2", impression=["i2", "i3"]),
        ],
    )
    server.runtime.events.flush()
    table = read_table(server.runtime, event_data.events_prefix(shop["group"]) + "interactions/")
    rows = sorted(table.to_pylist(), key=lambda row: row["ITEM_ID"])
    assert [(r["USER_ID"], r["ITEM_ID"], r["NUMBER_OF_RATINGS"]) for r in rows] == [
        ("u1", "i1", 12),
        ("u1", "i2", None),
    ]
    # the dataset's columns, then the eventId training counts a repeated one by, and when
    # each row arrived (which merged files still tell)
    assert table.column_names == [
        "USER_ID",
        "ITEM_ID",
        "EVENT_TYPE",
        "TIMESTAMP",
        "NUMBER_OF_RATINGS",
        "EVENT_ID",
        ARRIVAL_COLUMN,
    ]
    assert rows[0]["EVENT_ID"] == "e1" and rows[1]["EVENT_ID"]
    assert all(abs(row[ARRIVAL_COLUMN] - time.time()) < 60 for row in rows)


def test_anonymous_events_join_the_user_after_login(
    events: Any, shop: dict[str, str], server: EmbeddedServer
) -> None:
    put = events.put_events
    put(trackingId=shop["trackingId"], sessionId="visit-1", eventList=[click("a"), click("b")])
    server.runtime.events.flush()
    recent = event_data.recent_events(server.runtime, shop["group"], "visit-1")
    assert [e["ITEM_ID"] for e in recent] == ["a", "b"]
    put(trackingId=shop["trackingId"], userId="ann", sessionId="visit-1", eventList=[click("c")])
    server.runtime.events.flush()
    recent = event_data.recent_events(server.runtime, shop["group"], "ann")
    assert [e["ITEM_ID"] for e in recent] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (click(properties=json.dumps({"colour": "red"})), ["'colour'", "numberOfRatings"]),
        (click(properties=json.dumps({"numberOfRatings": "lots"})), ["NUMBER_OF_RATINGS"]),
        (click(properties="not json"), ["not valid JSON"]),
        ({"eventType": "click", "sentAt": datetime.now(UTC)}, ["itemId", "ITEM_ID"]),
        (click(sentAt=datetime(1960, 1, 1, tzinfo=UTC)), ["sentAt", "before 1970"]),
        (
            click(metricAttribution={"eventAttributionSource": "s" * 1001}),
            ["eventAttributionSource", "at most 1000"],
        ),
    ],
)
def test_put_events_refuses_bad_events(
    events: Any, shop: dict[str, str], event: dict[str, Any], words: list[str]
) -> None:
    code, message = error_of(
        lambda: events.put_events(
            trackingId=shop["trackingId"], userId="u", sessionId="s", eventList=[click(), event]
        )
    )
    assert code == "InvalidInputException"
    assert "eventList[1]" in message
    for word in words:
        assert word in message


def test_a_refused_call_records_nothing(
    events: Any, shop: dict[str, str], server: EmbeddedServer
) -> None:
    bad = click(properties=json.dumps({"colour": "red"}))
    error_of(
        lambda: events.put_events(
            trackingId=shop["trackingId"], userId="u", sessionId="s", eventList=[click(), bad]
        )
    )
    server.runtime.events.flush()
    assert event_data.recent_events(server.runtime, shop["group"], "u") == []


def test_put_events_limits_and_unknown_tracker(events: Any, shop: dict[str, str]) -> None:
    code, _ = error_of(
        lambda: events.put_events(
            trackingId=shop["trackingId"], sessionId="s", eventList=[click()] * 11
        )
    )
    assert code in ("InvalidInputException", "ValidationException")
    code, _ = error_of(
        lambda: events.put_events(trackingId="no-such-id", sessionId="s", eventList=[click()])
    )
    assert code == "InvalidInputException"  # the one error botocore's model declares for it


def test_put_events_needs_an_interactions_dataset(
    personalize: Any, events: Any, wait_for_workflows: Callable[[], None]
) -> None:
    group = make_group(personalize, wait_for_workflows, name="bare")
    tracking_id = personalize.create_event_tracker(name="bare", datasetGroupArn=group)["trackingId"]
    wait_for_workflows()
    code, message = error_of(
        lambda: events.put_events(trackingId=tracking_id, sessionId="s", eventList=[click()])
    )
    assert code == "InvalidInputException" and "Interactions dataset" in message


# --- PutUsers / PutItems -------------------------------------------------------------------


def test_put_items_and_users(events: Any, shop: dict[str, str], server: EmbeddedServer) -> None:
    events.put_items(
        datasetArn=shop["Items"],
        items=[
            {"itemId": "i1", "properties": json.dumps({"genres": "Comedy|Drama"})},
            {"itemId": "i2"},
        ],
    )
    events.put_items(
        datasetArn=shop["Items"], items=[{"itemId": "i1", "properties": '{"genres": "War"}'}]
    )
    events.put_users(
        datasetArn=shop["Users"],
        users=[{"userId": "u1", "properties": json.dumps({"membership": "gold"})}],
    )
    server.runtime.events.flush()
    items = event_data.recent_items(server.runtime, shop["group"])
    assert sorted(items, key=lambda row: row["ITEM_ID"]) == [
        {"ITEM_ID": "i1", "GENRES": "War"},
        {"ITEM_ID": "i2"},
    ]
    users = event_data.recent_users(server.runtime, shop["group"])
    assert users == [{"USER_ID": "u1", "MEMBERSHIP": "gold"}]
    prefix = event_data.events_prefix(shop["group"])
    assert read_table(server.runtime, prefix + "items/").num_rows == 3
    users_table = read_table(server.runtime, prefix + "users/")
    assert users_table.drop_columns(ARRIVAL_COLUMN).to_pylist() == [
        {"USER_ID": "u1", "MEMBERSHIP": "gold"}
    ]


def test_put_items_and_users_refuse_bad_input(events: Any, shop: dict[str, str]) -> None:
    code, message = error_of(
        lambda: events.put_items(
            datasetArn=shop["Items"], items=[{"itemId": "i1", "properties": '{"price": 3}'}]
        )
    )
    assert code == "InvalidInputException" and "'price'" in message and "genres" in message
    code, message = error_of(
        lambda: events.put_users(datasetArn=shop["Items"], users=[{"userId": "u1"}])
    )
    assert code == "InvalidInputException"
    assert message == (
        f"Dataset {shop['Items']} is the group's Items dataset; PutUsers records into its Users "
        "dataset"
    )
    missing = shop["Items"].replace("/ITEMS", "/NOPE")
    code, _ = error_of(lambda: events.put_items(datasetArn=missing, items=[{"itemId": "i"}]))
    assert code == "ResourceNotFoundException"
