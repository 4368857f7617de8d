"""Next-Best-Action training: labels, Amazon's thresholds, a model that learns who takes what."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augury_training.action_artifacts import load_action_model
from augury_training.personalization import next_best_action as nba
from augury_training.personalization.next_best_action import (
    ActionData,
    eligible_actions,
    fit,
    labelled_pairs,
)

DAY = 86_400


def events(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"])


def test_a_take_counts_within_the_period_after_the_latest_showing_before_it() -> None:
    pairs = labelled_pairs(
        events(
            [
                ("a", "join", 0, "VIEWED"),
                ("a", "join", 3 * DAY, "TAKEN"),  # within 14 days of being shown
                ("b", "join", 0, "NOT_TAKEN"),
                ("b", "join", 20 * DAY, "TAKEN"),  # too late: not the period's take
                ("c", "join", 5, "TAKEN"),  # unprompted
                ("d", "join", 0, "VIEWED"),
                ("e", "join", 0, "VIEWED"),  # shown again a month later, taken next day
                ("e", "join", 30 * DAY, "VIEWED"),
                ("e", "join", 31 * DAY, "TAKEN"),
                ("f", "join", 0, "TAKEN"),  # taken first, shown later
                ("f", "join", 10 * DAY, "VIEWED"),
            ]
        ),
        period=14 * DAY,
    )
    labels = dict(zip(pairs["USER_ID"], pairs["LABEL"], strict=True))
    assert labels == {"a": 1, "b": 0, "c": 1, "d": 0, "e": 1, "f": 1}


def test_users_shown_actions_but_without_items_or_takes_are_trained_on() -> None:
    rows = [(f"u{n}", "join", 10, "VIEWED") for n in range(60)]
    rows += [(f"u{n}", "join", 20, "TAKEN") for n in range(0, 60, 2)]
    data = ActionData(
        pd.DataFrame({"USER_ID": ["u0", "u1"], "ITEM_ID": ["i1", "i2"], "TIMESTAMP": [1, 2]}),
        pd.DataFrame({"ACTION_ID": ["join"]}),
        events(rows),
    )
    fitted = fit(data, period=14 * DAY, seed=0, log=lambda _m: None)
    assert fitted.trained.tolist() == []  # 30 takes: not yet scored, and no crash
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(nba, "MIN_TAKEN", 10)
    monkeypatch.setattr(nba, "MIN_NOT_TAKEN", 10)
    try:
        fitted = fit(data, period=14 * DAY, seed=0, log=lambda _m: None)
    finally:
        monkeypatch.undo()
    assert fitted.trained.tolist() == [0]
    assert 0.3 < fitted.propensities([], [])[0] < 0.7  # about half took it


def test_at_most_a_thousand_actions_are_trained_the_most_recent_first(monkeypatch) -> None:
    monkeypatch.setattr(nba, "MAX_TRAINED_ACTIONS", 2)
    monkeypatch.setattr(nba, "MIN_TAKEN", 1)
    monkeypatch.setattr(nba, "MIN_NOT_TAKEN", 1)
    rows = []
    for number, action in enumerate(("a", "b", "c")):
        rows += [("u1", action, number, "VIEWED"), ("u2", action, number, "TAKEN")]
    found = nba.trained_actions(events(rows), ["a", "b", "c"])
    assert found.tolist() == [1, 2]


def most_taken_metrics(action_events: pd.DataFrame, seed: int) -> dict[str, float]:
    """The metrics of the peer without personalization, on the split ``evaluate`` uses: the
    actions the training users took most, less those the test user took already."""
    from augury_training.personalization.evaluation import amazon_split, solution_metrics

    split = amazon_split(action_events.rename(columns={"ACTION_ID": "ITEM_ID"}), seed=seed)
    taken = split.train[split.train["EVENT_TYPE"] == "TAKEN"]["ITEM_ID"].value_counts()
    everything = list(dict.fromkeys([*taken.index, *sorted(set(action_events["ACTION_ID"]))]))
    targets = split.test_target_rows[split.test_target_rows["EVENT_TYPE"] == "TAKEN"]
    wanted = targets.groupby("USER_ID")["ITEM_ID"].agg(list).to_dict()
    inputs = split.test_input_rows
    before = inputs[inputs["EVENT_TYPE"] == "TAKEN"].groupby("USER_ID")["ITEM_ID"].agg(set)
    recommended = {
        user: [a for a in everything if a not in before.get(user, set())] for user in wanted
    }
    return solution_metrics(recommended, wanted, len(everything))


def test_evaluation_beats_the_most_taken_list_on_data_with_two_kinds_of_user(monkeypatch):
    monkeypatch.setattr(nba, "MIN_TAKEN", 5)
    monkeypatch.setattr(nba, "MIN_NOT_TAKEN", 5)
    data = two_kinds(users=300, seed=3)
    found = nba.evaluate(data, 14 * DAY, seed=5)
    peer = most_taken_metrics(data.action_events, seed=5)
    ndcg = "normalized_discounted_cumulative_gain_at_5"
    assert found[ndcg] > peer[ndcg] + 0.1, (found[ndcg], peer[ndcg])


def two_kinds(users: int, seed: int) -> ActionData:
    """Even users like items i0-i9 and take "loyalty"; odd users i10-i19 and "newsletter";
    each is shown both, in an order of their own."""
    rng = np.random.default_rng(seed)
    interactions, shown = [], []
    for user in range(users):
        kind = user % 2
        for step in range(8):
            interactions.append((f"u{user}", f"i{kind * 10 + int(rng.integers(10))}", step))
        order = ["loyalty", "newsletter"] if rng.random() < 0.5 else ["newsletter", "loyalty"]
        for position, action in enumerate(order):
            moment = 100 + position * 100
            shown.append((f"u{user}", action, moment, "VIEWED"))
            liked = (action == "loyalty") == (kind == 0)
            if rng.random() < (0.8 if liked else 0.1):
                shown.append((f"u{user}", action, moment + 10, "TAKEN"))
    return ActionData(
        pd.DataFrame(interactions, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"]),
        pd.DataFrame({"ACTION_ID": ["loyalty", "newsletter"]}),
        events(shown),
    )


def test_an_action_is_scored_once_it_has_fifty_takes_and_fifty_others_in_six_weeks() -> None:
    rows = []
    for n in range(50):
        rows += [(f"u{n}", "ready", 100 * DAY, "TAKEN"), (f"u{n}", "ready", 100 * DAY, "VIEWED")]
        rows += [(f"u{n}", "few", 100 * DAY, "VIEWED")]
        rows += [(f"u{n}", "old", 10 * DAY, "TAKEN"), (f"u{n}", "old", 10 * DAY, "VIEWED")]
    rows += [(f"u{n}", "few", 100 * DAY, "TAKEN") for n in range(49)]
    found = eligible_actions(events(rows), ["few", "old", "ready", "unseen"])
    assert found.tolist() == [False, False, True, False]


def test_the_model_learns_which_kind_of_user_takes_which_action(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(nba, "MIN_TAKEN", 5)
    monkeypatch.setattr(nba, "MIN_NOT_TAKEN", 5)
    rng = np.random.default_rng(0)
    interactions, actions_done = [], []
    for user in range(80):
        kind = user % 2
        for step in range(8):
            item = f"i{kind * 10 + int(rng.integers(10))}"
            interactions.append((f"u{user}", item, step))
        for action, rate in (("loyalty", (0.9, 0.1)), ("newsletter", (0.1, 0.9))):
            actions_done.append((f"u{user}", action, 100, "VIEWED"))
            if rng.random() < rate[kind]:
                actions_done.append((f"u{user}", action, 160, "TAKEN"))
    data = ActionData(
        pd.DataFrame(interactions, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"]),
        pd.DataFrame({"ACTION_ID": ["loyalty", "newsletter", "unseen"]}),
        events(actions_done),
    )
    fitted = fit(data, period=14 * DAY, seed=0, log=lambda _m: None)
    index = {item: i for i, item in enumerate(fitted.item_ids)}
    first_kind = fitted.propensities([index["i1"], index["i2"]], [])
    second_kind = fitted.propensities([index["i11"], index["i12"]], [])
    loyalty, newsletter, unseen = (
        fitted.action_ids.index(a) for a in ("loyalty", "newsletter", "unseen")
    )
    assert first_kind[loyalty] > 0.6 > first_kind[newsletter]
    assert second_kind[newsletter] > 0.6 > second_kind[loyalty]
    assert first_kind[unseen] == 0.0  # no interactions: not scored

    fitted.write(tmp_path, {"recipe": "aws-next-best-action"})
    model = load_action_model(tmp_path)
    served = model.propensities(None, ["i1", "i2"], [])
    assert np.allclose(served, first_kind, atol=1e-5)  # serving scores as training did
    taker = next(u for u in fitted.user_ids if "loyalty" in model.taken(u))
    assert model.taken(taker)["loyalty"] == 160.0


def test_users_metadata_tells_users_apart_when_items_do_not(tmp_path, monkeypatch) -> None:
    """Users with no items at all, told apart by their Users row only (a categorical tier and
    a numeric age), including at serving time from the row alone."""
    monkeypatch.setattr(nba, "MIN_TAKEN", 5)
    monkeypatch.setattr(nba, "MIN_NOT_TAKEN", 5)
    rng = np.random.default_rng(1)
    shown, users = [], []
    for user in range(200):
        gold = user % 2 == 0
        users.append({"USER_ID": f"u{user}", "TIER": "gold|vip" if gold else "basic", "AGE": 30})
        for action in ("loyalty", "newsletter"):
            shown.append((f"u{user}", action, 100, "VIEWED"))
            liked = (action == "loyalty") == gold
            if rng.random() < (0.85 if liked else 0.1):
                shown.append((f"u{user}", action, 110, "TAKEN"))
    data = ActionData(
        pd.DataFrame({"USER_ID": ["x"], "ITEM_ID": ["i"], "TIMESTAMP": [1]}),
        pd.DataFrame({"ACTION_ID": ["loyalty", "newsletter"]}),
        events(shown),
        pd.DataFrame(users),
        {"TIER": "categorical", "AGE": "numeric", "USER_ID": "string"},
    )
    fitted = fit(data, period=14 * DAY, seed=0, log=lambda _m: None)
    assert [f["name"] for f in fitted.user_metadata] == ["TIER"]  # AGE never varies
    loyalty = fitted.action_ids.index("loyalty")
    gold = fitted.propensities([], [], {"TIER": "gold"})
    basic = fitted.propensities([], [], {"TIER": "basic"})
    assert gold[loyalty] > 0.6 > basic[loyalty]
    fitted.write(tmp_path, {"recipe": "aws-next-best-action"})
    served = load_action_model(tmp_path).propensities("newcomer", [], [], {"TIER": "vip|gold"})
    assert served[loyalty] > 0.6
