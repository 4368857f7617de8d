"""Fitting in parallel across items, with a bounded number of batches in flight.

Series are independent, so a batch of items is the unit of work. The parent
reads batches lazily and keeps at most ``2 * workers`` of them submitted, so a
fast reader never piles the dataset up in memory while workers are busy;
results come back in submission order, which keeps outputs deterministic.

Workers are forked from a *forkserver* that has already imported NumPy and
the models: each worker starts in milliseconds, and none inherits the
parent's Arrow threads (forking a threaded process can deadlock). With one
worker, or a single batch, everything runs in-process: no pool to start.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_PRELOAD = ["numpy", "augury_training.forecasting.backtest"]
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def worker_count(requested: int | None = None) -> int:
    """Processes to use: the request, else SageMaker's ``SM_NUM_CPUS``, else the cores."""
    if requested:
        return max(1, requested)
    for source in (os.environ.get("SM_NUM_CPUS"), os.cpu_count()):
        try:
            if source and int(source) > 0:
                return int(source)
        except ValueError:
            continue
    return 1


def limit_threads() -> None:
    """One BLAS/OpenMP thread per process: parallelism comes from processes."""
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def _has_registry() -> bool:
    from importlib.util import find_spec

    try:
        return find_spec("augury_training.forecasting.models.registry") is not None
    except ImportError:
        return False


def map_batches(
    function: Callable[[T], R], batches: Iterable[T], workers: int | None = None
) -> Iterator[R]:
    """``map(function, batches)`` over a process pool, lazily and in order."""
    workers = worker_count(workers)
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        return
    second = next(iterator, None)
    if workers == 1 or second is None:
        yield function(first)
        if second is not None:
            yield function(second)
            for batch in iterator:
                yield function(batch)
        return
    limit_threads()
    context = multiprocessing.get_context("forkserver")
    preload = _PRELOAD + (
        ["augury_training.forecasting.models.registry"] if _has_registry() else []
    )
    context.set_forkserver_preload(preload)
    pending: deque[Future] = deque()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for batch in _chain(first, second, iterator):
            pending.append(pool.submit(function, batch))
            while len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _chain(first: T, second: T, rest: Iterator[T]) -> Iterator[T]:
    yield first
    yield second
    yield from rest
