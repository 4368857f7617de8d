"""Work over many source files, spread over as many step invocations as it needs.

On AWS a workflow step is one Lambda invocation, at most 15 minutes; an import of
100 GB of files takes longer than that. So an import reads its files one at a time
and keeps its progress in the blob store, under a staging prefix of its own:

- ``files.json``: the source files, listed once, so files added to the folder
  while the import runs cannot change what it reads;
- ``done/<index>.json``: what reading file ``index`` produced (rows, bytes,
  anything the step needs at the end), written only once the file's output is
  stored, so a file with a summary is never read again and a file without one
  (its invocation timed out halfway) is read again from the start.

Before each file after the first, :class:`Budget` asks whether the invocation has
time left for one more (the longest file so far, with room to spare); when it has
not, the step raises ``ResourcePending`` and the engine calls it again at once, to
go on from the next file. The local engine sets no deadline, so embedded mode reads
every file in one call; the code path is the same.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from augury.ports import BlobNotFound
from augury.resources.blob_downloads import DOWNLOAD_THREADS
from augury.workflows.definition import Retry, seconds_left

if TYPE_CHECKING:
    from augury.runtime import Runtime

SPARE_SECONDS = 90.0
"""Kept free at the end of an invocation: the summary to write, a slow S3 answer."""
GROWTH = 1.5
"""A file may take this much longer than the longest read so far in the invocation."""

CONTINUE = Retry(interval_seconds=1, backoff_rate=1.0, max_interval_seconds=1, max_attempts=4_000)
"""The retry of a step that goes on in its next invocation: a second later, up to 4,000
invocations (each reads one file at least, usually many), so that two such steps (a
Forecast import's reading and writing) keep the execution's history (three events an
attempt) under Step Functions' 25,000 events."""


class FileProgress:
    """Which of an import's source files are read, kept under ``prefix`` in the blob store."""

    def __init__(self, runtime: Runtime, prefix: str) -> None:
        self.runtime = runtime
        self.prefix = prefix

    def files(self, list_sources: Callable[[], list[str]]) -> list[str]:
        """The source files: listed by ``list_sources`` on the first call, then as saved."""
        return list(self.once("files", list_sources))

    def once(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()``'s JSON-safe result, computed by the first call to get this far and
        saved as ``<name>.json``; later calls, in any invocation, read it back. A
        ``compute`` that stores anything must be safe to run again: an invocation may end
        between its work and the save."""
        key = f"{self.prefix}{name}.json"
        try:
            return json.loads(self.runtime.blobs.get_bytes(key))
        except BlobNotFound:
            pass
        found = compute()
        self.runtime.blobs.put_bytes(key, json.dumps(found).encode())
        return found

    def has(self, name: str) -> bool:
        """Whether :meth:`once` saved ``name`` already."""
        return any(True for _ in self.runtime.blobs.list_keys(f"{self.prefix}{name}.json"))

    def done(self) -> dict[int, dict[str, Any]]:
        """The summary of every file read so far, by its index in :meth:`files` (fetched
        several at a time: S3 answers each GET in tens of milliseconds)."""
        keys = list(self.runtime.blobs.list_keys(f"{self.prefix}done/"))
        with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
            bodies = list(pool.map(self.runtime.blobs.get_bytes, keys))
        return {
            int(key.rsplit("/", 1)[1].split(".", 1)[0]): json.loads(body)
            for key, body in zip(keys, bodies, strict=True)
        }

    def record(self, index: int, summary: dict[str, Any]) -> None:
        """File ``index`` is read and its output stored."""
        key = f"{self.prefix}done/{index:05d}.json"
        self.runtime.blobs.put_bytes(key, json.dumps(summary).encode())

    def discard(self) -> None:
        """Forget the progress (the import is over, whichever way)."""
        self.runtime.blobs.delete_prefix(self.prefix)


class Budget:
    """Whether this invocation has time to read one more file."""

    def __init__(self, spare_seconds: float = SPARE_SECONDS, growth: float = GROWTH) -> None:
        self.spare_seconds = spare_seconds
        self.growth = growth
        self.read = 0
        self.longest = 0.0

    def fits_another(self) -> bool:
        """Always for the invocation's first file: a file is never split."""
        if self.read == 0:
            return True
        return seconds_left() > self.spare_seconds + self.growth * self.longest

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Time one file's read."""
        started = time.monotonic()
        yield
        self.longest = max(self.longest, time.monotonic() - started)
        self.read += 1
