"""The catalog and the interactions as integer arrays: what every recipe trains on.

The item catalog is every item of the interactions and of the Items data (so
items nobody has touched yet can still be recommended by recipes that use
metadata); users are those of the interactions and of the Users data. A
previous model's order can be given first (``trainingMode=UPDATE``), so item
indices the model learned keep their meaning and new items are appended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse

from augury_training.personalization.context_features import ContextSpace, context_fields
from augury_training.personalization.data import (
    CREATION_TIMESTAMP,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    USER_ID,
    WEIGHT,
)
from augury_training.personalization.features import FeatureSpace, build_features

SECONDS_PER_DAY = 86_400.0


@dataclass
class TrainingSet:
    """Interactions as catalog indices, oldest first, with the metadata features."""

    item_ids: list[str]
    user_ids: list[str]
    users: np.ndarray  # int64, one per interaction
    items: np.ndarray  # int64, one per interaction
    timestamps: np.ndarray  # int64 seconds
    weights: np.ndarray  # float32
    event_types: np.ndarray | None
    item_creation: np.ndarray  # float64 seconds, NaN unknown
    unchosen_impressions: np.ndarray | None = None
    """Per item, how often it was shown (IMPRESSION) beside an interaction with another
    item; None when the data has no impressions."""
    item_features: np.ndarray | None = None
    user_features: np.ndarray | None = None
    item_space: FeatureSpace | None = None
    user_space: FeatureSpace | None = None
    contexts: np.ndarray | None = None  # int64 codes, interactions x context fields
    context_space: ContextSpace | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def latest_timestamp(self) -> int:
        return int(self.timestamps.max()) if self.timestamps.size else 0

    @cached_property
    def histories(self) -> list[np.ndarray]:
        """Each user's items, oldest first (empty for users with no interactions)."""
        return self._split_by_user(self.items)

    @cached_property
    def history_weights(self) -> list[np.ndarray]:
        return self._split_by_user(self.weights)

    @cached_property
    def history_contexts(self) -> list[np.ndarray] | None:
        """Each user's interactions' context codes, oldest first (None: no context fields)."""
        return None if self.contexts is None else self._split_by_user(self.contexts)

    def _split_by_user(self, values: np.ndarray) -> list[np.ndarray]:
        order = np.argsort(self.users, kind="stable")
        counts = np.bincount(self.users, minlength=self.n_users)
        return np.split(values[order], np.cumsum(counts)[:-1])

    @cached_property
    def popularity(self) -> np.ndarray:
        """Per item, the users who interacted with it, each counted once, at the largest
        weight of their interactions with it (eventsConfig). Amazon's Popularity-Count ranks
        "the items with the most interactions data from unique users": one user's repeated
        clicks on an item count once."""
        return np.asarray(self.user_item_matrix().sum(axis=0), dtype=np.float64).ravel()

    def user_item_matrix(self) -> sparse.csr_matrix:
        """Users x items, each cell the largest weight of that user's interactions with it."""
        key = self.users * np.int64(self.n_items) + self.items
        order = np.lexsort((-self.weights, key))  # per cell, the largest weight first
        key, weights = key[order], self.weights[order]
        first = np.ones(key.size, dtype=bool)
        first[1:] = key[1:] != key[:-1]
        key, weights = key[first], weights[first]
        return sparse.csr_matrix(
            (weights.astype(np.float32), (key // self.n_items, key % self.n_items)),
            shape=(self.n_users, self.n_items),
        )

    def item_age_days(self) -> np.ndarray:
        """Each item's age at the latest interaction, in days (NaN unknown)."""
        return (self.latest_timestamp - self.item_creation) / SECONDS_PER_DAY


def _ordered(first: Sequence[str], *sources: Sequence[str]) -> list[str]:
    """``first`` in its order, then every other ID of ``sources`` sorted."""
    known = set(first)
    extra: set[str] = set()
    for source in sources:
        extra.update(source)
    return list(first) + sorted(extra - known)


def build_training_set(
    interactions: pd.DataFrame,
    users: pd.DataFrame | None,
    items: pd.DataFrame | None,
    *,
    item_order: Sequence[str] = (),
    user_order: Sequence[str] = (),
    item_space: FeatureSpace | None = None,
    user_space: FeatureSpace | None = None,
    with_features: bool = True,
    field_kinds: Mapping[str, Mapping[str, str]] | None = None,
    unchosen_impressions: pd.Series | None = None,
) -> TrainingSet:
    """Index the interactions against the catalog and build metadata features.

    ``item_space`` / ``user_space`` reuse a previous model's feature encodings;
    ``field_kinds`` (``"ITEMS"`` / ``"USERS"`` / ``"INTERACTIONS"`` → column →
    kind) is what the schemas declare, so new encodings follow the schema rather
    than a guess, and the Interactions fields it marks as context are coded.
    ``unchosen_impressions`` (item ID → count, ``data.load_unchosen_impressions``)
    is laid onto the catalog; items it does not name count 0.
    """
    kinds = field_kinds or {}
    item_sources = [interactions[ITEM_ID].unique()]
    if items is not None:
        item_sources.append(items[ITEM_ID].unique())
    user_sources = [interactions[USER_ID].unique()]
    if users is not None:
        user_sources.append(users[USER_ID].unique())
    item_ids = _ordered(item_order, *item_sources)
    user_ids = _ordered(user_order, *user_sources)
    item_codes = pd.Index(item_ids).get_indexer(interactions[ITEM_ID]).astype(np.int64)
    user_codes = pd.Index(user_ids).get_indexer(interactions[USER_ID]).astype(np.int64)
    timestamps = interactions[TIMESTAMP].to_numpy(np.int64)
    weights = (
        interactions[WEIGHT].to_numpy(np.float32)
        if WEIGHT in interactions
        else np.ones(len(interactions), np.float32)
    )
    event_types = (
        interactions[EVENT_TYPE].fillna("").astype(str).to_numpy(object)
        if EVENT_TYPE in interactions
        else None
    )
    data = TrainingSet(
        item_ids=item_ids,
        user_ids=user_ids,
        users=user_codes,
        items=item_codes,
        timestamps=timestamps,
        weights=weights,
        event_types=event_types,
        item_creation=_creation_times(item_ids, item_codes, timestamps, items),
        unchosen_impressions=None
        if unchosen_impressions is None
        else unchosen_impressions.reindex(item_ids, fill_value=0.0).to_numpy(np.float64),
    )
    if with_features:
        data.item_features, data.item_space = _features(
            items, item_ids, ITEM_ID, item_space, kinds.get("ITEMS")
        )
        data.user_features, data.user_space = _features(
            users, user_ids, USER_ID, user_space, kinds.get("USERS")
        )
        data.context_space = ContextSpace.fit(interactions, context_fields(kinds))
        if data.context_space is not None:
            data.contexts = data.context_space.codes(interactions)
    return data


def _features(
    table: pd.DataFrame | None,
    ids: list[str],
    id_column: str,
    space: FeatureSpace | None,
    kinds: Mapping[str, str] | None,
) -> tuple[np.ndarray | None, FeatureSpace | None]:
    if space is not None:
        if not space.fields:
            return None, space
        return space.transform(table, ids, id_column), space
    return build_features(table, ids, id_column, kinds)


def _creation_times(
    item_ids: list[str],
    item_codes: np.ndarray,
    timestamps: np.ndarray,
    items: pd.DataFrame | None,
) -> np.ndarray:
    """CREATION_TIMESTAMP from the Items data, else the item's first interaction, else NaN."""
    creation = np.full(len(item_ids), np.inf)
    np.minimum.at(creation, item_codes, timestamps.astype(np.float64))
    creation[np.isinf(creation)] = np.nan
    if items is not None and CREATION_TIMESTAMP in items:
        stamps = pd.to_numeric(items[CREATION_TIMESTAMP], errors="coerce").to_numpy(float)
        codes = pd.Index(item_ids).get_indexer(items[ITEM_ID])
        known = (codes >= 0) & np.isfinite(stamps)
        creation[codes[known]] = stamps[known]
    return creation
