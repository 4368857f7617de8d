"""The UserHistoryStore contract, run against SQLite and DynamoDB (moto)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import boto3
import pytest

from augury.aws.dynamodb_history import DynamoDBUserHistoryStore, history_table_definition
from augury.local.sqlite_history import SqliteUserHistoryStore

REGION = "us-east-1"
SCOPE = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/INTERACTIONS@1.0"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "dynamodb"])
def make_store(request: pytest.FixtureRequest, tmp_path, clock: Clock) -> Iterator[object]:
    """``make_store(**options)``: a fresh store of the parameter's kind (same backing table)."""
    if request.param == "sqlite":
        stores: list[SqliteUserHistoryStore] = []

        def sqlite(**options):
            store = SqliteUserHistoryStore(tmp_path / "history.db", clock=clock, **options)
            stores.append(store)
            return store

        yield sqlite
        for store in stores:
            store.close()
        return
    request.getfixturevalue("aws")
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(**history_table_definition("augury-history"))
    # DynamoDB checks a write's condition and writes as one atomic step; moto checks, then
    # writes, with no lock between, so two threads can both pass the same version check
    # (seen on a loaded machine). The lock stands in for the service's atomicity.
    atomic = threading.Lock()
    unlocked_put_item = client.put_item

    def put_item(**kwargs):
        with atomic:
            return unlocked_put_item(**kwargs)

    client.put_item = put_item

    def dynamodb(**options):
        return DynamoDBUserHistoryStore("augury-history", client=client, clock=clock, **options)

    yield dynamodb


@pytest.fixture
def store(make_store):
    return make_store()


def event(event_id: str, timestamp: float, item: str = "i1", **extra) -> dict:
    return {"EVENT_ID": event_id, "TIMESTAMP": timestamp, "ITEM_ID": item, **extra}


def ids(events: list[dict]) -> list[str]:
    return [e["EVENT_ID"] for e in events]


def test_empty_history_and_missing_row(store):
    assert store.history(SCOPE, "u:nobody") == []
    assert store.get_row(SCOPE, "nothing") is None
    assert store.rows(SCOPE) == {}
    store.discard(SCOPE, "u:nobody")  # forgetting nothing is fine


def test_append_returns_added_ids_and_keeps_every_field(store):
    added = store.append(SCOPE, "u:1", [event("a", 10, EVENT_VALUE=1.5, GENRE="Comédie")])
    assert added == ["a"]
    assert store.history(SCOPE, "u:1") == [
        {"EVENT_ID": "a", "TIMESTAMP": 10, "ITEM_ID": "i1", "EVENT_VALUE": 1.5, "GENRE": "Comédie"}
    ]


def test_append_is_idempotent_by_event_id(store):
    batch = [event("a", 10), event("b", 11)]
    assert store.append(SCOPE, "u:1", batch) == ["a", "b"]
    assert store.append(SCOPE, "u:1", batch) == []
    assert store.append(SCOPE, "u:1", [event("b", 99, item="other"), event("c", 12)]) == ["c"]
    history = store.history(SCOPE, "u:1")
    assert ids(history) == ["a", "b", "c"]
    assert history[1]["ITEM_ID"] == "i1"  # the first event with an ID is the one kept


def test_repeats_within_one_call_count_once(store):
    assert store.append(SCOPE, "u:1", [event("a", 1), event("a", 2)]) == ["a"]
    assert len(store.history(SCOPE, "u:1")) == 1


def test_history_is_sorted_by_timestamp_with_arrival_order_for_ties(store):
    store.append(SCOPE, "u:1", [event("late", 30), event("tie-1", 20)])
    store.append(SCOPE, "u:1", [event("early", 10), event("tie-2", 20)])
    assert ids(store.history(SCOPE, "u:1")) == ["early", "tie-1", "tie-2", "late"]


def test_history_keeps_the_newest_events(make_store):
    store = make_store(max_events=3)
    store.append(SCOPE, "u:1", [event(f"e{i}", i) for i in range(5)])
    assert ids(store.history(SCOPE, "u:1")) == ["e2", "e3", "e4"]
    # An old event arriving late falls off at once and is not reported as added.
    assert store.append(SCOPE, "u:1", [event("ancient", 0)]) == []
    assert ids(store.history(SCOPE, "u:1")) == ["e2", "e3", "e4"]


def test_history_is_bounded_in_bytes(make_store):
    store = make_store(max_bytes=2_000)
    store.append(SCOPE, "u:1", [event(f"e{i}", i, PAD="x" * 300) for i in range(20)])
    history = store.history(SCOPE, "u:1")
    assert 0 < len(history) < 20
    assert ids(history)[-1] == "e19"


def test_subjects_and_scopes_are_separate(store):
    store.append(SCOPE, "u:1", [event("a", 1)])
    store.append(SCOPE, "s:1", [event("b", 1)])
    store.append(SCOPE + "x", "u:1", [event("c", 1)])
    store.append(SCOPE, "u:1|x", [event("d", 1)])
    assert ids(store.history(SCOPE, "u:1")) == ["a"]
    assert ids(store.history(SCOPE, "s:1")) == ["b"]
    assert ids(store.history(SCOPE + "x", "u:1")) == ["c"]
    assert ids(store.history(SCOPE, "u:1|x")) == ["d"]


def test_discard_forgets_one_subject(store):
    store.append(SCOPE, "s:1", [event("a", 1)])
    store.append(SCOPE, "s:2", [event("b", 1)])
    store.discard(SCOPE, "s:1")
    assert store.history(SCOPE, "s:1") == []
    assert ids(store.history(SCOPE, "s:2")) == ["b"]
    assert store.append(SCOPE, "s:1", [event("a", 1)]) == ["a"]


def test_discard_row_forgets_a_row_whatever_its_stamp(store):
    store.put_row(SCOPE, "u1", {"USER_ID": "u1"}, stamp=50.0)
    store.put_row(SCOPE, "u2", {"USER_ID": "u2"}, stamp=50.0)
    store.discard_row(SCOPE, "u1")
    store.discard_row(SCOPE, "never")
    assert store.get_row(SCOPE, "u1") is None
    assert store.rows(SCOPE) == {"u2": {"USER_ID": "u2"}}
    assert store.put_row(SCOPE, "u1", {"USER_ID": "u1", "AGE": 3}, stamp=1.0)  # older: fine now
    assert store.get_row(SCOPE, "u1") == {"USER_ID": "u1", "AGE": 3}


def test_rows_keep_the_newest_stamp(store):
    assert store.put_row(SCOPE, "item-1", {"ITEM_ID": "item-1", "GENRE": "a"}, stamp=10.0)
    assert store.put_row(SCOPE, "item-1", {"ITEM_ID": "item-1", "GENRE": "b"}, stamp=11.0)
    assert not store.put_row(SCOPE, "item-1", {"ITEM_ID": "item-1", "GENRE": "old"}, stamp=10.5)
    assert store.put_row(SCOPE, "item-1", {"ITEM_ID": "item-1", "GENRE": "c"}, stamp=11.0)
    assert store.get_row(SCOPE, "item-1") == {"ITEM_ID": "item-1", "GENRE": "c"}


def test_rows_lists_a_scope_in_write_order(store):
    store.put_row(SCOPE, "b", {"ID": "b"}, stamp=2.0)
    store.put_row(SCOPE, "a", {"ID": "a"}, stamp=3.0)
    store.put_row(SCOPE, "c", {"ID": "c", "N": [1, None]}, stamp=1.0)
    store.put_row(SCOPE + "#other", "z", {"ID": "z"}, stamp=1.0)
    rows = store.rows(SCOPE)
    assert list(rows) == ["c", "b", "a"]
    assert rows["c"] == {"ID": "c", "N": [1, None]}


def test_entries_expire_after_the_ttl(make_store, clock):
    store = make_store(ttl_seconds=100)
    store.append(SCOPE, "u:1", [event("a", 1)])
    store.put_row(SCOPE, "r", {"ID": "r"}, stamp=5.0)
    clock.now += 50
    assert ids(store.history(SCOPE, "u:1")) == ["a"]
    clock.now += 60
    assert store.history(SCOPE, "u:1") == []
    assert store.get_row(SCOPE, "r") is None
    assert store.rows(SCOPE) == {}
    # An expired entry is replaced as if it were absent, whatever its stamp.
    assert store.append(SCOPE, "u:1", [event("b", 2)]) == ["b"]
    assert ids(store.history(SCOPE, "u:1")) == ["b"]
    assert store.put_row(SCOPE, "r", {"ID": "new"}, stamp=1.0)
    assert store.get_row(SCOPE, "r") == {"ID": "new"}


def test_a_write_renews_the_ttl(make_store, clock):
    store = make_store(ttl_seconds=100)
    store.append(SCOPE, "u:1", [event("a", 1)])
    clock.now += 90
    store.append(SCOPE, "u:1", [event("b", 2)])
    clock.now += 90
    assert ids(store.history(SCOPE, "u:1")) == ["a", "b"]


def test_concurrent_appends_lose_nothing(make_store):
    first, second = make_store(), make_store()
    errors: list[BaseException] = []

    def write(store, prefix: str) -> None:
        try:
            for i in range(15):
                store.append(SCOPE, "u:1", [event(f"{prefix}{i}", i)])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=(first, "a")),
        threading.Thread(target=write, args=(second, "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(first.history(SCOPE, "u:1")) == 30


def test_settings_choose_the_adapter(tmp_path, aws_credentials):
    from augury.bootstrap import _history_store
    from augury.settings import Settings

    embedded = Settings.from_env({"AUGURY_DATA_DIR": str(tmp_path)})
    assert embedded.history_uri == f"sqlite:///{tmp_path.resolve() / 'history.db'}"
    local = _history_store(f"sqlite:///{tmp_path}/h.db?max_events=7&ttl_days=2")
    assert isinstance(local, SqliteUserHistoryStore)
    assert (local.max_events, local.ttl_seconds) == (7, 2 * 86_400)
    assert _history_store("sqlite:///:memory:").path == ":memory:"
    configured = Settings.from_env({"AUGURY_HISTORY": "dynamodb://augury-history?max_events=50"})
    remote = _history_store(configured.history_uri)
    assert isinstance(remote, DynamoDBUserHistoryStore)
    assert (remote.table_name, remote.max_events) == ("augury-history", 50)
    with pytest.raises(ValueError, match="AUGURY_HISTORY"):
        _history_store("redis://somewhere")
