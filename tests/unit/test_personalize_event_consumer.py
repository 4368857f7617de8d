"""The event consumer: idempotent application, anonymous sessions, Parquet for training.

The operations run against a real embedded runtime whose event stream hands
records to the test instead of the consumer, so each test decides when (and
how often) a batch is applied.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from augury.bootstrap import bootstrap
from augury.personalize import (
    dataset_groups,
    datasets,
    event_consumer,
    event_data,
    event_trackers,
    events,
    schemas,
)
from augury.personalize.event_consumer import apply_records, handle_kinesis_event
from augury.personalize.event_files import ARRIVAL_COLUMN
from augury.personalize.group_data import read_table
from augury.ports import StreamRecord
from augury.runtime import Runtime
from augury.settings import Settings

INTERACTIONS = {
    "type": "record",
    "name": "Interactions",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
    ],
}
ITEMS = {
    "type": "record",
    "name": "Items",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRE", "type": ["null", "string"], "categorical": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
    ],
}
USERS = {
    "type": "record",
    "name": "Users",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "AGE", "type": ["null", "int"]},
    ],
}


class Setup:
    def __init__(self, runtime: Runtime, captured: list[StreamRecord]) -> None:
        self.runtime = runtime
        self.captured = captured
        self.group = ""
        self.tracking_id = ""
        self.datasets: dict[str, str] = {}

    def take(self) -> list[StreamRecord]:
        """The records published since the last call."""
        self.runtime.events.flush(timeout=5)  # type: ignore[attr-defined]
        taken = list(self.captured)
        self.captured.clear()
        return taken

    def put_events(self, *event_list: dict[str, Any], user: str | None, session: str) -> None:
        request: dict[str, Any] = {
            "trackingId": self.tracking_id,
            "sessionId": session,
            "eventList": list(event_list),
        }
        if user is not None:
            request["userId"] = user
        events.put_events(self.runtime, request)

    def table(self, folder: str, *, arrivals: bool = False) -> pa.Table:
        """The folder's rows; their arrival times only with ``arrivals``."""
        table = read_table(self.runtime, event_data.events_prefix(self.group) + folder)
        if arrivals or ARRIVAL_COLUMN not in table.column_names:  # none when no rows
            return table
        return table.drop_columns(ARRIVAL_COLUMN)

    def files(self, folder: str) -> list[str]:
        prefix = event_data.events_prefix(self.group) + folder
        return list(self.runtime.blobs.list_keys(prefix))


@pytest.fixture
def setup(tmp_path) -> Iterator[Setup]:
    captured: list[StreamRecord] = []
    runtime = bootstrap(Settings.embedded(tmp_path), event_consumer=captured.extend)
    state = Setup(runtime, captured)
    state.group = dataset_groups.create_dataset_group(runtime, {"name": "shop"})["datasetGroupArn"]
    assert runtime.workflows.wait_idle(10)  # type: ignore[attr-defined]
    for kind, body in (("Interactions", INTERACTIONS), ("Items", ITEMS), ("Users", USERS)):
        schema = schemas.create_schema(runtime, {"name": kind, "schema": json.dumps(body)})
        state.datasets[kind] = datasets.create_dataset(
            runtime,
            {
                "name": kind.lower(),
                "schemaArn": schema["schemaArn"],
                "datasetGroupArn": state.group,
                "datasetType": kind,
            },
        )["datasetArn"]
    tracker = event_trackers.create_event_tracker(
        runtime, {"name": "t", "datasetGroupArn": state.group}
    )
    state.tracking_id = tracker["trackingId"]
    assert runtime.workflows.wait_idle(10)  # type: ignore[attr-defined]
    yield state
    runtime.workflows.shutdown()  # type: ignore[attr-defined]
    runtime.events.close()  # type: ignore[attr-defined]


def click(item: str, second: int, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": "click",
        "itemId": item,
        "sentAt": datetime.fromtimestamp(1_700_000_000 + second, UTC),
        **extra,
    }


def items_of(setup: Setup, user: str) -> list[str]:
    return [e["ITEM_ID"] for e in event_data.recent_events(setup.runtime, setup.group, user)]


def test_events_reach_the_history_and_the_training_files(setup: Setup) -> None:
    setup.put_events(
        click("i1", 1, eventValue=2.5, properties='{"device": "phone"}'),
        click("i2", 2, impression=["i2", "i3"], recommendationId="rec-1"),
        user="u1",
        session="s1",
    )
    apply_records(setup.runtime, setup.take())
    recent = event_data.recent_events(setup.runtime, setup.group, "u1")
    assert [e["ITEM_ID"] for e in recent] == ["i1", "i2"]
    assert recent[0]["EVENT_VALUE"] == 2.5 and recent[0]["DEVICE"] == "phone"
    assert recent[0]["TIMESTAMP"] == 1_700_000_001 and isinstance(recent[0]["TIMESTAMP"], int)
    assert recent[1]["IMPRESSION"] == "i2|i3" and recent[1]["RECOMMENDATION_ID"] == "rec-1"
    table = setup.table("interactions/")
    assert table.column_names == [
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "DEVICE",
        "EVENT_ID",  # not the dataset's: training counts a repeated eventId once by it
    ]
    assert table.schema.field("TIMESTAMP").type == pa.int64()
    arrived = setup.table("interactions/", arrivals=True)
    assert arrived.column_names[-1] == ARRIVAL_COLUMN  # merged files still tell
    assert all(abs(at - time.time()) < 60 for at in arrived.column(ARRIVAL_COLUMN).to_pylist())
    ids = [recent[0]["EVENT_ID"], recent[1]["EVENT_ID"]]
    assert table.column("EVENT_ID").to_pylist() == ids
    assert table.drop_columns("EVENT_ID").to_pylist() == [
        {
            "USER_ID": "u1",
            "ITEM_ID": "i1",
            "TIMESTAMP": 1_700_000_001,
            "EVENT_TYPE": "click",
            "EVENT_VALUE": 2.5,
            "DEVICE": "phone",
        },
        {
            "USER_ID": "u1",
            "ITEM_ID": "i2",
            "TIMESTAMP": 1_700_000_002,
            "EVENT_TYPE": "click",
            "EVENT_VALUE": None,
            "DEVICE": None,
        },
    ]


def test_a_batch_applied_twice_counts_once(setup: Setup) -> None:
    setup.put_events(click("i1", 1), click("i2", 2), user="u1", session="s1")
    batch = setup.take()
    apply_records(setup.runtime, batch)
    files = setup.files("interactions/")
    apply_records(setup.runtime, batch)
    assert items_of(setup, "u1") == ["i1", "i2"]
    assert setup.files("interactions/") == files
    assert setup.table("interactions/").num_rows == 2


def test_the_same_event_id_counts_once_in_the_history(setup: Setup) -> None:
    setup.put_events(click("i1", 1, eventId="e-1"), user="u1", session="s1")
    setup.put_events(click("i9", 5, eventId="e-1"), user="u1", session="s1")
    apply_records(setup.runtime, setup.take())
    assert items_of(setup, "u1") == ["i1"]


def test_identical_events_without_ids_count_once(setup: Setup) -> None:
    setup.put_events(click("i1", 1), user="u1", session="s1")
    setup.put_events(click("i1", 1), user="u1", session="s1")
    setup.put_events(click("i1", 2), user="u1", session="s1")
    apply_records(setup.runtime, setup.take())
    assert items_of(setup, "u1") == ["i1", "i1"]


def test_history_is_ordered_by_sent_time_not_arrival(setup: Setup) -> None:
    setup.put_events(click("late", 9), user="u1", session="s1")
    apply_records(setup.runtime, setup.take())
    setup.put_events(click("early", 1), user="u1", session="s1")
    apply_records(setup.runtime, setup.take())
    assert items_of(setup, "u1") == ["early", "late"]


def test_recent_events_limit_keeps_the_newest(setup: Setup) -> None:
    setup.put_events(*(click(f"i{n}", n) for n in range(6)), user="u1", session="s1")
    apply_records(setup.runtime, setup.take())
    recent = event_data.recent_events(setup.runtime, setup.group, "u1", limit=2)
    assert [e["ITEM_ID"] for e in recent] == ["i4", "i5"]


def test_since_keeps_events_received_from_then_on(setup: Setup) -> None:
    setup.put_events(click("before", 1), user="u1", session="s1")
    apply_records(setup.runtime, setup.take())
    cutoff = datetime.now(UTC).timestamp()
    setup.put_events(click("after", 2), user="u1", session="s1")
    apply_records(setup.runtime, setup.take())
    recent = event_data.recent_events(setup.runtime, setup.group, "u1", since=cutoff)
    assert [e["ITEM_ID"] for e in recent] == ["after"]


def test_anonymous_session_merges_into_the_user(setup: Setup) -> None:
    setup.put_events(click("a1", 1), click("a2", 2), user=None, session="s1")
    apply_records(setup.runtime, setup.take())
    assert items_of(setup, "u1") == []
    # Amazon: an anonymous visitor gets recommendations with the sessionId as the userId.
    assert items_of(setup, "s1") == ["a1", "a2"]
    assert setup.table("interactions/").num_rows == 0  # not training data yet

    setup.put_events(click("k3", 3), user="u1", session="s1")
    batch = setup.take()
    apply_records(setup.runtime, batch)
    apply_records(setup.runtime, batch)  # redelivered: nothing doubles
    assert items_of(setup, "u1") == ["a1", "a2", "k3"]
    assert items_of(setup, "s1") == ["a1", "a2", "k3"]  # the session now reads as its user's
    rows = sorted(setup.table("interactions/").to_pylist(), key=lambda row: row["TIMESTAMP"])
    assert [(row["USER_ID"], row["ITEM_ID"]) for row in rows] == [
        ("u1", "a1"),
        ("u1", "a2"),
        ("u1", "k3"),
    ]

    # Later sessionId-only events of the linked session count for the user.
    setup.put_events(click("a4", 4), user=None, session="s1")
    apply_records(setup.runtime, setup.take())
    assert items_of(setup, "u1") == ["a1", "a2", "k3", "a4"]
    assert setup.table("interactions/").num_rows == 4


def test_merge_within_one_batch(setup: Setup) -> None:
    setup.put_events(click("a1", 1), user=None, session="s2")
    setup.put_events(click("k2", 2), user="u2", session="s2")
    setup.put_events(click("a3", 3), user=None, session="s2")
    apply_records(setup.runtime, setup.take())
    assert items_of(setup, "u2") == ["a1", "k2", "a3"]
    assert setup.table("interactions/").num_rows == 3


def test_sessions_that_never_log_in_stay_out_of_training(setup: Setup) -> None:
    setup.put_events(click("a1", 1), user=None, session="lonely")
    setup.put_events(click("k1", 1), user="u3", session="other")
    apply_records(setup.runtime, setup.take())
    assert [row["USER_ID"] for row in setup.table("interactions/").to_pylist()] == ["u3"]


def test_put_items_and_users_keep_the_newest_row(setup: Setup) -> None:
    items_arn, users_arn = setup.datasets["Items"], setup.datasets["Users"]
    events.put_items(
        setup.runtime,
        {
            "datasetArn": items_arn,
            "items": [
                {
                    "itemId": "i1",
                    "properties": '{"genre": ["Comedy", "Drama"], "creationTimestamp": 1}',
                },
                {"itemId": "i2", "properties": '{"genre": "Horror", "creationTimestamp": 5}'},
            ],
        },
    )
    first = setup.take()
    events.put_items(
        setup.runtime,
        {
            "datasetArn": items_arn,
            "items": [{"itemId": "i1", "properties": '{"genre": "War", "creationTimestamp": 7}'}],
        },
    )
    second = setup.take()
    events.put_users(
        setup.runtime,
        {"datasetArn": users_arn, "users": [{"userId": "u1", "properties": '{"age": "42"}'}]},
    )
    apply_records(setup.runtime, first + second + setup.take())
    items = setup.table("items/")
    assert items.column_names == ["ITEM_ID", "GENRE", "CREATION_TIMESTAMP"]
    assert items.to_pylist() == [
        {"ITEM_ID": "i1", "GENRE": "Comedy|Drama", "CREATION_TIMESTAMP": 1},
        {"ITEM_ID": "i2", "GENRE": "Horror", "CREATION_TIMESTAMP": 5},
        {"ITEM_ID": "i1", "GENRE": "War", "CREATION_TIMESTAMP": 7},
    ]
    apply_records(setup.runtime, first)  # a late redelivery must not undo the newer row
    newest = {"i1": {"ITEM_ID": "i1", "GENRE": "War", "CREATION_TIMESTAMP": 7}}
    newest["i2"] = {"ITEM_ID": "i2", "GENRE": "Horror", "CREATION_TIMESTAMP": 5}
    by_id = {row["ITEM_ID"]: row for row in event_data.recent_items(setup.runtime, setup.group)}
    assert by_id == newest
    last_in_file_order = {row["ITEM_ID"]: row for row in setup.table("items/").to_pylist()}
    assert last_in_file_order == newest
    arrived = setup.table("items/", arrivals=True).column(ARRIVAL_COLUMN).to_pylist()
    assert arrived[0] == arrived[1] <= arrived[2]  # one PutItems call, then the next
    assert event_data.recent_users(setup.runtime, setup.group) == [{"USER_ID": "u1", "AGE": 42}]
    users = setup.table("users/")
    assert users.to_pylist() == [{"USER_ID": "u1", "AGE": 42}]
    assert users.schema.field("AGE").type == pa.int64()


def test_unknown_records_are_skipped_not_fatal(setup: Setup) -> None:
    setup.put_events(click("i1", 1), user="u1", session="s1")
    batch = [StreamRecord("x", {"kind": "mystery"}), StreamRecord("y", {"kind": "user"})]
    apply_records(setup.runtime, batch + setup.take())
    assert items_of(setup, "u1") == ["i1"]


def kinesis_event(records: list[StreamRecord]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "kinesis": {
                    "partitionKey": record.partition_key,
                    "sequenceNumber": str(100 + number),
                    "data": base64.b64encode(json.dumps(dict(record.data)).encode()).decode(),
                }
            }
            for number, record in enumerate(records)
        ]
    }


def test_kinesis_batches_apply_and_report_failures(setup: Setup, monkeypatch) -> None:
    setup.put_events(click("i1", 1), click("i2", 2), user="u1", session="s1")
    event = kinesis_event(setup.take())
    assert handle_kinesis_event(setup.runtime, event) == {"batchItemFailures": []}
    assert items_of(setup, "u1") == ["i1", "i2"]

    def broken(*args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError("throttled")

    monkeypatch.setattr(setup.runtime.history, "append", broken)
    assert handle_kinesis_event(setup.runtime, event) == {
        "batchItemFailures": [{"itemIdentifier": "100"}]
    }


def test_a_failing_record_is_reported_and_the_records_before_it_are_applied(
    setup: Setup, monkeypatch
) -> None:
    for number, user in enumerate(("u1", "u2", "u3")):
        setup.put_events(click(f"i{number}", number), user=user, session=f"s-{user}")
    event = kinesis_event(setup.take())
    append = setup.runtime.history.append

    def refuses_u2(scope: str, subject: str, rows: Any) -> list[str]:
        if subject.endswith("u2"):
            raise RuntimeError("a value this store cannot hold")
        return append(scope, subject, rows)

    monkeypatch.setattr(setup.runtime.history, "append", refuses_u2)
    assert handle_kinesis_event(setup.runtime, event) == {
        "batchItemFailures": [{"itemIdentifier": "101"}]  # Lambda retries from u2's record
    }
    assert items_of(setup, "u1") == ["i0"]
    assert items_of(setup, "u3") == []  # after the failing record: left for the retry

    monkeypatch.setattr(setup.runtime.history, "append", append)
    # an error of the batch's own, not of any record: every record applies alone
    calls: list[int] = []

    def fails_as_a_batch(runtime: Runtime, records: list[StreamRecord]) -> None:
        calls.append(len(records))
        if len(records) > 1:
            raise RuntimeError("throttled")
        apply_records(runtime, records)

    monkeypatch.setattr(event_consumer, "apply_records", fails_as_a_batch)
    # with time for one record only, the second is where Lambda goes on
    clock = iter([60.0, 5.0])
    answer = handle_kinesis_event(setup.runtime, event, seconds_left=lambda: next(clock))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    assert calls == [3, 1]

    calls.clear()
    assert handle_kinesis_event(setup.runtime, event) == {"batchItemFailures": []}
    assert calls == [3, 1, 1, 1]
    assert items_of(setup, "u3") == ["i2"]
