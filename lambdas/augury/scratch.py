"""Scratch space for the steps that stage files: under the data directory, not ``/tmp``.

Imports, exports, batch jobs and model unpacking stage hundreds of megabytes on local
disk. In the system's temporary directory, a process killed mid-step left them there
for good; under ``<data dir>/scratch`` they sit on the disk the user chose for Augury,
and a server starting on the directory (which it holds alone,
:mod:`augury.embedded.data_lock`) clears what a crash left. On Lambda the data
directory is ``/tmp/augury``, so nothing changes there.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from augury.runtime import Runtime
    from augury.settings import Settings

SCRATCH = "scratch"


def scratch_root(settings: Settings) -> Path | None:
    """``<data dir>/scratch``, or ``None`` (the system's temporary directory)."""
    return Path(settings.data_dir) / SCRATCH if settings.data_dir else None


def scratch_directory(runtime: Runtime, prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory for one step, removed when the ``with`` block ends."""
    root = scratch_root(runtime.settings)
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=root)


def clear_scratch(settings: Settings) -> None:
    """Remove what steps interrupted by a crash left in the scratch space."""
    root = scratch_root(settings)
    if root is not None and root.is_dir():
        shutil.rmtree(root, ignore_errors=True)
