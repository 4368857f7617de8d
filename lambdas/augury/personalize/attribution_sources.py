"""Which campaign or recommender a ``recommendationId`` came from.

A metric attribution credits each event to a source: the event's
``eventAttributionSource`` when it has one, else the campaign or recommender
whose answer carried the event's ``recommendationId``, else
``SOURCE_NAME_UNDEFINED`` (Amazon's rules, "Event metrics and attribution
reports").

Storing every recommendation ID ever answered would put a write on the hottest
read path, so the ID carries its source instead: it is ``RID-`` and a version-4
UUID whose first 32 bits are a digest of the source's ARN, the other bits
random. Resolving one compares that digest with the account's campaigns and
recommenders, a list kept for ``SOURCES_FRESHNESS`` seconds and read again when
an ID matches none of it (a campaign created since). A source that was deleted
no longer resolves: its events count as ``SOURCE_NAME_UNDEFINED``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from augury.personalize.resource_types import CAMPAIGN, RECOMMENDER
from augury.resources import crud

if TYPE_CHECKING:
    from augury.runtime import Runtime

PREFIX = "RID-"
UNDEFINED_SOURCE = "SOURCE_NAME_UNDEFINED"
SOURCES_FRESHNESS = 60.0
"""Seconds the list of campaigns and recommenders is trusted."""
RELOAD_AFTER_MISS = 5.0
"""Least seconds between two re-reads caused by IDs that matched nothing."""


def recommendation_id(source_arn: str) -> str:
    """A fresh recommendation ID that names ``source_arn`` to whoever knows the sources."""
    raw = _tag(source_arn) + os.urandom(12)
    return f"{PREFIX}{uuid.UUID(bytes=raw, version=4)}"


def _tag(arn: str) -> bytes:
    return hashlib.blake2b(arn.encode(), digest_size=4).digest()


def _tag_of(recommendation: str) -> bytes | None:
    if not recommendation.startswith(PREFIX):
        return None
    try:
        return uuid.UUID(recommendation[len(PREFIX) :]).bytes[:4]
    except ValueError:
        return None


class SourceResolver:
    """Recommendation IDs back to campaign and recommender ARNs, for one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._by_tag: dict[bytes, str] = {}
        self._loaded = float("-inf")

    def source(self, recommendation: str | None) -> str | None:
        """The ARN that answered with ``recommendation``; ``None`` if none is known."""
        tag = _tag_of(recommendation) if recommendation else None
        if tag is None:
            return None
        with self._lock:
            now = time.monotonic()
            stale = now - self._loaded >= SOURCES_FRESHNESS
            missed = tag not in self._by_tag and now - self._loaded >= RELOAD_AFTER_MISS
            if stale or missed:
                self._by_tag = self._load()
                self._loaded = now
            return self._by_tag.get(tag)

    def _load(self) -> dict[bytes, str]:
        found: dict[bytes, str] = {}
        for kind in (CAMPAIGN.kind, RECOMMENDER.kind):
            for record in crud.every(self._runtime, kind):
                found[_tag(record.arn)] = record.arn
        return found


_BY_STORE: weakref.WeakKeyDictionary[Any, SourceResolver] = weakref.WeakKeyDictionary()
_BY_STORE_LOCK = threading.Lock()


def resolver(runtime: Runtime) -> SourceResolver:
    """The process's resolver for the runtime's metadata store."""
    with _BY_STORE_LOCK:
        found = _BY_STORE.get(runtime.metadata)
        if found is None:
            found = SourceResolver(runtime)
            _BY_STORE[runtime.metadata] = found
        return found
