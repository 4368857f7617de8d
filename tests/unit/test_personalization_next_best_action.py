"""Next-Best-Action training: labels, Amazon's thresholds, a model that learns who takes what."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def test_a_take_counts_within_the_period_after_the_action_was_shown() -> None:
    pairs = labelled_pairs(
        events(
            [
                ("a", "join", 0, "VIEWED"),
                ("a", "join", 3 * DAY, "TAKEN"),  # within 14 days of being shown
                ("b", "join", 0, "NOT_TAKEN"),
                ("b", "join", 20 * DAY, "TAKEN"),  # too late: not the period's take
                ("c", "join", 5, "TAKEN"),  # unprompted
                ("d", "join", 0, "VIEWED"),
            ]
        ),
        period=14 * DAY,
    )
    labels = dict(zip(pairs["USER_ID"], pairs["LABEL"], strict=True))
    assert labels == {"a": 1, "b": 0, "c": 1, "d": 0}


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
