"""The embedded BlobStore: one file per key under a root directory.

Writes go to a temporary file in the destination directory and are renamed
into place, so a reader sees the old blob or the new one, never a part. Keys are
checked before they touch the file system: none may leave the root. The key
rules live here and the S3 adapter uses the same ones, so a key that works in
embedded mode works on AWS and the other way round.

A file system cannot hold both ``a`` and ``a/b`` (S3 can); such a write fails
with ``OSError`` here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from augury.ports import BlobNotFound

TEMP_MARKER = ".augury-tmp-"
"""Temporary files start with this; keys may not, so listings can skip them."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``ValueError``.

    Rejected: empty keys, absolute keys, backslashes, NUL, empty segments (``a//b``
    or a trailing ``/``), ``.`` and ``..`` segments, and the temporary-file marker.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("blob key must be a non-empty string")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid blob key {key!r}")
    for segment in key.split("/"):
        if segment in {"", ".", ".."} or segment.startswith(TEMP_MARKER):
            raise ValueError(f"invalid blob key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if valid: ``""`` (everything) or a key, optionally ending in ``/``.

    A prefix is a plain string prefix, as in S3: ``"a/"`` matches ``a/x`` but not
    ``ab/x``; ``"a"`` matches both.
    """
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


class FileBlobStore:
    """``BlobStore`` on a local directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (which need not exist)."""
        return self.root / check_key(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        with self._temp_beside(target) as (handle, temp):
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temp, target)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc

    def upload_file(self, path: Path, key: str) -> None:
        target = self.path(key)
        with self._temp_beside(target) as (handle, temp), open(path, "rb") as source:
            shutil.copyfileobj(source, handle, 1024 * 1024)
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temp, target)

    def download_file(self, key: str, path: Path) -> None:
        source = self.path(key)
        if not source.is_file():
            raise BlobNotFound(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._temp_beside(path) as (handle, temp):
            try:
                with open(source, "rb") as reader:
                    shutil.copyfileobj(reader, handle, 1024 * 1024)
            except FileNotFoundError as exc:
                raise BlobNotFound(key) from exc
            handle.close()
            os.replace(temp, path)

    def copy(self, source: str, target: str) -> None:
        path = self.path(source)
        if not path.is_file():
            raise BlobNotFound(source)
        try:
            self.upload_file(path, target)
        except FileNotFoundError as exc:  # deleted meanwhile
            raise BlobNotFound(source) from exc

    def list_keys(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / directory
        if not base.is_dir():
            return iter(())
        keys = []
        for current, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith(TEMP_MARKER)]
            relative = Path(current).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(TEMP_MARKER):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))

    def delete_prefix(self, prefix: str) -> int:
        return self.delete_keys(list(self.list_keys(prefix)))

    def delete_keys(self, keys: Sequence[str]) -> int:
        deleted = 0
        directories: set[Path] = set()
        for key in keys:
            target = self.path(key)
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
                deleted += 1
            directories.update(
                p for p in target.parents if p != self.root and self.root in p.parents
            )
        for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only succeeds when empty
        return deleted

    def uri(self, key: str) -> str:
        return str(self.path(key))

    @contextlib.contextmanager
    def _temp_beside(self, target: Path) -> Iterator[tuple]:
        """An open temporary file in ``target``'s directory, removed unless renamed."""
        for attempt in range(3):  # a concurrent delete_prefix may remove the directory
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd, name = tempfile.mkstemp(prefix=TEMP_MARKER, dir=target.parent)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        handle = os.fdopen(fd, "wb")
        try:
            yield handle, name
        finally:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
