"""Personalize's data deletion workflow: some users' data out of a dataset group.

``personalize-delete-users``, steps each safe to run again:

``start``
    The job goes IN_PROGRESS.
``delete``
    Reads the user IDs (a CSV file, or every file under a folder, with one
    ``USER_ID`` column); then, for the Interactions and Users datasets, writes
    their current data less those users' rows as a new version and moves the
    dataset to it (the older versions, which hold the users, are deleted: a
    deletion keeps no copy for work still reading, unlike an import); then
    rewrites every recorded-events file (``events/interactions/``,
    ``events/users/``) that holds a row of theirs that arrived before the job
    began, keeping merged files' manifests (``event_compaction``) true, and
    looks again until no file holding them is left (a merge running meanwhile
    writes one); last, forgets their recent events and PutUsers rows in the
    history serving reads. The job is COMPLETED with ``numDeleted``, the rows
    removed. What each dataset gave is recorded on the job as it goes, so a
    retried step neither deletes nor counts twice.

A file of user IDs that cannot be read fails the job (FAILED, a failureReason
naming the file and line) before anything is deleted.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augury.personalize.data_deletions import CLAIMED, DELETED_FROM, DELETION_WORKFLOW
from augury.personalize.event_compaction import MANIFEST_SUFFIX, manifest_key, merged_sources
from augury.personalize.event_data import (
    INTERACTIONS_FOLDER,
    USERS_FOLDER,
    dataset_scope,
    events_prefix,
    user_subject,
)
from augury.personalize.event_files import ARRIVAL_COLUMN, arrival_of, keyed
from augury.personalize.group_data import DATA_ROWS, group_datasets, parquet_keys
from augury.personalize.imports import release_dataset
from augury.ports import BlobNotFound, ExternalDataError
from augury.resources import crud
from augury.resources.data_versions import (
    DATA_PREFIX,
    PREVIOUS_DATA_PREFIX,
    delete_old_versions,
    version_prefix,
)
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows import forecast_jobs
from augury.workflows.definition import ResourceFailed, Retry, State, Step, Workflow

if TYPE_CHECKING:
    from augury.runtime import Runtime

USER_ID = "USER_ID"
DONE = "_deleted_rows"
"""Job attribute: rows deleted so far, by dataset ARN (and ``events``), for a retried step."""
BEGAN = "_deleting_since"
"""Job attribute: when deletion began; recorded rows that arrived later are a new user's."""
LOOKS = 5
"""How many times the event files are listed again for a file a merge wrote meanwhile."""


def _start(runtime: Runtime, state: State) -> None:
    forecast_jobs.begin(runtime, state["arn"])


def _delete(runtime: Runtime, state: State) -> None:
    job = forecast_jobs.current(runtime, state["arn"])
    if Status(job.status) == Status.ACTIVE:
        return  # done before a retry
    if BEGAN not in job.attributes:
        job = crud.update(runtime, job.arn, lambda r: r.with_attributes(**{BEGAN: time.time()}))
    group = str(job.parent_arn)
    with scratch_directory(runtime, "augury-deletion-") as scratch:
        users = _read_users(runtime, job, Path(scratch))
        datasets = group_datasets(runtime, group)
        for kind in DELETED_FROM:
            if kind in datasets and datasets[kind].arn not in job.attributes.get(DONE, {}):
                deleted = _delete_from_dataset(runtime, job, datasets[kind].arn, users)
                job = _record(runtime, job.arn, datasets[kind].arn, deleted)
        if "events" not in job.attributes.get(DONE, {}):
            since = float(job.attributes[BEGAN])
            deleted = _delete_from_events(runtime, group, users, since, Path(scratch))
            job = _record(runtime, job.arn, "events", deleted)
    _forget_recent(runtime, datasets, users)
    for dataset_arn in job.attributes.get(CLAIMED, []):
        release_dataset(runtime, dataset_arn, job.arn)
    forecast_jobs.finish(runtime, job.arn, numDeleted=sum(job.attributes[DONE].values()))


def _record(runtime: Runtime, job_arn: str, what: str, deleted: int) -> Resource:
    def change(record: Resource) -> Resource:
        done = {**record.attributes.get(DONE, {}), what: deleted}
        return record.with_attributes(**{DONE: done})

    return crud.update(runtime, job_arn, change)


# --- the users ---------------------------------------------------------------------------


def _read_users(runtime: Runtime, job: Resource, scratch: Path) -> frozenset[str]:
    location = job.attributes["dataSource"]["dataLocation"]
    role = job.attributes.get("roleArn")
    try:
        uris = [u for u in runtime.external.list_objects(location, role_arn=role) if _is_data(u)]
        if not uris:
            raise ResourceFailed(f"No file was found at {location}")
        users: set[str] = set()
        for index, uri in enumerate(uris):
            local = scratch / f"users-{index:05d}.csv"
            runtime.external.download(uri, local, role_arn=role)
            users.update(_user_ids(uri, local))
    except ExternalDataError as error:
        raise ResourceFailed(str(error)) from None
    if not users:
        raise ResourceFailed(f"{location} holds no user IDs; there is nobody to delete")
    return frozenset(users)


def _user_ids(uri: str, path: Path) -> list[str]:
    """The file's user IDs: a ``USER_ID`` header, then one ID a line (blank lines skipped)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ResourceFailed(f"{uri}: not UTF-8 text ({error})") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    found: list[str] = []
    header_seen = False
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if not header_seen:
            if [cell.strip().upper() for cell in row] != [USER_ID]:
                raise ResourceFailed(
                    f"{uri} line {rows.line_num} (header): a data deletion file has one column, "
                    f"USER_ID; found {', '.join(repr(cell) for cell in row)}"
                )
            header_seen = True
            continue
        if len(row) != 1:
            raise ResourceFailed(
                f"{uri} line {rows.line_num}: field USER_ID: expected one value, found {len(row)}"
            )
        found.append(row[0].strip())
    if not header_seen:
        raise ResourceFailed(f"{uri} line 1 (header): the file is empty; it needs a USER_ID header")
    return found


def _is_data(uri: str) -> bool:
    name = PurePosixPath(uri).name
    return bool(name) and not name.startswith((".", "_"))


def _user_mask(table: pa.Table, users: frozenset[str]) -> pa.ChunkedArray | None:
    """Which rows are the users' (``None`` when the table has no USER_ID)."""
    if USER_ID not in table.column_names:
        return None
    values = pa.array(sorted(users), pa.string())
    found = pc.is_in(table.column(USER_ID).cast(pa.string()), value_set=values)
    return pc.fill_null(found, False)


# --- the datasets ------------------------------------------------------------------------


def _delete_from_dataset(
    runtime: Runtime, job: Resource, dataset_arn: str, users: frozenset[str]
) -> int:
    """Write the dataset's data less the users' rows as a new version and move to it."""
    dataset = runtime.metadata.get(dataset_arn)
    prefix = dataset.attributes.get(DATA_PREFIX) if dataset is not None else None
    if dataset is None or not prefix:
        return 0
    version = version_prefix(dataset, f"deletion-{job.name}")
    runtime.blobs.delete_prefix(version)  # a retried run starts clean
    deleted = kept = 0
    with scratch_directory(runtime, "augury-deletion-") as scratch:
        for number, key in enumerate(parquet_keys(runtime, prefix)):
            local = Path(scratch) / f"{number:05d}.parquet"
            runtime.blobs.download_file(key, local)
            table = pq.read_table(local)
            mask = _user_mask(table, users)
            gone = int(pc.sum(mask).as_py() or 0) if mask is not None else 0
            if gone:
                table = table.filter(pc.invert(mask))
                pq.write_table(table, local)
            deleted, kept = deleted + gone, kept + table.num_rows
            runtime.blobs.upload_file(local, f"{version}part-{number:05d}.parquet")
    if not deleted:
        runtime.blobs.delete_prefix(version)
        return 0
    data = {DATA_PREFIX: version, PREVIOUS_DATA_PREFIX: None, DATA_ROWS: kept}
    release_dataset(runtime, dataset_arn, job.arn, data)
    delete_old_versions(runtime, dataset_arn, keep={version})
    return deleted


# --- the recorded events -----------------------------------------------------------------


def _delete_from_events(
    runtime: Runtime, group: str, users: frozenset[str], since: float, scratch: Path
) -> int:
    """Rewrite each recorded-events file holding the users' rows that arrived before
    ``since``, until a look finds none left."""
    deleted = 0
    for folder in (INTERACTIONS_FOLDER, USERS_FOLDER):
        prefix = events_prefix(group) + folder
        looked: set[str] = set()
        for _ in range(LOOKS):
            listed = list(runtime.blobs.list_keys(prefix))
            fresh = [key for key in listed if key.endswith(".parquet") and key not in looked]
            if not fresh:
                break
            # rows a merged file repeats from its sources count once, in the merged file
            held = {key for keys in merged_sources(runtime, listed).values() for key in keys}
            renamed: dict[str, str | None] = {}
            for key in fresh:
                rewritten, gone = _rewrite_file(runtime, prefix, key, users, since, scratch)
                if gone:
                    renamed[key] = rewritten
                    deleted += 0 if key in held else gone
                looked.add(rewritten or key)
            _rename_in_manifests(runtime, prefix, renamed)
    return deleted


def _rewrite_file(
    runtime: Runtime, prefix: str, key: str, users: frozenset[str], since: float, scratch: Path
) -> tuple[str | None, int]:
    """The file less the users' rows that arrived before ``since``: its new key (``None``
    when nothing is left) and how many rows went."""
    local = scratch / "events.parquet"
    try:
        runtime.blobs.download_file(key, local)
    except BlobNotFound:
        return None, 0  # merged and deleted meanwhile: the merged file is looked at next
    table = pq.read_table(local)
    mask = _user_mask(table, users)
    if mask is None:
        return key, 0
    if ARRIVAL_COLUMN in table.column_names:
        arrived = pc.fill_null(table.column(ARRIVAL_COLUMN), arrival_of(key))
        mask = pc.and_(mask, pc.less(arrived, since))
    elif arrival_of(key) >= since:
        return key, 0
    gone = int(pc.sum(mask).as_py() or 0)
    if not gone:
        return key, 0
    kept = table.filter(pc.invert(mask))
    new_key = None
    if kept.num_rows:
        buffer = io.BytesIO()
        pq.write_table(kept, buffer, compression="zstd")
        new_key = keyed(prefix, arrival_of(key), buffer.getvalue())
        runtime.blobs.put_bytes(new_key, buffer.getvalue())
    runtime.blobs.delete_keys([key])
    return new_key, gone


def _rename_in_manifests(runtime: Runtime, prefix: str, renamed: dict[str, str | None]) -> None:
    """Merged files' manifests name the rewritten files: a merged file that was rewritten
    gets its manifest under its new name, and its sources their new names."""
    if not renamed:
        return
    for key in list(runtime.blobs.list_keys(prefix)):
        if not key.endswith(MANIFEST_SUFFIX):
            continue
        try:
            manifest = json.loads(runtime.blobs.get_bytes(key))
        except (BlobNotFound, ValueError):
            continue
        merged = key.removesuffix(MANIFEST_SUFFIX) + ".parquet"
        sources = [prefix + name for name in manifest["sources"]]
        new_merged = renamed.get(merged, merged)
        new_sources = [renamed.get(source, source) for source in sources]
        if new_merged == merged and new_sources == sources:
            continue
        # A rewritten source may now hold exactly what the rewritten merged file holds, and
        # so be that very file (a file is named by its content): it covers itself no more.
        kept = [s for s in new_sources if s is not None and s != new_merged]
        if new_merged is not None and kept:
            manifest["sources"] = [source[len(prefix) :] for source in kept]
            runtime.blobs.put_bytes(manifest_key(new_merged), json.dumps(manifest).encode())
        if new_merged != merged or not kept:
            runtime.blobs.delete_keys([key])


# --- what serving keeps ------------------------------------------------------------------


def _forget_recent(runtime: Runtime, datasets: dict[str, Any], users: frozenset[str]) -> None:
    """The users' recent events and PutUsers rows, which serving reads, go too."""
    scopes = {}
    for kind in DELETED_FROM:
        record = runtime.metadata.get(datasets[kind].arn) if kind in datasets else None
        if record is not None:
            scopes[kind] = dataset_scope(record)
    for user in users:
        if "INTERACTIONS" in scopes:
            runtime.history.discard(scopes["INTERACTIONS"], user_subject(user))
        if "USERS" in scopes:
            runtime.history.discard_row(scopes["USERS"], user)


def _deletion_failed(runtime: Runtime, state: State, reason: str) -> None:
    """The job fails with ``reason`` and lets its datasets go."""
    job = runtime.metadata.get(state["arn"])
    if job is None:
        return
    crud.set_status(runtime, job.arn, Status.CREATE_FAILED, reason)
    for dataset_arn in job.attributes.get(CLAIMED, []):
        release_dataset(runtime, dataset_arn, job.arn)


DELETE_USERS = Workflow(
    name=DELETION_WORKFLOW,
    steps=(
        Step("start", _start),
        Step("delete", _delete, retry=Retry(max_attempts=1)),
    ),
    on_failure=_deletion_failed,
)

WORKFLOWS: tuple[Workflow, ...] = (DELETE_USERS,)
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
