"""The embedded EventStream: an in-memory queue drained by one consumer thread.

One thread applies batches in publish order, so every partition's order holds
(Kinesis promises only per-shard order; this is stricter). Records go through a
JSON round trip on publish, so data that would not survive Kinesis fails here
too. A failing batch is retried a few times and then dropped with an error log
line and kept in ``dead_letters``: delivery is at least once, as with a Kinesis
event source, so the consumer must tolerate a batch it has partly applied.

With a :class:`.event_journal.EventJournal` (the embedded server always gives one),
``publish`` returns only once its records are on disk, and a stream built on the same
journal after a crash delivers first what the last one had not applied.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from augury.local.event_journal import EventJournal
from augury.ports import StreamRecord

log = logging.getLogger(__name__)

Consumer = Callable[[list[StreamRecord]], None]


def check_record(record: StreamRecord) -> StreamRecord:
    """The record with JSON-normalised data; ``ValueError`` if Kinesis would refuse it."""
    if not isinstance(record.partition_key, str) or not 1 <= len(record.partition_key) <= 256:
        raise ValueError("partition_key must be 1 to 256 characters")
    try:
        data = json.loads(json.dumps(dict(record.data), separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"record data is not JSON-serialisable: {exc}") from exc
    return StreamRecord(partition_key=record.partition_key, data=data)


class InProcessEventStream:
    """``EventStream`` delivering to ``consumer`` on a background thread."""

    def __init__(
        self,
        consumer: Consumer | None = None,
        *,
        batch_size: int = 100,
        max_attempts: int = 3,
        retry_delay: float = 0.05,
        journal: EventJournal | None = None,
    ) -> None:
        self._consumer = consumer
        self._journal = journal
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._queue: deque[tuple[int | None, StreamRecord]] = deque()
        """Records to deliver, each with its journal sequence number (``None``: no journal)."""
        self._cond = threading.Condition()
        self._published = 0
        self._done = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self.dead_letters: list[StreamRecord] = []
        self._replay: deque[list[tuple[int | None, StreamRecord]]] = deque()
        """Batches a crash interrupted, delivered first and exactly as they were claimed."""
        if journal is not None:  # what a crash left unapplied goes first
            claimed, loose = journal.pending_batches()
            self._replay.extend(list(batch) for batch in claimed)
            self._queue.extend(loose)
            self._published = len(self._queue) + sum(len(b) for b in self._replay)
            if consumer is not None and self._published:
                with self._cond:
                    self._start_thread()

    def set_consumer(self, consumer: Consumer) -> None:
        """Attach the consumer once the services exist; queued records then flow."""
        with self._cond:
            self._consumer = consumer
            if self._queue or self._replay:
                self._start_thread()
            self._cond.notify_all()

    def publish(self, records: Sequence[StreamRecord]) -> None:
        checked = [check_record(r) for r in records]
        with self._cond:
            if self._closed:
                raise RuntimeError("event stream is closed")
            journal = self._journal
            seqs = journal.append(checked) if journal else [None] * len(checked)
            self._queue.extend(zip(seqs, checked, strict=True))
            self._published += len(checked)
            self._start_thread()
            self._cond.notify_all()

    def _start_thread(self) -> None:
        """Start the consumer thread, once (the caller holds ``_cond``)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="augury-events", daemon=True)
            self._thread.start()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every record published so far was consumed (or dropped)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._published
            while self._done < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def flush(self, timeout: float = 30.0) -> None:
        """``drain`` that raises ``TimeoutError`` instead of returning ``False``."""
        if not self.drain(timeout):
            raise TimeoutError(f"event stream not drained within {timeout} s")

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting records, deliver what is queued, and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            unapplied = len(self._queue) + sum(len(b) for b in self._replay)
            if unapplied and self._journal is not None:
                log.warning(
                    "event stream closed with %d records unapplied; the journal delivers them "
                    "when the server starts again",
                    unapplied,
                )
            elif self._queue:
                log.error("event stream closed with %d records undelivered", len(self._queue))
        if self._journal is not None and (thread is None or not thread.is_alive()):
            self._journal.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._queue or self._replay) or self._consumer is None:
                    idle = not (self._queue or self._replay) or self._consumer is None
                    if self._closed and idle:
                        return
                    self._cond.wait()
                if self._replay:  # as claimed before the crash: the same records together
                    batch, fresh = self._replay.popleft(), False
                else:
                    size = min(self._batch_size, len(self._queue))
                    batch, fresh = [self._queue.popleft() for _ in range(size)], True
                consumer = self._consumer
            if fresh and self._journal is not None:
                self._journal.claim([seq for seq, _ in batch if seq is not None])
            self._deliver(consumer, batch)
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _deliver(self, consumer: Consumer, batch: list[tuple[int | None, StreamRecord]]) -> None:
        records = [record for _, record in batch]
        seqs = [seq for seq, _ in batch if seq is not None]
        for attempt in range(1, self._max_attempts + 1):
            try:
                consumer(list(records))
                if self._journal is not None:
                    self._journal.remove(seqs)
                return
            except Exception:
                log.exception(
                    "event consumer failed on a batch of %d records (attempt %d of %d)",
                    len(batch),
                    attempt,
                    self._max_attempts,
                )
            if attempt < self._max_attempts:
                time.sleep(self._retry_delay * 2 ** (attempt - 1))
        log.error(
            "dropping %d event records after %d failed attempts (kept in dead_letters)",
            len(batch),
            self._max_attempts,
        )
        self.dead_letters.extend(records)
        if self._journal is not None:
            self._journal.dead_letter(seqs)
