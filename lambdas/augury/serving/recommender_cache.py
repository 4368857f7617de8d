"""Trained recommenders in memory: what GetRecommendations and batch jobs answer from.

A solution version's model files sit in the blob store under the prefix its
record names (``_model_prefix``, written by the training workflow). The first
call for a version downloads them once into a local cache directory (the data
directory in embedded mode, the temporary directory elsewhere), loads them
with ``augury_training.recommender_artifacts.load_recommender`` (or, for a
Next-Best-Action model, ``augury_training.action_artifacts.load_action_model``;
NumPy only: no training framework is imported) and keeps the loaded model. Later calls
are answered from memory. The cache is an LRU bounded by model count, shared
by every request thread, and one thread loads a model while the others wait.

Models are keyed by the version's ARN, its model prefix and its creation time,
so a version deleted and trained again under the same name is never answered
from the old one's files.

The local copies are bounded too: when a model is loaded, the copies of models
no longer in memory are deleted. Every retrained version has a new key, so a
long-lived Lambda instance (2 GB of /tmp on the serving functions) or server
would otherwise fill its disk one version at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from augury.personalize.resource_types import MODEL_KINDS
from augury.ports import BlobStore
from augury.resources.errors import InvalidInput, ResourceNotFound
from augury.resources.per_store import PerStore
from augury.resources.record import Resource
from augury.resources.status import Status
from augury_training.action_artifacts import KIND as ACTIONS_KIND
from augury_training.action_artifacts import ActionModel, load_action_model
from augury_training.recommender_artifacts import MANIFEST_FILE, Recommender, load_recommender

if TYPE_CHECKING:
    from augury.runtime import Runtime

MODEL_PREFIX = "_model_prefix"
"""Solution-version attribute: the blob prefix holding the unpacked model files."""
DEFAULT_CAPACITY = 8
"""Models kept in memory per process (an ml-100k model is a few MB)."""

CacheKey = tuple[str, str, str]
Model = Recommender | ActionModel
"""A loaded model: items for a user or an item, or actions for a user."""


def load_model(model_dir: Path) -> Model:
    """The model in ``model_dir``, read as its manifest's kind says."""
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    if manifest.get("kind") == ACTIONS_KIND:
        return load_action_model(model_dir)
    return load_recommender(model_dir)


class RecommenderCache:
    """An LRU of loaded recommenders over one blob store."""

    def __init__(self, blobs: BlobStore, root: Path, capacity: int = DEFAULT_CAPACITY) -> None:
        self.blobs = blobs
        self.root = Path(root)
        self.capacity = capacity
        self._models: OrderedDict[CacheKey, Model] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[CacheKey, threading.Lock] = {}

    def get(self, key: CacheKey) -> Model:
        """The model stored under ``key`` = (ARN, model prefix, creation time)."""
        with self._lock:
            found = self._models.get(key)
            if found is not None:
                self._models.move_to_end(key)
                return found
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one thread downloads and loads; the others wait for it
            with self._lock:
                found = self._models.get(key)
                if found is not None:
                    return found
                # registered again: after a failed load, the thread taking over is loading now
                self._loading[key] = loading
            single_threaded_blas()
            try:
                model = load_model(self._local_copy(key))
            except BaseException:
                with self._lock:
                    self._release(key, loading)
                raise
            with self._lock:
                self._release(key, loading)
                self._models[key] = model
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
                doomed = self._detach_unused_copies()
            for path in doomed:
                shutil.rmtree(path, ignore_errors=True)
            return model

    def _release(self, key: CacheKey, loading: threading.Lock) -> None:
        """Forget that ``key`` is loading, unless another load took its place (lock held)."""
        if self._loading.get(key) is loading:
            del self._loading[key]

    def _detach_unused_copies(self) -> list[Path]:
        """Rename the local copies of models neither in memory nor being loaded out of the
        way (lock held), for deletion outside the lock.

        Deciding and renaming under the lock is what keeps a copy safe: a thread loads a
        model only once registered in ``_loading``, so a copy renamed here is one no thread
        is reading, and a later load of it downloads it again. Downloads in progress, in
        ``.``-named staging folders, are left alone.
        """
        kept = {_digest(cached) for cached in (*self._models, *self._loading)}
        doomed: list[Path] = []
        if not self.root.is_dir():
            return doomed
        for path in self.root.iterdir():
            if path.is_dir() and not path.name.startswith(".") and path.name not in kept:
                trash = path.with_name(f".pruned-{path.name}-{os.getpid()}-{id(path)}")
                try:
                    os.replace(path, trash)
                except OSError:
                    continue
                doomed.append(trash)
        return doomed

    def _local_copy(self, key: CacheKey) -> Path:
        """The model files on local disk, downloaded once (a complete copy is reused)."""
        digest = _digest(key)
        target = self.root / digest
        if (target / MANIFEST_FILE).exists():
            return target
        prefix = key[1]
        keys = list(self.blobs.list_keys(prefix))
        if not keys:
            raise InvalidInput(f"The model files of solution version {key[0]} are missing")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=self.root))
        try:
            for blob_key in keys:
                relative = blob_key[len(prefix) :].lstrip("/")
                local = staging / relative
                local.parent.mkdir(parents=True, exist_ok=True)
                self.blobs.download_file(blob_key, local)
            try:
                os.replace(staging, target)  # whole directory at once: never half a model
            except OSError:
                if not (target / MANIFEST_FILE).exists():
                    shutil.rmtree(target, ignore_errors=True)
                    os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def clear(self) -> None:
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        return len(self._models)


def _digest(key: CacheKey) -> str:
    """The name of a model's local copy."""
    return hashlib.sha256("\n".join(key).encode()).hexdigest()[:24]


_BLAS_LIMITED = threading.Event()


def single_threaded_blas() -> None:
    """Run the process's BLAS on one thread from the first model load on.

    Serving multiplies small matrices for one user at a time; handing each to a
    BLAS thread pool costs far more than it saves (a GRU over 64 events took
    41 ms with OpenBLAS's pool on 2 cores, 2.5 ms on one thread), and the
    request threads already give the parallelism. Training runs in its own
    process and keeps its threads. A no-op without ``threadpoolctl``.
    """
    if _BLAS_LIMITED.is_set():
        return
    _BLAS_LIMITED.set()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1, user_api="blas")


_CACHES: PerStore[RecommenderCache] = PerStore()


def cache_for(runtime: Runtime) -> RecommenderCache:
    """The process's recommender cache for the runtime's blob store."""
    return _CACHES.get(runtime.blobs, lambda: RecommenderCache(runtime.blobs, _cache_root(runtime)))


def _cache_root(runtime: Runtime) -> Path:
    data_dir = runtime.settings.data_dir
    if data_dir:
        return Path(data_dir) / "cache" / "recommenders"
    return Path(tempfile.gettempdir()) / "augury-recommenders"


def recommender_for(runtime: Runtime, solution_version_arn: str) -> Model:
    """The trained model of an ACTIVE solution version, loaded once per process."""
    record = runtime.metadata.get(solution_version_arn)
    if record is None or record.kind not in MODEL_KINDS:
        raise ResourceNotFound(f"No trained model found with ARN {solution_version_arn}")
    return recommender_for_record(runtime, record)


def recommender_for_record(runtime: Runtime, record: Resource) -> Model:
    """``recommender_for`` when the solution-version record is already read."""
    prefix = record.attributes.get(MODEL_PREFIX)
    if not prefix:
        status = Status(record.status).render("personalize")
        raise InvalidInput(
            f"Solution version {record.arn} is {status} and has no trained model; "
            "use a solution version that is ACTIVE"
        )
    key = (record.arn, str(prefix), record.created_at.isoformat())
    return cache_for(runtime).get(key)
