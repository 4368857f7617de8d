"""Next-Best-Action beside simple peers, on synthetic data with a known answer.

No public dataset records who was shown which action and who took it, so this
script makes one where the right answer is known. Users belong to one of
``--kinds`` tastes: each taste has its own items and its own liking for each
action. Every user interacts with items (mostly of their taste), is shown
every action, and takes each with the probability their taste gives it.

Rows, on Amazon's split of the action interactions (``evaluation.amazon_split``,
the split the recipe's own metrics use; seed fixed):

- ``aws-next-best-action``: Augury's recipe (``personalization.next_best_action``);
- ``most-taken``: the actions taken most by the training users, the same list
  for everyone (what a recommender without personalization shows);
- ``random``: a shuffled list per user;
- ``oracle``: the true take probabilities of the user's taste, the best any
  model could do on this data.

Scores are NDCG@5, precision@5 and MRR@25 of the actions each held-out user
took among its newest interactions, and training time.

    python scripts/benchmark_next_best_action.py [--users 5000] \
        [--output docs/benchmarks/next_best_action.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from augury_training.personalization import next_best_action as nba
from augury_training.personalization.evaluation import amazon_split, solution_metrics

DAY = 86_400
START = 1_700_000_000
COLUMNS = (
    "normalized_discounted_cumulative_gain_at_5",
    "precision_at_5",
    "mean_reciprocal_rank_at_25",
)


def synthetic(
    users: int, kinds: int, actions: int, seed: int
) -> tuple[nba.ActionData, np.ndarray, np.ndarray]:
    """The data, each user's taste, and each taste's take probability per action."""
    rng = np.random.default_rng(seed)
    rates = rng.beta(0.6, 1.8, size=(kinds, actions))  # most actions unlikely, a few liked
    taste = rng.integers(kinds, size=users)
    items_per_kind = 30
    interactions, shown = [], []
    for user in range(users):
        for step in range(12):
            own = rng.random() < 0.8
            kind = taste[user] if own else rng.integers(kinds)
            item = kind * items_per_kind + rng.integers(items_per_kind)
            interactions.append((f"u{user}", f"i{item}", START + step))
        for round_ in range(2):  # shown every action twice, a week apart
            moment = START + DAY + round_ * 7 * DAY
            for action in rng.permutation(actions):
                shown.append((f"u{user}", f"a{action}", moment, "VIEWED"))
                if rng.random() < rates[taste[user], action] / 2:
                    shown.append((f"u{user}", f"a{action}", moment + 60, "TAKEN"))
    data = nba.ActionData(
        pd.DataFrame(interactions, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"]),
        pd.DataFrame({"ACTION_ID": [f"a{a}" for a in range(actions)]}),
        pd.DataFrame(shown, columns=["USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"]),
    )
    return data, taste, rates


Ranker = Callable[[str, list[str]], list[str]]
"""(user, actions the user took in their input) -> every other action, best first."""


def score(data: nba.ActionData, split, rank: Ranker) -> dict[str, float]:
    inputs, targets = split.test_input_rows, split.test_target_rows
    took_of = inputs[inputs["EVENT_TYPE"] == "TAKEN"].groupby("USER_ID")["ITEM_ID"].agg(set)
    wanted_of = targets[targets["EVENT_TYPE"] == "TAKEN"].groupby("USER_ID")["ITEM_ID"].agg(set)
    recommended, wanted = {}, {}
    for user in sorted(set(inputs["USER_ID"])):
        recommended[user] = rank(str(user), sorted(took_of.get(user, ())))
        wanted[user] = sorted(wanted_of.get(user, ()))
    return solution_metrics(recommended, wanted, len(data.actions))


def run(users: int, kinds: int, actions: int, seed: int) -> list[dict[str, object]]:
    data, taste, rates = synthetic(users, kinds, actions, seed)
    split = amazon_split(data.action_events.rename(columns={"ACTION_ID": "ITEM_ID"}), seed=seed)
    train = nba.ActionData(
        data.interactions, data.actions, split.train.rename(columns={"ITEM_ID": "ACTION_ID"})
    )
    action_ids = [f"a{a}" for a in range(actions)]
    rows = []

    started = time.perf_counter()
    fitted = nba.fit(train, 14 * DAY, seed, log=lambda _m: None)
    fit_seconds = time.perf_counter() - started
    item_index = {item: i for i, item in enumerate(fitted.item_ids)}
    action_index = {a: i for i, a in enumerate(fitted.action_ids)}
    by_user = {u: list(g["ITEM_ID"]) for u, g in data.interactions.groupby("USER_ID")}

    def augury(user: str, took: list[str]) -> list[str]:
        items = sorted({item_index[i] for i in by_user.get(user, []) if i in item_index})
        scores = fitted.propensities(items, [action_index[a] for a in took])
        order = sorted(range(len(scores)), key=lambda a: (-scores[a], a))
        return [fitted.action_ids[a] for a in order if fitted.action_ids[a] not in took]

    taken = train.action_events[train.action_events["EVENT_TYPE"] == "TAKEN"]
    popular = list(taken["ACTION_ID"].value_counts().index) + action_ids
    popular = list(dict.fromkeys(popular))
    rng = np.random.default_rng(seed + 1)

    def most_taken(_user: str, took: list[str]) -> list[str]:
        return [a for a in popular if a not in took]

    def shuffled(_user: str, took: list[str]) -> list[str]:
        return [a for a in rng.permutation(action_ids) if a not in took]

    def oracle(user: str, took: list[str]) -> list[str]:
        truth = rates[taste[int(user[1:])]]
        order = sorted(range(actions), key=lambda a: -truth[a])
        return [f"a{a}" for a in order if f"a{a}" not in took]

    for name, ranker, seconds in (
        ("aws-next-best-action", augury, fit_seconds),
        ("most-taken", most_taken, 0.0),
        ("random", shuffled, 0.0),
        ("oracle", oracle, 0.0),
    ):
        metrics = score(data, split, ranker)
        rows.append({"model": name, **{c: metrics[c] for c in COLUMNS}, "train_s": seconds})
    return rows


def peak_mib() -> float:
    """The process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| model | NDCG@5 | precision@5 | MRR@25 | training (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row[COLUMNS[0]]:.4f} | {row[COLUMNS[1]]:.4f} | "
            f"{row[COLUMNS[2]]:.4f} | {row['train_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--kinds", type=int, default=4)
    parser.add_argument("--actions", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rows = run(args.users, args.kinds, args.actions, args.seed)
    report = table(rows)
    print(report)
    print(f"peak memory {peak_mib():.0f} MiB")
    if args.output:
        command = (
            "python scripts/benchmark_next_best_action.py "
            f"--users {args.users} --kinds {args.kinds} --actions {args.actions} --seed {args.seed}"
        )
        header = (
            f"Measured {time.strftime('%Y-%m-%d')} by `{command}` on {platform.machine()} with "
            f"{os.cpu_count()} CPU cores; peak memory of the whole run {peak_mib():.0f} MiB.\n\n"
        )
        args.output.write_text(header + report + "\n")


if __name__ == "__main__":
    main()
