"""Merging recorded events' small files: nothing lost, nothing counted twice, readers agree.

Files are written as the consumer writes them (``event_files.write_rows``) with chosen
arrival times, so each test places them in the buckets it means to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from augury.bootstrap import bootstrap
from augury.personalize import event_compaction
from augury.personalize.event_compaction import (
    GRACE_SECONDS,
    SETTLE_SECONDS,
    Merge,
    compact_all,
    compact_folder,
    compact_group,
)
from augury.personalize.event_data import events_prefix
from augury.personalize.event_files import ARRIVAL_COLUMN, write_rows
from augury.personalize.event_manifests import MANIFEST_SUFFIX, known_contents, merged_sources
from augury.personalize.event_properties import cached_schema
from augury.personalize.group_data import read_files
from augury.runtime import Runtime
from augury.settings import Settings
from augury_training.contract import TrainPaths
from augury_training.personalization.data import load_interactions, load_metadata
from augury_training.personalize_contract import EVENTS_CHANNEL, ITEMS_CHANNEL

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
}
INTERACTIONS = cached_schema(json.dumps(INTERACTIONS_SCHEMA))
ITEMS = cached_schema(
    json.dumps(
        {
            "type": "record",
            "name": "Items",
            "fields": [
                {"name": "ITEM_ID", "type": "string"},
                {"name": "GENRE", "type": ["null", "string"], "categorical": True},
            ],
        }
    )
)
EVENTS = events_prefix(GROUP) + "interactions/"
ITEM_ROWS = events_prefix(GROUP) + "items/"
T0 = 1_700_000_000.0  # a 1,000-second bucket starts here (and a 100,000-second one)
LATER = T0 + 1_000_000  # every bucket near T0 has long settled
SENT = datetime.fromtimestamp(T0 + 3, UTC)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = bootstrap(Settings.embedded(tmp_path), event_consumer=lambda records: None)
    yield runtime
    runtime.workflows.shutdown()  # type: ignore[attr-defined]
    runtime.events.close()  # type: ignore[attr-defined]


def click(event_id: str, item: str, at: float, user: str = "u1") -> dict[str, Any]:
    return {
        "EVENT_ID": event_id,
        "USER_ID": user,
        "ITEM_ID": item,
        "TIMESTAMP": int(at),
        "EVENT_TYPE": "click",
        ARRIVAL_COLUMN: at,
    }


def write_batch(runtime: Runtime, rows: list[dict[str, Any]], prefix: str = EVENTS) -> str:
    schema = INTERACTIONS if prefix == EVENTS else ITEMS
    arrival = max(float(row[ARRIVAL_COLUMN]) for row in rows)
    key = write_rows(runtime, prefix, schema, rows, arrival)
    assert key is not None
    return key


def keys(runtime: Runtime, prefix: str = EVENTS) -> list[str]:
    """The folder's Parquet files (not the merges' manifests)."""
    return [key for key in runtime.blobs.list_keys(prefix) if key.endswith(".parquet")]


def compact(runtime: Runtime, prefix: str = EVENTS, id_column: str = "EVENT_ID") -> list[Merge]:
    """Merge what has settled by ``LATER``, then run again once the merges' grace is over."""
    merges = compact_folder(runtime, prefix, id_column, now=LATER)
    assert compact_folder(runtime, prefix, id_column, now=LATER + GRACE_SECONDS) == []
    return merges


def rows(runtime: Runtime, prefix: str = EVENTS) -> list[dict[str, Any]]:
    return read_files(runtime, keys(runtime, prefix)).to_pylist()


def test_a_settled_bucket_becomes_one_file_in_arrival_order_each_event_once(runtime):
    write_batch(runtime, [click("e1", "a", T0 + 1), click("e2", "b", T0 + 2)])
    write_batch(runtime, [click("e3", "c", T0 + 5)])
    # a redelivered event (same eventId, arrived again later) and a caller's reused eventId
    write_batch(runtime, [click("e2", "b", T0 + 9), click("e1", "z", T0 + 9)])
    before = {row["EVENT_ID"]: row for row in reversed(rows(runtime))}  # the first per ID

    sources = keys(runtime)

    (merge,) = compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER)

    # The sources stay through the grace period, for readers that listed them just before,
    # and the manifest tells serving what the merged file holds.
    assert sorted(keys(runtime)) == sorted([*sources, merge.key])
    assert read_files(runtime, sources).num_rows == 5
    assert merged_sources(runtime, list(runtime.blobs.list_keys(EVENTS))) == {
        merge.key: tuple(sources)
    }
    assert compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER + GRACE_SECONDS - 1) == []
    assert len(keys(runtime)) == 4  # nothing merged twice, nothing deleted early
    assert compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER + GRACE_SECONDS) == []
    assert list(runtime.blobs.list_keys(EVENTS)) == [merge.key]
    assert (merge.sources, merge.rows_in, merge.rows_out) == (3, 5, 3)
    after = rows(runtime)
    assert [row["EVENT_ID"] for row in after] == ["e1", "e2", "e3"]
    assert {row["EVENT_ID"]: row for row in after} == before  # e1 is still item "a"
    assert [row[ARRIVAL_COLUMN] for row in after] == [T0 + 1, T0 + 2, T0 + 5]
    assert merge.key.rsplit("/", 1)[1].startswith(f"{T0 + 5:017.6f}-")  # its newest arrival


def test_unsettled_buckets_and_lone_files_are_left_alone(runtime):
    write_batch(runtime, [click("e1", "a", T0 + 1)])
    write_batch(runtime, [click("e2", "b", T0 + 2)])
    lone = write_batch(runtime, [click("e3", "c", T0 + 200_001)])  # a bucket of its own
    written = keys(runtime)

    bucket_end = T0 + 1_000
    assert compact_folder(runtime, EVENTS, "EVENT_ID", now=bucket_end + SETTLE_SECONDS - 1) == []
    assert keys(runtime) == written

    merges = compact(runtime)
    assert [merge.sources for merge in merges] == [2]
    assert lone in keys(runtime) and len(keys(runtime)) == 2


def test_small_buckets_merge_into_larger_ones_in_one_run(runtime):
    for number in range(30):  # thirty batches, one every 3,000 s: ten 1,000 s buckets...
        at = T0 + 3_000 * number
        write_batch(runtime, [click(f"e{number}", "a", at), click(f"f{number}", "b", at + 1)])

    merges = compact(runtime)

    # ... in one 100,000 s bucket (T0 is a multiple of 100,000): all of it becomes one file
    assert len(keys(runtime)) == 1
    assert merges[-1].rows_out == 60
    assert sorted(row["EVENT_ID"] for row in rows(runtime)) == sorted(
        [f"e{n}" for n in range(30)] + [f"f{n}" for n in range(30)]
    )


def test_rows_of_files_from_before_arrival_times_were_kept_take_their_files(runtime):
    old = {key: value for key, value in click("e1", "a", T0 + 7).items() if key != ARRIVAL_COLUMN}
    write_rows(runtime, EVENTS, INTERACTIONS, [old], T0 + 7)
    write_batch(runtime, [click("e2", "b", T0 + 3)])
    compact(runtime)
    assert [(row["EVENT_ID"], row[ARRIVAL_COLUMN]) for row in rows(runtime)] == [
        ("e2", T0 + 3),
        ("e1", T0 + 7),
    ]


def test_a_merge_interrupted_before_its_manifest_is_done_again_to_the_same_file(
    runtime, monkeypatch
):
    write_batch(runtime, [click("e1", "a", T0 + 1)])
    write_batch(runtime, [click("e2", "b", T0 + 2)])
    put_bytes = runtime.blobs.put_bytes

    def dies_at_the_manifest(key: str, data: bytes) -> None:
        if key.endswith(MANIFEST_SUFFIX):
            raise OSError("the process died here")
        put_bytes(key, data)

    with monkeypatch.context() as patch:
        patch.setattr(runtime.blobs, "put_bytes", dies_at_the_manifest)
        assert compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER) == []  # logged, not raised
    assert len(keys(runtime)) == 3  # the merged file beside both sources, no manifest

    (merge,) = compact(runtime)  # the sources and the merged file merge to the same file
    assert keys(runtime) == [merge.key]
    assert [row["EVENT_ID"] for row in rows(runtime)] == ["e1", "e2"]


def test_a_second_compactor_that_read_the_same_files_writes_the_same_file(runtime):
    write_batch(runtime, [click("e1", "a", T0 + 1)])
    write_batch(runtime, [click("e2", "b", T0 + 2)])
    (first,) = compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER)
    content = runtime.blobs.get_bytes(first.key)
    runtime.blobs.delete_keys([first.key, first.manifest])
    (second,) = compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER)
    assert second.key == first.key and runtime.blobs.get_bytes(second.key) == content


def test_a_bucket_too_large_to_merge_is_left_in_its_files(runtime, monkeypatch):
    write_batch(runtime, [click("e1", "a", T0 + 1), click("e2", "b", T0 + 2)])
    write_batch(runtime, [click("e3", "c", T0 + 3)])
    monkeypatch.setattr(event_compaction, "MAX_MERGE_ROWS", 2)
    assert compact(runtime) == []
    assert len(keys(runtime)) == 2


def test_no_merge_starts_after_the_deadline(runtime):
    write_batch(runtime, [click("e1", "a", T0 + 1)])
    write_batch(runtime, [click("e2", "b", T0 + 2)])
    past = event_compaction.time.monotonic() - 1
    assert compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER, deadline=past) == []
    assert len(keys(runtime)) == 2


def test_a_merge_under_a_group_deleted_meanwhile_is_taken_back(runtime, monkeypatch):
    from augury.personalize import dataset_groups

    dataset_groups.create_dataset_group(runtime, {"name": "shop"})
    write_batch(runtime, [click("e1", "a", T0 + 1)])
    write_batch(runtime, [click("e2", "b", T0 + 2)])
    sources = keys(runtime)
    get = runtime.metadata.get
    calls = []

    def deleted_after_the_first_look(arn: str) -> Any:
        calls.append(arn)
        return get(arn) if len(calls) == 1 else None

    monkeypatch.setattr(runtime.metadata, "get", deleted_after_the_first_look)
    assert compact_group(runtime, GROUP, now=LATER) == []
    assert keys(runtime) == sources  # what the deletion left to delete, nothing new
    assert not [k for k in runtime.blobs.list_keys(EVENTS) if k.endswith(MANIFEST_SUFFIX)]


def test_known_contents_follows_manifests_down():
    holds = {"m2": ("m1a", "m1b"), "m1a": ("a", "b"), "m1b": ("c",)}
    assert known_contents("m2", holds, {"a", "b", "c"}) == ["a", "b", "c"]
    assert known_contents("m2", holds, {"a", "b", "m1b"}) == ["a", "b", "m1b"]
    assert known_contents("m2", holds, {"a", "b"}) is None  # c was never counted
    assert known_contents("m2", holds, {"a", "b"}, lambda key: key == "c") == ["a", "b"]


def test_items_keep_the_newest_row_per_id_and_training_agrees(runtime, tmp_path):
    def item(item_id: str, genre: str, at: float) -> dict[str, Any]:
        return {"ITEM_ID": item_id, "GENRE": genre, ARRIVAL_COLUMN: at}

    write_batch(runtime, [item("i1", "old", T0 + 1), item("i2", "kept", T0 + 2)], ITEM_ROWS)
    write_batch(runtime, [item("i1", "newer", T0 + 5)], ITEM_ROWS)
    compact(runtime, ITEM_ROWS, "ITEM_ID")
    assert [(row["ITEM_ID"], row["GENRE"]) for row in rows(runtime, ITEM_ROWS)] == [
        ("i2", "kept"),
        ("i1", "newer"),
    ]
    # A row delivered again after the merge lands in a file named before the merged one
    # (it arrived at T0 + 4), yet it is older than "newer" (T0 + 5) and must not win;
    # another, newer than the merged "kept" row, must.
    write_batch(runtime, [item("i1", "stale", T0 + 4), item("i2", "fresh", T0 + 4)], ITEM_ROWS)
    channel = tmp_path / "input" / "data"
    folder = channel / EVENTS_CHANNEL / "items"
    folder.mkdir(parents=True)
    for number, key in enumerate(keys(runtime, ITEM_ROWS)):
        (folder / f"{number}.parquet").write_bytes(runtime.blobs.get_bytes(key))
    assert sorted(pq.read_table(folder / "0.parquet").column_names) == sorted(
        ["ITEM_ID", "GENRE", ARRIVAL_COLUMN]
    )
    paths = TrainPaths(root=tmp_path)
    items = load_metadata(paths, ITEMS_CHANNEL, "ITEM_ID")
    assert items is not None
    assert dict(zip(items["ITEM_ID"], items["GENRE"], strict=True)) == {
        "i1": "newer",
        "i2": "fresh",
    }
    assert ARRIVAL_COLUMN not in items.columns


def test_training_reads_the_same_interactions_before_and_after_a_merge(runtime, tmp_path):
    write_batch(runtime, [click("e1", "a", T0 + 1), click("e2", "b", T0 + 2)])
    write_batch(runtime, [click("e2", "b", T0 + 3), click("e3", "c", T0 + 4, user="u2")])

    def training_view(root: Path) -> list[tuple[Any, ...]]:
        folder = root / "input" / "data" / EVENTS_CHANNEL / "interactions"
        folder.mkdir(parents=True)
        for number, key in enumerate(keys(runtime)):
            (folder / f"{number:03d}.parquet").write_bytes(runtime.blobs.get_bytes(key))
        frame = load_interactions(TrainPaths(root=root))
        assert ARRIVAL_COLUMN not in frame.columns
        return sorted(map(tuple, frame[["USER_ID", "ITEM_ID", "TIMESTAMP"]].to_numpy().tolist()))

    before = training_view(tmp_path / "before")
    compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER)
    assert len(keys(runtime)) == 3  # sources and merged file, during the grace period
    assert training_view(tmp_path / "during") == before
    compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER + GRACE_SECONDS)
    assert training_view(tmp_path / "after") == before
    assert len(before) == 3


def test_compact_all_visits_every_dataset_group(runtime):
    from augury.personalize import dataset_groups

    group = dataset_groups.create_dataset_group(runtime, {"name": "shop"})["datasetGroupArn"]
    assert group == GROUP
    write_batch(runtime, [click("e1", "a", T0 + 1)])
    write_batch(runtime, [click("e2", "b", T0 + 2)])
    merges = compact_all(runtime, now=LATER)
    assert [merge.sources for merge in merges] == [2]


def test_the_embedded_consumer_merges_settled_files_in_the_background(tmp_path):
    from augury.personalize import dataset_groups, datasets, event_trackers, events, schemas

    runtime = bootstrap(Settings.embedded(tmp_path))
    try:
        group = dataset_groups.create_dataset_group(runtime, {"name": "shop"})["datasetGroupArn"]
        assert runtime.workflows.wait_idle(10)  # type: ignore[attr-defined]
        schema = schemas.create_schema(
            runtime, {"name": "i", "schema": json.dumps(INTERACTIONS_SCHEMA)}
        )
        datasets.create_dataset(
            runtime,
            {
                "name": "interactions",
                "schemaArn": schema["schemaArn"],
                "datasetGroupArn": group,
                "datasetType": "Interactions",
            },
        )
        assert runtime.workflows.wait_idle(10)  # type: ignore[attr-defined]
        tracker = event_trackers.create_event_tracker(
            runtime, {"name": "t", "datasetGroupArn": group}
        )
        assert runtime.workflows.wait_idle(10)  # type: ignore[attr-defined]
        write_batch(runtime, [click("old1", "a", T0 + 1)])
        write_batch(runtime, [click("old2", "b", T0 + 2)])
        events.put_events(
            runtime,
            {
                "trackingId": tracker["trackingId"],
                "sessionId": "s1",
                "userId": "u1",
                "eventList": [{"eventType": "click", "itemId": "c", "sentAt": SENT}],
            },
        )
        runtime.events.flush(timeout=5)  # type: ignore[attr-defined]
        old = keys(runtime)[:2]
        deadline = event_compaction.time.monotonic() + 10
        holds: dict[str, tuple[str, ...]] = {}
        while not holds and event_compaction.time.monotonic() < deadline:
            event_compaction.time.sleep(0.05)
            holds = merged_sources(runtime, list(runtime.blobs.list_keys(EVENTS)))
        ((merged, sources),) = holds.items()  # the two old batches; the new one waits
        assert sources == tuple(old)
        assert [row["EVENT_ID"] for row in read_files(runtime, [merged]).to_pylist()] == [
            "old1",
            "old2",
        ]
    finally:
        runtime.workflows.shutdown()  # type: ignore[attr-defined]
        runtime.events.close()  # type: ignore[attr-defined]


def test_the_filters_interaction_index_holds_a_merged_files_events_once():
    """Serving grows its index with a merged file instead of rebuilding it; the merged
    file repeats what its sources gave, which must not push older interactions out."""
    from augury.personalize.serving_catalogs import (
        INTERACTIONS_PER_EVENT_TYPE,
        _InteractionIndex,
    )

    events = [(f"i{n}", "click", None, 1_000 + n) for n in range(INTERACTIONS_PER_EVENT_TYPE)]
    index = _InteractionIndex(None, 1, frozenset({"a", "b"}), {"u1": list(events)})
    repeated = {"u1": events[50:] + events[50:]}
    merged = index.grown(2, frozenset({"merged"}), repeated, repeats=True)
    assert merged.by_user["u1"] == events
    twice = [("new", "click", None, 5_000)] * 2  # two clicks in one second, a new file
    later = merged.grown(3, frozenset({"merged", "c"}), {"u1": twice})
    assert later.by_user["u1"] == [*events[2:], *twice]


def test_a_late_file_repeating_a_merge_joins_its_manifest_and_every_source_goes_at_last(runtime):
    write_batch(runtime, [click("e1", "a", T0 + 1)])
    write_batch(runtime, [click("e2", "b", T0 + 2)])
    sources = keys(runtime)
    (merge,) = compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER)
    # a stream retry delivers both events again, split differently, into the merged bucket
    late = write_batch(runtime, [click("e2", "b", T0 + 2), click("e1", "a", T0 + 1)])
    (again,) = compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER + 60)
    assert again.key == merge.key  # nothing new: the same file
    listed = list(runtime.blobs.list_keys(EVENTS))
    assert merged_sources(runtime, listed) == {merge.key: tuple(sorted([*sources, late]))}
    assert compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER + 120) == []  # settled
    assert compact_folder(runtime, EVENTS, "EVENT_ID", now=LATER + 60 + GRACE_SECONDS) == []
    assert list(runtime.blobs.list_keys(EVENTS)) == [merge.key]


def test_serving_reads_leave_out_a_file_gone_since_it_was_listed(runtime):
    from augury.personalize import serving_sources
    from augury.ports import BlobNotFound

    kept = write_batch(runtime, [click("e1", "a", T0 + 1)])
    gone = write_batch(runtime, [click("e2", "b", T0 + 2)])
    runtime.blobs.delete_keys([gone])  # merged or rewritten between listing and reading
    with pytest.raises(BlobNotFound):
        read_files(runtime, [kept, gone])  # training and exports must not skip data
    table = serving_sources.read_files(runtime, [kept, gone])
    assert table.column("EVENT_ID").to_pylist() == ["e1"]


def test_an_export_keeps_the_newest_recorded_row_per_id_by_arrival():
    import pyarrow as pa

    from augury.personalize.dataset_exports import exported_table

    schema = pa.schema([("ITEM_ID", pa.string()), ("GENRE", pa.string())])
    bulk = pa.table({"ITEM_ID": ["i1"], "GENRE": ["imported"]})
    # a merged file (named by its newest row) read after a late file named before it
    put = pa.table(
        {
            "ITEM_ID": ["i1", "i1"],
            "GENRE": ["late-but-newer", "merged-older"],
            ARRIVAL_COLUMN: [T0 + 5, T0 + 1],
        }
    )
    assert exported_table(bulk, put, schema, "ITEM_ID").to_pylist() == [
        {"ITEM_ID": "i1", "GENRE": "late-but-newer"}
    ]
