"""The recommenders Augury's Personalize recipes are measured against, on one split.

Each peer is a factory: trained on an ``EvaluationSplit``'s training users with
its hyperparameters, it returns a score function asked, for each test user, with
the user's inputs (their oldest interactions), as a recipe is asked at serving
time. Their hyperparameters are tuned on a validation split of the training
users (:func:`tune`), never on the test users. ``benchmark_ml100k`` says which
peer each recipe is compared with and why.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training_containers"))

from augury_training.personalization.evaluation import (  # noqa: E402
    EvaluationSplit,
    amazon_split,
    evaluate_scores,
)

TUNING_METRIC = "normalized_discounted_cumulative_gain_at_10"
"""What a peer's hyperparameters are chosen by, on the validation split."""


# ----------------------------------------------------------------------- data


def user_item_matrix(
    frame: pd.DataFrame, users: Sequence[str], item_index: Mapping[str, int]
) -> sp.csr_matrix:
    """Binary ``users x items`` matrix (rows in ``users`` order) of the interactions."""
    row_of = {user: row for row, user in enumerate(users)}
    rows = frame["USER_ID"].map(row_of).to_numpy()
    cols = frame["ITEM_ID"].map(item_index).to_numpy()
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(users), len(item_index)),
    )
    matrix.data[:] = 1.0  # repeated interactions count once
    return matrix


def input_vector(inputs: Sequence[str], item_index: Mapping[str, int]) -> np.ndarray:
    vector = np.zeros(len(item_index), dtype=np.float64)
    vector[[item_index[item] for item in inputs if item in item_index]] = 1.0
    return vector


# ---------------------------------------------------------------------- peers

ScoreFn = Callable[[str, list[str]], np.ndarray]
Factory = Callable[[EvaluationSplit, list[str], dict[str, Any]], ScoreFn]
"""Train on ``split.train`` with parameters; return a score function for test users."""


def most_popular(split: EvaluationSplit, catalog: list[str], params: dict[str, Any]) -> ScoreFn:
    counts = split.train["ITEM_ID"].value_counts()
    scores = np.array([counts.get(item, 0) for item in catalog], dtype=np.float64)
    return lambda user, inputs: scores


def item_knn(split: EvaluationSplit, catalog: list[str], params: dict[str, Any]) -> ScoreFn:
    index = {item: i for i, item in enumerate(catalog)}
    similarity = cosine_neighbours(split, index, params.get("k"))
    return lambda user, inputs: input_vector(inputs, index) @ similarity


def item_knn_last(split: EvaluationSplit, catalog: list[str], params: dict[str, Any]) -> ScoreFn:
    """item-kNN asked about the user's last input only, as a related-items recipe is."""
    index = {item: i for i, item in enumerate(catalog)}
    similarity = cosine_neighbours(split, index, params.get("k"))
    return lambda user, inputs: input_vector(inputs[-1:], index) @ similarity


def cosine_neighbours(
    split: EvaluationSplit, index: Mapping[str, int], k: int | None
) -> np.ndarray:
    """Item-item cosine similarity of the training users' binary matrix, top ``k`` per row."""
    users = sorted(set(split.train["USER_ID"]))
    matrix = user_item_matrix(split.train, users, index)
    co = (matrix.T @ matrix).toarray().astype(np.float64)
    norms = np.sqrt(np.diag(co))
    norms[norms == 0] = 1.0
    similarity = co / norms[:, None] / norms[None, :]
    np.fill_diagonal(similarity, 0.0)
    if k is not None and k < similarity.shape[1]:
        # keep each item's k most similar items
        cut = np.partition(similarity, -k, axis=1)[:, -k][:, None]
        similarity = np.where(similarity >= cut, similarity, 0.0)
    return similarity


def ease(split: EvaluationSplit, catalog: list[str], params: dict[str, Any]) -> ScoreFn:
    index = {item: i for i, item in enumerate(catalog)}
    users = sorted(set(split.train["USER_ID"]))
    matrix = user_item_matrix(split.train, users, index)
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += params["lambda"]
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(weights, 0.0)
    return lambda user, inputs: input_vector(inputs, index) @ weights


def implicit_als(split: EvaluationSplit, catalog: list[str], params: dict[str, Any]) -> ScoreFn:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    index = {item: i for i, item in enumerate(catalog)}
    users = sorted(set(split.train["USER_ID"]))
    matrix = user_item_matrix(split.train, users, index)
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=params["factors"],
            regularization=params["regularization"],
            alpha=params["alpha"],
            iterations=params.get("iterations", 15),
            random_state=params["seed"],
        )
        model.fit(matrix, show_progress=False)
    items = np.asarray(model.item_factors)

    def score(user: str, inputs: list[str]) -> np.ndarray:
        row = sp.csr_matrix(input_vector(inputs, index)[None, :].astype(np.float32))
        with threadpool_limits(limits=1, user_api="blas"):
            factors = np.asarray(model.recalculate_user(0, row)).ravel()
        return items @ factors

    return score


def implicit_bpr(split: EvaluationSplit, catalog: list[str], params: dict[str, Any]) -> ScoreFn:
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_limits

    index = {item: i for i, item in enumerate(catalog)}
    # BPR has no fold-in for new users: their inputs join the training matrix.
    inputs = split.test_input_rows[["USER_ID", "ITEM_ID"]]
    frame = pd.concat([split.train[["USER_ID", "ITEM_ID"]], inputs], ignore_index=True)
    users = sorted(set(frame["USER_ID"]))
    row_of = {user: row for row, user in enumerate(users)}
    matrix = user_item_matrix(frame, users, index)
    model = BayesianPersonalizedRanking(
        factors=params["factors"],
        learning_rate=params["learning_rate"],
        regularization=params["regularization"],
        iterations=params.get("iterations", 100),
        random_state=params["seed"],
    )
    with threadpool_limits(limits=1, user_api="blas"):
        model.fit(matrix, show_progress=False)
    user_factors = np.asarray(model.user_factors)
    item_factors = np.asarray(model.item_factors)
    return lambda user, seen: item_factors @ user_factors[row_of[user]]


PEER_FACTORIES: dict[str, Factory] = {
    "most-popular": most_popular,
    "item-knn": item_knn,
    "item-knn-last": item_knn_last,
    "implicit-als": implicit_als,
    "implicit-bpr": implicit_bpr,
    "ease": ease,
}

PEER_GRIDS: dict[str, list[dict[str, Any]]] = {
    "most-popular": [{}],
    "item-knn": [{"k": k} for k in (20, 50, 100, 200, None)],
    "item-knn-last": [{"k": k} for k in (20, 50, 100, 200, None)],
    "implicit-als": [
        {"factors": f, "regularization": r, "alpha": a}
        for f in (32, 64, 128)
        for r in (0.01, 0.1)
        for a in (1.0, 10.0)
    ],
    "implicit-bpr": [
        {"factors": f, "learning_rate": lr, "regularization": 0.01}
        for f in (32, 64, 128)
        for lr in (0.01, 0.05)
    ],
    "ease": [{"lambda": value} for value in (10, 50, 100, 200, 500, 1000, 2000)],
}
"""Each peer's candidate hyperparameters, tried on the validation split."""


def tune(
    name: str, split: EvaluationSplit, catalog: list[str], seed: int
) -> tuple[dict[str, Any], float]:
    """The grid point with the best validation NDCG@10, and the tuning time in seconds."""
    grid = PEER_GRIDS[name]
    if len(grid) == 1:
        return {**grid[0], "seed": seed}, 0.0
    started = time.perf_counter()
    validation = amazon_split(split.train, seed + 1)
    best, best_value = grid[0], -1.0
    for point in grid:
        params = {**point, "seed": seed}
        score = PEER_FACTORIES[name](validation, catalog, params)
        value = evaluate_scores(validation, catalog, score)[TUNING_METRIC]
        if value > best_value:
            best, best_value = point, value
    return {**best, "seed": seed}, time.perf_counter() - started
