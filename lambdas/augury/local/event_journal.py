"""The embedded event stream's journal: accepted records, on disk until they are applied.

PutEvents, PutUsers and PutItems answer 200 once their records are published; Amazon's
200 means the data is kept. The in-process queue alone held them in memory, so a
crash lost whatever the consumer had not applied yet (thousands of events under
load). The stream writes each published batch here first, in one SQLite transaction
(WAL, so a killed process loses nothing it committed), removes records once the
consumer has applied them, and replays what is left when the next server starts.
Records the consumer keeps refusing move to ``dead_letters``, as a Kinesis consumer's
on-failure destination keeps them, rather than vanish.

A batch is *claimed* (its records get one batch number) before the consumer sees it,
and removed in one transaction after: a crash in between replays exactly that batch,
the same records together, so the consumer, which writes a batch's event file under a
name derived from its rows, rewrites the same file instead of adding a second copy.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from augury.ports import StreamRecord

Entry = tuple[int, StreamRecord]
"""A journaled record and its sequence number."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    partition_key TEXT NOT NULL,
    data TEXT NOT NULL,
    batch INTEGER
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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(pending)")}
        if "batch" not in columns:  # a journal written before batches were claimed
            self._db.execute("ALTER TABLE pending ADD COLUMN batch INTEGER")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, all of it or none, under the journal's lock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def append(self, records: Sequence[StreamRecord]) -> list[int]:
        """Keep ``records`` (one transaction); their sequence numbers, in order."""
        with self._transaction() as db:
            return [
                int(
                    db.execute(
                        "INSERT INTO pending (partition_key, data) VALUES (?, ?)",
                        (record.partition_key, json.dumps(record.data, separators=(",", ":"))),
                    ).lastrowid
                )
                for record in records
            ]

    def claim(self, seqs: Sequence[int]) -> None:
        """Give ``seqs`` one batch number, before the consumer sees them together."""
        with self._transaction() as db:
            (top,) = db.execute("SELECT COALESCE(MAX(batch), 0) FROM pending").fetchone()
            rows = [(top + 1, seq) for seq in seqs]
            db.executemany("UPDATE pending SET batch = ? WHERE seq = ?", rows)

    def remove(self, seqs: Sequence[int]) -> None:
        """Forget records the consumer has applied, all of them or none."""
        with self._transaction() as db:
            db.executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs])

    def dead_letter(self, seqs: Sequence[int]) -> None:
        """Set aside records the consumer refused every time."""
        with self._transaction() as db:
            for seq in seqs:
                db.execute(
                    "INSERT OR REPLACE INTO dead_letters (seq, partition_key, data) "
                    "SELECT seq, partition_key, data FROM pending WHERE seq = ?",
                    (seq,),
                )
                db.execute("DELETE FROM pending WHERE seq = ?", (seq,))

    def pending(self) -> list[tuple[int, StreamRecord]]:
        """What was published and never applied, oldest first."""
        claimed, loose = self.pending_batches()
        return [entry for batch in claimed for entry in batch] + loose

    def pending_batches(self) -> tuple[list[list[Entry]], list[Entry]]:
        """The same, as the batches claimed before a crash (oldest first, each as it was
        claimed) and the records no batch had claimed yet."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, partition_key, data, batch FROM pending ORDER BY seq"
            ).fetchall()
        claimed: dict[int, list[Entry]] = {}
        loose: list[Entry] = []
        for seq, key, data, batch in rows:
            entry = (int(seq), StreamRecord(key, json.loads(data)))
            if batch is None:
                loose.append(entry)
            else:
                claimed.setdefault(int(batch), []).append(entry)
        return [claimed[b] for b in sorted(claimed)], loose

    def dead_letters(self) -> list[StreamRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT partition_key, data FROM dead_letters ORDER BY seq"
            ).fetchall()
        return [StreamRecord(key, json.loads(data)) for key, data in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
