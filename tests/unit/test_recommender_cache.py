"""The recommender cache: models loaded once per process, an LRU bounded in memory and on
disk, and local copies never deleted while a thread is loading them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from augury.bootstrap import bootstrap
from augury.personalize.resource_types import SOLUTION_VERSION
from augury.resources.errors import InvalidInput, ResourceNotFound
from augury.resources.record import Resource
from augury.serving import recommender_cache
from augury.settings import Settings
from tests.unit.serving_world import World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A runtime with three trained versions (their model files in the blob store)."""
    tmp = tmp_path_factory.mktemp("cache")
    runtime = bootstrap(Settings.embedded(tmp / "data"))
    built = build_world(runtime, tmp)
    built.version("up", "aws-user-personalization", "USER_PERSONALIZATION")
    built.version("sims", "aws-sims", "RELATED_ITEMS")
    built.version("ranking", "aws-personalized-ranking", "PERSONALIZED_RANKING")
    yield built
    runtime.workflows.shutdown()


def test_models_are_downloaded_and_loaded_once_per_process(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Path] = []
    real = recommender_cache.load_recommender

    def counting(directory: Path):
        loads.append(directory)
        return real(directory)

    monkeypatch.setattr(recommender_cache, "load_recommender", counting)
    cache = recommender_cache.cache_for(world.runtime)
    cache.clear()
    first = recommender_cache.recommender_for(world.runtime, world.versions["up"])
    second = recommender_cache.recommender_for(world.runtime, world.versions["up"])
    assert first is second and len(loads) == 1
    assert loads[0].is_relative_to(Path(world.runtime.settings.data_dir))


def test_the_model_cache_is_a_bounded_lru(world: World) -> None:
    cache = recommender_cache.RecommenderCache(world.runtime.blobs, world.tmp / "lru", capacity=2)
    keys = []
    for name in ("up", "sims", "ranking"):
        record = world.runtime.metadata.get(world.versions[name])
        keys.append((record.arn, record.attributes["_model_prefix"], "t"))
    models = [cache.get(key) for key in keys]
    assert len(cache) == 2
    assert cache.get(keys[2]) is models[2]
    # the disk is bounded too: only the models in memory keep their local copies
    copies = sorted(path.name for path in (world.tmp / "lru").iterdir())
    assert len(copies) == 2
    again = cache.get(keys[0])  # evicted: downloaded and loaded again
    assert again is not models[0] and again.item_ids == models[0].item_ids
    assert len(list((world.tmp / "lru").iterdir())) == 2


def test_a_copy_being_loaded_is_not_pruned_by_another_load(world: World, monkeypatch) -> None:
    """Two models load at once: the one that finishes first must not delete the other's
    local copy while it is being read (the copies of models not in memory are pruned)."""
    import threading

    cache = recommender_cache.RecommenderCache(world.runtime.blobs, world.tmp / "race")
    keys = []
    for name in ("up", "sims"):
        record = world.runtime.metadata.get(world.versions[name])
        keys.append((record.arn, record.attributes["_model_prefix"], "t"))
    copied, finish = threading.Event(), threading.Event()
    real = recommender_cache.load_model

    def slow_first(path):
        if path.name == recommender_cache._digest(keys[0]):
            copied.set()
            assert finish.wait(10)
        return real(path)

    monkeypatch.setattr(recommender_cache, "load_model", slow_first)
    loaded: list[object] = []
    first = threading.Thread(target=lambda: loaded.append(cache.get(keys[0])))
    first.start()
    assert copied.wait(10)
    cache.get(keys[1])  # loads and prunes while the first is still reading its copy
    finish.set()
    first.join(10)
    assert len(loaded) == 1 and len(cache) == 2


def test_a_load_taken_over_after_a_failure_is_protected_too(world: World, monkeypatch) -> None:
    """The first load of a model fails while a second thread waits for it; the second takes
    over, and its copy must not be pruned by a third thread loading another model."""
    import threading
    import time as clock

    cache = recommender_cache.RecommenderCache(world.runtime.blobs, world.tmp / "takeover")
    keys = []
    for name in ("up", "sims"):
        record = world.runtime.metadata.get(world.versions[name])
        keys.append((record.arn, record.attributes["_model_prefix"], "t"))
    first_in, second_in, finish = threading.Event(), threading.Event(), threading.Event()
    calls: list[int] = []
    real = recommender_cache.load_model

    def flaky(path):
        if path.name == recommender_cache._digest(keys[0]):
            calls.append(1)
            if len(calls) == 1:
                first_in.set()
                clock.sleep(0.3)  # the second thread is waiting for this load by now
                raise RuntimeError("the first load fails")
            second_in.set()
            assert finish.wait(10)
        return real(path)

    monkeypatch.setattr(recommender_cache, "load_model", flaky)
    outcomes: list[object] = []

    def load() -> None:
        try:
            outcomes.append(cache.get(keys[0]))
        except RuntimeError as error:
            outcomes.append(error)

    first = threading.Thread(target=load)
    first.start()
    assert first_in.wait(10)
    second = threading.Thread(target=load)
    second.start()
    assert second_in.wait(10)
    cache.get(keys[1])  # loads another model and prunes while the second is reading
    finish.set()
    first.join(10)
    second.join(10)
    assert sum(isinstance(o, RuntimeError) for o in outcomes) == 1
    assert len(outcomes) == 2 and len(cache) == 2


def test_a_version_without_a_model_is_refused(world: World) -> None:
    solution = world.runtime.metadata.get(world.versions["up"]).parent_arn
    arn = f"{solution}/training"
    world.runtime.metadata.create(
        Resource(arn=arn, kind=SOLUTION_VERSION.kind, name="t", status="CREATE_IN_PROGRESS")
    )
    with pytest.raises(InvalidInput, match="CREATE IN_PROGRESS and has no trained model"):
        recommender_cache.recommender_for(world.runtime, arn)
    with pytest.raises(ResourceNotFound):
        recommender_cache.recommender_for(world.runtime, arn + "-missing")
