"""What real-time events leave behind, as serving and training read it.

PutEvents, PutUsers and PutItems reach two places through the event consumer
(``augury.personalize.event_consumer``):

- the ``UserHistoryStore`` (``runtime.history``): each user's recent events
  and the newest PutUsers / PutItems row per ID, read here by serving on
  every call;
- Parquet files under :func:`events_prefix`, in ``interactions/``, ``users/``,
  ``items/``, ``actions/`` and ``action_interactions/``, which the next
  training job reads as its ``events`` channel.

The store is partitioned by a *scope*: a dataset's ARN plus its creation time,
so a dataset deleted and created again under the same ARN starts with no
history. Events and session links live in the Interactions dataset's scope;
rows in the Users or Items dataset's scope. Subjects are ``u:<userId>`` for
users and ``s:<sessionId>`` for anonymous sessions.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from augury.resources.arns import Arn, parse_arn
from augury.resources.record import Resource
from augury.workflows.lifecycle import blob_prefix

if TYPE_CHECKING:
    from augury.runtime import Runtime

EVENT_FIELDS = (
    "ITEM_ID",
    "EVENT_TYPE",
    "EVENT_VALUE",
    "TIMESTAMP",
    "RECOMMENDATION_ID",
    "IMPRESSION",
)
"""What every event ``recent_events`` returns carries (``None`` where not sent)."""
INTERNAL_FIELDS = ("RECEIVED_AT",)
"""Kept in the store for bookkeeping, never returned."""

INTERACTIONS_FOLDER = "interactions/"
USERS_FOLDER = "users/"
ITEMS_FOLDER = "items/"
ACTIONS_FOLDER = "actions/"
ACTION_INTERACTIONS_FOLDER = "action_interactions/"
DATASET_FOLDERS = {
    "INTERACTIONS": INTERACTIONS_FOLDER,
    "USERS": USERS_FOLDER,
    "ITEMS": ITEMS_FOLDER,
    "ACTIONS": ACTIONS_FOLDER,
    "ACTION_INTERACTIONS": ACTION_INTERACTIONS_FOLDER,
}
"""Each dataset type's sub-folder of the events prefix."""

SCOPE_CACHE_SECONDS = 1.0
"""How long a dataset's scope is remembered; bounds staleness after a delete and re-create."""


def events_prefix(dataset_group_arn: str) -> str:
    """Where the group's recorded events are kept as Parquet (the ``events`` channel).

    Under the group's own blob prefix, so deleting the group deletes them.
    """
    return f"{blob_prefix(dataset_group_arn)}events/"


def user_subject(user_id: str) -> str:
    return f"u:{user_id}"


def session_subject(session_id: str) -> str:
    return f"s:{session_id}"


def dataset_scope(dataset: Resource) -> str:
    """The store scope of one dataset's live data: its ARN and when it was created."""
    return f"{dataset.arn}@{dataset.created_at.timestamp():.6f}"


def sessions_scope(interactions_scope: str) -> str:
    """Where session-to-user links are kept, beside the Interactions dataset's histories."""
    return f"{interactions_scope}#sessions"


def dataset_arn(dataset_group_arn: str, dataset_type: str) -> str:
    """The ARN a group's dataset of ``dataset_type`` has (``dataset/<group>/<TYPE>``)."""
    group = parse_arn(dataset_group_arn)
    if group is None:
        return ""
    return str(
        Arn(
            partition=group.partition,
            service=group.service,
            region=group.region,
            account=group.account,
            kind="dataset",
            path=f"{group.name}/{dataset_type.upper()}",
        )
    )


class _ScopeCache:
    """Dataset ARN → scope for a second, so serving does not read the record every call.

    Entries hang off the metadata store object itself (weakly): keyed by ``id()``,
    a store freed and another allocated at the same address would read the old
    store's scopes, which is how a test's runtime once saw its predecessor's dataset.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_store: weakref.WeakKeyDictionary[object, dict[str, tuple[float, str | None]]]
        self._by_store = weakref.WeakKeyDictionary()

    def get(self, runtime: Runtime, arn: str) -> str | None:
        store = runtime.metadata
        now = time.monotonic()
        with self._lock:
            cached = self._by_store.get(store, {}).get(arn)
        if cached is not None and now - cached[0] < SCOPE_CACHE_SECONDS:
            return cached[1]
        record = store.get(arn)
        scope = dataset_scope(record) if record is not None else None
        with self._lock:
            entries = self._by_store.setdefault(store, {})
            if len(entries) > 10_000:
                entries.clear()
            entries[arn] = (now, scope)
        return scope


_SCOPES = _ScopeCache()


def group_scope(runtime: Runtime, dataset_group_arn: str, dataset_type: str) -> str | None:
    """The scope of the group's ``dataset_type`` dataset, or ``None`` when it has none."""
    return _SCOPES.get(runtime, dataset_arn(dataset_group_arn, dataset_type))


def public_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as ``recent_events`` returns it: the fixed fields, then the schema's extras."""
    out: dict[str, Any] = {name: event.get(name) for name in EVENT_FIELDS}
    timestamp = event.get("TIMESTAMP")
    out["TIMESTAMP"] = int(timestamp) if isinstance(timestamp, int | float) else 0
    for name, value in event.items():
        if name not in out and name not in INTERNAL_FIELDS:
            out[name] = value
    return out


def recent_events(
    runtime: Runtime,
    dataset_group_arn: str,
    user_id: str,
    limit: int = 200,
    *,
    since: float | None = None,
) -> list[dict[str, Any]]:
    """The user's recorded events, oldest first, at most ``limit`` (the newest ones).

    Each carries ITEM_ID, EVENT_TYPE, EVENT_VALUE (float or None), TIMESTAMP
    (int seconds), RECOMMENDATION_ID, IMPRESSION (``|``-joined, as in the
    dataset) and EVENT_ID, plus the Interactions schema's other fields by
    upper-cased name. As Amazon does for anonymous users, ``user_id`` may also
    be a sessionId (its anonymous events, or its user's once it was tied to one). ``since``
    (epoch seconds) keeps only events received from then on, such as after a
    model's training data was read.
    """
    scope = group_scope(runtime, dataset_group_arn, "INTERACTIONS")
    if scope is None or limit <= 0:
        return []
    events = runtime.history.history(scope, user_subject(user_id))
    anonymous = runtime.history.history(scope, session_subject(user_id))
    if not events and not anonymous:
        # A session that has since been tied to a user reads as that user.
        link = runtime.history.get_row(sessions_scope(scope), user_id)
        if link is not None:
            events = runtime.history.history(scope, user_subject(str(link["userId"])))
    if anonymous:
        known = {event.get("EVENT_ID") for event in events}
        events = [*events, *(event for event in anonymous if event.get("EVENT_ID") not in known)]
        events.sort(key=lambda event: float(event.get("TIMESTAMP") or 0))
    if since is not None:
        events = [event for event in events if float(event.get("RECEIVED_AT") or 0) >= since]
    return [public_event(event) for event in events[-limit:]]


def recent_action_events(
    runtime: Runtime, dataset_group_arn: str, user_id: str
) -> list[dict[str, Any]]:
    """The user's recorded action interactions, oldest first (ACTION_ID, EVENT_TYPE, TIMESTAMP)."""
    scope = group_scope(runtime, dataset_group_arn, "ACTION_INTERACTIONS")
    if scope is None:
        return []
    return runtime.history.history(scope, user_subject(user_id))


def recent_items(runtime: Runtime, dataset_group_arn: str) -> list[dict[str, Any]]:
    """Rows PutItems recorded for the group's Items dataset, the newest per item ID.

    Field names are upper-cased (``ITEM_ID``, ``GENRES``, ``CREATION_TIMESTAMP``);
    rows come in the order they were last written.
    """
    return _recent_rows(runtime, dataset_group_arn, "ITEMS")


def recent_users(runtime: Runtime, dataset_group_arn: str) -> list[dict[str, Any]]:
    """Rows PutUsers recorded for the group's Users dataset, the newest per user ID."""
    return _recent_rows(runtime, dataset_group_arn, "USERS")


def recent_actions(runtime: Runtime, dataset_group_arn: str) -> list[dict[str, Any]]:
    """Rows PutActions recorded for the group's Actions dataset, the newest per action ID."""
    return _recent_rows(runtime, dataset_group_arn, "ACTIONS")


def _recent_rows(runtime: Runtime, dataset_group_arn: str, dataset_type: str) -> list[dict]:
    scope = group_scope(runtime, dataset_group_arn, dataset_type)
    if scope is None:
        return []
    return [dict(row) for row in runtime.history.rows(scope).values()]
