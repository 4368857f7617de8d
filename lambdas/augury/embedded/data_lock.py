"""One embedded server per data directory, held by an OS lock on ``augury.lock``.

At start a server fails whatever its data directory says was running: work a crash
interrupted. A second server on the same directory would fail the first one's live
work that way, then write the same SQLite files beside it. The lock makes the second
one refuse to start instead, before it reads anything. The operating system releases
the lock when its holder dies, so a crash never leaves the directory locked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks through fcntl
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "augury.lock"


class DataDirectoryInUse(RuntimeError):
    """Another live process serves this data directory."""


class DataDirectoryLock:
    """An exclusive, non-blocking lock on ``<data_dir>/augury.lock``, holding our pid."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir).expanduser().resolve() / LOCK_FILE
        self._handle: IO[str] | None = None

    def acquire(self) -> DataDirectoryLock:
        """Take the lock, or raise :class:`DataDirectoryInUse` naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                raise DataDirectoryInUse(
                    f"{self.path.parent} is in use by another Augury server (pid {holder}); "
                    "stop it first, or give this one another --data-dir"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Let another server have the directory (closing the file drops the lock)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
