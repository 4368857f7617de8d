"""A trained recommender on disk, and the one way to read it back (NumPy and stdlib only).

The personalization container writes these files to ``model/``; serving (the
campaign runtime and batch jobs) loads them with :func:`load_recommender` and
answers from memory. Nothing here imports torch or pandas, so serving stays
light; no file is a pickle, so a model directory is safe to load.

Layout (every array a ``.npy`` file, every list a JSON file)::

    recommender.json        the manifest (below), read first
    items.json              catalog item IDs; an item's index is its position
    users.json              user IDs known at training time (interactions or Users data)
    popularity.npy          float64 per item: weighted interaction count
    history_offsets.npy     int64, len(users) + 1: user u's history is
    history_items.npy       int32 history_items[offsets[u]:offsets[u + 1]], oldest first
    item_creation.npy       float64 per item: creation time (epoch seconds), NaN unknown
    unchosen_impressions.npy  float64 per item: times shown (IMPRESSION) beside an
                            interaction with another item; absent without impressions
    trending.npy            float64 per item (kind "trending"): how fast it is rising
    trend_items.npy         int32 (kind "trending"): the interactions of the latest two
    trend_times.npy         int64   trend windows (catalog index, epoch seconds, weight),
    trend_weights.npy       float32 so serving can score again with later events
    neighbour_items.npy     int32 items x K (kind "neighbours"): -1 pads short lists
    neighbour_scores.npy    float32 items x K, best first
    encoder/                an EncoderEnsemble of SequenceEncoders (kind "sequence")

The manifest's ``kind`` decides how scores are computed:

``popularity``  everyone gets the most popular items (aws-popularity-count);
``trending``    everyone gets the items rising fastest (aws-trending-now), scored
                again with the events recorded since training (:meth:`Recommender.trending`);
``neighbours``  item-to-item lists (aws-sims, aws-similar-items): related items
                for an item, and for a user the neighbours of their recent items;
``sequence``    the deep recipes: a sequence encoder over the user's history.

Raw scores are "higher is better" and comparable within one call only;
:func:`softmax` turns them into the probabilities Amazon reports. Items that
must never be returned for a call (the query item of a related-items call)
score ``-inf``, which :func:`top_k` skips.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from augury_training.event_rule import EventRule
from augury_training.trends import rise_scores

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "MANIFEST_FILE",
    "Recommender",
    "load_recommender",
    "softmax",
    "top_k",
    "write_recommender",
]

MANIFEST_FILE = "recommender.json"
FORMAT_VERSION = 1
KINDS = ("popularity", "trending", "neighbours", "sequence")

ITEMS_FILE = "items.json"
USERS_FILE = "users.json"
POPULARITY_FILE = "popularity.npy"
HISTORY_OFFSETS_FILE = "history_offsets.npy"
HISTORY_ITEMS_FILE = "history_items.npy"
ITEM_CREATION_FILE = "item_creation.npy"
UNCHOSEN_IMPRESSIONS_FILE = "unchosen_impressions.npy"
TRENDING = "trending"
TREND_ITEMS = "trend_items"
TREND_TIMES = "trend_times"
TREND_WEIGHTS = "trend_weights"
"""Array names of a ``trending`` model (each saved as ``<name>.npy``)."""
NEIGHBOUR_ITEMS_FILE = "neighbour_items.npy"
NEIGHBOUR_SCORES_FILE = "neighbour_scores.npy"
ENCODER_DIR = "encoder"

DEFAULT_HISTORY_LIMIT = 200
"""Most interactions kept per user, newest last (older ones matter little to any recipe)."""

NEIGHBOUR_HISTORY = 20
"""How many of a user's latest items a neighbour model draws recommendations from."""

NEIGHBOUR_RECENCY_DECAY = 0.85
"""Each step back in a user's history counts this much less (neighbour models)."""

_FALLBACK_OFFSET = -2.0
"""Popularity-like fall-back scores lie in [-2, -1): below every real neighbour score."""


def softmax(raw: np.ndarray) -> np.ndarray:
    """Probabilities from raw scores; ``-inf`` entries get exactly 0, the rest sum to 1."""
    raw = np.asarray(raw, dtype=np.float64)
    out = np.zeros(raw.shape, dtype=np.float64)
    finite = np.isfinite(raw)
    if not finite.any():
        return out
    shifted = raw[finite] - raw[finite].max()
    weights = np.exp(shifted)
    out[finite] = weights / weights.sum()
    return out


def top_k(scores: np.ndarray, k: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` best finite scores among ``keep == True``, best first.

    Ties go to the lower index, so answers are deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    allowed = np.isfinite(scores) if keep is None else np.isfinite(scores) & np.asarray(keep, bool)
    candidates = np.flatnonzero(allowed)
    if k <= 0 or candidates.size == 0:
        return np.zeros(0, dtype=np.int64)
    values = scores[candidates]
    if candidates.size > k:
        # the k-th best value, then everything at least that good (ties kept, sorted below)
        threshold = np.partition(values, candidates.size - k)[candidates.size - k]
        chosen = values >= threshold
        candidates, values = candidates[chosen], values[chosen]
    order = np.lexsort((candidates, -values))
    return candidates[order[:k]].astype(np.int64)


def _popularity_scores(popularity: np.ndarray) -> np.ndarray:
    """Log-scaled popularity: the same order as the counts, with a sane softmax."""
    return np.log1p(np.maximum(popularity, 0.0))


class Recommender:
    """A loaded model: catalog, training-time histories and the recipe's scoring arrays."""

    def __init__(self, model_dir: Path, manifest: dict[str, Any]) -> None:
        self.model_dir = Path(model_dir)
        self.manifest = manifest
        self.recipe: str = manifest["recipe"]
        self.recipe_type: str = manifest["recipe_type"]
        self.kind: str = manifest["kind"]
        if self.kind not in KINDS:
            raise ValueError(f"unknown recommender kind {self.kind!r} in {MANIFEST_FILE}")
        self.history_limit = int(manifest.get("history_limit", DEFAULT_HISTORY_LIMIT))
        self.event_rule = _event_rule(manifest)
        """The solution's eventType / eventValueThreshold / eventsConfig: which events it
        learned from, so also which recent events it reads."""
        self.item_ids: list[str] = _read_json(self.model_dir / ITEMS_FILE)
        self.user_ids: list[str] = _read_json(self.model_dir / USERS_FILE)
        self._item_index = {item: i for i, item in enumerate(self.item_ids)}
        self._user_index = {user: u for u, user in enumerate(self.user_ids)}
        self._popularity = _load(self.model_dir / POPULARITY_FILE).astype(np.float64)
        self._history_offsets = _load(self.model_dir / HISTORY_OFFSETS_FILE).astype(np.int64)
        self._history_items = _load(self.model_dir / HISTORY_ITEMS_FILE).astype(np.int64)
        creation = self.model_dir / ITEM_CREATION_FILE
        self.item_creation_seconds: np.ndarray | None = (
            _load(creation).astype(np.float64) if creation.exists() else None
        )
        shown = self.model_dir / UNCHOSEN_IMPRESSIONS_FILE
        self._unchosen_impressions: np.ndarray | None = (
            _load(shown).astype(np.float64) if shown.exists() else None
        )
        self.impression_penalty: np.ndarray | None = (
            None
            if self._unchosen_impressions is None or not self._unchosen_impressions.any()
            else np.log1p(self._unchosen_impressions)
        )
        """log(1 + unchosen impressions) per item, computed once for exploration's ranking
        (None when no item was passed over)."""
        self._trending: np.ndarray | None = None
        self._trend_recent: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._neighbour_items: np.ndarray | None = None
        self._neighbour_scores: np.ndarray | None = None
        self._encoder: Any = None
        if self.kind == "trending":
            self._trending = _load(self.model_dir / f"{TRENDING}.npy").astype(np.float64)
            self._trend_recent = _trend_recent(self.model_dir)
        elif self.kind == "neighbours":
            self._neighbour_items = _load(self.model_dir / NEIGHBOUR_ITEMS_FILE).astype(np.int64)
            self._neighbour_scores = _load(self.model_dir / NEIGHBOUR_SCORES_FILE).astype(
                np.float64
            )
        elif self.kind == "sequence":
            from augury_training.encoder_ensemble import EncoderEnsemble  # numpy only

            self._encoder = EncoderEnsemble.load(self.model_dir / ENCODER_DIR)
        self._fallback = _popularity_scores(self._popularity)

    def __repr__(self) -> str:
        return (
            f"Recommender({self.recipe!r}, kind={self.kind!r}, items={len(self.item_ids)}, "
            f"users={len(self.user_ids)})"
        )

    # -- catalog and users ---------------------------------------------------------------

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def encoder(self) -> Any:
        """The sequence encoders, averaged (kind ``sequence``), else None."""
        return self._encoder

    def item_index(self, item_id: str) -> int | None:
        return self._item_index.get(item_id)

    def knows_user(self, user_id: str) -> bool:
        return user_id in self._user_index

    def _history_indices(self, user_id: str | None) -> np.ndarray:
        user = self._user_index.get(user_id) if user_id is not None else None
        if user is None:
            return np.zeros(0, dtype=np.int64)
        start, end = self._history_offsets[user], self._history_offsets[user + 1]
        return self._history_items[start:end]

    def user_history(self, user_id: str) -> list[str]:
        """The user's training-time items, oldest first (the latest ``history_limit``)."""
        return [self.item_ids[i] for i in self._history_indices(user_id)]

    def popularity(self) -> np.ndarray:
        """Weighted interaction count per catalog item (training data)."""
        return self._popularity.copy()

    def unchosen_impressions(self) -> np.ndarray:
        """Per catalog item, how often training saw it shown while another item was chosen
        (zeros when the data had no impressions, or the model predates them)."""
        if self._unchosen_impressions is None:
            return np.zeros(self.n_items, dtype=np.float64)
        return self._unchosen_impressions.copy()

    def trending(
        self,
        items: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        *,
        n_new: int = 0,
        include_training: bool = True,
    ) -> np.ndarray:
        """Trending-Now's scores (kind ``trending``), counting later interactions too.

        ``items`` (catalog indices), ``timestamps`` (epoch seconds) and ``weights``
        are interactions recorded since training. The windows keep the length
        training chose and end at the newest interaction, so an item that starts
        rising after training climbs without a new model. ``n_new`` items first
        seen after training take the indices from ``n_items`` on, and the scores
        cover them too: as in Amazon's Trending-Now, an item new to the catalog
        can trend without retraining. ``include_training=False`` leaves out the
        interactions training counted, for a caller that passes every interaction
        itself (the dataset was imported again since training). With no
        interactions, the training-time scores (a model saved before recent
        interactions were kept always gives these, for its own catalog only).
        """
        if self.kind != "trending" or self._trending is None:
            raise ValueError(f"a {self.kind!r} model has no trend scores")
        if items is None or len(items) == 0 or self._trend_recent is None:
            return self._trending.copy()
        items = np.asarray(items, dtype=np.int64)
        timestamps = np.asarray(timestamps, dtype=np.int64)
        weights = np.ones(items.size) if weights is None else np.asarray(weights, dtype=np.float64)
        size = self.n_items + n_new
        if items.min() < 0 or items.max() >= size:
            raise ValueError(
                f"item indices must lie in [0, {size}); got {items.min()}..{items.max()}"
            )
        stored_items, stored_times, stored_weights = self._trend_recent
        if not include_training:
            stored_items, stored_times, stored_weights = (a[:0] for a in self._trend_recent)
        end = max(int(self.manifest.get("trend_end", 0)), int(timestamps.max()))
        overall = np.concatenate([self._popularity, np.zeros(n_new)])
        overall += np.bincount(items, weights=weights, minlength=size)
        return rise_scores(
            np.concatenate([stored_items, items]),
            np.concatenate([stored_times, timestamps]),
            np.concatenate([stored_weights, weights]),
            size,
            int(self.manifest["trend_window_seconds"]),
            overall,
            end=end,
        )

    # -- scoring -------------------------------------------------------------------------

    def _recent_indices(
        self,
        recent_item_ids: Sequence[str],
        recent_event_types: Sequence[str] | None,
        recent_event_values: Sequence[float | None] | None = None,
    ) -> np.ndarray:
        """Catalog indices of the recent items the model can use: those its event rule keeps
        (the events it would have trained on), unknown items dropped.

        Without ``recent_event_types`` the events are taken as the rule's (a caller that
        selected them already); without ``recent_event_values`` no value threshold applies.
        """
        size = len(recent_item_ids)
        kept = np.ones(size, dtype=bool)
        if self.event_rule.filters and recent_event_types is not None:
            rule = (
                self.event_rule
                if recent_event_values is not None
                else _no_thresholds(self.event_rule)
            )
            types = [str(t or "") for t in list(recent_event_types)[:size]]
            values = [np.nan if v is None else float(v) for v in list(recent_event_values or ())]
            kept, _ = rule.select(
                size,
                types + [""] * (size - len(types)),
                np.asarray((values + [np.nan] * size)[:size], dtype=np.float64),
            )
        indices = (
            self._item_index.get(item_id)
            for item_id, keep in zip(recent_item_ids, kept, strict=True)
            if keep
        )
        return np.asarray([index for index in indices if index is not None], dtype=np.int64)

    def full_history(
        self,
        user_id: str | None,
        recent_item_ids: Sequence[str] = (),
        recent_event_types: Sequence[str] | None = None,
        recent_event_values: Sequence[float | None] | None = None,
    ) -> np.ndarray:
        """Stored history followed by the recent items, as catalog indices (latest kept)."""
        history = np.concatenate(
            [
                self._history_indices(user_id),
                self._recent_indices(recent_item_ids, recent_event_types, recent_event_values),
            ]
        )
        return history[-self.history_limit :]

    def score_user(
        self,
        user_id: str | None,
        recent_item_ids: Sequence[str] = (),
        recent_event_types: Sequence[str] | None = None,
        recent_event_values: Sequence[float | None] | None = None,
        context: Mapping[str, str] | None = None,
    ) -> np.ndarray:
        """One raw score per catalog item for this user (higher is better).

        The stored history is extended by ``recent_item_ids`` (events since
        training, oldest first), so a new event changes the next answer. A user
        with no history at all gets popularity-like scores. ``context`` (the
        request's contextual metadata, field name to value) moves a sequence
        model trained with context fields; other kinds ignore it.
        """
        if self.kind == "popularity":
            return self._fallback.copy()
        if self.kind == "trending":
            return self._trending.copy()
        history = self.full_history(
            user_id, recent_item_ids, recent_event_types, recent_event_values
        )
        if self.kind == "neighbours":
            return self._score_from_neighbours(history)
        # an empty history scores from the encoder's start state: popularity as it learned it
        return np.asarray(
            self._encoder.score(history, self._user_row(user_id), context), np.float64
        )

    def score_related(self, item_id: str) -> np.ndarray:
        """One raw score per catalog item for items related to ``item_id``.

        The item itself scores ``-inf`` (never its own neighbour); an unknown item
        gets popularity-like scores, never an error.
        """
        index = self._item_index.get(item_id)
        if index is None:
            return self._fallback.copy()
        if self.kind == "neighbours":
            scores = self._score_from_neighbours(np.asarray([index], dtype=np.int64))
        elif self.kind == "sequence":
            scores = np.asarray(
                self._encoder.score(np.asarray([index], dtype=np.int64), None), dtype=np.float64
            )
        elif self.kind == "trending":
            scores = self._trending.copy()
        else:
            scores = self._fallback.copy()
        scores[index] = -np.inf
        return scores

    def _user_row(self, user_id: str | None) -> int | None:
        """The user's row in the encoder's user features (rows follow users.json).

        Users added after training (trainingMode=UPDATE) lie past the encoder's
        rows, which it reads as "no metadata".
        """
        if user_id is None or not self.manifest.get("user_features"):
            return None
        return self._user_index.get(user_id)

    def _score_from_neighbours(self, history: np.ndarray) -> np.ndarray:
        """Sum of the neighbour lists of the latest items, newer items weighing more.

        Items no list reaches fall back to popularity, scaled below every neighbour.
        """
        fallback = self._fallback
        top = fallback.max() if fallback.size else 0.0
        scores = _FALLBACK_OFFSET + (fallback / top if top > 0 else fallback)
        recent = history[-NEIGHBOUR_HISTORY:][::-1]
        if recent.size == 0:
            return scores
        weights = NEIGHBOUR_RECENCY_DECAY ** np.arange(recent.size, dtype=np.float64)
        rows = self._neighbour_items[recent]
        values = self._neighbour_scores[recent] * weights[:, None]
        valid = rows >= 0
        total = np.zeros(self.n_items, dtype=np.float64)
        np.add.at(total, rows[valid], values[valid])
        reached = np.zeros(self.n_items, dtype=bool)
        reached[rows[valid]] = True
        scores[reached] = total[reached]
        return scores


def _event_rule(manifest: Mapping[str, Any]) -> EventRule:
    """The manifest's event rule; a model saved before rules were stored (or by the
    metrics' evaluation, which stores only the type) keeps its ``event_type``."""
    rule = EventRule.from_manifest(manifest.get("event_rule"))
    legacy = manifest.get("event_type") or None
    if legacy and not rule.event_type:
        rule = replace(rule, event_type=legacy)
    return rule


def _no_thresholds(rule: EventRule) -> EventRule:
    """``rule`` without its value thresholds: for events whose values the caller lacks."""
    return replace(
        rule,
        value_threshold=None,
        parameters=tuple(replace(p, value_threshold=None) for p in rule.parameters),
    )


def _trend_recent(model_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The latest two windows' interactions, or None for a model saved before they were kept."""
    paths = [model_dir / f"{name}.npy" for name in (TREND_ITEMS, TREND_TIMES, TREND_WEIGHTS)]
    if not all(path.exists() for path in paths):
        return None
    items, times, weights = (_load(path) for path in paths)
    return items.astype(np.int64), times.astype(np.int64), weights.astype(np.float64)


def load_recommender(model_dir: Path) -> Recommender:
    """Read a model directory written by the personalization container."""
    model_dir = Path(model_dir)
    manifest = _read_json(model_dir / MANIFEST_FILE)
    version = manifest.get("format_version", FORMAT_VERSION)
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{MANIFEST_FILE} has format version {version}; this reader knows up to "
            f"{FORMAT_VERSION}"
        )
    return Recommender(model_dir, manifest)


def write_recommender(
    model_dir: Path,
    manifest: Mapping[str, Any],
    *,
    item_ids: Sequence[str],
    user_ids: Sequence[str],
    popularity: np.ndarray,
    histories: Sequence[np.ndarray],
    arrays: Mapping[str, np.ndarray] | None = None,
    item_creation_seconds: np.ndarray | None = None,
) -> None:
    """Write the files every kind shares plus the recipe's ``arrays`` (name -> array).

    ``histories`` holds one array of catalog indices per user (oldest first); only
    the latest ``history_limit`` of each are kept. The encoder of a ``sequence``
    model is saved by the caller under ``encoder/``.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    document = {"format_version": FORMAT_VERSION, **manifest}
    document.setdefault("history_limit", DEFAULT_HISTORY_LIMIT)
    if document.get("kind") not in KINDS:
        raise ValueError(f"manifest kind must be one of {KINDS}, not {document.get('kind')!r}")
    document["n_items"] = len(item_ids)
    document["n_users"] = len(user_ids)
    if len(histories) != len(user_ids):
        raise ValueError("one history per user is needed")
    limit = int(document["history_limit"])
    kept = [np.asarray(h, dtype=np.int64)[-limit:] for h in histories]
    offsets = np.zeros(len(kept) + 1, dtype=np.int64)
    if kept:
        np.cumsum([h.size for h in kept], out=offsets[1:])
    flat = np.concatenate(kept).astype(np.int32) if kept else np.zeros(0, dtype=np.int32)
    _write_json(model_dir / ITEMS_FILE, list(item_ids))
    _write_json(model_dir / USERS_FILE, list(user_ids))
    np.save(model_dir / POPULARITY_FILE, np.asarray(popularity, dtype=np.float64))
    np.save(model_dir / HISTORY_OFFSETS_FILE, offsets)
    np.save(model_dir / HISTORY_ITEMS_FILE, flat)
    if item_creation_seconds is not None:
        np.save(model_dir / ITEM_CREATION_FILE, np.asarray(item_creation_seconds, np.float64))
    for name, array in (arrays or {}).items():
        np.save(model_dir / name, np.asarray(array))
    # the manifest last: a directory with a manifest is complete
    _write_json(model_dir / MANIFEST_FILE, document)


def _load(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
