"""PerStore: one cache per store, made once, gone with its store."""

from __future__ import annotations

import gc

from augury.resources.per_store import PerStore


class Store:
    """A stand-in store (the real ones are blob and metadata stores)."""


def test_one_object_per_store_made_once_and_forgotten_with_the_store() -> None:
    made: list[object] = []
    caches: PerStore[object] = PerStore()

    def make() -> object:
        made.append(object())
        return made[-1]

    first, second = Store(), Store()
    assert caches.get(first, make) is caches.get(first, make) is made[0]
    assert caches.get(second, make) is made[1] and len(made) == 2
    del first
    gc.collect()
    assert len(caches._made) == 1
