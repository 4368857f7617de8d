"""Item, user and interaction data for serving-time filters and item metadata.

Filters on ``Items.*``, ``Users.*`` / ``CurrentUser.*``, ``CurrentItem.*`` and
``Interactions.EVENT_TYPE``, and the ``metadataColumns`` of a recommendation,
read the dataset group's own data, not the model: the Items and Users datasets
as last imported, overlaid by the rows PutItems / PutUsers sent since, and the
Interactions dataset plus the persisted PutEvents events.

Reading Parquet on every call would be slow, so each table is read once and
kept in memory, indexed by ID. A table is keyed by what identifies its
version (the dataset's data prefix and row count, the event files present),
and those keys are re-checked at most once per ``FRESHNESS_SECONDS`` per
dataset group: a new import or a PutItems call is seen within that time, and a
call in between costs a dictionary look-up. Column names are upper-cased, the
way filter expressions and metadata columns name them (Amazon matches field
names case-insensitively).

The Interactions index grows with the event files instead of being built again:
under a steady stream a new file lands about every second, and reading the
dataset and every file again each time cost as much as the data. Files are never
changed once written, so the index reads only the files it has not seen and
merges them into the users' latest interactions; a new import of the dataset, or
a file gone that no merged file holds (rewritten by a data deletion job), builds it
again. A merged file (``event_compaction``) whose sources were indexed is taken
over without being read.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from augury.personalize import serving_sources
from augury.resources.per_store import PerStore

if TYPE_CHECKING:
    from augury.runtime import Runtime
    from augury_training.recommender_artifacts import Recommender

FRESHNESS_SECONDS = 1.0
"""How long a dataset version or the PutItems / PutUsers rows are trusted without a re-check."""
INTERACTIONS_PER_EVENT_TYPE = 100
"""Amazon's filters consider each user's 100 most recent interactions per event type."""

ITEMS = "ITEMS"
USERS = "USERS"
ACTIONS = "ACTIONS"
INTERACTIONS = "INTERACTIONS"
ID_COLUMN = {ITEMS: "ITEM_ID", USERS: "USER_ID", ACTIONS: "ACTION_ID"}
INTERACTIONS_EVENTS = "interactions/"
"""The sub-folder of a group's events prefix holding the PutEvents files."""
ACTION_INTERACTIONS = "ACTION_INTERACTIONS"
HISTORIES = {
    INTERACTIONS: (INTERACTIONS_EVENTS, "ITEM_ID"),
    ACTION_INTERACTIONS: ("action_interactions/", "ACTION_ID"),
}
"""The datasets of users' histories: their events sub-folder and what they interact with."""

Interaction = tuple[str, str | None, float | None, int]
"""One stored interaction: item ID, event type, event value, timestamp (seconds)."""


@dataclass(frozen=True)
class RowIndex:
    """One dataset's rows by ID, with upper-cased column names."""

    rows: Mapping[str, Mapping[str, Any]]
    fields: tuple[str, ...]
    """Every column, upper-cased, in schema order (then columns only events carry)."""
    key: Hashable
    """Identifies this version of the data; changes when the rows may have."""

    def field(self, name: str) -> str | None:
        """The stored column for ``name``, matched case-insensitively."""
        upper = name.upper()
        return upper if upper in self.fields else None


EMPTY = RowIndex(rows={}, fields=(), key=None)


class _Timed:
    """A value fetched at most once per ``FRESHNESS_SECONDS``; ``generation`` counts changes."""

    def __init__(self) -> None:
        self.value: Any = None
        self.fetched = float("-inf")
        self.generation = 0


class CatalogCache:
    """Indexed dataset and event data for the groups one process serves."""

    def __init__(self, freshness: float = FRESHNESS_SECONDS) -> None:
        self.freshness = freshness
        self._lock = threading.RLock()
        self._timed: dict[tuple[str, str], _Timed] = defaultdict(_Timed)
        self._tables: dict[tuple[str, str], RowIndex] = {}
        self._bases: dict[tuple[str, str], tuple[Hashable, Any]] = {}
        self._interactions: dict[tuple[str, str], _InteractionIndex] = {}
        self._event_views: dict[tuple[str, str], EventFiles] = {}
        self._catalogs: weakref.WeakKeyDictionary[Any, tuple[Hashable, Any]] = (
            weakref.WeakKeyDictionary()
        )

    # -- versions, re-checked at most once per FRESHNESS_SECONDS --------------------------

    def _fresh(self, group: str, what: str, fetch: Callable[[], Any]) -> _Timed:
        with self._lock:
            timed = self._timed[(group, what)]
            now = time.monotonic()
            if now - timed.fetched >= self.freshness:
                value = fetch()
                if timed.generation == 0 or value != timed.value:
                    timed.value = value
                    timed.generation += 1
                timed.fetched = now
            return timed

    def _dataset_versions(self, runtime: Runtime, group: str) -> dict[str, Any]:
        def fetch() -> dict[str, Any]:
            found = serving_sources.group_datasets(runtime, group)
            return {kind: (d.arn, d.data_prefix, d.rows, d) for kind, d in found.items()}

        return self._fresh(group, "datasets", fetch).value

    def datasets(self, runtime: Runtime, group: str) -> dict[str, Any]:
        """The group's datasets (``GroupDataset``) by type, as of the last re-check."""
        return {kind: entry[3] for kind, entry in self._dataset_versions(runtime, group).items()}

    # -- Items and Users ------------------------------------------------------------------

    def items(self, runtime: Runtime, group: str) -> RowIndex:
        """Items rows by ITEM_ID: the dataset overlaid by PutItems rows."""
        return self._rows(runtime, group, ITEMS, serving_sources.recent_items)

    def users(self, runtime: Runtime, group: str) -> RowIndex:
        """Users rows by USER_ID: the dataset overlaid by PutUsers rows."""
        return self._rows(runtime, group, USERS, serving_sources.recent_users)

    def actions(self, runtime: Runtime, group: str) -> RowIndex:
        """Actions rows by ACTION_ID: the dataset overlaid by PutActions rows."""
        return self._rows(runtime, group, ACTIONS, serving_sources.recent_actions)

    def _rows(
        self,
        runtime: Runtime,
        group: str,
        kind: str,
        recent: Callable[[Runtime, str], list[dict[str, Any]]],
    ) -> RowIndex:
        dataset = self._dataset_versions(runtime, group).get(kind)
        events = self._fresh(group, f"recent-{kind}", lambda: recent(runtime, group))
        key = (dataset[:3] if dataset else None, events.generation)
        with self._lock:
            cached = self._tables.get((group, kind))
            if cached is not None and cached.key == key:
                return cached
        dataset_key = dataset[:3] if dataset else None
        with self._lock:
            base = self._bases.get((group, kind))
        if base is None or base[0] != dataset_key:
            # the Parquet is read once per dataset version, not on every PutItems
            base = (dataset_key, _dataset_rows(runtime, dataset, ID_COLUMN[kind]))
            with self._lock:
                self._bases[(group, kind)] = base
        index = _overlay(base[1], events.value or [], ID_COLUMN[kind], key)
        with self._lock:
            self._tables[(group, kind)] = index
        return index

    def item_catalog(self, runtime: Runtime, group: str, recommender: Recommender) -> Any:
        """The Items columns in the model's catalog order (a filter ``ItemCatalog``)."""
        rows = self.items(runtime, group)
        with self._lock:
            cached = self._catalogs.get(recommender)
            if cached is not None and cached[0] == rows.key:
                return cached[1]
        catalog = catalog_for(rows, recommender.item_ids)
        with self._lock:
            self._catalogs[recommender] = (rows.key, catalog)
        return catalog

    # -- Interactions ---------------------------------------------------------------------

    def event_files(self, runtime: Runtime, group: str, history: str = INTERACTIONS) -> EventFiles:
        """The group's persisted PutEvents (or, for ``ACTION_INTERACTIONS``,
        PutActionInteractions) files to count, and a generation that changes with them.

        Listed at most once per ``FRESHNESS_SECONDS``; comparing generations tells a
        caller whether anything arrived without comparing the lists. A merged file
        (``event_compaction``) stands for the files it holds, which stay a while after.
        """
        from augury.personalize.event_manifests import merged_sources

        folder = HISTORIES[history][0]
        prefix = _join(serving_sources.events_prefix(group), folder)
        listed = self._fresh(
            group, f"event-files:{folder}", lambda: tuple(runtime.blobs.list_keys(prefix))
        )
        with self._lock:
            view = self._event_views.get((group, history))
        if view is not None and view.generation == listed.generation:
            return view
        holds = merged_sources(runtime, listed.value)
        covered = {source for sources in holds.values() for source in sources}
        keys = tuple(k for k in listed.value if k.endswith(".parquet") and k not in covered)
        view = EventFiles(keys, holds, listed.generation)
        with self._lock:
            self._event_views[(group, history)] = view
        return view

    def interactions(
        self, runtime: Runtime, group: str, user_id: str, history: str = INTERACTIONS
    ) -> list[Interaction]:
        """The user's stored interactions (dataset and persisted events), oldest first:
        with items, or with actions for ``ACTION_INTERACTIONS`` (the action in the item's
        place)."""
        from augury.personalize.event_manifests import known_contents

        id_column = HISTORIES[history][1]
        dataset = self._dataset_versions(runtime, group).get(history)
        events = self.event_files(runtime, group, history)
        generation, files = events.generation, list(events.keys)
        version = dataset[:3] if dataset else None
        with self._lock:
            cached = self._interactions.get((group, history))
        if cached is not None and (cached.dataset, cached.generation) == (version, generation):
            return cached.by_user.get(user_id, [])  # the common case: a look-up, no listing
        # A file gone that no merged file holds was rewritten (a data deletion job): the
        # index holds rows that are gone, so it is built again.
        covered = {source for sources in events.holds.values() for source in sources}
        if cached is None or cached.dataset != version or cached.files - set(files) - covered:
            tables = [serving_sources.read_table(runtime, dataset[1] if dataset else None)]
            tables.append(serving_sources.read_files(runtime, files))
            by_user = _index_interactions(tables, id_column)
            cached = _InteractionIndex(version, generation, frozenset(files), by_user)
        else:
            # A merged file whose sources were indexed holds nothing new (``event_compaction``);
            # one that holds files never indexed is read, and what was indexed counts once.
            new = [
                key
                for key in files
                if key not in cached.files
                and known_contents(key, events.holds, cached.files) is None
            ]
            added = _index_interactions([serving_sources.read_files(runtime, new)], id_column)
            repeats = any(key in events.holds for key in new)  # a merged file read in full
            cached = cached.grown(generation, frozenset(files), added, repeats=repeats)
        with self._lock:
            self._interactions[(group, history)] = cached
        return cached.by_user.get(user_id, [])

    def clear(self) -> None:
        with self._lock:
            self._timed.clear()
            self._tables.clear()
            self._bases.clear()
            self._interactions.clear()
            self._event_views.clear()
            self._catalogs = weakref.WeakKeyDictionary()


def catalog_for(rows: RowIndex, item_ids: Sequence[str]) -> Any:
    """A filter ``ItemCatalog`` for ``item_ids`` (None where an item has no value)."""
    from augury.personalize.filter_expressions import ItemCatalog

    found = [rows.rows.get(item_id) for item_id in item_ids]
    columns = {
        name: [row.get(name) if row is not None else None for row in found] for name in rows.fields
    }
    return ItemCatalog(item_ids=list(item_ids), columns=columns)


def _join(prefix: str, child: str) -> str:
    return prefix if prefix.endswith(child) else prefix.rstrip("/") + "/" + child


def _dataset_rows(
    runtime: Runtime, dataset: tuple[str, str | None, int, Any] | None, id_column: str
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The dataset's rows by ID and its upper-cased field names (read from Parquet)."""
    if dataset is None:
        return {}, []
    fields = [name.upper() for name in dataset[3].field_names()]
    rows: dict[str, dict[str, Any]] = {}
    if dataset[1]:
        table = serving_sources.read_table(runtime, dataset[1])
        names = [name.upper() for name in table.column_names]
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
        if id_column in names:
            for values in zip(*columns, strict=True):
                row = dict(zip(names, values, strict=True))
                rows[str(row[id_column])] = row  # a later row for an ID replaces it
    return rows, fields


def _overlay(
    base: tuple[dict[str, dict[str, Any]], list[str]],
    recent: Sequence[Mapping[str, Any]],
    id_column: str,
    key: Hashable,
) -> RowIndex:
    """The dataset's rows with PutItems / PutUsers rows replacing theirs."""
    rows = dict(base[0])
    fields = list(base[1])
    for event_row in recent:
        row = {str(name).upper(): value for name, value in event_row.items()}
        if row.get(id_column) is None:
            continue
        rows[str(row[id_column])] = row  # PutItems / PutUsers replace the record
        fields.extend([name for name in row if name not in fields])
    return RowIndex(rows=rows, fields=tuple(fields), key=key)


@dataclass(frozen=True)
class EventFiles:
    """A group's PutEvents files as readers count them."""

    keys: tuple[str, ...]
    """The Parquet files to count: merged files, not the files they hold."""
    holds: Mapping[str, tuple[str, ...]]
    """Each merged file's sources (``event_compaction.merged_sources``)."""
    generation: int
    """Changes whenever the listing does."""


@dataclass(frozen=True)
class _InteractionIndex:
    """One group's users' latest interactions, and what they were read from."""

    dataset: Hashable
    """The Interactions dataset version (its prefix, row count, import time)."""
    generation: int
    """The event-file listing's generation it was read at (``CatalogCache.event_files``)."""
    files: frozenset[str]
    """The event files read."""
    by_user: dict[str, list[Interaction]]

    def grown(
        self,
        generation: int,
        files: frozenset[str],
        added: Mapping[str, list[Interaction]],
        *,
        repeats: bool = False,
    ) -> _InteractionIndex:
        """With ``added`` (read from the new files) merged in: each user's latest per event
        type of what was kept and what arrived is what reading everything would keep. With
        ``repeats`` (a merged file read in full repeats its sources'), an interaction
        already held counts once."""
        by_user = dict(self.by_user)
        for user, events in added.items():
            known = by_user.get(user, [])
            if repeats:
                held = set(known)
                events = [event for event in dict.fromkeys(events) if event not in held]
            by_user[user] = latest_per_event_type([*known, *events])
        return _InteractionIndex(self.dataset, generation, files, by_user)


def _index_interactions(
    tables: Sequence[Any], id_column: str = "ITEM_ID"
) -> dict[str, list[Interaction]]:
    """Each user's latest interactions per event type, oldest first."""
    per_user: dict[str, list[Interaction]] = defaultdict(list)
    for table in tables:
        names = {name.upper(): i for i, name in enumerate(table.column_names)}
        if "USER_ID" not in names or id_column not in names:
            continue

        for user, item, event_type, value, moment in zip(
            *(
                _column(table, names, name)
                for name in ("USER_ID", id_column, "EVENT_TYPE", "EVENT_VALUE", "TIMESTAMP")
            ),
            strict=True,
        ):
            if user is None or item is None:
                continue
            per_user[str(user)].append(
                (
                    str(item),
                    None if event_type is None else str(event_type),
                    None if value is None else float(value),
                    int(moment or 0),
                )
            )
    return {user: latest_per_event_type(events) for user, events in per_user.items()}


def _column(table: Any, names: Mapping[str, int], name: str) -> list[Any]:
    index = names.get(name)
    return table.column(index).to_pylist() if index is not None else [None] * table.num_rows


def latest_per_event_type(
    events: Sequence[Interaction], limit: int = INTERACTIONS_PER_EVENT_TYPE
) -> list[Interaction]:
    """The newest ``limit`` interactions of each event type, oldest first overall."""
    ordered = sorted(events, key=lambda event: event[3])
    counts: dict[str | None, int] = defaultdict(int)
    kept: list[Interaction] = []
    for event in reversed(ordered):
        if counts[event[1]] < limit:
            counts[event[1]] += 1
            kept.append(event)
    kept.reverse()
    return kept


_CACHES: PerStore[CatalogCache] = PerStore()


def catalogs(runtime: Runtime) -> CatalogCache:
    """The process's catalog cache for the runtime's blob store (one per store)."""
    return _CACHES.get(runtime.blobs, CatalogCache)
