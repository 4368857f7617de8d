"""Peak memory and machine load while a benchmark runs, for every benchmark script.

Models run in worker pools, so the peak that matters is the whole process
tree's, sampled from /proc; the load average shows when other work on the
machine inflated a timing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np


class MemorySampler:
    """Peak resident memory of this process plus all its descendants, from /proc.

    ``tracemalloc`` sees only this interpreter and ``ru_maxrss`` of children only
    the largest single child, while the models run in worker pools: sampling the
    whole process tree every 0.2 s gives the peak the machine actually held.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self.loads: list[float] = []
        """1-minute load averages seen while running: other work on the machine skews times."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20

    @property
    def mean_load(self) -> float:
        return float(np.mean(self.loads)) if self.loads else float("nan")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        if hasattr(os, "getloadavg"):
            self.loads.append(os.getloadavg()[0])
        total = sum(_rss_bytes(pid) for pid in _process_tree(os.getpid()))
        if total == 0:  # no /proc: fall back to what getrusage knows
            import resource

            kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            kib += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            total = kib * 1024
        self.peak_bytes = max(self.peak_bytes, total)


def _process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = entry.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        fields = text[text.rfind(")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    tree, frontier = [root], [root]
    while frontier:
        children = parents.get(frontier.pop(), [])
        tree.extend(children)
        frontier.extend(children)
    return tree


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
