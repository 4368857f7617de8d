"""Which campaign or recommender a ``recommendationId`` came from.

A metric attribution credits each event to a source: the event's
``eventAttributionSource`` when it has one, else the campaign or recommender
whose answer carried the event's ``recommendationId``, else
``SOURCE_NAME_UNDEFINED`` (Amazon's rules, "Event metrics and attribution
reports").

Storing every recommendation ID ever answered would put a write on the hottest
read path, so the ID carries its source instead: it is ``RID-`` and a version-4
UUID whose first 32 bits (its first eight hex digits, the *tag*) are a digest
of the source's ARN, the other bits random. Resolving one compares the tag with
the account's campaigns and recommenders, a list kept for ``SOURCES_FRESHNESS``
seconds and read again when a tag matches none of it (a campaign created
since). A source that was deleted no longer resolves: its events count as
``SOURCE_NAME_UNDEFINED``.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING

from augury.personalize.resource_types import CAMPAIGN, RECOMMENDER
from augury.resources import crud
from augury.resources.per_store import PerStore

if TYPE_CHECKING:
    from augury.runtime import Runtime

PREFIX = "RID-"
UNDEFINED_SOURCE = "SOURCE_NAME_UNDEFINED"
SOURCES_FRESHNESS = 60.0
"""Seconds the list of campaigns and recommenders is trusted."""
RELOAD_AFTER_MISS = 5.0
"""Least seconds between two re-reads caused by tags that matched nothing."""
TAG_SLICE = slice(len(PREFIX), len(PREFIX) + 8)
"""Where a recommendation ID's tag is: the UUID's first eight hex digits."""
_TAG = re.compile(r"^[0-9a-f]{8}$")


def recommendation_id(source_arn: str) -> str:
    """A fresh recommendation ID that names ``source_arn`` to whoever knows the sources."""
    raw = bytes.fromhex(source_tag(source_arn)) + os.urandom(12)
    return f"{PREFIX}{uuid.UUID(bytes=raw, version=4)}"


def source_tag(arn: str) -> str:
    """The eight hex digits a source's recommendation IDs begin with."""
    return hashlib.blake2b(arn.encode(), digest_size=4).hexdigest()


def tag_of(recommendation: str | None) -> str | None:
    """The tag of a recommendation ID Augury made; ``None`` for anything else."""
    if not recommendation or not recommendation.startswith(PREFIX):
        return None
    tag = recommendation[TAG_SLICE].lower()
    return tag if _TAG.match(tag) else None


class SourceResolver:
    """Recommendation-ID tags back to campaign and recommender ARNs, for one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._by_tag: dict[str, str] = {}
        self._loaded = float("-inf")

    def source(self, recommendation: str | None) -> str | None:
        """The ARN that answered with ``recommendation``; ``None`` if none is known."""
        tag = tag_of(recommendation)
        return self.source_of_tag(tag) if tag else None

    def source_of_tag(self, tag: str) -> str | None:
        """The ARN whose recommendation IDs carry ``tag``; ``None`` if none is known."""
        if not _TAG.match(tag):
            return None
        with self._lock:
            now = time.monotonic()
            stale = now - self._loaded >= SOURCES_FRESHNESS
            missed = tag not in self._by_tag and now - self._loaded >= RELOAD_AFTER_MISS
            if stale or missed:
                self._by_tag = self._load()
                self._loaded = now
            return self._by_tag.get(tag)

    def _load(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for kind in (CAMPAIGN.kind, RECOMMENDER.kind):
            for record in crud.every(self._runtime, kind):
                found[source_tag(record.arn)] = record.arn
        return found


_RESOLVERS: PerStore[SourceResolver] = PerStore()


def resolver(runtime: Runtime) -> SourceResolver:
    """The process's resolver for the runtime's metadata store."""
    return _RESOLVERS.get(runtime.metadata, lambda: SourceResolver(runtime))
