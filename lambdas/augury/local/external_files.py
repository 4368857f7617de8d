"""Embedded ExternalStorage: users' ``s3://`` data as files inside the data directory.

Embedded Augury has no Amazon S3, so ``s3://<bucket>/<key>`` means the file
``<data dir>/s3/<bucket>/<key>``: a user copies a CSV there and imports it with
the same request they would send to Amazon Forecast. Plain absolute paths and
``file://`` URIs are accepted too, for tools that call the port directly, but
only inside the data directory and never into Augury's own state (the blob
store, the metadata database, the training scratch space).

Everything else is refused before any file is touched: ``..`` segments, and any
path whose real location (symbolic links resolved) is outside the data
directory. The server binds 127.0.0.1, but a request must still never read or
overwrite an arbitrary file of the machine it runs on.

There is no IAM here: ``role_arn`` and ``kms_key_arn`` are accepted and ignored.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from augury.local.file_blobs import TEMP_MARKER
from augury.ports import ExternalDataError

S3_DIRECTORY = "s3"
"""``s3://<bucket>/<key>`` lives at ``<data dir>/s3/<bucket>/<key>``."""


@dataclass(frozen=True)
class _Location:
    """Where a URI points: the file (or folder) and how to name what is under it."""

    path: Path
    boundary: Path
    """The real path must stay inside this directory."""
    prefix: str
    """The URI of ``boundary``; an object's URI is ``prefix`` + its relative path."""


class LocalExternalFiles:
    """``ExternalStorage`` on the embedded data directory."""

    def __init__(self, data_dir: str | Path, *, private: Iterable[str | Path] = ()) -> None:
        self.root = Path(data_dir).expanduser().resolve()
        self.private = tuple(Path(p).expanduser().resolve() for p in private)

    def check_uri(self, uri: str) -> None:
        self._locate(uri)

    def list_objects(self, uri: str, *, role_arn: str | None = None) -> list[str]:
        return list(self.list_sizes(uri, role_arn=role_arn))

    def list_sizes(self, uri: str, *, role_arn: str | None = None) -> dict[str, int]:
        location = self._locate(uri)
        path = location.path
        if path.is_file():
            self._check_real(uri, path, location.boundary)
            return {uri: path.stat().st_size}
        if not path.is_dir():
            return {}
        self._check_real(uri, path, location.boundary)
        found = {}
        for entry in self._walk(path):
            self._check_real(uri, entry, location.boundary)
            if entry.is_file():
                name = location.prefix + entry.relative_to(location.boundary).as_posix()
                found[name] = entry.stat().st_size
        return dict(sorted(found.items()))

    def download(self, uri: str, path: Path, *, role_arn: str | None = None) -> None:
        location = self._locate(uri)
        if not location.path.is_file():
            raise ExternalDataError(f"There is no file at {uri} ({location.path})")
        self._check_real(uri, location.path, location.boundary)
        destination = Path(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with _temporary_beside(destination) as temp:
            shutil.copyfile(location.path, temp)
            os.replace(temp, destination)

    def upload(
        self,
        path: Path,
        uri: str,
        *,
        role_arn: str | None = None,
        kms_key_arn: str | None = None,
    ) -> None:
        location = self._locate(uri)
        target = location.path
        if target == location.boundary or uri.endswith("/"):
            raise ExternalDataError(f"{uri} names a folder; give the file to write")
        target.parent.mkdir(parents=True, exist_ok=True)
        self._check_real(uri, target.parent, location.boundary)
        if target.is_symlink() or target.is_dir():
            raise ExternalDataError(f"{uri} exists and is not a plain file; it is not overwritten")
        with _temporary_beside(target) as temp:
            shutil.copyfile(path, temp)
            os.replace(temp, target)

    def _locate(self, uri: str) -> _Location:
        """The path ``uri`` names, before symbolic links are followed; refuses escapes."""
        if "\x00" in uri or "\\" in uri:
            raise ExternalDataError(f"{uri} is not a valid path")
        parsed = urlparse(uri)
        if parsed.scheme == "s3":
            return self._locate_s3(uri, parsed.netloc, parsed.path)
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise ExternalDataError(f"{uri} names another host; only local files are read")
            return self._locate_file(uri, unquote(parsed.path), "file://")
        if parsed.scheme == "" and uri.startswith("/"):
            return self._locate_file(uri, uri, "")
        raise ExternalDataError(
            f"{uri} is not an s3:// URI. Embedded Augury reads s3://<bucket>/<key> from "
            f"{self.root / S3_DIRECTORY}/<bucket>/<key>"
        )

    def _locate_s3(self, uri: str, bucket: str, key: str) -> _Location:
        if not bucket or bucket in (".", "..") or "/" in bucket:
            raise ExternalDataError(f"{uri} has no bucket name (s3://<bucket>/<key>)")
        key = key.lstrip("/")
        _refuse_parent_segments(uri, key)
        boundary = self.root / S3_DIRECTORY / bucket
        return _Location(boundary / key if key else boundary, boundary, f"s3://{bucket}/")

    def _locate_file(self, uri: str, path_text: str, scheme: str) -> _Location:
        _refuse_parent_segments(uri, path_text)
        path = Path(path_text)
        if not path.is_absolute():
            raise ExternalDataError(f"{uri} is not an absolute path")
        if not _inside(path, self.root):
            raise self._outside(uri)
        for private in self.private:
            if _inside(path, private):
                raise ExternalDataError(
                    f"{uri} is part of Augury's own state ({private}); import from and export "
                    f"to other files, such as {self.root / S3_DIRECTORY}/<bucket>/<key>"
                )
            if path.parent == private.parent and path.name.startswith(f"{private.name}-"):
                raise ExternalDataError(f"{uri} is part of Augury's own state ({private})")
        return _Location(path, self.root, f"{scheme}{self.root.as_posix()}/")

    def _check_real(self, uri: str, path: Path, boundary: Path) -> None:
        """``path``, links followed, is still inside ``boundary`` and the data directory."""
        real = path.resolve()
        real_boundary = boundary.resolve() if boundary.exists() else boundary
        if not _inside(real, self.root) or not _inside(real, real_boundary):
            raise ExternalDataError(
                f"{uri} leads outside Augury's data directory ({path} is a link to {real}); "
                "embedded Augury reads and writes files inside its data directory only"
            )
        if any(_inside(real, private) for private in self.private):
            raise ExternalDataError(f"{uri} leads into Augury's own state; it is not accessible")

    def _outside(self, uri: str) -> ExternalDataError:
        return ExternalDataError(
            f"{uri} is outside Augury's data directory {self.root}. Embedded Augury reads "
            f"s3://<bucket>/<key> from {self.root / S3_DIRECTORY}/<bucket>/<key>, and files "
            "inside the data directory only"
        )

    @staticmethod
    def _walk(directory: Path) -> Iterator[Path]:
        """Files under ``directory``, and links to folders (checked, never followed)."""
        for current, dirs, files in os.walk(directory, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith(TEMP_MARKER))
            base = Path(current)
            for name in sorted(files):
                if not name.startswith(TEMP_MARKER):
                    yield base / name
            for name in dirs:
                if (base / name).is_symlink():
                    yield base / name


def _refuse_parent_segments(uri: str, path: str) -> None:
    if ".." in path.split("/"):
        raise ExternalDataError(
            f"{uri} contains '..'; a path must name its file directly, without parent segments"
        )


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


@contextlib.contextmanager
def _temporary_beside(target: Path) -> Iterator[str]:
    """A temporary file name next to ``target``, removed unless renamed onto it."""
    fd, name = tempfile.mkstemp(prefix=TEMP_MARKER, dir=target.parent)
    os.close(fd)
    try:
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
