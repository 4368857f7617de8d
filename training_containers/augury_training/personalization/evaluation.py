"""Amazon Personalize's offline evaluation: its train/test split and its metrics.

Every solution version's metrics.json, and the ml-100k benchmark's table for
Augury's recipes and the peers beside them, come from here, so every model is
scored on the same split with the same definitions.

The split (``amazon_split``), as the Personalize developer guide describes it
("Evaluating a solution version with metrics"):

* a seeded random 10% of the users are test users; the other 90% of users, with
  all their interactions, are the training set;
* each test user's interactions, sorted oldest first, are cut in two: the
  oldest 90% are the *input* the trained model is given, the newest 10% the
  *targets* its recommendations are compared with.

Where the guide is silent, these choices (stated so results can be
reproduced):

* Only users with at least 2 interactions can be test users (each needs at
  least one input and one target); users with one interaction always train.
  The number of test users is ``round(test_user_fraction * all users)``, at
  least 1 when anyone is eligible and never all of them when there are two or
  more users in all (someone must train).
* A test user with ``n`` interactions gets ``max(1, floor(n * (1 -
  holdout_fraction)))`` inputs, but never all ``n``: the rest, at least one,
  are the targets. 10 interactions give 9 inputs and 1 target, 25 give 22 and
  3, 2 give 1 and 1.
* Interactions with equal timestamps keep their order in the data.
* Users are drawn from the sorted list of user IDs, so the split depends on
  the seed and the data, not on the order of the rows.

The metrics (``solution_metrics``), by Amazon's names and definitions. A
recommendation is *relevant* when its item is one of the user's targets; one
*query* is one test user's top-25 list:

``coverage``
    distinct items recommended across all queries / distinct items in the
    catalog (the items of the Interactions and Items datasets).
``mean_reciprocal_rank_at_25``
    the mean over queries of ``1 / rank`` of the first relevant recommendation
    in the top 25 (0 when there is none).
``normalized_discounted_cumulative_gain_at_K``
    per query, ``DCG = Σ 1 / log(1 + rank)`` over the relevant recommendations
    in the top K (relevance 1 each, rank 1 at the top), divided by the ideal
    DCG, the same sum had the ``min(K, number of targets)`` targets filled the
    top ranks; then the mean over queries. The logarithm's base cancels.
``precision_at_K``
    per query, relevant recommendations in the top K / K (a list shorter than
    K still divides by K); then the mean over queries.

Amazon's guide works one example: relevant items at ranks 2 and 5 of a user's
list with two targets give reciprocal rank 0.5, NDCG@5 ``(1/log 3 + 1/log 6) /
(1/log 2 + 1/log 3) = 0.6241`` and precision@5 0.4 (a unit test checks it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from augury_training.personalize_contract import SOLUTION_METRICS

USER_ID = "USER_ID"
ITEM_ID = "ITEM_ID"
TIMESTAMP = "TIMESTAMP"

MAX_RANK = 25
"""Amazon scores the top 25 of each query (MRR@25, NDCG@25, precision@25)."""

CUTOFFS = (5, 10, 25)

MIN_TEST_INTERACTIONS = 2
"""A test user needs at least one input and one target."""

ScoreFunction = Callable[[str, list[str]], np.ndarray]
"""``score(user_id, input_item_ids) -> one raw score per catalog item, higher is better``."""


@dataclass
class EvaluationSplit:
    """Amazon's split of one Interactions table.

    ``train`` holds every interaction of the training users (all columns, in
    the input's row order); ``test_inputs`` / ``test_targets`` map each test
    user to item IDs, oldest first. ``test_input_rows`` holds the test users'
    input interactions with all their columns (oldest first per user), for
    models that use event types or values; ``test_target_rows`` their targets
    likewise, for the context a request for them would carry.
    """

    train: pd.DataFrame
    test_inputs: dict[str, list[str]]
    test_targets: dict[str, list[str]]
    test_input_rows: pd.DataFrame = field(repr=False)
    test_target_rows: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def test_users(self) -> list[str]:
        return list(self.test_inputs)


def amazon_split(
    interactions: pd.DataFrame,
    seed: int,
    test_user_fraction: float = 0.1,
    holdout_fraction: float = 0.1,
) -> EvaluationSplit:
    """Split interactions as Personalize does for its metrics (see the module docstring).

    ``interactions`` needs ``USER_ID``, ``ITEM_ID`` and ``TIMESTAMP`` columns;
    IDs are compared as strings.
    """
    if not 0.0 < test_user_fraction < 1.0:
        raise ValueError(f"test_user_fraction must be in (0, 1), got {test_user_fraction}")
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    missing = [name for name in (USER_ID, ITEM_ID, TIMESTAMP) if name not in interactions]
    if missing:
        raise ValueError(f"interactions lack column(s) {', '.join(missing)}")

    users = interactions[USER_ID].astype(str)
    counts = users.value_counts()
    all_users = sorted(counts.index)
    eligible = sorted(counts.index[counts >= MIN_TEST_INTERACTIONS])
    test_users = _draw_test_users(all_users, eligible, seed, test_user_fraction)

    is_test = users.isin(test_users).to_numpy()
    train = interactions.loc[~is_test]
    tested = interactions.loc[is_test].copy()
    tested[USER_ID] = users[is_test]
    tested[ITEM_ID] = tested[ITEM_ID].astype(str)
    tested["_row"] = np.arange(len(tested))
    tested = tested.sort_values([USER_ID, TIMESTAMP, "_row"], kind="stable")

    position = tested.groupby(USER_ID, sort=False).cumcount().to_numpy()
    size = tested.groupby(USER_ID, sort=False)[ITEM_ID].transform("size").to_numpy()
    n_inputs = np.array([_input_count(int(n), holdout_fraction) for n in size], dtype=np.int64)
    is_input = position < n_inputs

    inputs = tested.loc[is_input]
    targets = tested.loc[~is_input]
    test_inputs = _items_by_user(inputs)
    test_targets = _items_by_user(targets)
    order = sorted(test_inputs)
    return EvaluationSplit(
        train=train,
        test_inputs={user: test_inputs[user] for user in order},
        test_targets={user: test_targets[user] for user in order},
        test_input_rows=inputs.drop(columns="_row").reset_index(drop=True),
        test_target_rows=targets.drop(columns="_row").reset_index(drop=True),
    )


def solution_metrics(
    recommended: Mapping[str, Sequence[str]],
    targets: Mapping[str, Sequence[str]],
    catalog_size: int,
) -> dict[str, float]:
    """``SOLUTION_METRICS`` by name for each test user's ranked list (best first).

    Every user in ``targets`` is one query; a user missing from
    ``recommended`` counts as an empty list (zero on every ranking metric).
    Only the top 25 of each list count. No queries give zeros.
    """
    if catalog_size < 0:
        raise ValueError("catalog_size must not be negative")
    queries = [user for user in targets if len(targets[user]) > 0]
    totals = dict.fromkeys(SOLUTION_METRICS, 0.0)
    seen: set[str] = set()
    for user in queries:
        ranked = list(recommended.get(user, ()))[:MAX_RANK]
        seen.update(ranked)
        relevant = set(targets[user])
        hits = [item in relevant for item in ranked]
        first = next((rank for rank, hit in enumerate(hits, start=1) if hit), None)
        totals["mean_reciprocal_rank_at_25"] += 1.0 / first if first else 0.0
        for k in CUTOFFS:
            top = hits[:k]
            totals[f"precision_at_{k}"] += sum(top) / k
            totals[f"normalized_discounted_cumulative_gain_at_{k}"] += _ndcg(
                top, min(k, len(relevant))
            )
    metrics = {name: value / len(queries) if queries else 0.0 for name, value in totals.items()}
    metrics["coverage"] = len(seen) / catalog_size if catalog_size else 0.0
    return {name: float(metrics[name]) for name in SOLUTION_METRICS}


def top_items_for_test_users(
    split: EvaluationSplit,
    item_ids: Sequence[str],
    score: ScoreFunction,
    k: int = MAX_RANK,
    exclude_inputs: bool = True,
) -> dict[str, list[str]]:
    """Each test user's top ``k`` catalog items under ``score``, best first.

    ``score(user_id, inputs)`` gets the user's input item IDs (oldest first)
    and returns one raw score per item of ``item_ids``. Items in the user's
    inputs are left out when ``exclude_inputs`` (the user has already seen
    them; Amazon's targets are the newest interactions). Non-finite scores are
    never recommended. Ties go to the earlier catalog item, so lists are
    reproducible.
    """
    index = {item: position for position, item in enumerate(item_ids)}
    lists: dict[str, list[str]] = {}
    for user, inputs in split.test_inputs.items():
        scores = np.array(score(user, list(inputs)), dtype=np.float64, copy=True)
        if scores.shape != (len(item_ids),):
            raise ValueError(
                f"score returned shape {scores.shape} for user {user!r}; "
                f"expected ({len(item_ids)},), one per catalog item"
            )
        if exclude_inputs:
            seen = [index[item] for item in inputs if item in index]
            scores[seen] = -np.inf
        lists[user] = [item_ids[i] for i in best_indices(scores, k)]
    return lists


def evaluate_scores(
    split: EvaluationSplit,
    item_ids: Sequence[str],
    score: ScoreFunction,
    catalog_size: int | None = None,
) -> dict[str, float]:
    """``solution_metrics`` of ``score``'s top-25 lists for the split's test users.

    ``catalog_size`` defaults to ``len(item_ids)``; pass the count of distinct
    items in the Interactions and Items data when the scored catalog differs.
    """
    recommended = top_items_for_test_users(split, item_ids, score)
    size = len(item_ids) if catalog_size is None else catalog_size
    return solution_metrics(recommended, split.test_targets, size)


def catalog_size(interactions: pd.DataFrame, items: pd.DataFrame | None = None) -> int:
    """Distinct item IDs across the Interactions and Items data (coverage's denominator)."""
    ids = set(interactions[ITEM_ID].astype(str))
    if items is not None and ITEM_ID in items:
        ids.update(items[ITEM_ID].astype(str))
    return len(ids)


def best_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest finite scores, best first, ties to the lower index."""
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size == 0 or k <= 0:
        return np.empty(0, dtype=np.int64)
    values = scores[finite]
    if finite.size > k:
        # Everything scoring at least the k-th best, then an exact stable sort of those.
        threshold = np.partition(values, finite.size - k)[finite.size - k]
        keep = values >= threshold
        finite, values = finite[keep], values[keep]
    order = np.lexsort((finite, -values))
    return finite[order[:k]]


def _draw_test_users(
    all_users: list[str], eligible: list[str], seed: int, fraction: float
) -> list[str]:
    if not eligible:
        return []
    wanted = max(1, round(fraction * len(all_users)))
    if len(all_users) > 1:
        wanted = min(wanted, len(all_users) - 1)
    wanted = min(wanted, len(eligible))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(eligible), size=wanted, replace=False)
    return sorted(eligible[i] for i in chosen)


def _input_count(n: int, holdout_fraction: float) -> int:
    inputs = math.floor(n * (1.0 - holdout_fraction) + 1e-9)
    return min(max(1, inputs), n - 1)


def _items_by_user(rows: pd.DataFrame) -> dict[str, list[str]]:
    return {str(user): list(group) for user, group in rows.groupby(USER_ID, sort=False)[ITEM_ID]}


def _ndcg(hits: Sequence[bool], ideal_hits: int) -> float:
    if ideal_hits <= 0:
        return 0.0
    dcg = sum(1.0 / math.log(1 + rank) for rank, hit in enumerate(hits, start=1) if hit)
    ideal = sum(1.0 / math.log(1 + rank) for rank in range(1, ideal_hits + 1))
    return dcg / ideal
