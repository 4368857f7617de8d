"""Serving's index of each user's interactions grows with the event files, never rebuilt per file.

A steady event stream lands a file about every second; the index used to read the whole
Interactions dataset and every file again each time one arrived.
"""

from __future__ import annotations

from types import SimpleNamespace

import pyarrow as pa
import pytest

from augury.personalize import serving_catalogs, serving_sources
from augury.personalize.serving_catalogs import CatalogCache, EventFiles

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"


def _rows(*events: tuple[str, str, str, int]) -> pa.Table:
    users, items, types, times = zip(*events, strict=True)
    return pa.table({"USER_ID": users, "ITEM_ID": items, "EVENT_TYPE": types, "TIMESTAMP": times})


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    state = SimpleNamespace(
        dataset=_rows(("u1", "a", "click", 1), ("u2", "b", "click", 2)),
        files={"events/0001-x.parquet": _rows(("u1", "c", "click", 3))},
        version=("dataset-arn", "data/v1", 2),
        reads=[],
        holds={},
    )
    cache = CatalogCache(freshness=0.0)
    monkeypatch.setattr(
        cache,
        "_dataset_versions",
        lambda runtime, group: {"INTERACTIONS": (*state.version, None)},
    )
    # the generation changes with the listing, as CatalogCache.event_files's does
    monkeypatch.setattr(
        cache,
        "event_files",
        lambda runtime, group, history="INTERACTIONS": EventFiles(
            tuple(state.files), dict(state.holds), len(state.files) + len(state.holds)
        ),
    )

    def read_table(runtime, prefix):
        state.reads.append(prefix)
        return state.dataset

    def read_files(runtime, keys):
        state.reads.extend(keys)
        return pa.concat_tables([state.files[key] for key in keys]) if keys else pa.table({})

    monkeypatch.setattr(serving_sources, "read_table", read_table)
    monkeypatch.setattr(serving_sources, "read_files", read_files)
    state.cache = cache
    return state


def _items(world: SimpleNamespace, user: str) -> list[str]:
    return [item for item, *_ in world.cache.interactions(None, GROUP, user)]


def test_a_new_event_file_is_read_alone_and_merged(world: SimpleNamespace) -> None:
    assert _items(world, "u1") == ["a", "c"]
    assert world.reads == ["data/v1", "events/0001-x.parquet"]
    world.reads.clear()
    assert _items(world, "u2") == ["b"]
    assert world.reads == []  # nothing new: nothing read
    world.files["events/0002-y.parquet"] = _rows(("u2", "d", "click", 4), ("u1", "e", "buy", 5))
    assert _items(world, "u1") == ["a", "c", "e"]
    assert _items(world, "u2") == ["b", "d"]
    assert world.reads == ["events/0002-y.parquet"]  # the dataset and old files: not again


def test_the_grown_index_keeps_what_a_full_read_keeps(
    world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        serving_catalogs.latest_per_event_type, "__defaults__", (2,)
    )  # the newest two per event type, so merging must drop the oldest
    _items(world, "u1")
    world.files["events/0002-y.parquet"] = _rows(
        ("u1", "f", "click", 7), ("u1", "g", "click", 6), ("u1", "h", "buy", 0)
    )
    grown = _items(world, "u1")
    fresh = CatalogCache(freshness=0.0)
    monkeypatch.setattr(fresh, "_dataset_versions", world.cache._dataset_versions)
    monkeypatch.setattr(fresh, "event_files", world.cache.event_files)
    rebuilt = [item for item, *_ in fresh.interactions(None, GROUP, "u1")]
    assert grown == rebuilt == ["h", "g", "f"]


def test_a_new_import_builds_the_index_again_and_a_merge_does_not(
    world: SimpleNamespace,
) -> None:
    _items(world, "u1")
    world.reads.clear()
    world.dataset = _rows(("u1", "z", "click", 9))
    world.version = ("dataset-arn", "data/v2", 1)
    assert _items(world, "u1") == ["c", "z"]
    assert world.reads[0] == "data/v2"
    world.files["events/0002-y.parquet"] = _rows(("u1", "d", "click", 4))
    assert _items(world, "u1") == ["c", "d", "z"]
    world.reads.clear()
    # event_compaction merges files: one file holds their events (its manifest says which)
    sources = ("events/0001-x.parquet", "events/0002-y.parquet")
    merged = [world.files.pop(source) for source in sources]
    world.files["events/0002-m1.parquet"] = pa.concat_tables(merged)
    world.holds["events/0002-m1.parquet"] = sources
    assert _items(world, "u1") == ["c", "d", "z"]
    assert world.reads == []  # every file it holds was indexed: taken over unread
    # a merge holding a file never indexed is read, and what was indexed counts once
    never_seen = _rows(("u1", "w", "click", 6))
    world.files["events/0003-m2.parquet"] = pa.concat_tables([*merged, never_seen])
    world.holds["events/0003-m2.parquet"] = ("events/0002-m1.parquet", "events/0003-w.parquet")
    del world.files["events/0002-m1.parquet"]
    assert _items(world, "u1") == ["c", "d", "w", "z"]
    assert world.reads == ["events/0003-m2.parquet"]  # not the dataset again
