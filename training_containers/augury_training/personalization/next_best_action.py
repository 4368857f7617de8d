"""Next-Best-Action (``aws-next-best-action``): the actions a user will most likely take.

Amazon's recipe predicts, from a user's interactions with items and with
actions, how likely they are to take each action of the Actions dataset within
the *action optimization period* (a featurization hyperparameter, 14 days by
default), and ranks actions by that propensity. This module trains the model
``augury_training.action_artifacts`` describes:

- **Features.** Items get factors from a truncated SVD of the user-item matrix
  (log-scaled counts): users who interact with the same items get similar
  features, which is what lets the model generalise from users who took an
  action to users who have not been shown it yet. A user is the mean of their
  items' unit-length factors, their Users metadata (the most common values of
  each categorical field, numeric fields standardised), and one indicator per
  action they have taken.
- **Labels.** Each (user, action) pair with action interactions is one
  example: 1 if the user took the action within the optimization period after
  first seeing it (or took it unprompted), 0 if they were shown it (``VIEWED``
  or ``NOT_TAKEN``) and did not.
- **Model.** One L2-regularised logistic regression per action on those
  features (the action's own "taken" indicator masked out, since it is the
  label), fitted with L-BFGS. Its output is the propensity serving returns.
- **Amazon's thresholds.** An action is scored only once it has at least 50
  ``TAKEN`` and 50 ``NOT_TAKEN`` or ``VIEWED`` interactions within six weeks
  of the newest action interaction; until then it scores 0.0, as Amazon's do.

Metrics follow Amazon's split over action interactions: 10% of users are held
out; each keeps its oldest 90% of action interactions (and its items from
before then) as input, and the actions it took in its newest 10% are the
targets; the ranked actions are scored with ``SOLUTION_METRICS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augury_training.action_artifacts import (
    metadata_vector,
    metadata_width,
    propensities,
    user_features,
    write_action_model,
)
from augury_training.contract import TrainPaths
from augury_training.personalization.data import (
    ARRIVAL,
    EVENT_ID,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    USER_ID,
    DataError,
    in_arrival_order,
    load_metadata,
    parquet_files,
    read_parquet,
)
from augury_training.personalize_contract import (
    ACTION_INTERACTIONS_CHANNEL,
    ACTIONS_CHANNEL,
    EVENTS_CHANNEL,
    SOLUTION_METRICS,
    USERS_CHANNEL,
    SolutionJobConfig,
)

ACTION_ID = "ACTION_ID"
TAKEN, NOT_TAKEN, VIEWED = "TAKEN", "NOT_TAKEN", "VIEWED"
MIN_TAKEN = 50
MIN_NOT_TAKEN = 50
"""Amazon's thresholds: an action is scored once it has this many TAKEN, and this many
NOT_TAKEN or VIEWED, interactions within ``RECENT_SECONDS`` of the newest one."""
RECENT_SECONDS = 6 * 7 * 86_400
PERIOD_PARAMETER = "action_optimization_period"
DEFAULT_PERIOD_DAYS = 14
FACTORS = 32
REGULARIZATION = 1.0
MAX_ITERATIONS = 200
MAX_TRAINED_ACTIONS = 1_000
"""Amazon's Next-Best-Action trains on at most 1,000 actions."""
MAX_CATEGORY_VALUES = 20
"""The most common values of a Users field that get a feature of their own."""


@dataclass
class ActionData:
    """What a Next-Best-Action job trains on."""

    interactions: pd.DataFrame
    """Item interactions: USER_ID, ITEM_ID, TIMESTAMP (oldest first)."""
    actions: pd.DataFrame
    """The Actions rows, one per ACTION_ID."""
    action_events: pd.DataFrame
    """Action interactions: USER_ID, ACTION_ID, TIMESTAMP, EVENT_TYPE (oldest first)."""
    users: pd.DataFrame | None = None
    """The Users rows, columns upper-cased, one per USER_ID."""
    user_kinds: Mapping[str, str] = field(default_factory=dict)
    """The Users fields' kinds (``SolutionJobConfig.field_kinds``), upper-cased names."""


@dataclass
class FittedActions:
    """A trained model, as ``write_action_model`` stores it."""

    action_ids: list[str]
    item_ids: list[str]
    item_factors: np.ndarray
    user_ids: list[str]
    user_items: list[np.ndarray]
    user_taken: list[np.ndarray]
    user_taken_times: list[np.ndarray]
    trained: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    user_metadata: list[dict[str, Any]] = field(default_factory=list)

    def propensities(
        self, items: list[int], taken: list[int], user_row: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        """Every action's propensity for a user with these items, taken actions and Users
        row (upper-cased columns)."""
        position = {int(a): p for p, a in enumerate(self.trained)}
        positions = sorted(position[a] for a in taken if a in position)
        metadata = metadata_vector(user_row, self.user_metadata)
        x = user_features(self.item_factors, items, positions, len(self.trained), metadata)
        return propensities(self.weights, self.bias, self.trained, len(self.action_ids), x)

    def write(self, model_dir: Path, manifest: Mapping[str, Any]) -> None:
        """The model files serving loads (``action_artifacts.load_action_model``)."""
        write_action_model(
            model_dir,
            manifest,
            action_ids=self.action_ids,
            item_ids=self.item_ids,
            item_factors=self.item_factors,
            user_ids=self.user_ids,
            user_items=self.user_items,
            user_taken=self.user_taken,
            user_taken_times=self.user_taken_times,
            trained=self.trained,
            weights=self.weights,
            bias=self.bias,
            user_metadata=self.user_metadata,
        )


# --- data ----------------------------------------------------------------------------------


def load_action_data(
    paths: TrainPaths, interactions: pd.DataFrame, user_kinds: Mapping[str, str] | None = None
) -> ActionData:
    """The Actions and Action_Interactions channels (datasets, then recorded events), and the
    Users one for the users' metadata."""
    actions = load_metadata(paths, ACTIONS_CHANNEL, ACTION_ID)
    if actions is None or actions.empty:
        raise DataError(
            "There are no actions to recommend: import data into the Actions dataset or "
            "record actions with PutActions first."
        )
    users = load_metadata(paths, USERS_CHANNEL, USER_ID)
    if users is not None:
        users = users.rename(columns=str.upper)
    kinds = {name.upper(): kind for name, kind in (user_kinds or {}).items()}
    return ActionData(interactions, actions, load_action_events(paths), users, kinds)


def load_action_events(paths: TrainPaths) -> pd.DataFrame:
    """Action interactions, oldest first, event types upper-cased (an event ID counts once)."""
    columns = (USER_ID, ACTION_ID, TIMESTAMP, EVENT_TYPE)
    recorded = in_arrival_order(
        read_parquet(
            parquet_files(paths.channel(EVENTS_CHANNEL) / ACTION_INTERACTIONS_CHANNEL),
            (*columns, EVENT_ID, ARRIVAL),
        )
    )
    if recorded is not None and EVENT_ID in recorded:
        repeated = recorded[EVENT_ID].notna() & recorded[EVENT_ID].duplicated(keep="first")
        recorded = recorded.loc[~repeated].drop(columns=EVENT_ID)
    frames = [
        read_parquet(parquet_files(paths.channel(ACTION_INTERACTIONS_CHANNEL)), columns),
        recorded,
    ]
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    frame = pd.concat(frames, ignore_index=True).dropna(subset=list(columns))
    kinds = frame[EVENT_TYPE].astype(str).str.strip().str.upper().str.replace(" ", "_")
    frame = frame.assign(
        USER_ID=frame[USER_ID].astype(str),
        ACTION_ID=frame[ACTION_ID].astype(str),
        TIMESTAMP=frame[TIMESTAMP].astype(np.int64),
        EVENT_TYPE=kinds,
    )
    frame = frame.loc[frame[EVENT_TYPE].isin([TAKEN, NOT_TAKEN, VIEWED])]
    return frame.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)


def period_seconds(config: SolutionJobConfig) -> float:
    """The action optimization period, in seconds (days in the featurization parameters)."""
    text = (config.feature_transformation_parameters or {}).get(PERIOD_PARAMETER)
    try:
        days = float(text) if text is not None else DEFAULT_PERIOD_DAYS
    except ValueError:
        raise DataError(f"{PERIOD_PARAMETER} must be a number of days, not {text!r}") from None
    return days * 86_400


# --- training -----------------------------------------------------------------------------


def item_space(
    interactions: pd.DataFrame, factors: int, seed: int
) -> tuple[list[str], np.ndarray, dict[str, list[int]]]:
    """Item IDs, their unit-length SVD factors, and each user's item indices."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import svds

    user_codes, user_ids = pd.factorize(interactions[USER_ID], sort=True)
    item_codes, item_ids = pd.factorize(interactions[ITEM_ID], sort=True)
    counts = csr_matrix(
        (np.ones(len(interactions)), (user_codes, item_codes)),
        shape=(len(user_ids), len(item_ids)),
    )
    counts.sum_duplicates()
    counts.data = np.log1p(counts.data)
    k = min(factors, min(counts.shape) - 1)
    if k >= 1:
        start = np.random.default_rng(seed).standard_normal(min(counts.shape))
        _, strengths, vt = svds(counts, k=k, v0=start)
        vectors = vt.T * strengths
    else:
        vectors = np.ones((len(item_ids), 1))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    by_user = pd.Series(item_codes).groupby(user_codes).agg(lambda v: sorted(set(v)))
    user_items = {str(user_ids[u]): list(v) for u, v in by_user.items()}
    return [str(i) for i in item_ids], vectors.astype(np.float64), user_items


def labelled_pairs(events: pd.DataFrame, period: float) -> pd.DataFrame:
    """One row per (user, action) with action interactions: LABEL 1 if the user took it
    within the period after the latest showing before the take (or unprompted), else 0."""
    if events.empty:
        return pd.DataFrame({USER_ID: [], ACTION_ID: [], "LABEL": []})
    keys = [USER_ID, ACTION_ID]
    shown = events.loc[events[EVENT_TYPE] != TAKEN, [*keys, TIMESTAMP]]
    shown = shown.rename(columns={TIMESTAMP: "SHOWN"}).sort_values("SHOWN", kind="stable")
    taken = events.loc[events[EVENT_TYPE] == TAKEN, [*keys, TIMESTAMP]]
    taken = taken.sort_values(TIMESTAMP, kind="stable")
    matched = pd.merge_asof(
        taken, shown, left_on=TIMESTAMP, right_on="SHOWN", by=keys, direction="backward"
    )
    in_time = matched["SHOWN"].isna() | (matched[TIMESTAMP] - matched["SHOWN"] <= period)
    positives = matched.loc[in_time, keys].drop_duplicates().assign(LABEL=1)
    negatives = shown[keys].drop_duplicates().assign(LABEL=0)
    both = pd.concat([positives, negatives], ignore_index=True)
    return both.groupby(keys, as_index=False)["LABEL"].max()


def eligible_actions(events: pd.DataFrame, action_ids: list[str]) -> np.ndarray:
    """Amazon's rule: 50 TAKEN and 50 other interactions within six weeks of the newest."""
    if events.empty:
        return np.zeros(len(action_ids), dtype=bool)
    recent = events[events[TIMESTAMP] >= events[TIMESTAMP].max() - RECENT_SECONDS]
    kinds = recent.assign(TOOK=recent[EVENT_TYPE] == TAKEN)
    counts = kinds.groupby(ACTION_ID)["TOOK"].agg(["sum", "size"])
    took = counts["sum"].reindex(action_ids, fill_value=0).to_numpy()
    others = (counts["size"] - counts["sum"]).reindex(action_ids, fill_value=0).to_numpy()
    return (took >= MIN_TAKEN) & (others >= MIN_NOT_TAKEN)


def user_metadata_spec(
    users: pd.DataFrame | None, kinds: Mapping[str, str]
) -> list[dict[str, Any]]:
    """How Users rows become features: each categorical (or boolean) field's most common
    values, each numeric field's mean and spread. Free text is left out."""
    spec: list[dict[str, Any]] = []
    if users is None or users.empty:
        return spec
    for column in sorted(kinds):
        kind = kinds[column]
        if column == USER_ID or column not in users:
            continue
        values = users[column].dropna()
        if kind in ("categorical", "boolean"):
            tokens = values.astype(str).str.split("|").explode()
            common = [str(v) for v in tokens.value_counts().index[:MAX_CATEGORY_VALUES]]
            if common:
                spec.append({"name": column, "kind": "categorical", "values": common})
        elif kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").dropna()
            spread = float(numbers.std()) if len(numbers) > 1 else 0.0
            if spread > 0:
                spec.append(
                    {
                        "name": column,
                        "kind": "numeric",
                        "mean": float(numbers.mean()),
                        "std": spread,
                    }
                )
    return spec


def trained_actions(events: pd.DataFrame, action_ids: list[str]) -> np.ndarray:
    """The actions to model: those Amazon would score, at most ``MAX_TRAINED_ACTIONS``, the
    most recently interacted with first (Amazon's order for its own cap)."""
    chosen = np.flatnonzero(eligible_actions(events, action_ids))
    if len(chosen) > MAX_TRAINED_ACTIONS:
        latest = events.groupby(ACTION_ID)[TIMESTAMP].max()
        recency = latest.reindex([action_ids[a] for a in chosen]).to_numpy()
        chosen = np.sort(chosen[np.argsort(-recency, kind="stable")[:MAX_TRAINED_ACTIONS]])
    return chosen.astype(np.int64)


def fit(data: ActionData, period: float, seed: int, log: Callable[[str], None]) -> FittedActions:
    """Train on every interaction: item factors, labels, one logistic model per trained
    action. Features are built for the labelled users only, so memory follows the action
    interactions, not the whole user base."""
    action_ids = sorted(set(data.actions[ACTION_ID].astype(str)))
    action_index = {action: i for i, action in enumerate(action_ids)}
    item_ids, factors, items_of = item_space(data.interactions, FACTORS, seed)
    events = data.action_events[data.action_events[ACTION_ID].isin(action_index)]
    taken = events[events[EVENT_TYPE] == TAKEN].groupby([USER_ID, ACTION_ID])[TIMESTAMP].max()
    taken_of: dict[str, dict[int, float]] = {}
    for (user, action), moment in taken.items():
        taken_of.setdefault(str(user), {})[action_index[str(action)]] = float(moment)
    trained = trained_actions(events, action_ids)
    position = {int(a): p for p, a in enumerate(trained)}
    spec = user_metadata_spec(data.users, data.user_kinds)
    rows = data.users.set_index(USER_ID).to_dict("index") if spec else {}
    k, m, n_trained = factors.shape[1], metadata_width(spec), len(trained)
    weights = np.zeros((n_trained, k + m + n_trained))
    bias = np.zeros(n_trained)
    pairs = labelled_pairs(events, period)
    pairs = pairs[pairs[ACTION_ID].map(action_index).isin(list(position))]
    labelled = sorted(set(pairs[USER_ID].astype(str)))
    row_of = {user: row for row, user in enumerate(labelled)}
    features = np.zeros((len(labelled), k + m + n_trained))
    for user, row in row_of.items():
        took = sorted(position[a] for a in taken_of.get(user, {}) if a in position)
        metadata = metadata_vector(rows.get(user), spec)
        features[row] = user_features(factors, items_of.get(user, []), took, n_trained, metadata)
    for action, group in pairs.groupby(ACTION_ID):
        p = position[action_index[str(action)]]
        x = features[[row_of[str(u)] for u in group[USER_ID]]].copy()
        x[:, k + m + p] = 0.0  # the action's own "taken" is its label
        weights[p], bias[p] = _logistic(x, group["LABEL"].to_numpy(float))
        weights[p, k + m + p] = 0.0
    log(
        f"next best action: {len(action_ids)} actions ({n_trained} with enough interactions "
        f"to score), {len(pairs)} labelled user-action pairs, {len(item_ids)} items in {k} "
        "factors"
    )
    user_ids = sorted(set(items_of) | set(taken_of))
    return FittedActions(
        action_ids=action_ids,
        item_ids=item_ids,
        item_factors=factors,
        user_ids=user_ids,
        user_items=[np.asarray(items_of.get(u, []), dtype=np.int64) for u in user_ids],
        user_taken=[np.asarray(sorted(taken_of.get(u, {})), dtype=np.int64) for u in user_ids],
        user_taken_times=[
            np.asarray([taken_of[u][a] for a in sorted(taken_of[u])] if u in taken_of else [])
            for u in user_ids
        ],
        trained=trained,
        weights=weights,
        bias=bias,
        user_metadata=spec,
    )


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (the bias unpenalised) by L-BFGS."""
    from scipy.optimize import minimize

    if y.min() == y.max():  # one class only: the bias says it all
        rate = (y.sum() + 0.5) / (len(y) + 1.0)
        return np.zeros(x.shape[1]), float(np.log(rate / (1.0 - rate)))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        z = x @ w + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))
        value = np.logaddexp(0.0, z).sum() - (y * z).sum() + 0.5 * REGULARIZATION * (w @ w)
        error = p - y
        gradient = np.concatenate([x.T @ error + REGULARIZATION * w, [error.sum()]])
        return float(value), gradient

    result = minimize(
        loss,
        np.zeros(x.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": MAX_ITERATIONS},
    )
    return result.x[:-1], float(result.x[-1])


# --- evaluation ---------------------------------------------------------------------------


def evaluate(data: ActionData, period: float, seed: int) -> dict[str, float]:
    """``SOLUTION_METRICS`` on Amazon's split of the action interactions.

    The held-out users' item interactions from their first target on are left out of
    training too (the item space included), so nothing they did later informs the model.
    """
    from augury_training.personalization.evaluation import amazon_split, solution_metrics

    events = data.action_events
    if events.empty:
        return dict.fromkeys(SOLUTION_METRICS, 0.0)
    split = amazon_split(events.rename(columns={ACTION_ID: ITEM_ID}), seed=seed)
    if not split.test_inputs:
        return dict.fromkeys(SOLUTION_METRICS, 0.0)
    inputs, targets = split.test_input_rows, split.test_target_rows
    cutoff = targets.groupby(USER_ID)[TIMESTAMP].min()
    item_rows = data.interactions
    limit = item_rows[USER_ID].map(cutoff)
    known = item_rows[limit.isna() | (item_rows[TIMESTAMP] < limit)]
    train = ActionData(
        known,
        data.actions,
        split.train.rename(columns={ITEM_ID: ACTION_ID}),
        data.users,
        data.user_kinds,
    )
    fitted = fit(train, period, seed, log=lambda _message: None)
    action_index = {a: i for i, a in enumerate(fitted.action_ids)}
    item_index = {item: i for i, item in enumerate(fitted.item_ids)}
    tested = known[known[USER_ID].isin(set(inputs[USER_ID]))]
    items_of = tested.groupby(USER_ID)[ITEM_ID].agg(set).to_dict()
    took_of = inputs[inputs[EVENT_TYPE] == TAKEN].groupby(USER_ID)[ITEM_ID].agg(set).to_dict()
    wanted_of = targets[targets[EVENT_TYPE] == TAKEN].groupby(USER_ID)[ITEM_ID].agg(set)
    user_rows = data.users.set_index(USER_ID).to_dict("index") if fitted.user_metadata else {}
    recommended: dict[str, list[str]] = {}
    wanted: dict[str, list[str]] = {}
    for user in sorted(set(inputs[USER_ID])):
        took = sorted({action_index[a] for a in took_of.get(user, ()) if a in action_index})
        items = sorted({item_index[i] for i in items_of.get(user, ()) if i in item_index})
        scores = fitted.propensities(items, took, user_rows.get(user))
        scores[took] = -np.inf
        order = sorted(range(len(scores)), key=lambda a: (-scores[a], a))
        recommended[str(user)] = [fitted.action_ids[a] for a in order if np.isfinite(scores[a])]
        wanted[str(user)] = sorted(wanted_of.get(user, ()))
    return solution_metrics(recommended, wanted, len(fitted.action_ids))


# --- the job ------------------------------------------------------------------------------


def train_actions(
    paths: TrainPaths,
    config: SolutionJobConfig,
    interactions: pd.DataFrame,
    log: Callable[[str], None],
) -> dict[str, float]:
    """Train, evaluate and write a Next-Best-Action model; its metrics."""
    started = time.monotonic()
    data = load_action_data(
        paths,
        interactions[[USER_ID, ITEM_ID, TIMESTAMP]],
        (config.field_kinds or {}).get("USERS"),
    )
    period = period_seconds(config)
    log(
        f"{len(data.actions)} actions, {len(data.action_events)} action interactions, "
        f"optimization period {period / 86_400:g} days"
    )
    metrics: dict[str, float] = {}
    if config.evaluate:
        metrics = evaluate(data, period, config.seed)
    fitted = fit(data, period, config.seed, log)
    manifest: Mapping[str, Any] = {
        "recipe": config.recipe,
        "recipe_type": config.recipe_type,
        "action_optimization_period_days": period / 86_400,
        "factors": int(fitted.item_factors.shape[1]),
        "training_seconds": round(time.monotonic() - started, 3),
        "training_mode": config.training_mode,
    }
    fitted.write(paths.model_dir, manifest)
    return metrics
