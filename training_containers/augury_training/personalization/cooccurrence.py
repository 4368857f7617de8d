"""aws-sims, and what aws-similar-items builds on: the nearest items of every item, from
who used what.

SIMS counts, for each pair of items, the users who interacted with both
(each user's cell carrying the eventsConfig weight of their strongest event
with the item), drops pairs seen together fewer than ``min_cointeraction_count``
times, and discounts popular items::

    sim(i, j) = C(i, j) / (n(i) ** d * n(j) ** d)        d = popularity_discount_factor

where ``n`` is an item's weighted user count: d = 0 ranks neighbours by raw
co-occurrence (popular items win), d = 0.5 is the cosine, d = 1 favours items
seen almost only with ``i``. Users with implausibly long or short histories
(Amazon's ``min/max_user_history_length_percentile``) are left out first.

Similar-Items (:mod:`.similar_items`) blends that cosine with the cosine of
the items' metadata features.

The work is done in blocks of item rows, so memory stays bounded by the block
size times the catalog, and only the best ``max_neighbours`` per item are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import sparse

from augury_training.personalization.catalog import TrainingSet
from augury_training.personalization.recipes import (
    Artifacts,
    RecipeContext,
    float_param,
    int_param,
)

DEFAULT_NEIGHBOURS = 100
BLOCK_CELLS = 4_000_000
"""Dense cells per block of item rows (32 MB of float64)."""
MAX_STORED_CELLS = 50_000_000
"""Cap on items x neighbours stored, so huge catalogs keep fewer neighbours."""


def fit_sims(
    data: TrainingSet, hyperparameters: Mapping[str, str], context: RecipeContext
) -> Artifacts:
    discount = float_param(hyperparameters, "popularity_discount_factor", 0.5, 0.0, 1.0)
    min_count = int_param(hyperparameters, "min_cointeraction_count", 3, 0, 1_000_000)
    k = neighbour_count(hyperparameters, data.n_items)
    matrix = user_matrix(data, context)
    neighbours, scores = neighbour_lists(matrix, discount, min_count, k)
    context.log(
        f"sims: {data.n_items} items, {int((neighbours >= 0).sum())} neighbour links "
        f"(discount {discount}, min co-interactions {min_count})"
    )
    return neighbour_artifacts(neighbours, scores, max_neighbours=k)


def neighbour_artifacts(neighbours: np.ndarray, scores: np.ndarray, **manifest: Any) -> Artifacts:
    """A related-items model as serving loads it: each item's neighbours and their scores,
    with ``manifest`` (at least ``max_neighbours``) recording how they were made."""
    return Artifacts(
        kind="neighbours",
        arrays={"neighbour_items": neighbours, "neighbour_scores": scores},
        manifest=manifest,
    )


def neighbour_lists(
    matrix: sparse.csr_matrix,
    discount: float,
    min_count: int,
    k: int,
    *,
    features: np.ndarray | None = None,
    metadata_share: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's best ``k`` neighbours (-1 pads) and their scores, best first; with
    ``rows``, only those items' (in that order), which is all a validation needs.

    ``matrix`` is users x items (weights). With ``features`` (unit rows), row i's
    score is ``(1 - share[i]) * behaviour + share[i] * max(metadata cosine, 0)``.
    """
    n_items = matrix.shape[1]
    wanted = np.arange(n_items) if rows is None else np.asarray(rows, dtype=np.int64)
    neighbours = np.full((wanted.size, k), -1, dtype=np.int32)
    scores = np.zeros((wanted.size, k), dtype=np.float32)
    if n_items == 0 or k == 0 or wanted.size == 0:
        return neighbours, scores
    binary = matrix.copy()
    binary.data = np.ones_like(binary.data)
    weighted_same = bool(np.all(matrix.data == 1.0))
    by_item = matrix.T.tocsr()
    binary_by_item = by_item if weighted_same else binary.T.tocsr()
    totals = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float64)
    discount_of = np.power(np.maximum(totals, 1e-12), discount)
    discount_of[totals == 0] = 1.0
    block = max(1, BLOCK_CELLS // n_items)
    for start in range(0, wanted.size, block):
        stop = min(wanted.size, start + block)
        items = wanted[start:stop]
        behaviour = (by_item[items] @ matrix).toarray().astype(np.float64)
        counts = (
            behaviour
            if weighted_same
            else (binary_by_item[items] @ binary).toarray().astype(np.float64)
        )
        behaviour[counts < max(min_count, 1)] = 0.0
        behaviour /= discount_of[items, None] * discount_of[None, :]
        if features is not None and metadata_share is not None:
            share = metadata_share[items, None]
            similarity = np.maximum(features[items] @ features.T, 0.0)
            combined = (1.0 - share) * behaviour + share * similarity
        else:
            combined = behaviour
        combined[np.arange(stop - start), items] = 0.0  # never your own neighbour
        _keep_best(combined, k, neighbours[start:stop], scores[start:stop])
    return neighbours, scores


def _keep_best(block: np.ndarray, k: int, out_items: np.ndarray, out_scores: np.ndarray) -> None:
    """Write each row's ``k`` best positive entries, best first (ties to the lower index)."""
    width = block.shape[1]
    take = min(k, width)
    if take < width:
        top = np.argpartition(-block, take - 1, axis=1)[:, :take]
    else:
        top = np.tile(np.arange(width), (block.shape[0], 1))
    values = np.take_along_axis(block, top, axis=1)
    order = np.lexsort((top, -values), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    positive = values > 0
    out_items[:, :take] = np.where(positive, top, -1)
    out_scores[:, :take] = np.where(positive, values, 0.0)


def neighbour_count(hyperparameters: Mapping[str, str], n_items: int) -> int:
    wanted = int_param(hyperparameters, "max_neighbours", DEFAULT_NEIGHBOURS, 1, 1000)
    cap = max(10, MAX_STORED_CELLS // max(n_items, 1))
    return max(0, min(wanted, cap, n_items - 1))


def user_matrix(data: TrainingSet, context: RecipeContext) -> sparse.csr_matrix:
    """Users x items, without users whose history length is an outlier."""
    matrix = data.user_item_matrix()
    lengths = np.bincount(data.users, minlength=data.n_users)
    active = lengths > 0
    if active.sum() < 2:
        return matrix
    low = float_param(
        context.feature_transformation, "min_user_history_length_percentile", 0.0, 0.0, 1.0
    )
    high = float_param(
        context.feature_transformation, "max_user_history_length_percentile", 0.995, 0.0, 1.0
    )
    if low > high:
        low, high = high, low
    floor, ceiling = np.quantile(lengths[active], [low, high])
    keep = active & (lengths >= floor) & (lengths <= ceiling)
    trimmed = (sparse.diags(keep.astype(np.float32)) @ matrix).tocsr()
    trimmed.eliminate_zeros()
    return trimmed
