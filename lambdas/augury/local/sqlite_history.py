"""The embedded UserHistoryStore: two SQLite tables next to the metadata database.

A separate database file keeps event traffic off the metadata store's lock:
serving reads a user's history on every call and the consumer writes it on
every event. One connection behind a lock, WAL mode, as in
``augury.local.sqlite_store``. An append is read-merge-write inside one
``BEGIN IMMEDIATE`` transaction, so a second process sharing the file (the CLI
beside a server) cannot interleave with it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from augury.local.history_window import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_EVENTS,
    DEFAULT_TTL_SECONDS,
    encode,
    merge_events,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS histories (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    events TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE TABLE IF NOT EXISTS latest_rows (
    scope TEXT NOT NULL,
    row_id TEXT NOT NULL,
    stamp REAL NOT NULL,
    doc TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (scope, row_id)
);
CREATE INDEX IF NOT EXISTS histories_by_expiry ON histories (expires_at);
CREATE INDEX IF NOT EXISTS latest_rows_by_expiry ON latest_rows (expires_at);
"""

PURGE_EVERY = 1000
"""Writes between two sweeps of expired entries."""


class SqliteUserHistoryStore:
    """``UserHistoryStore`` on a SQLite file (``":memory:"`` for a throwaway one)."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._writes = 0
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

    def append(self, scope: str, subject: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
        if not events:
            return []
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                existing = self._read_history(scope, subject, now)
                merged, added = merge_events(
                    existing, events, max_events=self.max_events, max_bytes=self.max_bytes
                )
                if added:
                    self._db.execute(
                        "INSERT OR REPLACE INTO histories (scope, subject, events, expires_at)"
                        " VALUES (?, ?, ?, ?)",
                        (scope, subject, encode(merged), now + self.ttl_seconds),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._after_write(now)
        return added

    def history(self, scope: str, subject: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._read_history(scope, subject, self._clock())

    def discard(self, scope: str, subject: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM histories WHERE scope = ? AND subject = ?", (scope, subject)
            )

    def put_row(self, scope: str, row_id: str, row: Mapping[str, Any], *, stamp: float) -> bool:
        now = self._clock()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO latest_rows (scope, row_id, stamp, doc, expires_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (scope, row_id) DO UPDATE SET"
                " stamp = excluded.stamp, doc = excluded.doc, expires_at = excluded.expires_at"
                " WHERE latest_rows.stamp <= excluded.stamp OR latest_rows.expires_at <= ?",
                (scope, row_id, float(stamp), encode(dict(row)), now + self.ttl_seconds, now),
            )
            self._after_write(now)
            return cursor.rowcount == 1

    def discard_row(self, scope: str, row_id: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM latest_rows WHERE scope = ? AND row_id = ?", (scope, row_id)
            )

    def get_row(self, scope: str, row_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._db.execute(
                "SELECT doc FROM latest_rows WHERE scope = ? AND row_id = ? AND expires_at > ?",
                (scope, row_id, self._clock()),
            ).fetchone()
        return None if found is None else json.loads(found[0])

    def rows(self, scope: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            found = self._db.execute(
                "SELECT row_id, doc FROM latest_rows WHERE scope = ? AND expires_at > ?"
                " ORDER BY stamp, row_id",
                (scope, self._clock()),
            ).fetchall()
        return {row_id: json.loads(doc) for row_id, doc in found}

    def _read_history(self, scope: str, subject: str, now: float) -> list[dict[str, Any]]:
        found = self._db.execute(
            "SELECT events FROM histories WHERE scope = ? AND subject = ? AND expires_at > ?",
            (scope, subject, now),
        ).fetchone()
        return [] if found is None else json.loads(found[0])

    def _after_write(self, now: float) -> None:
        """Sweep expired entries now and then, so the file does not grow forever."""
        self._writes += 1
        if self._writes % PURGE_EVERY == 0:
            self._db.execute("DELETE FROM histories WHERE expires_at <= ?", (now,))
            self._db.execute("DELETE FROM latest_rows WHERE expires_at <= ?", (now,))
