"""The non-deep recipes, event filters and weights, features, minimum data and HPO search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augury_training.event_rule import EventParameter, EventRule
from augury_training.personalization import hpo, minimum_data
from augury_training.personalization.catalog import build_training_set
from augury_training.personalization.cooccurrence import fit_sims
from augury_training.personalization.data import (
    DataError,
    event_rule,
    normalise_interactions,
    select_events,
)
from augury_training.personalization.features import FeatureSpace
from augury_training.personalization.popularity import fit_popularity, fit_trending
from augury_training.personalization.recipes import ConfigError, RecipeContext, write_model
from augury_training.personalization.similar_items import fit_similar_items
from augury_training.personalize_contract import SolutionJobConfig
from augury_training.recommender_artifacts import load_recommender

CONTEXT = RecipeContext(log=lambda message: None)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    columns = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"][: len(rows[0])]
    return normalise_interactions(pd.DataFrame(rows, columns=columns))


def _pairs(n_users: int = 30, seed: int = 0) -> pd.DataFrame:
    """Items come in pairs (p0a, p0b), (p1a, p1b)...: whoever takes one takes its partner."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        for pair in rng.choice(10, size=3, replace=False):
            t = int(rng.integers(0, 10_000))
            rows += [(f"u{user}", f"p{pair}a", t), (f"u{user}", f"p{pair}b", t + 1)]
    return _frame(rows)


def test_sims_finds_the_partner_of_every_item() -> None:
    data = build_training_set(_pairs(), None, None)
    artifacts = fit_sims(data, {"min_cointeraction_count": "1"}, CONTEXT)
    neighbours = artifacts.arrays["neighbour_items"]
    for item, name in enumerate(data.item_ids):
        partner = name[:-1] + ("b" if name.endswith("a") else "a")
        assert data.item_ids[neighbours[item, 0]] == partner
        assert item not in neighbours[item]


def test_sims_min_cointeraction_count_drops_rare_pairs() -> None:
    rows = [("u1", "x", 1), ("u1", "y", 2)] + [(f"v{i}", "x", 1) for i in range(5)]
    rows += [(f"v{i}", "z", 2) for i in range(5)]
    data = build_training_set(_frame(rows), None, None)
    neighbours = fit_sims(data, {"min_cointeraction_count": "2"}, CONTEXT).arrays["neighbour_items"]
    x = data.item_ids.index("x")
    assert [data.item_ids[i] for i in neighbours[x] if i >= 0] == ["z"]  # x-y seen only once


def test_sims_popularity_discount_moves_from_popular_to_specific() -> None:
    # "a" co-occurs with the ubiquitous "pop" 4 times and with the niche "n" 3 times
    rows = [(f"u{i}", "a", 1) for i in range(4)] + [(f"u{i}", "pop", 2) for i in range(40)]
    rows += [(f"w{i}", "a", 1) for i in range(3)] + [(f"w{i}", "n", 2) for i in range(3)]
    data = build_training_set(_frame(rows), None, None)
    a = data.item_ids.index("a")

    def first(discount: str) -> str:
        params = {"popularity_discount_factor": discount, "min_cointeraction_count": "1"}
        return data.item_ids[fit_sims(data, params, CONTEXT).arrays["neighbour_items"][a, 0]]

    assert first("0") == "pop"
    assert first("1") == "n"
    with pytest.raises(ConfigError, match="popularity_discount_factor"):
        first("2")


def test_similar_items_gives_cold_items_neighbours_by_metadata() -> None:
    interactions = _pairs()
    genres = {f"p{i}{s}": f"g{i % 3}" for i in range(10) for s in "ab"}
    items = pd.DataFrame({"ITEM_ID": [*genres, "cold"], "GENRE": [*genres.values(), "g1|g9"]})
    data = build_training_set(interactions, None, items)
    assert "cold" in data.item_ids
    neighbours = fit_similar_items(data, {}, CONTEXT).arrays["neighbour_items"]
    cold = neighbours[data.item_ids.index("cold")]
    found = [data.item_ids[i] for i in cold if i >= 0]
    assert found and all(genres[item] == "g1" for item in found)
    # warm items still lead with their behavioural partner
    p0a = data.item_ids.index("p0a")
    assert data.item_ids[neighbours[p0a, 0]] == "p0b"


def test_trending_ranks_the_rising_item_first() -> None:
    day = 86_400
    rows = []
    for i in range(40):  # "steady" is popular in both windows, "riser" only lately
        rows += [(f"s{i}", "steady", 5 * day - 1000 + i), (f"t{i}", "steady", 6 * day + i)]
    rows += [(f"r{i}", "riser", 6 * day + i) for i in range(25)]
    rows += [(f"f{i}", "faller", 5 * day - 500 + i) for i in range(30)]
    data = build_training_set(_frame(rows), None, None)
    artifacts = fit_trending(data, {}, CONTEXT)
    order = np.argsort(-artifacts.arrays["trending"])
    assert [data.item_ids[i] for i in order] == ["riser", "steady", "faller"]
    assert artifacts.manifest["trend_window_seconds"] == day
    bad = RecipeContext(feature_transformation={"trend_discovery_frequency": "2 days"})
    with pytest.raises(ConfigError, match="trend_discovery_frequency"):
        fit_trending(data, {}, bad)


def test_a_trending_model_counts_interactions_recorded_after_training(tmp_path) -> None:
    day = 86_400
    rows = [(f"s{i}", "steady", 6 * day + i) for i in range(40)]
    rows += [(f"r{i}", "riser", 6 * day + i) for i in range(25)]
    rows += [(f"f{i}", "faller", 5 * day + i) for i in range(30)]
    rows += [("old", "ancient", day)]  # too old for any later window
    data = build_training_set(_frame(rows), None, None)
    artifacts = fit_trending(data, {}, CONTEXT)
    assert artifacts.manifest["trend_end"] == 6 * day + 39
    assert "ancient" not in [data.item_ids[i] for i in artifacts.arrays["trend_items"]]
    write_model(tmp_path, "aws-trending-now", data, artifacts, hyperparameters={})
    model = load_recommender(tmp_path)
    assert model.trending().tolist() == artifacts.arrays["trending"].tolist()

    # a day later the faller comes back: the windows move to the newest event
    faller = data.item_ids.index("faller")
    later = model.trending(np.full(40, faller), np.full(40, 7 * day + 100), np.ones(40))
    assert [data.item_ids[i] for i in np.argsort(-later)[:1]] == ["faller"]
    assert later[data.item_ids.index("steady")] < 0  # nothing new for it: it is falling
    # weights count: ten events of weight 0.1 are one event
    riser = data.item_ids.index("riser")
    light = model.trending(np.full(10, riser), np.full(10, 6 * day + 50), np.full(10, 0.1))
    heavy = model.trending(np.full(10, riser), np.full(10, 6 * day + 50), np.ones(10))
    assert light[riser] < heavy[riser]


def test_an_item_first_seen_after_training_can_trend(tmp_path) -> None:
    day = 86_400
    rows = [(f"s{i}", "steady", 6 * day + i) for i in range(40)]
    rows += [(f"r{i}", "riser", 6 * day + i) for i in range(25)]
    data = build_training_set(_frame(rows), None, None)
    artifacts = fit_trending(data, {}, CONTEXT)
    write_model(tmp_path, "aws-trending-now", data, artifacts, hyperparameters={})
    model = load_recommender(tmp_path)
    new = model.n_items  # the first index past the catalog
    scores = model.trending(np.full(60, new), np.full(60, 6 * day + 500), np.ones(60), n_new=1)
    assert scores.shape == (model.n_items + 1,)
    assert int(np.argmax(scores)) == new
    with pytest.raises(ValueError, match="item indices"):
        model.trending(np.full(3, new), np.full(3, 6 * day + 500), np.ones(3))
    # a caller that passes every interaction itself (a re-imported dataset) leaves training's out
    alone = model.trending(
        np.full(5, new), np.full(5, 6 * day + 500), np.ones(5), n_new=1, include_training=False
    )
    assert alone[data.item_ids.index("steady")] < 1e-3 < scores[data.item_ids.index("steady")]


def test_event_rule_selects_and_weights_as_the_manifest_says() -> None:
    rule = EventRule(
        value_threshold=1.0,
        parameters=(EventParameter("click", None, 0.2), EventParameter("buy", 3.0, 1.0)),
    )
    kept, weights = rule.select(
        4, ["click", "buy", "buy", "view"], np.array([1.0, 5.0, 2.0, np.nan])
    )
    assert kept.tolist() == [True, True, False, False]
    assert weights[kept].tolist() == pytest.approx([0.2, 1.0])
    assert EventRule.from_manifest(rule.to_manifest()) == rule
    assert not EventRule.from_manifest(None).filters  # models saved before rules: keep all
    assert EventRule().select(2)[0].tolist() == [True, True]
    config = SolutionJobConfig(
        recipe="aws-sims",
        event_type="buy",
        events_config={"eventParametersList": [{"eventType": "buy", "weight": 0.5}]},
    )
    assert event_rule(config) == EventRule("buy", None, (EventParameter("buy", None, 0.5),))


def test_event_type_and_value_filters() -> None:
    frame = _frame(
        [
            ("u", "a", 1, "click", 1.0),
            ("u", "b", 2, "buy", 5.0),
            ("u", "c", 3, "buy", 2.0),
            ("u", "d", 4, "view", None),
        ]
    )
    kept = select_events(frame, SolutionJobConfig(recipe="aws-sims", event_type="buy"))
    assert kept["ITEM_ID"].tolist() == ["b", "c"]
    config = SolutionJobConfig(recipe="aws-sims", event_value_threshold="2")
    assert select_events(frame, config)["ITEM_ID"].tolist() == ["b", "c"]
    no_types = frame.drop(columns=["EVENT_TYPE"])
    with pytest.raises(DataError, match="EVENT_TYPE"):
        select_events(no_types, SolutionJobConfig(recipe="aws-sims", event_type="buy"))


def test_events_config_keeps_listed_types_with_their_weights_and_thresholds() -> None:
    frame = _frame(
        [
            ("u", "a", 1, "click", 1.0),
            ("u", "b", 2, "buy", 5.0),
            ("u", "c", 3, "buy", 1.0),
            ("u", "d", 4, "view", 1.0),
        ]
    )
    config = SolutionJobConfig(
        recipe="aws-popularity-count",
        events_config={
            "eventParametersList": [
                {"eventType": "click", "weight": 0.2},
                {"eventType": "buy", "eventValueThreshold": 2.0, "weight": 1.0},
            ]
        },
    )
    kept = select_events(frame, config)
    assert kept["ITEM_ID"].tolist() == ["a", "b"]
    assert kept["WEIGHT"].tolist() == pytest.approx([0.2, 1.0])
    data = build_training_set(kept, None, None)
    assert fit_popularity(data, {}, CONTEXT).kind == "popularity"
    assert dict(zip(data.item_ids, data.popularity, strict=True)) == pytest.approx(
        {"a": 0.2, "b": 1.0}
    )


def test_minimum_data_messages() -> None:
    assert minimum_data.shortfall(1000, 25) is None
    with pytest.raises(minimum_data.InsufficientDataError, match="999 interactions after filter"):
        minimum_data.check(999, 100, filtered=True)
    with pytest.raises(minimum_data.InsufficientDataError, match="24 users have at least 2"):
        minimum_data.check(5000, 24)
    assert minimum_data.active_users(["a", "a", "b", "c", "c", "c"]) == 2


def test_features_encode_multi_values_numbers_and_text() -> None:
    items = pd.DataFrame(
        {
            "ITEM_ID": ["a", "b", "c"],
            "GENRES": ["comedy|drama", "drama", None],
            "PRICE": [1.0, 3.0, np.nan],
            "DESCRIPTION": [
                "a long story about the sea and ships",
                "a short story about a small cat",
                "ships at sea in a storm of the night",
            ],
        }
    )
    space = FeatureSpace.fit(items)
    kinds = {f.name: f.kind for f in space.fields}
    assert kinds == {"GENRES": "onehot", "PRICE": "numeric", "DESCRIPTION": "text"}
    matrix = space.transform(items, ["a", "b", "c", "unknown"], "ITEM_ID")
    genres = matrix[:, :2]  # vocabulary sorted: comedy, drama
    assert genres[0] == pytest.approx([2**-0.5, 2**-0.5]) and genres[1] == pytest.approx([0, 1])
    assert matrix[2, :2].tolist() == [0, 0] and not matrix[3].any()
    assert matrix[0, 2] < 0 < matrix[1, 2] and matrix[2, 2] == 0  # standardised, missing 0
    text = matrix[:, 3:]
    assert text[0] @ text[2] > text[0] @ text[1]  # sea and ships in common
    again = FeatureSpace.from_dict(space.to_dict()).transform(items, ["a"], "ITEM_ID")
    assert again == pytest.approx(matrix[:1])


def test_hpo_search_is_seeded_and_picks_the_best_trial() -> None:
    config = {
        "hpoObjective": {"type": "Maximize", "metricName": "precision_at_5"},
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "6"},
        "algorithmHyperParameterRanges": {
            "integerHyperParameterRanges": [{"name": "n", "minValue": 1, "maxValue": 100}],
            "continuousHyperParameterRanges": [{"name": "x", "minValue": 0.0, "maxValue": 1.0}],
            "categoricalHyperParameterRanges": [{"name": "c", "values": ["p", "q"]}],
        },
    }
    seen: list[dict[str, str]] = []

    def evaluate(params: dict[str, str], budget: float | None) -> dict[str, float]:
        seen.append(params)
        return {"precision_at_5": float(params.get("x", "0.5"))}

    best, records = hpo.search(evaluate, {"n": "3"}, config, seed=1, deep=False, log=print)
    assert len(records) == 6 and seen[0] == {"n": "3"}  # the solution's own values first
    assert float(best["x"]) == max(float(p.get("x", "0.5")) for p in seen)
    assert 1 <= int(best["n"]) <= 100 and best["c"] in ("p", "q")
    again, _ = hpo.search(evaluate, {"n": "3"}, config, seed=1, deep=False, log=print)
    assert again == best
    bad = {"hpoObjective": {"metricName": "accuracy"}}
    with pytest.raises(ConfigError, match="metricName"):
        hpo.search(evaluate, {}, bad, seed=1, deep=False, log=print)


def test_popularity_counts_each_user_once_per_item() -> None:
    """Amazon's Popularity-Count: "the items with the most interactions data from unique
    users". One user clicking "binge" six times is one user; "shared" has three."""
    rows = [("u0", "binge", t) for t in range(6)]
    rows += [(f"u{i}", "shared", 10 + i) for i in range(3)]
    data = build_training_set(_frame(rows), None, None)
    popularity = dict(zip(data.item_ids, data.popularity, strict=True))
    assert popularity == {"binge": 1.0, "shared": 3.0}
