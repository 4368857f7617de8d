"""The embedded MetadataStore: one SQLite file in WAL mode.

WAL lets readers run while a writer commits, and a ``busy_timeout`` makes a
second process (the CLI next to a running server) wait instead of failing. One
connection is shared by every thread behind a lock: SQLite serialises writers
anyway, and the operations are small. Records are stored as the resource's JSON
document next to the few columns the queries need; listings walk an index in
creation order so pagination is a keyset seek, never an OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from augury.ports import AlreadyExists, ConcurrentUpdate, NotFound, Page
from augury.resources.record import Resource

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    arn TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent_arn TEXT,
    created_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_kind ON resources (kind, created_at, arn);
CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (parent_arn, created_at, arn);
"""


def sortable_time(value: datetime) -> str:
    """A fixed-width UTC timestamp whose string order is time order (naive = UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _encode_cursor(created_at: str, arn: str) -> str:
    raw = json.dumps([created_at, arn], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, arn = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError("invalid pagination cursor") from exc
    if not isinstance(created_at, str) or not isinstance(arn, str):
        raise ValueError("invalid pagination cursor")
    return created_at, arn


class SqliteMetadataStore:
    """``MetadataStore`` on a SQLite database file (``":memory:"`` for a throwaway one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, resource: Resource) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO resources (arn, kind, parent_arn, created_at, version, doc)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    self._row(resource),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(resource.arn) from exc

    def get(self, arn: str) -> Resource | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM resources WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else Resource.from_json(row[0])

    def update(self, resource: Resource) -> Resource:
        stored = replace(resource, version=resource.version + 1)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE resources SET kind = ?, parent_arn = ?, created_at = ?, version = ?,"
                " doc = ? WHERE arn = ? AND version = ?",
                (*self._row(stored)[1:], stored.arn, resource.version),
            )
            if cursor.rowcount == 1:
                return stored
            exists = self._db.execute(
                "SELECT 1 FROM resources WHERE arn = ?", (resource.arn,)
            ).fetchone()
        if exists is None:
            raise NotFound(resource.arn)
        raise ConcurrentUpdate(resource.arn)

    def delete(self, arn: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM resources WHERE arn = ?", (arn,))

    def list(
        self,
        *,
        kind: str | None = None,
        parent_arn: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        if kind is None and parent_arn is None:
            raise ValueError("list needs kind or parent_arn")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if parent_arn is not None:
            where.append("parent_arn = ?")
            params.append(parent_arn)
        if cursor is not None:
            after_time, after_arn = _decode_cursor(cursor)
            where.append("(created_at > ? OR (created_at = ? AND arn > ?))")
            params += [after_time, after_time, after_arn]
        sql = (
            f"SELECT created_at, arn, doc FROM resources WHERE {' AND '.join(where)}"
            " ORDER BY created_at, arn LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (*params, limit + 1)).fetchall()
        page, more = rows[:limit], len(rows) > limit
        next_cursor = _encode_cursor(page[-1][0], page[-1][1]) if more else None
        return Page(items=[Resource.from_json(row[2]) for row in page], cursor=next_cursor)

    @staticmethod
    def _row(resource: Resource) -> tuple[str, str, str | None, str, int, str]:
        return (
            resource.arn,
            resource.kind,
            resource.parent_arn,
            sortable_time(resource.created_at),
            resource.version,
            resource.to_json(),
        )
