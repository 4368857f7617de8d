"""Personalize's data deletion workflow: some users' data out of a dataset group.

``personalize-delete-users``, steps each safe to run again:

``start``
    The job goes IN_PROGRESS.
``delete``
    Lets events already received land (embedded mode's stream says when), reads
    the user IDs (a CSV file, or every file under a folder, with one ``USER_ID``
    column, IDs as written), then:

    - the Interactions, Users and Action_Interactions datasets the job claimed when it was asked for
      (one made later is not touched) get their current data less those users'
      rows as a new version, and no other version is kept: each older one may
      hold the users (an import keeps the one before for work still reading it;
      a deletion does not). The claim holds to the end, so no import runs
      meanwhile;
    - every recorded-events file (``events/interactions/``, ``events/users/``,
      ``events/action_interactions/``)
      holding a row of theirs that arrived before the job began is rewritten,
      merged files' manifests (``event_compaction``) renamed along, and the
      folder looked at again until no such file is left (a merge that read a
      file rewritten meanwhile takes itself back);
    - their recent events, PutUsers rows and session links go from the history
      serving and the consumer read.

    The work is spread over as many invocations as it needs
    (``augury.workflows.file_slices``): a dataset's parts are rewritten one at a
    time, each recorded under the new version's staging prefix; the events files
    one at a time, what each look rewrote recorded under the job's staging
    prefix in the group; the users' recent history a batch of users at a time.
    On AWS, when the invocation has no time for another of these, the step
    raises ``ResourcePending`` and goes on in the next.

    The job is COMPLETED with ``numDeleted``, the records removed (a merged file
    and the files it holds count once). What each dataset gave, and the version
    it is being moved to, are recorded on the job as it goes, so a retried step
    neither deletes nor counts twice.

A file of user IDs that cannot be read fails the job (FAILED, a failureReason
naming the file and line) before anything is deleted. Models already trained
keep what they learned until the next training, as Amazon's do; the copies a
solution version's trainingDataConfig makes are deleted when its training ends
(``personalize_training``).
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

from augury.personalize.data_deletions import CLAIMED, DELETION_WORKFLOW
from augury.personalize.event_data import (
    ACTION_INTERACTIONS_FOLDER,
    INTERACTIONS_FOLDER,
    USERS_FOLDER,
    dataset_scope,
    events_prefix,
    sessions_scope,
    user_subject,
)
from augury.personalize.event_files import ARRIVAL_COLUMN, arrival_of, keyed
from augury.personalize.event_manifests import (
    MANIFEST_SUFFIX,
    manifest_key,
    merged_key_of,
    merged_sources,
    read_manifest,
)
from augury.personalize.group_data import DATA_ROWS, parquet_keys
from augury.personalize.imports import IMPORTING, release_dataset
from augury.ports import BlobNotFound, ExternalDataError
from augury.resources import crud
from augury.resources.data_versions import (
    DATA_PREFIX,
    PREVIOUS_DATA_PREFIX,
    delete_old_versions,
    staging_prefix,
    version_prefix,
)
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows import forecast_jobs
from augury.workflows.definition import ResourceFailed, ResourcePending, State, Step, Workflow
from augury.workflows.file_slices import CONTINUE, Budget, FileProgress
from augury.workflows.lifecycle import blob_prefix

if TYPE_CHECKING:
    from augury.runtime import Runtime

USER_ID = "USER_ID"
SWITCHING = "_switching_to"
"""Job attribute: the version each dataset is being moved to, and the rows it drops."""
DONE = "_deleted_rows"
"""Job attribute: rows deleted so far, by dataset ARN (and ``events``), for a retried step."""
BEGAN = "_deleting_since"
"""Job attribute: when deletion began; recorded rows that arrived later are a new user's."""
LOOKS = 5
"""How many times the event files are listed again for a file a merge wrote meanwhile."""
FORGET_BATCH = 1_000
"""Users whose recent history one budgeted step forgets: two DynamoDB calls each on AWS, a
few seconds a batch."""


def _start(runtime: Runtime, state: State) -> None:
    forecast_jobs.begin(runtime, state["arn"])


def _delete(runtime: Runtime, state: State) -> None:
    job = forecast_jobs.current(runtime, state["arn"])
    if Status(job.status) == Status.ACTIVE:
        return  # done before a retry
    if BEGAN not in job.attributes:
        job = crud.update(runtime, job.arn, lambda r: r.with_attributes(**{BEGAN: time.time()}))
    group = str(job.parent_arn)
    staging = job_staging_prefix(group, job.name)
    _let_the_stream_land(runtime)
    budget = Budget()
    with scratch_directory(runtime, "augury-deletion-") as scratch:
        users = _read_users(runtime, job, Path(scratch))
        for dataset_arn in job.attributes.get(CLAIMED, []):
            if dataset_arn not in job.attributes.get(DONE, {}):
                deleted = _delete_from_dataset(
                    runtime, job, dataset_arn, users, Path(scratch), budget
                )
                job = _record(runtime, job.arn, dataset_arn, deleted)
        if "events" not in job.attributes.get(DONE, {}):
            since = float(job.attributes[BEGAN])
            progress = FileProgress(runtime, f"{staging}events/")
            deleted = _delete_from_events(
                runtime, group, users, since, Path(scratch), budget, progress
            )
            job = _record(runtime, job.arn, "events", deleted)
    forgetting = FileProgress(runtime, f"{staging}recent/")
    _forget_recent(runtime, job.attributes.get(CLAIMED, []), users, budget, forgetting)
    runtime.blobs.delete_prefix(staging)  # before the end: a finished job is not run again
    for dataset_arn in job.attributes.get(CLAIMED, []):
        release_dataset(runtime, dataset_arn, job.arn)
    forecast_jobs.finish(runtime, job.arn, numDeleted=sum(job.attributes[DONE].values()))


def job_staging_prefix(group_arn: str, job_name: str) -> str:
    """Where a job keeps its progress through the recorded events and the users' recent
    history: in the group's blobs, so deleting the group deletes it."""
    return f"{blob_prefix(group_arn)}staging/deletion-{job_name}/"


def _let_the_stream_land(runtime: Runtime) -> None:
    """Events received before the job began but not yet applied land first (embedded mode's
    stream can say when; Kinesis is read within a second or so, ``IteratorAge`` alarms)."""
    drain = getattr(runtime.events, "drain", None)
    if callable(drain):
        drain(60)


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
        if row[0]:
            found.append(row[0])  # as written: an import keeps IDs exactly so too
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
    runtime: Runtime,
    job: Resource,
    dataset_arn: str,
    users: frozenset[str],
    scratch: Path,
    budget: Budget,
) -> int:
    """Write the dataset's data less the users' rows as a new version and move to it; no
    older version is kept (each may hold the users). Only a dataset the job still holds.

    Parts are rewritten one at a time, each with a summary under the version's staging
    prefix (``file_slices``), so on AWS the work goes on in the next invocation when this
    one has no time for another part (``ResourcePending``)."""
    dataset = runtime.metadata.get(dataset_arn)
    if dataset is None or dataset.attributes.get(IMPORTING) != job.arn:
        return 0  # deleted meanwhile: no data of it is left
    current = dataset.attributes.get(DATA_PREFIX)
    switching = job.attributes.get(SWITCHING, {}).get(dataset_arn)
    if switching and current == switching["version"]:  # switched before a retry
        _keep_only(runtime, dataset_arn, job.arn, current)
        runtime.blobs.delete_prefix(staging_prefix(current))
        return int(switching["rows"])
    if not current:
        return 0
    version = version_prefix(dataset, f"deletion-{job.name}")
    progress = FileProgress(runtime, f"{staging_prefix(version)}progress/")
    if not progress.has("parts"):
        runtime.blobs.delete_prefix(version)  # a run begun before is started again
    keys = progress.once("parts", lambda: parquet_keys(runtime, current))
    done = progress.done()
    for number, key in enumerate(keys):
        if number in done:
            continue
        if not budget.fits_another():
            raise ResourcePending(f"{len(done)} of {len(keys)} parts of {dataset_arn} rewritten")
        with budget.reading():
            done[number] = _rewrite_part(
                runtime, key, f"{version}part-{number:05d}.parquet", users, scratch
            )
        progress.record(number, done[number])
    deleted = sum(int(part["deleted"]) for part in done.values())
    kept = sum(int(part["kept"]) for part in done.values())
    if not deleted:
        runtime.blobs.delete_prefix(version)
        runtime.blobs.delete_prefix(staging_prefix(version))
        _keep_only(runtime, dataset_arn, job.arn, current)  # the previous version may hold them
        return 0

    def note(record: Resource) -> Resource:
        switches = {**record.attributes.get(SWITCHING, {}), dataset_arn: {"version": version}}
        switches[dataset_arn]["rows"] = deleted
        return record.with_attributes(**{SWITCHING: switches})

    crud.update(runtime, job.arn, note)
    _keep_only(runtime, dataset_arn, job.arn, version, rows=kept)
    runtime.blobs.delete_prefix(staging_prefix(version))
    return deleted


def _rewrite_part(
    runtime: Runtime, key: str, target: str, users: frozenset[str], scratch: Path
) -> dict[str, int]:
    """One part less the users' rows, stored at ``target``: how many rows went and stayed."""
    local = scratch / "part.parquet"
    runtime.blobs.download_file(key, local)
    table = pq.read_table(local)
    mask = _user_mask(table, users)
    gone = int(pc.sum(mask).as_py() or 0) if mask is not None else 0
    if gone:
        table = table.filter(pc.invert(mask))
        pq.write_table(table, local)
    runtime.blobs.upload_file(local, target)
    local.unlink()
    return {"deleted": gone, "kept": table.num_rows}


def _keep_only(
    runtime: Runtime, dataset_arn: str, job_arn: str, version: str, rows: int | None = None
) -> None:
    """Make ``version`` the dataset's data and its only version; the job keeps its claim."""

    def change(record: Resource) -> Resource:
        if record.attributes.get(IMPORTING) != job_arn:
            return record
        data: dict[str, Any] = {DATA_PREFIX: version, PREVIOUS_DATA_PREFIX: None}
        if rows is not None:
            data[DATA_ROWS] = rows
        return record.with_attributes(**data)

    updated = crud.update(runtime, dataset_arn, change)
    if updated.attributes.get(DATA_PREFIX) == version:
        delete_old_versions(runtime, dataset_arn, keep={version})


# --- the recorded events -----------------------------------------------------------------


def _delete_from_events(
    runtime: Runtime,
    group: str,
    users: frozenset[str],
    since: float,
    scratch: Path,
    budget: Budget,
    progress: FileProgress,
) -> int:
    """Rewrite each recorded-events file holding the users' rows that arrived before
    ``since``, until a look finds none left: how many rows went.

    Every file that gives rows is recorded in ``progress`` (its new name and the rows it
    gave) after its rewrite is stored and before the file itself goes, so an invocation
    that ends at any point, out of time or killed, loses nothing: the next one deletes
    what a recorded rewrite had still to delete, renames recorded rewrites in the merged
    files' manifests, and counts nothing twice. The files that gave nothing are recorded
    as each look ends or the invocation runs out of time."""
    before = progress.done()
    deleted = sum(int(summary["deleted"]) for summary in before.values())
    chunk = max(before, default=-1) + 1
    for folder in (INTERACTIONS_FOLDER, USERS_FOLDER, ACTION_INTERACTIONS_FOLDER):
        earlier = [summary for summary in before.values() if summary["folder"] == folder]
        if any(summary["finished"] for summary in earlier):
            continue
        prefix = events_prefix(group) + folder
        _finish_rewrites(runtime, prefix, {k: v for s in earlier for k, v in s["renamed"].items()})
        looked = {key for summary in earlier for key in summary["looked"]}
        for _ in range(LOOKS):
            listed = list(runtime.blobs.list_keys(prefix))
            fresh = [key for key in listed if key.endswith(".parquet") and key not in looked]
            if not fresh:
                break
            # rows a merged file repeats from its sources count once, in the merged file
            held = {key for keys in merged_sources(runtime, listed).values() for key in keys}
            renamed: dict[str, str | None] = {}
            unchanged: list[str] = []
            try:
                for key in fresh:
                    if not budget.fits_another():
                        raise ResourcePending(f"recorded events of {folder} being rewritten")
                    with budget.reading():
                        rewritten, gone = _rewrite_file(runtime, prefix, key, users, since, scratch)
                    looked.add(rewritten or key)
                    if not gone:
                        unchanged.append(key)
                        continue
                    counted = 0 if key in held else gone
                    summary = _events_summary(folder, [rewritten], counted, {key: rewritten})
                    progress.record(chunk, summary)
                    chunk += 1
                    deleted += counted
                    runtime.blobs.delete_keys([key])
                    renamed[key] = rewritten
            finally:
                _rename_in_manifests(runtime, prefix, renamed)
                progress.record(chunk, _events_summary(folder, unchanged, 0))
                chunk += 1
        progress.record(chunk, {**_events_summary(folder, [], 0), "finished": True})
        chunk += 1
    return deleted


def _events_summary(
    folder: str,
    looked: list[str | None],
    deleted: int,
    renamed: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """What a step through the events files did: the files it looked at (by their names
    now), the rows it deleted, and the file a rewrite replaced, by its new name."""
    return {
        "folder": folder,
        "looked": [key for key in looked if key],
        "deleted": deleted,
        "renamed": renamed or {},
        "finished": False,
    }


def _finish_rewrites(runtime: Runtime, prefix: str, renamed: dict[str, str | None]) -> None:
    """Complete rewrites an earlier invocation recorded: the replaced files that are still
    there go, and the manifests name the new files (both safe to do again)."""
    if not renamed:
        return
    listed = set(runtime.blobs.list_keys(prefix))
    leftover = [old for old in renamed if old in listed]
    if leftover:
        runtime.blobs.delete_keys(leftover)
    _rename_in_manifests(runtime, prefix, renamed)


def _rewrite_file(
    runtime: Runtime, prefix: str, key: str, users: frozenset[str], since: float, scratch: Path
) -> tuple[str | None, int]:
    """The file less the users' rows that arrived before ``since``, stored under its new key
    (``None`` when nothing is left), and how many rows went. The file itself stays: the
    caller records the rewrite before it deletes it."""
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
    return new_key, gone


def _rename_in_manifests(runtime: Runtime, prefix: str, renamed: dict[str, str | None]) -> None:
    """Merged files' manifests name the rewritten files: a merged file that was rewritten
    gets its manifest under its new name, and its sources their new names."""
    if not renamed:
        return
    for key in list(runtime.blobs.list_keys(prefix)):
        if not key.endswith(MANIFEST_SUFFIX):
            continue
        manifest = read_manifest(runtime, key)
        if manifest is None:
            continue
        merged = merged_key_of(key)
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
        runtime.blobs.delete_keys([key])  # manifests are written once: a change is a new one


# --- what serving keeps ------------------------------------------------------------------


def _forget_recent(
    runtime: Runtime,
    dataset_arns: list[str],
    users: frozenset[str],
    budget: Budget,
    progress: FileProgress,
) -> None:
    """The users' recent events, PutUsers rows and session links, which serving and the
    consumer read, go too (a session tied to a user must not tie later events to them).

    Two DynamoDB calls a user on AWS: a batch of :data:`FORGET_BATCH` users at a time, each
    recorded in ``progress``, then the session links, so a job of many users goes on in
    the next invocation (``ResourcePending``) instead of running out of time."""
    ordered = sorted(users)
    batches = [ordered[n : n + FORGET_BATCH] for n in range(0, len(ordered), FORGET_BATCH)]
    records = [r for r in (runtime.metadata.get(arn) for arn in dataset_arns) if r is not None]
    done = progress.done()
    for number, batch in enumerate([*batches, None]):
        if number in done:
            continue
        if not budget.fits_another():
            raise ResourcePending(f"{len(done)} of {len(batches)} batches of users forgotten")
        with budget.reading():
            for record in records:
                if batch is None:
                    _forget_session_links(runtime, record, users)
                else:
                    _forget_users(runtime, record, batch)
        progress.record(number, {"users": len(batch or [])})
        done[number] = {}


def _forget_users(runtime: Runtime, record: Resource, users: list[str]) -> None:
    scope = dataset_scope(record)
    if str(record.attributes.get("datasetType", "")).upper() == "USERS":
        for user in users:
            runtime.history.discard_row(scope, user)
        return
    for user in users:
        runtime.history.discard(scope, user_subject(user))


def _forget_session_links(runtime: Runtime, record: Resource, users: frozenset[str]) -> None:
    if str(record.attributes.get("datasetType", "")).upper() == "USERS":
        return
    links = sessions_scope(dataset_scope(record))
    for session, link in runtime.history.rows(links).items():
        if str(link.get("userId")) in users:
            runtime.history.discard_row(links, session)


def _deletion_failed(runtime: Runtime, state: State, reason: str) -> None:
    """The job fails with ``reason`` and lets its datasets go."""
    job = runtime.metadata.get(state["arn"])
    if job is None:
        return
    crud.set_status(runtime, job.arn, Status.CREATE_FAILED, reason)
    for dataset_arn in job.attributes.get(CLAIMED, []):
        release_dataset(runtime, dataset_arn, job.arn)
        # the parts rewritten so far; the version itself goes with the next import's cleanup
        runtime.blobs.delete_prefix(f"{blob_prefix(dataset_arn)}staging/deletion-{job.name}/")
    if job.parent_arn:
        runtime.blobs.delete_prefix(job_staging_prefix(str(job.parent_arn), job.name))


DELETE_USERS = Workflow(
    name=DELETION_WORKFLOW,
    steps=(
        Step("start", _start),
        Step("delete", _delete, retry=CONTINUE),
    ),
    on_failure=_deletion_failed,
)

WORKFLOWS: tuple[Workflow, ...] = (DELETE_USERS,)
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
