"""The MetadataStore contract, run against SQLite and DynamoDB (moto)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from augury.local.sqlite_store import SqliteMetadataStore
from augury.ports import AlreadyExists, ConcurrentUpdate, NotFound
from augury.resources.record import Resource

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
GROUP = "arn:aws:forecast:us-east-1:000000000000:dataset-group/g"


def make(name: str, *, kind: str = "dataset", parent: str | None = GROUP, seconds: int = 0):
    created = T0 + timedelta(seconds=seconds)
    return Resource(
        arn=f"arn:aws:forecast:us-east-1:000000000000:{kind}/{name}",
        kind=kind,
        name=name,
        status="ACTIVE",
        parent_arn=parent,
        created_at=created,
        updated_at=created,
    )


def all_pages(store, **query):
    pages, cursor = [], None
    while True:
        page = store.list(cursor=cursor, **query)
        pages.append(page.items)
        cursor = page.cursor
        if cursor is None:
            return pages


def test_round_trip_preserves_every_field(metadata_store):
    plus_two = timezone(timedelta(hours=2))
    resource = Resource(
        arn="arn:aws:personalize:us-east-1:000000000000:solution/sölution-1",
        kind="solution",
        name="sölution-1",
        status="CREATE_PENDING",
        parent_arn="arn:aws:personalize:us-east-1:000000000000:dataset-group/g",
        attributes={
            "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization",
            "solutionConfig": {"hpoConfig": {"limits": [1, 2.5, None, True]}, "empty": {}},
            "eventType": "ünicode ✓",
        },
        tags={"team": "ml", "cost-centre": "42"},
        created_at=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=plus_two),
        updated_at=datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC),
        version=0,
    )
    metadata_store.create(resource)
    got = metadata_store.get(resource.arn)
    assert got == resource
    assert got.created_at.utcoffset() == timedelta(hours=2)
    assert got.updated_at.tzinfo is not None
    assert got.to_document() == resource.to_document()


def test_get_missing_is_none(metadata_store):
    assert metadata_store.get("arn:aws:forecast:us-east-1:000000000000:dataset/nope") is None


def test_duplicate_create_raises_and_keeps_the_first(metadata_store):
    first = make("d1")
    metadata_store.create(first)
    with pytest.raises(AlreadyExists):
        metadata_store.create(replace(first, status="CREATE_FAILED"))
    assert metadata_store.get(first.arn) == first


def test_update_increments_version_and_returns_stored_record(metadata_store):
    original = make("d1")
    metadata_store.create(original)
    stored = metadata_store.update(original.evolve(status="ACTIVE", attributes={"x": {"y": 1}}))
    assert stored.version == 1
    assert metadata_store.get(original.arn) == stored
    again = metadata_store.update(stored.with_attributes(z=2))
    assert again.version == 2
    assert metadata_store.get(original.arn).attributes == {"x": {"y": 1}, "z": 2}


def test_stale_update_raises_and_leaves_record_unchanged(metadata_store):
    original = make("d1")
    metadata_store.create(original)
    winner = metadata_store.update(original.evolve(status="CREATE_IN_PROGRESS"))
    with pytest.raises(ConcurrentUpdate):
        metadata_store.update(original.evolve(status="CREATE_FAILED"))
    assert metadata_store.get(original.arn) == winner


def test_update_missing_raises_not_found(metadata_store):
    with pytest.raises(NotFound):
        metadata_store.update(make("ghost"))
    assert metadata_store.get(make("ghost").arn) is None


def test_delete_is_idempotent(metadata_store):
    resource = make("d1")
    metadata_store.create(resource)
    metadata_store.delete(resource.arn)
    assert metadata_store.get(resource.arn) is None
    metadata_store.delete(resource.arn)
    metadata_store.create(resource)  # the ARN is free again
    assert metadata_store.get(resource.arn) == resource


def test_list_needs_a_filter(metadata_store):
    with pytest.raises(ValueError):
        metadata_store.list()


def test_list_by_kind_and_parent_in_creation_order(metadata_store):
    other_group = GROUP.replace("/g", "/other")
    # Inserted out of creation order on purpose; two share a timestamp (then ARN decides).
    records = [
        make("d3", seconds=3),
        make("d1", seconds=1),
        make("d2b", seconds=2),
        make("d2a", seconds=2),
        make("p1", kind="predictor", seconds=4),
        make("x1", parent=other_group, seconds=0),
        make("g1", kind="dataset-group", parent=None, seconds=0),
    ]
    for record in records:
        metadata_store.create(record)

    def names(page):
        return [r.name for r in page.items]

    assert names(metadata_store.list(kind="dataset")) == ["x1", "d1", "d2a", "d2b", "d3"]
    assert names(metadata_store.list(parent_arn=GROUP)) == ["d1", "d2a", "d2b", "d3", "p1"]
    assert names(metadata_store.list(kind="dataset", parent_arn=GROUP)) == [
        "d1",
        "d2a",
        "d2b",
        "d3",
    ]
    assert names(metadata_store.list(kind="predictor", parent_arn=other_group)) == []
    assert names(metadata_store.list(kind="dataset-group")) == ["g1"]
    assert metadata_store.list(kind="nothing").cursor is None


@pytest.mark.parametrize("query", [{"kind": "dataset"}, {"parent_arn": GROUP}])
def test_pagination_has_no_loss_or_duplication(metadata_store, query):
    created = [make(f"d{i:02d}", seconds=i) for i in range(25)]
    for record in reversed(created):
        metadata_store.create(record)
    metadata_store.create(make("noise", kind="predictor", parent=GROUP.replace("/g", "/h")))
    pages = all_pages(metadata_store, limit=10, **query)
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [r.arn for p in pages for r in p] == [r.arn for r in created]


def test_pagination_with_both_filters_and_exact_multiple(metadata_store):
    for i in range(20):
        metadata_store.create(make(f"d{i:02d}", seconds=i))
        metadata_store.create(make(f"p{i:02d}", kind="predictor", seconds=i))
    pages = all_pages(metadata_store, kind="predictor", parent_arn=GROUP, limit=10)
    assert [len(p) for p in pages] == [10, 10]
    assert [r.name for p in pages for r in p] == [f"p{i:02d}" for i in range(20)]


def test_records_created_after_a_page_appear_on_later_pages(metadata_store):
    for i in range(3):
        metadata_store.create(make(f"d{i}", seconds=i))
    first = metadata_store.list(kind="dataset", limit=2)
    metadata_store.create(make("d9", seconds=9))
    second = metadata_store.list(kind="dataset", limit=2, cursor=first.cursor)
    assert [r.name for r in first.items + second.items] == ["d0", "d1", "d2", "d9"]
    assert second.cursor is None


def test_invalid_cursor_is_rejected(metadata_store):
    with pytest.raises(ValueError):
        metadata_store.list(kind="dataset", cursor="not a cursor!")


# -- SQLite specifics -------------------------------------------------------------


def test_sqlite_persists_and_uses_wal(tmp_path):
    path = tmp_path / "nested" / "dir" / "augury.db"
    store = SqliteMetadataStore(path)
    store.create(make("d1"))
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    store.close()
    assert mode == "wal"
    reopened = SqliteMetadataStore(path)
    assert reopened.get(make("d1").arn) == make("d1")
    reopened.close()


def test_sqlite_conditional_update_from_many_threads(tmp_path):
    store = SqliteMetadataStore(tmp_path / "augury.db")
    original = make("d1")
    store.create(original)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        try:
            store.update(original.with_attributes(writer=i))
            outcomes.append("ok")
        except ConcurrentUpdate:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert store.get(original.arn).version == 1
    store.close()
