"""One object per store, per process: the caches serving keeps beside a runtime's stores.

Serving keeps models, catalogs, forecast shards and source lists in memory,
one cache per blob (or metadata) store: a process usually has one, tests have
many, and a cache must die with its store. ``PerStore`` makes each on first
use, under a lock, and forgets it when the store is collected.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PerStore(Generic[T]):
    """``get(store, make)``: the object ``make()`` made for that store, made once."""

    def __init__(self) -> None:
        self._made: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, store: Any, make: Callable[[], T]) -> T:
        """The store's object, made by ``make`` the first time the store is asked for."""
        with self._lock:
            found = self._made.get(store)
            if found is None:
                found = make()
                self._made[store] = found
            return found
