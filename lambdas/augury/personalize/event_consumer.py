"""The event consumer: applies PutEvents / PutUsers / PutItems records from the stream.

``apply_records`` takes one batch in stream order. Embedded mode calls it
from the in-process queue's thread (``bootstrap`` wires it); on AWS a Lambda
on the Kinesis stream calls :func:`handle_kinesis_event`. Delivery is at
least once, so applying a batch twice must change nothing:

- histories dedupe by ``EVENT_ID`` (``UserHistoryStore.append``);
- rows keep the newest ``receivedAt`` (``UserHistoryStore.put_row``);
- Parquet files are named by their content (``event_files.file_key``), so a
  batch applied again rewrites its own files. Should a retry split a batch
  differently, a training job may see an event twice, as identical rows, which
  Amazon's own rule (identical events count once) says to drop. Files are
  named by their newest arrival, so a late redelivery of an old PutItems row
  sorts before the newer row's file: "the last row per ID in file order" stays
  the newest row.

Anonymous sessions: an event with a sessionId and no userId goes to the
session's history (``s:<sessionId>``), not to the training data, as Amazon
does not train on events never tied to a user. The first event with both IDs
*merges* the session: its events move to the user's history and are written
to the training data under that userId, and a link ``session → user`` is kept
so later sessionId-only events of that session count for the user too. The
merge's steps are ordered so that repeating any prefix of them is harmless:
write the Parquet file, append to the user, store the link, drop the session.

History is written before Parquet, so serving sees an event as early as
possible (PutEvents' freshness goal is one second in embedded mode). Then the
events the histories took for the first time are counted for the group's
metric attribution, if it has one (``attribution_reports``), before the
Parquet files are written: the history's dedupe by ``EVENT_ID`` is what keeps
a redelivered batch from counting twice, so counting comes right after it. An
event older than everything a user's bounded history keeps is not taken, and
not counted.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augury.personalize.attribution_reports import report_events
from augury.personalize.avro_rules import ParsedSchema
from augury.personalize.event_data import (
    ACTION_INTERACTIONS_FOLDER,
    ACTIONS_FOLDER,
    INTERACTIONS_FOLDER,
    ITEMS_FOLDER,
    USERS_FOLDER,
    events_prefix,
    session_subject,
    sessions_scope,
    user_subject,
)
from augury.personalize.event_files import ARRIVAL_COLUMN, write_rows
from augury.personalize.event_properties import cached_schema
from augury.personalize.resource_types import DATASET
from augury.ports import StreamRecord

if TYPE_CHECKING:
    from augury.runtime import Runtime

log = logging.getLogger(__name__)

KINDS = {"interaction", "user", "item", "action", "action-interaction"}
ROW_FOLDERS = {"user": USERS_FOLDER, "item": ITEMS_FOLDER, "action": ACTIONS_FOLDER}
SPARE_SECONDS = 10.0
"""Left free at the end of a consumer invocation that applies a failed batch record by record."""


@dataclass
class _Batch:
    """One batch's pending work: history appends, links, and Parquet rows per file."""

    runtime: Runtime
    appends: dict[tuple[str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    links: dict[tuple[str, str], str | None] = field(default_factory=dict)
    files: dict[tuple[str, str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    last_arrival: dict[tuple[str, str, str], float] = field(default_factory=dict)
    schemas: dict[str, ParsedSchema | None] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    """Each history scope's dataset group."""
    new_events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    """Per group, the events histories took for the first time (what metrics count)."""

    def append(self, scope: str, subject: str, events: list[dict[str, Any]]) -> None:
        """Append this batch's events to a history, noting which ones are new."""
        added = set(self.runtime.history.append(scope, subject, events))
        group = self.groups.get(scope)
        for event in events if group else ():
            if event.get("EVENT_ID") in added:
                added.discard(event["EVENT_ID"])  # a repeat within the batch counts once
                self.new_events[group].append(event)

    def flush_appends(self) -> None:
        for (scope, subject), events in self.appends.items():
            self.append(scope, subject, events)
        self.appends.clear()

    def add_file_row(
        self, group: str, folder: str, dataset: str, row: dict[str, Any], at: float
    ) -> None:
        key = (group, folder, dataset)
        self.files[key].append(row)
        self.last_arrival[key] = max(self.last_arrival.get(key, at), at)

    def schema(self, dataset_arn: str) -> ParsedSchema | None:
        """The dataset's schema, read once per batch; ``None`` once the dataset is gone."""
        if dataset_arn not in self.schemas:
            parsed = None
            record = self.runtime.metadata.get(dataset_arn)
            if record is not None and record.kind == DATASET.kind:
                schema = self.runtime.metadata.get(str(record.attributes.get("schemaArn")))
                if schema is not None:
                    parsed = cached_schema(schema.attributes["schema"])
            self.schemas[dataset_arn] = parsed
        return self.schemas[dataset_arn]

    def write_files(self) -> None:
        for (group, folder, dataset), rows in self.files.items():
            schema = self.schema(dataset)
            if schema is None:
                log.warning("dropping %d %s rows: dataset %s is gone", len(rows), folder, dataset)
                continue
            arrival = self.last_arrival[(group, folder, dataset)]
            write_rows(self.runtime, events_prefix(group) + folder, schema, rows, arrival)
        self.files.clear()


def apply_records(runtime: Runtime, records: Sequence[StreamRecord]) -> None:
    """Apply one batch of event-stream records, in order; safe to repeat."""
    batch = _Batch(runtime)
    for record in records:
        data = record.data
        kind = data.get("kind") if isinstance(data, Mapping) else None
        if kind not in KINDS:
            log.error("skipping an event record of unknown kind %r", kind)
            continue
        try:
            if kind == "interaction":
                _interaction(batch, data)
            elif kind == "action-interaction":
                _action_interaction(batch, data)
            else:
                _row(batch, kind, data)
        except (KeyError, TypeError, ValueError):
            log.exception("skipping a malformed %s record", kind)
    try:
        batch.flush_appends()
    finally:
        # Counted as soon as the histories took them: a retry after a later failure finds
        # them there already and will not count them again.
        if batch.new_events:
            report_events(runtime, batch.new_events)
    batch.write_files()


def _interaction(batch: _Batch, data: Mapping[str, Any]) -> None:
    scope, group, dataset = data["scope"], data["group"], data["dataset"]
    batch.groups[scope] = group
    event = dict(data["event"])
    user_id, session_id = data.get("userId"), data.get("sessionId")
    arrival = float(data.get("receivedAt") or time.time())
    if user_id:
        _link_session(batch, scope, group, dataset, session_id, user_id)
    elif session_id:
        user_id = _linked_user(batch, scope, session_id)
    if not user_id:
        batch.appends[(scope, session_subject(session_id))].append(event)
        return
    batch.appends[(scope, user_subject(user_id))].append(event)
    batch.add_file_row(group, INTERACTIONS_FOLDER, dataset, _training_row(event, user_id), arrival)


def _action_interaction(batch: _Batch, data: Mapping[str, Any]) -> None:
    """A user's action interaction: their action history (Next-Best-Action's repeat rule and
    real-time scores read it) and the Action_Interactions training data. Always a user's:
    PutActionInteractions takes no anonymous events. Metric attributions do not report
    action interactions (Amazon's rule), so these are never counted."""
    event = dict(data["event"])
    user_id = str(data["userId"])
    arrival = float(data.get("receivedAt") or time.time())
    batch.appends[(data["scope"], user_subject(user_id))].append(event)
    batch.add_file_row(
        data["group"],
        ACTION_INTERACTIONS_FOLDER,
        data["dataset"],
        _training_row(event, user_id),
        arrival,
    )


def _training_row(event: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    """The event as the Interactions dataset's row, for the next training, with its EVENT_ID
    (training counts a repeated eventId once) and arrival (``augury.personalize.event_files``)."""
    row = {name: value for name, value in event.items() if name != "RECEIVED_AT"}
    row["USER_ID"] = user_id
    row["TIMESTAMP"] = int(float(event.get("TIMESTAMP") or 0))
    if event.get("RECEIVED_AT") is not None:
        row[ARRIVAL_COLUMN] = float(event["RECEIVED_AT"])
    return row


def _linked_user(batch: _Batch, scope: str, session_id: str) -> str | None:
    key = (scope, session_id)
    if key not in batch.links:
        link = batch.runtime.history.get_row(sessions_scope(scope), session_id)
        batch.links[key] = str(link["userId"]) if link else None
    return batch.links[key]


def _link_session(
    batch: _Batch, scope: str, group: str, dataset: str, session_id: str | None, user_id: str
) -> None:
    """Tie the session to the user the first time both appear, moving its events over."""
    if not session_id or _linked_user(batch, scope, session_id) is not None:
        return
    history = batch.runtime.history
    subject = session_subject(session_id)
    pending_key = (scope, subject)
    if pending_key in batch.appends:
        batch.append(scope, subject, batch.appends.pop(pending_key))
    pending = history.history(scope, subject)
    now = time.time()
    if pending:
        moved = [{**event, "RECEIVED_AT": now} for event in pending]
        schema = batch.schema(dataset)
        if schema is not None:
            # They reach the training data now, so they count as arriving now (Trending-Now
            # counts what arrived after a model read its data).
            rows = [_training_row(event, user_id) for event in moved]
            write_rows(batch.runtime, events_prefix(group) + INTERACTIONS_FOLDER, schema, rows, now)
        history.append(scope, user_subject(user_id), moved)
    # The stamp is the link time negated: the first link of a session is the one kept.
    history.put_row(
        sessions_scope(scope), session_id, {"userId": user_id, "linkedAt": now}, stamp=-now
    )
    history.discard(scope, subject)
    batch.links[(scope, session_id)] = user_id


def _row(batch: _Batch, kind: str, data: Mapping[str, Any]) -> None:
    arrival = float(data["receivedAt"])
    row = dict(data["row"])
    batch.runtime.history.put_row(data["scope"], str(data["id"]), row, stamp=arrival)
    file_row = {**row, ARRIVAL_COLUMN: arrival}
    batch.add_file_row(data["group"], ROW_FOLDERS[kind], data["dataset"], file_row, arrival)


# --- Kinesis -----------------------------------------------------------------------------


def records_from_kinesis(event: Mapping[str, Any]) -> list[tuple[str, StreamRecord]]:
    """A Kinesis event source's records as ``(sequence number, StreamRecord)``."""
    found = []
    for entry in event.get("Records", []):
        kinesis = entry["kinesis"]
        data = json.loads(base64.b64decode(kinesis["data"]))
        found.append(
            (
                str(kinesis.get("sequenceNumber", "")),
                StreamRecord(partition_key=kinesis.get("partitionKey", ""), data=data),
            )
        )
    return found


def handle_kinesis_event(
    runtime: Runtime,
    event: Mapping[str, Any],
    *,
    seconds_left: Callable[[], float] = lambda: math.inf,
) -> dict[str, Any]:
    """A Kinesis-triggered Lambda's body: apply the batch, report failure for a retry.

    The whole batch is applied in one go (it is idempotent). On an error its records
    are applied again one at a time, in order, and the first that fails alone is
    reported (``ReportBatchItemFailures``): Lambda retries from it, and a record that
    keeps failing goes to the failure destination with what follows it, not with the
    records before it, which are applied. A batch whose records all apply alone (the
    error was the batch's: a throttled write, a timeout) is done. The one-at-a-time pass
    stops short of the invocation's end (``seconds_left``): the record it reached is
    reported, and Lambda goes on from there.
    """
    pairs = records_from_kinesis(event)
    try:
        apply_records(runtime, [record for _, record in pairs])
    except Exception:
        log.exception("applying %d Kinesis records failed", len(pairs))
        failing = _first_failing(runtime, pairs, seconds_left)
        if failing is not None:
            return {"batchItemFailures": [{"itemIdentifier": failing}]}
    return {"batchItemFailures": []}


def _first_failing(
    runtime: Runtime, pairs: list[tuple[str, StreamRecord]], seconds_left: Callable[[], float]
) -> str | None:
    """The sequence number of the first record that fails when applied on its own, or that
    there was no time left to apply."""
    for sequence, record in pairs:
        if seconds_left() < SPARE_SECONDS:
            return sequence
        try:
            apply_records(runtime, [record])
        except Exception:
            log.exception("Kinesis record %s failed on its own", sequence)
            return sequence
    return None
