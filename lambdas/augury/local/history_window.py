"""The rules every ``UserHistoryStore`` applies to a history, written once.

Both adapters (SQLite here, DynamoDB in ``augury.aws``) read a subject's
history, merge new events in with :func:`merge_events` and write the result
back, so deduplication, ordering and the bounds are the same everywhere.
The byte bound exists for DynamoDB, whose items stop at 400 KB; a history
of a few hundred ordinary events stays well below it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_MAX_EVENTS = 500
"""How many of a subject's newest events a history keeps."""
DEFAULT_MAX_BYTES = 300_000
"""The largest a history's JSON may grow; below DynamoDB's 400 KB item limit."""
DEFAULT_TTL_SECONDS = 90 * 86_400
"""How long an untouched history or row is kept."""


def encode(value: Any) -> str:
    """The compact JSON both adapters store."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _timestamp(event: Mapping[str, Any]) -> float:
    value = event.get("TIMESTAMP")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def merge_events(
    existing: Sequence[Mapping[str, Any]],
    new: Sequence[Mapping[str, Any]],
    *,
    max_events: int = DEFAULT_MAX_EVENTS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The merged history and the IDs of the new events it kept.

    An event whose ``EVENT_ID`` is already held (or repeats within ``new``) is
    skipped: applying a batch twice changes nothing. The sort is stable, so
    events with equal timestamps stay in arrival order.
    """
    seen = {str(event["EVENT_ID"]) for event in existing}
    merged = [dict(event) for event in existing]
    for event in new:
        event_id = str(event["EVENT_ID"])
        if event_id not in seen:
            seen.add(event_id)
            merged.append(dict(event))
    merged.sort(key=_timestamp)
    merged = merged[-max_events:] if max_events > 0 else []
    merged = _within_bytes(merged, max_bytes)
    kept = {str(event["EVENT_ID"]) for event in merged}
    before = {str(event["EVENT_ID"]) for event in existing}
    added = []
    for event in new:
        event_id = str(event["EVENT_ID"])
        if event_id in kept and event_id not in before and event_id not in added:
            added.append(event_id)
    return merged, added


def _within_bytes(events: list[dict[str, Any]], max_bytes: int) -> list[dict[str, Any]]:
    """Drop the oldest events until the JSON fits ``max_bytes``."""
    sizes = [len(encode(event).encode()) + 1 for event in events]
    total = sum(sizes) + 2
    start = 0
    while start < len(events) and total > max_bytes:
        total -= sizes[start]
        start += 1
    return events[start:]
