"""Merging the event consumer's small Parquet files into a few large ones.

The consumer writes one file per batch and folder (``event_files``): about one
a second under a steady stream. Every reader pays per file: a training job
downloads them all, and a serving process reads them all when it starts
(Trending-Now, Interactions filters). So the files of each *settled* stretch of
time are merged into one.

A file belongs, by the arrival time its name starts with, to a bucket of each
size in :data:`BUCKET_SECONDS`. Once a bucket ended :data:`SETTLE_SECONDS` ago
and holds more than one file, its files become one, smallest buckets first: a
1,000-second bucket's batches become one file, ten of those become one
10,000-second file, ten of those one 100,000-second file (about a day). A
folder keeps a file per day, at most about ten per smaller size and the last
few minutes' batches. A bucket of more than :data:`MAX_MERGE_ROWS` rows is left
in its smaller files, so a merge's memory stays bounded.

What a merged file keeps, in arrival order (:data:`event_files.ARRIVAL_COLUMN`;
rows of files written before that column existed take their file's time):

- interactions: each event once: the first row per ``EVENT_ID``, as training
  keeps (Amazon trains only on the first event with an ID), and identical rows
  once;
- users and items: the newest row per ID, which is all any reader uses.

Beside it goes a *manifest* (``<merged name>.<token>.sources.json``, written once)
naming the files it holds. They stay :data:`GRACE_SECONDS` more, so a reader that listed them just
before (a training job downloading its channel) still finds them: training keeps
one row per ``EVENT_ID`` and per ID, and serving reads the manifests
(``event_manifests``) to count a merged file instead of what it holds, without
reading it again when it counted those already. The next run after the grace
period deletes them and the manifest. Every step can be repeated: a crash leaves
files a later run merges again, two compactors reading the same files write the
same key (a merged file is named by its content's digest), and each deletes only
files a manifest names. A file named into a merged bucket later (a redelivered
batch, a session merged into a user) is merged on a later run.
"""

from __future__ import annotations

import io
import json
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augury.personalize.event_data import (
    ACTION_INTERACTIONS_FOLDER,
    ACTIONS_FOLDER,
    INTERACTIONS_FOLDER,
    ITEMS_FOLDER,
    USERS_FOLDER,
    events_prefix,
)
from augury.personalize.event_files import ARRIVAL_COLUMN, EVENT_ID_COLUMN, arrival_of, keyed
from augury.personalize.event_manifests import (
    MANIFEST_SUFFIX,
    manifest_key,
    manifests_of,
    read_manifest,
)
from augury.personalize.resource_types import DATASET_GROUP
from augury.resources import crud
from augury.resources.blob_downloads import download_all
from augury.scratch import scratch_directory

if TYPE_CHECKING:
    from augury.runtime import Runtime

log = logging.getLogger(__name__)

BUCKET_SECONDS = (1_000, 10_000, 100_000)
"""The stretches of arrival time merged into one file, smallest first: each is ten of the
one before, so a bucket holds at most about ten files once the smaller ones are merged."""
SETTLE_SECONDS = 300.0
"""How long after a bucket ends its files are left alone: batches in flight at its end
(a retried Kinesis batch, a consumer behind) have landed by then."""
GRACE_SECONDS = 3_600.0
"""How long a merged file's sources outlive it: longer than a reader takes from listing
them to reading them (a training job's channel download, a serving process's refresh)."""
MAX_MERGE_ROWS = 2_000_000
"""The most rows one merge reads: about 700 MiB of memory at its peak
(docs/benchmarks/event_compaction.md), inside the deployed compactor's 2 GB."""
KEEP_PER_ID = {
    INTERACTIONS_FOLDER: EVENT_ID_COLUMN,
    USERS_FOLDER: "USER_ID",
    ITEMS_FOLDER: "ITEM_ID",
    ACTIONS_FOLDER: "ACTION_ID",
    ACTION_INTERACTIONS_FOLDER: EVENT_ID_COLUMN,
}
"""The column a folder's merge keeps one row per value of: the first event per eventId,
the newest user, item or action row per ID."""


@dataclass(frozen=True)
class Merge:
    """One bucket's files merged into one."""

    key: str
    """The merged file."""
    sources: int
    rows_in: int
    rows_out: int
    manifest: str = ""
    """Its manifest's key."""


def compact_all(
    runtime: Runtime, now: float | None = None, deadline: float | None = None
) -> list[Merge]:
    """Merge the settled buckets of every dataset group's recorded events, groups in a new
    random order each run, so one slow group cannot keep the others waiting; no new
    merge starts after ``deadline`` (``time.monotonic()``)."""
    groups = [group.arn for group in crud.every(runtime, DATASET_GROUP.kind)]
    random.shuffle(groups)
    merges: list[Merge] = []
    for group in groups:
        if _past(deadline):
            log.warning("compaction stopped at its deadline; the next run goes on")
            break
        merges.extend(compact_group(runtime, group, now, deadline))
    return merges


def compact_group(
    runtime: Runtime,
    dataset_group_arn: str,
    now: float | None = None,
    deadline: float | None = None,
) -> list[Merge]:
    """Merge the settled buckets of one dataset group's recorded events, every folder.

    Should the group be deleted (or deleted and created again) meanwhile, what was
    written under its prefix is deleted: the group's deletion removed its events, and
    a merge must not bring them back.
    """
    before = runtime.metadata.get(dataset_group_arn)
    merges: list[Merge] = []
    for folder, id_column in KEEP_PER_ID.items():
        prefix = events_prefix(dataset_group_arn) + folder
        merges.extend(compact_folder(runtime, prefix, id_column, now, deadline))
    after = runtime.metadata.get(dataset_group_arn)
    if merges and (after is None or before is None or after.created_at != before.created_at):
        runtime.blobs.delete_keys([merge.key for merge in merges])
        runtime.blobs.delete_keys([merge.manifest for merge in merges])
        return []
    return merges


def compact_folder(
    runtime: Runtime,
    folder_prefix: str,
    id_column: str,
    now: float | None = None,
    deadline: float | None = None,
) -> list[Merge]:
    """Delete what merges done :data:`GRACE_SECONDS` ago hold, then merge each settled
    bucket of ``folder_prefix`` that holds more than one file.

    A bucket that cannot be merged (a source deleted by another compactor meanwhile,
    files whose columns no longer agree) is left as it is and logged; the others go on.
    """
    moment = time.time() if now is None else now
    listed = list(runtime.blobs.list_keys(folder_prefix))
    keys = [key for key in listed if key.endswith(".parquet")]
    held = _finish_merges(runtime, folder_prefix, listed, moment)
    keys = [key for key in keys if key not in held.deleted and key not in held.pending]
    merges = []
    for size in BUCKET_SECONDS:
        merged_now: list[str] = []
        for bucket_keys in _settled_buckets(keys, size, moment - SETTLE_SECONDS):
            if _past(deadline):
                return merges
            try:
                merge = _merge(runtime, folder_prefix, bucket_keys, id_column, moment)
            except Exception:
                log.exception(
                    "could not merge %d event files under %s", len(bucket_keys), folder_prefix
                )
                continue
            if merge is None:
                continue
            merges.append(merge)
            gone = set(bucket_keys) - {merge.key}
            keys = [key for key in keys if key not in gone]
            merged_now.append(merge.key)
        keys = sorted({*keys, *merged_now})
    return merges


@dataclass(frozen=True)
class _Held:
    deleted: set[str]
    """Sources deleted now, their grace over."""
    pending: set[str]
    """Sources still in their grace period: never merged again."""


def _finish_merges(runtime: Runtime, folder_prefix: str, listed: list[str], now: float) -> _Held:
    """Delete the sources (and manifest) of each merge whose grace period is over."""
    present = set(listed)
    deleted: set[str] = set()
    pending: set[str] = set()
    for key in listed:
        if not key.endswith(MANIFEST_SUFFIX):
            continue
        manifest = read_manifest(runtime, key)
        if manifest is None:
            continue
        sources = [folder_prefix + name for name in manifest["sources"]]
        if float(manifest["mergedAt"]) + GRACE_SECONDS <= now:
            gone = [source for source in sources if source in present]
            runtime.blobs.delete_keys(gone)
            runtime.blobs.delete_keys([key])
            deleted.update(gone)
        else:
            pending.update(sources)
    return _Held(deleted, pending)


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _settled_buckets(keys: Iterable[str], size: int, settled_before: float) -> list[list[str]]:
    """The keys of each bucket of ``size`` seconds that ended before ``settled_before`` and
    holds more than one file, oldest bucket first."""
    buckets: dict[int, list[str]] = defaultdict(list)
    for key in keys:
        arrival = arrival_of(key)
        if arrival != float("inf"):
            buckets[int(arrival // size)].append(key)
    return [
        sorted(found)
        for number, found in sorted(buckets.items())
        if len(found) > 1 and (number + 1) * size <= settled_before
    ]


def _merge(
    runtime: Runtime, folder_prefix: str, keys: Sequence[str], id_column: str, now: float
) -> Merge | None:
    """Write ``keys``' rows as one file and its manifest (``None``: too many rows, or a file
    read was rewritten meanwhile)."""
    with scratch_directory(runtime, "augury-compact-") as scratch:
        local = download_all(runtime, keys, Path(scratch))
        rows = sum(pq.ParquetFile(path).metadata.num_rows for path in local)
        if rows > MAX_MERGE_ROWS:
            log.warning(
                "left %d event files of %d rows under %s unmerged: above %d rows a merge",
                len(keys),
                rows,
                folder_prefix,
                MAX_MERGE_ROWS,
            )
            return None
        tables = [
            _with_arrival(pq.read_table(path), arrival_of(key))
            for path, key in zip(local, keys, strict=True)
        ]
    table = pa.concat_tables(tables, promote_options="permissive")
    merged = _one_per_id(table, id_column)
    buffer = io.BytesIO()
    pq.write_table(merged, buffer, compression="zstd")
    content = buffer.getvalue()
    newest = pc.max(merged.column(ARRIVAL_COLUMN)).as_py() if merged.num_rows else None
    arrival = max(arrival_of(key) for key in keys) if newest is None else float(newest)
    key = keyed(folder_prefix, arrival, content)
    runtime.blobs.put_bytes(key, content)
    # The merge may give a file that exists already (a late file repeating what it holds):
    # its manifests' sources stay named, or they would never be deleted.
    earlier = manifests_of(key, runtime.blobs.list_keys(folder_prefix))
    names = {source[len(folder_prefix) :] for source in keys if source != key}
    for old in earlier:
        names.update((read_manifest(runtime, old) or {}).get("sources", []))
    manifest = manifest_key(key)
    document = {"sources": sorted(names), "mergedAt": now}
    runtime.blobs.put_bytes(manifest, json.dumps(document).encode())
    runtime.blobs.delete_keys(earlier)
    # A source rewritten meanwhile (a data deletion job removing users' rows) must not come
    # back through this merge: should one be gone now, the merge is taken back.
    present = set(runtime.blobs.list_keys(folder_prefix))
    if any(source not in present for source in keys):
        runtime.blobs.delete_keys([manifest] + ([] if key in keys else [key]))
        log.warning("took a merge under %s back: a file it read was rewritten", folder_prefix)
        return None
    return Merge(
        key=key,
        sources=len(keys),
        rows_in=table.num_rows,
        rows_out=merged.num_rows,
        manifest=manifest,
    )


def _with_arrival(table: pa.Table, file_arrival: float) -> pa.Table:
    """``table`` with an arrival for every row, as its last column: its own, else its file's."""
    filler = pa.array([file_arrival] * table.num_rows, pa.float64())
    if ARRIVAL_COLUMN in table.column_names:
        own = table.column(ARRIVAL_COLUMN).cast(pa.float64())
        filler = pc.coalesce(own, filler)
        table = table.drop_columns([ARRIVAL_COLUMN])
    return table.append_column(pa.field(ARRIVAL_COLUMN, pa.float64()), filler)


def _one_per_id(table: pa.Table, id_column: str) -> pa.Table:
    """The rows in arrival order (ties in file order), one per ``id_column`` value: the
    first event per eventId, the newest row per user or item. Rows without a value are
    kept, identical ones once."""
    table = table.take(pc.sort_indices(table, [(ARRIVAL_COLUMN, "ascending")]))  # stable
    position = "#POSITION"
    numbered = table.append_column(position, pa.array(range(table.num_rows), pa.int64()))
    if id_column in table.column_names:
        has_id = pc.is_valid(numbered.column(id_column))
        with_id = numbered.filter(has_id)
        pick = "min" if id_column == EVENT_ID_COLUMN else "max"
        chosen = with_id.group_by(id_column, use_threads=False).aggregate([(position, pick)])
        kept = [chosen.column(f"{position}_{pick}")]
        without_id = numbered.filter(pc.invert(has_id))
    else:
        kept, without_id = [], numbered
    content = [name for name in table.column_names if name != ARRIVAL_COLUMN]
    if without_id.num_rows:
        identical = without_id.group_by(content, use_threads=False).aggregate([(position, "min")])
        kept.append(identical.column(f"{position}_min"))
    if not kept:
        return table
    rows = pc.sort_indices(pa.chunked_array(kept, pa.int64()))
    order = pc.take(pa.chunked_array(kept, pa.int64()), rows)
    return table.take(order)


class CompactionScheduler:
    """Embedded mode's trigger: compaction of the groups events arrive for, at most once
    per ``interval`` seconds per group, on a background thread.

    The consumer hands it the groups of each batch it applied; merging runs beside
    the consumer so no event waits for it. On AWS a scheduled function runs
    :func:`compact_all` instead (``augury.handlers.compact_events``).
    """

    def __init__(self, runtime: Runtime, interval: float = 60.0) -> None:
        self._runtime = runtime
        self._interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._due: set[str] = set()

    def notice(self, groups: Iterable[str]) -> None:
        """Events arrived for ``groups``: compact those not compacted lately."""
        now = time.monotonic()
        with self._lock:
            for group in groups:
                if now - self._last.get(group, float("-inf")) >= self._interval:
                    self._last[group] = now
                    self._due.add(group)
            if self._due and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="augury-event-compaction", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._due:
                    self._thread = None  # under the lock: a notice now starts a new thread
                    return
                group = self._due.pop()
            try:
                compact_group(self._runtime, group)
            except Exception:
                log.exception("compacting the recorded events of %s failed", group)
