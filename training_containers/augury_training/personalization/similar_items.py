"""aws-similar-items: SIMS's behaviour cosine blended with item metadata, the blend chosen
on the data.

How much metadata counts depends on how much an item was used:
``w + (1 - w) * s / (s + n(i))`` (``item_metadata_weight`` w, shrinkage s), so
an item with no interactions (cold) has neighbours by metadata alone, and a
well-used one mostly by behaviour. Pairs seen together fewer than
``min_cointeraction_count`` times count no behaviour.

**Why the blend is chosen per dataset.** The old fixed defaults (w = 0.02,
s = 5, at least one co-interaction) were tuned on MovieLens 100K with every
rating an interaction, and there they lead item-kNN on the last item. On the
same films' liked ratings only (ratings of 4 and 5) they trailed it (NDCG@10
0.0953 against 0.1057 on seed 42), while w = 0.02 with no shrinkage scored
0.1028 and no metadata at all 0.1011. So unless the solution sets one of the
three, training holds out each sampled user's latest item, asks every blend
of :data:`BLEND_GRID` for the neighbours of the item before it (what a
related-items request sends), scores the held-out item's NDCG@10 among them
(the user's other items left out, as serving's filters would), keeps the best,
and fits it on all the data. Every blend in the grid gives metadata some
weight, so cold items always get neighbours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from augury_training.personalization.catalog import TrainingSet
from augury_training.personalization.cooccurrence import (
    neighbour_artifacts,
    neighbour_count,
    neighbour_lists,
    user_matrix,
)
from augury_training.personalization.features import unit_rows
from augury_training.personalization.recipes import (
    Artifacts,
    RecipeContext,
    float_param,
    int_param,
)

__all__ = ["BLEND_GRID", "Blend", "choose_blend", "fit_similar_items", "similar_item_lists"]


@dataclass(frozen=True)
class Blend:
    """How behaviour and metadata mix (see the module docstring)."""

    weight: float
    shrinkage: float
    min_count: int


DEFAULT_BLEND = Blend(weight=0.02, shrinkage=5.0, min_count=1)
BLEND_GRID = tuple(
    Blend(weight, shrinkage, min_count)
    for min_count in (1, 3)
    for shrinkage in (5.0, 0.0)
    for weight in (0.02, 0.005, 0.05)
)
"""The blends validated, the default first: it is kept on ties."""
BLEND_PARAMETERS = ("item_metadata_weight", "item_metadata_shrinkage", "min_cointeraction_count")
VALIDATION_USERS = 2000
CUTOFF = 10


def fit_similar_items(
    data: TrainingSet, hyperparameters: Mapping[str, str], context: RecipeContext
) -> Artifacts:
    k = neighbour_count(hyperparameters, data.n_items)
    features = None
    if data.item_features is not None and data.item_features.shape[1]:
        features = unit_rows(data.item_features.astype(np.float32))
    if any(name in hyperparameters for name in BLEND_PARAMETERS):
        blend = Blend(
            weight=float_param(hyperparameters, BLEND_PARAMETERS[0], DEFAULT_BLEND.weight, 0, 1),
            shrinkage=float_param(
                hyperparameters, BLEND_PARAMETERS[1], DEFAULT_BLEND.shrinkage, 0.0, 1e9
            ),
            min_count=int_param(
                hyperparameters, BLEND_PARAMETERS[2], DEFAULT_BLEND.min_count, 0, 1_000_000
            ),
        )
    else:
        blend = choose_blend(data, features, k, context)
    neighbours, scores = similar_item_lists(user_matrix(data, context), features, blend, k)
    described = f"with {features.shape[1]} features" if features is not None else "absent"
    context.log(
        f"similar-items: {data.n_items} items, metadata {described}, blend {blend}, "
        f"{int((neighbours >= 0).sum())} neighbour links"
    )
    return neighbour_artifacts(
        neighbours,
        scores,
        max_neighbours=k,
        item_metadata_weight=blend.weight,
        item_metadata_shrinkage=blend.shrinkage,
        min_cointeraction_count=blend.min_count,
    )


def similar_item_lists(
    matrix, features: np.ndarray | None, blend: Blend, k: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours and scores under ``blend`` (of ``rows`` only, when given)."""
    share = np.zeros(matrix.shape[1])
    if features is not None:
        used = np.diff(matrix.tocsc().indptr).astype(np.float64)
        total = blend.shrinkage + used
        # an item nobody used, with no shrinkage, can only be placed by its metadata
        fraction = np.divide(blend.shrinkage, total, out=np.ones_like(used), where=total > 0)
        share = blend.weight + (1.0 - blend.weight) * fraction
    return neighbour_lists(
        matrix, 0.5, blend.min_count, k, features=features, metadata_share=share, rows=rows
    )


def choose_blend(
    data: TrainingSet, features: np.ndarray | None, k: int, context: RecipeContext
) -> Blend:
    """The blend of :data:`BLEND_GRID` whose neighbours rank held-out latest items best.

    Without metadata only the co-interaction threshold matters, so only those
    blends that differ in it are tried. Too few users to hold out from (under
    10 with three items) keeps the default.
    """
    histories = data.histories
    eligible = [u for u, h in enumerate(histories) if len(h) >= 3 and h[-1] not in h[:-1]]
    if len(eligible) < 10:
        context.log("similar-items: too few users to choose the blend on; keeping the default")
        return DEFAULT_BLEND
    rng = np.random.default_rng(context.seed)
    users = np.sort(rng.choice(eligible, size=min(VALIDATION_USERS, len(eligible)), replace=False))
    training = _without_latest(data, users)
    matrix = user_matrix(training, context)
    queries = np.array([histories[u][-2] for u in users])
    targets = np.array([histories[u][-1] for u in users])
    rows, inverse = np.unique(queries, return_inverse=True)
    grid = BLEND_GRID
    if features is None:  # the metadata settings change nothing: only the threshold
        grid = tuple(b for b in BLEND_GRID if b.weight == DEFAULT_BLEND.weight and b.shrinkage)
    seen = [histories[u][:-1] for u in users]
    scored: dict[Blend, float] = {}
    for blend in grid:
        neighbours, _ = similar_item_lists(matrix, features, blend, k, rows=rows)
        scored[blend] = _ndcg(neighbours[inverse], targets, seen)
    best = max(grid, key=lambda b: (scored[b], -grid.index(b)))
    context.log(
        f"similar-items: validation NDCG@{CUTOFF} on {users.size} users' latest items: "
        + ", ".join(
            f"w={b.weight} s={b.shrinkage} min={b.min_count}: {v:.4f}" for b, v in scored.items()
        )
        + f"; keeping {best}"
    )
    return best


def _without_latest(data: TrainingSet, users: np.ndarray) -> TrainingSet:
    """``data`` without the latest interaction of each of ``users``."""
    latest = np.full(data.n_users, -1, dtype=np.int64)
    np.maximum.at(latest, data.users, np.arange(data.users.size))
    keep = np.ones(data.users.size, dtype=bool)
    keep[latest[users]] = False
    return replace(
        data,
        users=data.users[keep],
        items=data.items[keep],
        timestamps=data.timestamps[keep],
        weights=data.weights[keep],
        event_types=None if data.event_types is None else data.event_types[keep],
    )


def _ndcg(neighbours: np.ndarray, targets: np.ndarray, seen: list[np.ndarray]) -> float:
    """Mean NDCG@:data:`CUTOFF` of each target in its neighbour list, seen items left out."""
    gains = np.zeros(targets.size)
    for i, (row, target) in enumerate(zip(neighbours, targets, strict=True)):
        ranked = row[(row >= 0) & ~np.isin(row, seen[i])]
        hit = np.flatnonzero(ranked[:CUTOFF] == target)
        if hit.size:
            gains[i] = 1.0 / np.log2(hit[0] + 2.0)
    return float(gains.mean())
