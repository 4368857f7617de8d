"""The embedded event stream's journal: accepted records, on disk until they are applied.

PutEvents, PutUsers and PutItems answer 200 once their records are published; Amazon's
200 means the data is kept. The in-process queue alone held them in memory, so a
crash lost whatever the consumer had not applied yet (thousands of events under
load). The stream writes each published batch here first, in one SQLite transaction
(WAL, so a killed process loses nothing it committed), removes records once the
consumer has applied them, and replays what is left when the next server starts.
Records the consumer keeps refusing move to ``dead_letters``, as a Kinesis consumer's
on-failure destination keeps them, rather than vanish.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from augury.ports import StreamRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    partition_key TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    partition_key TEXT NOT NULL,
    data TEXT NOT NULL,
    dropped_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""


class EventJournal:
    """Published records not yet applied, in publish order (``seq``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def append(self, records: Sequence[StreamRecord]) -> list[int]:
        """Keep ``records`` (one transaction); their sequence numbers, in order."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seqs = [
                    self._db.execute(
                        "INSERT INTO pending (partition_key, data) VALUES (?, ?)",
                        (record.partition_key, json.dumps(record.data, separators=(",", ":"))),
                    ).lastrowid
                    for record in records
                ]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [int(seq) for seq in seqs]

    def remove(self, seqs: Sequence[int]) -> None:
        """Forget records the consumer has applied."""
        with self._lock:
            self._db.executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs])

    def dead_letter(self, seqs: Sequence[int]) -> None:
        """Set aside records the consumer refused every time."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for seq in seqs:
                    self._db.execute(
                        "INSERT OR REPLACE INTO dead_letters (seq, partition_key, data) "
                        "SELECT seq, partition_key, data FROM pending WHERE seq = ?",
                        (seq,),
                    )
                    self._db.execute("DELETE FROM pending WHERE seq = ?", (seq,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pending(self) -> list[tuple[int, StreamRecord]]:
        """What was published and never applied, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, partition_key, data FROM pending ORDER BY seq"
            ).fetchall()
        return [(int(seq), StreamRecord(key, json.loads(data))) for seq, key, data in rows]

    def dead_letters(self) -> list[StreamRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT partition_key, data FROM dead_letters ORDER BY seq"
            ).fetchall()
        return [StreamRecord(key, json.loads(data)) for key, data in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
