"""Merged event files' manifests: what each merged file holds, as its readers ask.

``event_compaction`` writes, beside each merged file, a manifest naming the files it
holds (kept a grace period after the merge). Readers list a folder and need to know
which files a merged file stands for: serving counts the merged file instead
(:func:`merged_sources`), and takes it over without reading it when it had read
what it holds (:func:`known_contents`); training's minimum-data count and a data
deletion job skip or rename what it holds. A manifest is written once and never
changed, so each process reads each one once.
"""

from __future__ import annotations

import json
import threading
import uuid
import weakref
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augury.ports import BlobNotFound

if TYPE_CHECKING:
    from augury.runtime import Runtime

MANIFEST_SUFFIX = ".sources.json"
"""A merged file's manifest: its key with this instead of ``.parquet``."""


def manifest_key(merged_key: str) -> str:
    """A new manifest's key for ``merged_key``: ``<merged name>.<token>.sources.json``.

    Manifests are written once and never changed (a reader caches them): a change is a
    new manifest and the old one deleted, and a merged file with several holds them all.
    """
    return f"{merged_key.removesuffix('.parquet')}.{uuid.uuid4().hex[:16]}{MANIFEST_SUFFIX}"


def merged_key_of(manifest: str) -> str:
    """The merged file a manifest key describes."""
    return manifest.removesuffix(MANIFEST_SUFFIX).rsplit(".", 1)[0] + ".parquet"


def manifests_of(merged_key: str, listed: Iterable[str]) -> list[str]:
    return [
        key for key in listed if key.endswith(MANIFEST_SUFFIX) and merged_key_of(key) == merged_key
    ]


def read_manifest(runtime: Runtime, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(runtime.blobs.get_bytes(key))
    except (BlobNotFound, ValueError):
        return None


_MANIFESTS: weakref.WeakKeyDictionary[Any, dict[str, tuple[str, ...]]] = weakref.WeakKeyDictionary()
"""Each blob store's manifests read so far, by key (a manifest never changes)."""
_MANIFESTS_LOCK = threading.Lock()


def merged_sources(runtime: Runtime, keys: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """For each merged file among ``keys`` whose manifest is listed too, the files it
    holds (those still in their grace period, or gone since): the union of its manifests'.
    Each manifest is read once per process."""
    listed = set(keys)
    found: dict[str, set[str]] = {}
    for key in keys:
        if not key.endswith(MANIFEST_SUFFIX):
            continue
        merged = merged_key_of(key)
        if merged not in listed:
            continue
        with _MANIFESTS_LOCK:
            sources = _MANIFESTS.setdefault(runtime.blobs, {}).get(key)
        if sources is None:
            manifest = read_manifest(runtime, key)
            if manifest is None:
                continue
            folder = key.rsplit("/", 1)[0] + "/"
            sources = tuple(folder + name for name in manifest["sources"])
            with _MANIFESTS_LOCK:
                cached = _MANIFESTS.setdefault(runtime.blobs, {})
                if len(cached) > 100_000:
                    cached.clear()
                cached[key] = sources
        found.setdefault(merged, set()).update(s for s in sources if s != merged)
    return {merged: tuple(sorted(sources)) for merged, sources in found.items() if sources}


def known_contents(
    key: str,
    holds: Mapping[str, Sequence[str]],
    known: Container[str],
    irrelevant: Callable[[str], bool] = lambda key: False,
) -> list[str] | None:
    """The ``known`` files that together hold what file ``key`` holds, following merged
    files' manifests (``holds``, :func:`merged_sources`) down; ``None`` when it holds a file
    neither known nor ``irrelevant``, whose rows a reader has yet to read.

    A reader that already counted a merged file's sources takes the merged file over
    without reading it: the same rows, once.
    """
    if key in known:
        return [key]
    if key in holds:
        found: list[str] = []
        for source in holds[key]:
            part = known_contents(source, holds, known, irrelevant)
            if part is None:
                return None
            found.extend(part)
        return found
    return [] if irrelevant(key) else None
