"""Trending-Now as of the latest events, without a new solution version.

Amazon's Trending-Now follows the interactions that arrive after training: an
item that starts rising is recommended without retraining. Here the trained
model keeps the interactions of its latest two trend windows
(``Recommender.trending``), and this module adds the events PutEvents recorded
since training read its data: the Parquet files the event consumer writes under
the group's ``events/interactions/`` (their names start with their newest
row's arrival time, so the files training already read are skipped by name, and
each row keeps its own, so a merged file's rows from before training are too).
A merged file (``event_compaction``) counts instead of the files it holds: a
process that read them all takes it over without reading it, and otherwise drops
what they gave and reads it, so each event counts once.

Each process keeps, per solution version, the events read so far (only new
files are read, and events too old to fall in any later window are dropped)
and the scores they give. The file listing is the one filters use
(``serving_catalogs``, re-checked at most once a second), and scores are
recomputed only when its generation changes, so an event shows in the ranking
within about a second in embedded mode and a call in between costs a look-up.
The solution's event selection (eventType, eventValueThreshold, eventsConfig
weights) applies to the events as it did to the dataset.

Bulk imports count as well: once an import (FULL or INCREMENTAL) has replaced
the Interactions dataset version training read, the trend is scored afresh
from the current dataset and every event file that can still fall in a
window, instead of from what training kept, so the imported interactions
count without retraining. An item the model never saw (first recorded by
PutEvents or an import after training) can trend too, as Amazon's
Trending-Now considers new items without a new solution version: such items
are numbered after the model's catalog, in the order they first appear, and
:class:`TrendScores` names them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from augury.personalize import serving_sources
from augury.personalize.event_files import ARRIVAL_COLUMN, arrival_of
from augury.personalize.event_manifests import known_contents
from augury.personalize.serving_catalogs import INTERACTIONS, catalogs
from augury_training.event_rule import EventRule

if TYPE_CHECKING:
    import pyarrow as pa

    from augury.personalize.serving_core import ServingModel
    from augury.runtime import Runtime
    from augury_training.recommender_artifacts import Recommender


@dataclass(frozen=True)
class TrendScores:
    """One score per catalog item, then one per item first seen in events (``new_item_ids``)."""

    scores: np.ndarray
    new_item_ids: tuple[str, ...] = ()


@dataclass
class _Live:
    """What one process knows of a solution version's events since training."""

    read: dict[str, int] = field(default_factory=dict)
    """Each file (or dataset version) read, by the number its rows carry in ``origins``."""
    items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    times: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    origins: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Which of ``read`` each interaction came from."""
    new_items: dict[str, int] = field(default_factory=dict)
    """Items the model does not know, numbered from the catalog's size on."""
    scores: TrendScores | None = None
    generation: int = -1
    """The event-file listing's generation the scores were computed at."""
    base: str | None = None
    """The Interactions dataset version counted here instead of training's (None: training's)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def restart(self, base: str | None) -> None:
        """Forget every interaction read: they are counted again from dataset ``base``."""
        self.read, self.new_items, self.base, self.scores = {}, {}, base, None
        self.items = self.items[:0]
        self.times = self.times[:0]
        self.weights = self.weights[:0]
        self.origins = self.origins[:0]

    def adopt(self, merged: str, sources: Sequence[str]) -> None:
        """Count ``sources``' rows as the merged file's, which holds the same events."""
        numbers = [self.read.pop(source) for source in sources if source in self.read]
        number = max([*self.read.values(), *numbers], default=-1) + 1
        self.origins = np.where(np.isin(self.origins, numbers), number, self.origins)
        self.read[merged] = number

    def forget(self, keys: set[str]) -> None:
        """Drop what the files ``keys`` gave: they were merged into a file read next
        (``event_compaction``), which holds their events once."""
        gone = [self.read.pop(key) for key in keys if key in self.read]
        if not gone:
            return
        keep = ~np.isin(self.origins, gone)
        self.items, self.times = self.items[keep], self.times[keep]
        self.weights, self.origins = self.weights[keep], self.origins[keep]
        self.scores = None


_LIVE: weakref.WeakKeyDictionary[Recommender, _Live] = weakref.WeakKeyDictionary()
"""Keyed by the loaded model, so a model dropped from memory takes its events along."""
_LIVE_LOCK = threading.Lock()


def trending_scores(runtime: Runtime, model: ServingModel) -> TrendScores:
    """The trend over the training data (or the dataset imported since) and the events since,
    for the catalog's items and those first seen after training."""
    recommender = model.recommender
    with _LIVE_LOCK:
        live = _LIVE.get(recommender)
        if live is None:
            live = _LIVE[recommender] = _Live()
    found = catalogs(runtime)
    events = found.event_files(runtime, model.dataset_group_arn)
    files, generation = events.keys, events.generation
    base = _reimported(found.datasets(runtime, model.dataset_group_arn), model)
    with live.lock:
        if live.scores is not None and live.generation == generation and live.base == base:
            return live.scores
        if live.base != base:  # a new dataset version: count everything again from it
            live.restart(base)
        else:
            _take_over_merged_files(live, events.holds, files, model, base)
        unread = [key for key in _countable_files(files, model, base) if key not in live.read]
        if base is not None and base not in live.read:
            unread.insert(0, base)  # the re-imported dataset, read once like an event file
        if unread or live.scores is None:
            _add_events(runtime, model, live, unread)
            scores = recommender.trending(
                live.items,
                live.times,
                live.weights,
                n_new=len(live.new_items),
                include_training=base is None,
            )
            named = tuple(live.new_items)[: scores.size - recommender.n_items]
            live.scores = TrendScores(scores, named)
        live.generation = generation
        return live.scores


def _take_over_merged_files(
    live: _Live,
    holds: Mapping[str, Sequence[str]],
    files: Sequence[str],
    model: ServingModel,
    base: str | None,
) -> None:
    """Files read that were merged into one (``event_compaction``) give way to it: when every
    file it holds was read (or holds nothing this model counts), their rows become its rows
    unread; otherwise theirs are dropped and it is read, so each event counts once."""
    listed = set(files)
    for key in files:
        if key in live.read or key not in holds:
            continue
        counted = known_contents(
            key, holds, live.read, lambda other: not _countable_files((other,), model, base)
        )
        if counted is not None:
            live.adopt(key, counted)
    live.forget(set(live.read) - {base} - listed)


def _reimported(datasets: dict[str, Any], model: ServingModel) -> str | None:
    """The Interactions dataset version, when an import has replaced the one training read."""
    dataset = datasets.get(INTERACTIONS)
    current = dataset.data_prefix if dataset is not None else None
    if model.interactions_read is None or not current or current == model.interactions_read:
        return None
    return str(current)


def _countable_files(files: tuple[str, ...], model: ServingModel, base: str | None) -> list[str]:
    """The event files to count, in name (arrival) order: those written after training read
    its data, or, counting from a re-imported dataset instead of training's interactions,
    every file recent enough to hold an event in a window (events are sent before they
    arrive)."""
    keys = sorted(key for key in files if key.endswith(".parquet"))
    if base is not None:
        oldest = _oldest(model.recommender)
        return [key for key in keys if arrival_of(key) > oldest]
    if model.data_read_at is None:
        return keys
    return [key for key in keys if arrival_of(key) >= model.data_read_at]


def _oldest(recommender: Recommender) -> int:
    """No later trend counts an interaction from this time or before (training's windows are
    the earliest any score uses)."""
    manifest = recommender.manifest
    return int(manifest.get("trend_end", 0)) - 2 * int(manifest.get("trend_window_seconds", 0))


def _add_events(runtime: Runtime, model: ServingModel, live: _Live, keys: list[str]) -> None:
    """Read ``keys`` (event files, or a dataset version's prefix), keep the interactions the
    model can count, drop those too old to matter."""
    recommender = model.recommender
    rule = EventRule.from_manifest(recommender.manifest.get("event_rule"))
    parts_items, parts_times, parts_weights = [live.items], [live.times], [live.weights]
    parts_origins = [live.origins]
    oldest = _oldest(recommender)
    since = model.data_read_at if live.base is None else None
    number = max(live.read.values(), default=-1)
    for key in keys:
        table = _recent_rows(serving_sources.read_table(runtime, key), oldest)
        if since is not None and key != live.base:
            table = _arrived_since(table, since)
        items, times, weights = _countable(table, recommender, rule, live.new_items)
        number += 1
        parts_items.append(items)
        parts_times.append(times)
        parts_weights.append(weights)
        parts_origins.append(np.full(items.size, number, dtype=np.int64))
        live.read[key] = number
    items = np.concatenate(parts_items)
    times = np.concatenate(parts_times)
    weights = np.concatenate(parts_weights)
    origins = np.concatenate(parts_origins)
    if times.size:
        window = int(recommender.manifest.get("trend_window_seconds", 0))
        end = max(int(recommender.manifest.get("trend_end", 0)), int(times.max()))
        keep = times > end - 2 * window
        items, times, weights, origins = items[keep], times[keep], weights[keep], origins[keep]
    live.items, live.times, live.weights, live.origins = items, times, weights, origins


def _recent_rows(table: pa.Table, oldest: int) -> pa.Table:
    """The rows later than ``oldest`` (no later window reaches further back), before any row
    becomes a Python object: a re-imported dataset may hold millions of older ones."""
    import pyarrow.compute as pc

    names = {name.upper(): name for name in table.column_names}
    if "TIMESTAMP" not in names or table.num_rows == 0:
        return table
    return table.filter(pc.greater(table.column(names["TIMESTAMP"]), oldest))


def _arrived_since(table: pa.Table, since: float) -> pa.Table:
    """The rows that arrived from ``since`` on, when the file tells (a merged file holds rows
    from before and after training read its data; the consumer's own files are chosen by
    name, and rows without an arrival are theirs)."""
    import pyarrow.compute as pc

    if ARRIVAL_COLUMN not in table.column_names or table.num_rows == 0:
        return table
    arrived = table.column(ARRIVAL_COLUMN)
    return table.filter(pc.or_kleene(pc.is_null(arrived), pc.greater_equal(arrived, since)))


def _countable(
    table: pa.Table, recommender: Recommender, rule: EventRule, new_items: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table's events that the solution's event selection keeps, as item indices:
    catalog items by the model's numbering, others by ``new_items`` (extended here)."""
    names = {name.upper(): name for name in table.column_names}
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if "ITEM_ID" not in names or "TIMESTAMP" not in names or table.num_rows == 0:
        return empty
    item_ids = table.column(names["ITEM_ID"]).to_pylist()
    times = np.asarray(
        [int(t) if t is not None else 0 for t in table.column(names["TIMESTAMP"]).to_pylist()],
        dtype=np.int64,
    )
    types = (
        [str(t) if t is not None else "" for t in table.column(names["EVENT_TYPE"]).to_pylist()]
        if "EVENT_TYPE" in names
        else [""] * table.num_rows
    )
    values = (
        np.asarray(
            [
                np.nan if v is None else float(v)
                for v in table.column(names["EVENT_VALUE"]).to_pylist()
            ],
            dtype=np.float64,
        )
        if "EVENT_VALUE" in names
        else np.full(table.num_rows, np.nan)
    )
    kept, weights = rule.select(table.num_rows, types, values)
    kept &= np.asarray([item is not None for item in item_ids], dtype=bool)
    items = np.full(table.num_rows, -1, dtype=np.int64)
    for row in np.flatnonzero(kept):
        item = str(item_ids[row])
        index = recommender.item_index(item)
        if index is None:
            index = new_items.setdefault(item, recommender.n_items + len(new_items))
        items[row] = index
    return items[kept], times[kept], weights[kept].astype(np.float64)
