"""The recommender files serving loads: writing, reading back, and how each kind scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augury_training.event_rule import EventParameter, EventRule
from augury_training.recommender_artifacts import (
    MANIFEST_FILE,
    load_recommender,
    softmax,
    top_k,
    write_recommender,
)

ITEMS = ["a", "b", "c", "d"]


def _neighbours(tmp_path: Path, **manifest: object) -> Path:
    # a <-> b strongly, b -> c weakly; d has no neighbours and is the most popular
    write_recommender(
        tmp_path,
        {"recipe": "aws-sims", "recipe_type": "RELATED_ITEMS", "kind": "neighbours", **manifest},
        item_ids=ITEMS,
        user_ids=["u1", "u2"],
        popularity=np.array([2.0, 1.0, 1.0, 9.0]),
        histories=[np.array([0]), np.array([], dtype=np.int64)],
        arrays={
            "neighbour_items.npy": np.array([[1, -1], [0, 2], [1, -1], [-1, -1]], np.int32),
            "neighbour_scores.npy": np.array([[0.9, 0], [0.9, 0.2], [0.2, 0], [0, 0]], np.float32),
        },
        item_creation_seconds=np.array([1.0, np.nan, 3.0, 4.0]),
    )
    return tmp_path


def test_softmax_is_a_distribution_and_minus_infinity_is_zero() -> None:
    probabilities = softmax(np.array([1.0, 2.0, -np.inf, 1000.0]))
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[2] == 0.0
    assert probabilities.argmax() == 3
    assert softmax(np.array([-np.inf])).tolist() == [0.0]


def test_top_k_orders_best_first_respects_keep_and_skips_minus_infinity() -> None:
    scores = np.array([0.5, 2.0, -np.inf, 2.0, 1.0])
    assert top_k(scores, 3).tolist() == [1, 3, 4]  # ties to the lower index
    keep = np.array([True, False, True, True, True])
    assert top_k(scores, 10, keep).tolist() == [3, 4, 0]
    assert top_k(scores, 0).tolist() == []


def test_round_trip_keeps_catalog_histories_and_creation(tmp_path: Path) -> None:
    model = load_recommender(_neighbours(tmp_path))
    assert model.item_ids == ITEMS
    assert model.recipe == "aws-sims" and model.recipe_type == "RELATED_ITEMS"
    assert model.item_index("c") == 2 and model.item_index("zz") is None
    assert model.knows_user("u1") and not model.knows_user("nobody")
    assert model.user_history("u1") == ["a"]
    assert model.user_history("u2") == []
    assert np.isnan(model.item_creation_seconds[1]) and model.item_creation_seconds[3] == 4.0
    assert model.popularity().tolist() == [2.0, 1.0, 1.0, 9.0]


def test_related_items_rank_neighbours_then_popularity_and_never_the_item(
    tmp_path: Path,
) -> None:
    model = load_recommender(_neighbours(tmp_path))
    scores = model.score_related("b")
    assert scores[1] == -np.inf
    assert top_k(scores, 3).tolist() == [0, 2, 3]  # neighbours first, then the popular d
    unknown = model.score_related("not-in-catalog")
    assert np.all(np.isfinite(unknown)) and top_k(unknown, 1).tolist() == [3]


def test_recent_items_change_a_users_scores(tmp_path: Path) -> None:
    model = load_recommender(_neighbours(tmp_path))
    before = top_k(model.score_user("u2", []), 1)
    after = top_k(model.score_user("u2", ["c"]), 1)
    assert before.tolist() == [3]  # nothing known: popularity
    assert after.tolist() == [1]  # c's neighbour
    # unknown recent items are ignored rather than failing
    assert top_k(model.score_user(None, ["zz"]), 1).tolist() == [3]


@pytest.mark.parametrize(
    "manifest",
    [
        {  # eventsConfig: clicks only, and only those worth at least 0.5
            "event_rule": EventRule(
                parameters=(EventParameter("click", value_threshold=0.5),)
            ).to_manifest()
        },
        {"event_type": "click", "event_rule": EventRule(value_threshold=0.5).to_manifest()},
    ],
)
def test_recent_events_count_only_as_the_solutions_event_rule_allows(
    tmp_path: Path, manifest: dict
) -> None:
    """A solution trained on some events reads only those among the events since training:
    eventsConfig's types and thresholds as eventType's type, so a purchase it never learned
    from, or a click below the threshold, leaves the user's scores as they were."""
    model = load_recommender(_neighbours(tmp_path, **manifest))
    assert model.full_history("u2", ["c", "a"], ["purchase", "click"], [1.0, 0.2]).size == 0
    assert model.full_history("u2", ["c", "a"], ["click", "click"], [0.7, None]).tolist() == [2]
    assert top_k(model.score_user("u2", ["c"], ["purchase"], [1.0]), 1).tolist() == [3]
    assert top_k(model.score_user("u2", ["c"], ["click"], [1.0]), 1).tolist() == [1]
    # a caller without the events' values (the metrics' evaluation) is held to the types only
    assert model.full_history("u2", ["c", "a"], ["click", "purchase"]).tolist() == [2]


def test_popularity_and_trending_give_everyone_the_same_list(tmp_path: Path) -> None:
    write_recommender(
        tmp_path / "p",
        {"recipe": "aws-trending-now", "recipe_type": "USER_PERSONALIZATION", "kind": "trending"},
        item_ids=ITEMS,
        user_ids=["u1"],
        popularity=np.array([5.0, 1.0, 1.0, 1.0]),
        histories=[np.array([0, 1])],
        arrays={"trending.npy": np.array([0.0, 3.0, -1.0, 1.0])},
    )
    model = load_recommender(tmp_path / "p")
    assert top_k(model.score_user("u1", ["c"]), 4).tolist() == [1, 3, 0, 2]
    assert top_k(model.score_user(None, []), 1).tolist() == [1]
    # saved before models kept their recent interactions: later events cannot move it
    later = model.trending(np.array([2, 2]), np.array([10, 11]), np.ones(2))
    assert later.tolist() == [0.0, 3.0, -1.0, 1.0]


def test_histories_are_capped_to_the_latest(tmp_path: Path) -> None:
    write_recommender(
        tmp_path,
        {
            "recipe": "aws-popularity-count",
            "recipe_type": "USER_PERSONALIZATION",
            "kind": "popularity",
            "history_limit": 2,
        },
        item_ids=ITEMS,
        user_ids=["u1"],
        popularity=np.ones(4),
        histories=[np.array([0, 1, 2, 3])],
    )
    model = load_recommender(tmp_path)
    assert model.user_history("u1") == ["c", "d"]
    assert model.full_history("u1", ["a"]).tolist() == [3, 0]


def test_unknown_kind_and_newer_format_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        write_recommender(
            tmp_path,
            {"recipe": "x", "recipe_type": "y", "kind": "magic"},
            item_ids=[],
            user_ids=[],
            popularity=np.zeros(0),
            histories=[],
        )
    _neighbours(tmp_path)
    manifest = (
        (tmp_path / MANIFEST_FILE).read_text().replace('"format_version":1', '"format_version":99')
    )
    (tmp_path / MANIFEST_FILE).write_text(manifest)
    with pytest.raises(ValueError, match="format version"):
        load_recommender(tmp_path)


def test_no_model_file_is_a_pickle(tmp_path: Path) -> None:
    for path in _neighbours(tmp_path).glob("*.npy"):
        np.load(path, allow_pickle=False)  # raises on object arrays
