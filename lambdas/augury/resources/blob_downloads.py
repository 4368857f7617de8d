"""Fetching many blobs at once: what every reader of many small files shares.

S3 answers each GET in tens of milliseconds whatever the size, so readers of many
small files (recorded events, an import's per-file spills) fetch them in a pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from augury.ports import BlobNotFound

if TYPE_CHECKING:
    from augury.runtime import Runtime

DOWNLOAD_THREADS = 16
"""Files fetched at once: recorded events are one small file per consumer batch, and S3
answers each in tens of milliseconds, so a day of events read one by one took minutes."""


def download_all(
    runtime: Runtime,
    keys: Sequence[str],
    folder: Path,
    *,
    missing_ok: bool = False,
    suffix: str = ".parquet",
) -> list[Path]:
    """Fetch ``keys`` into ``folder``, several at a time; the local paths, in ``keys`` order.

    With ``missing_ok``, a key gone since it was listed is left out instead of failing.
    """
    paths = [folder / f"{number:06d}{suffix}" for number in range(len(keys))]

    def fetch(key: str, path: Path) -> Path | None:
        try:
            runtime.blobs.download_file(key, path)
        except BlobNotFound:
            if not missing_ok:
                raise
            return None
        return path

    if len(keys) <= 1:
        fetched = [fetch(key, path) for key, path in zip(keys, paths, strict=True)]
    else:
        with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
            fetched = list(pool.map(fetch, keys, paths))
    return [path for path in fetched if path is not None]
