"""performHPO: a seeded random search over the solution's hyperparameter ranges.

The ranges are ``hpoConfig.algorithmHyperParameterRanges`` as the API takes
them (``integerHyperParameterRanges``, ``continuousHyperParameterRanges``,
``categoricalHyperParameterRanges``). Each trial trains on a validation split
carved out of the training users (Amazon's split again, on the training part,
with another seed) and is scored by ``hpoObjective.metricName`` (one of
``SOLUTION_METRICS``; NDCG@25 otherwise), maximised unless its type says
``Minimize``. The first trial is the solution's own values (or the recipe's
defaults), so the search never ends worse than no search.

``hpoResourceConfig.maxNumberOfTrainingJobs`` bounds the trials (Amazon allows
up to 40), and a time budget bounds the search: a deep recipe's trials share
``DEEP_BUDGET_SECONDS`` and run at most ``MAX_DEEP_TRIALS``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from augury_training.personalization.recipes import ConfigError
from augury_training.personalize_contract import SOLUTION_METRICS

DEFAULT_OBJECTIVE = "normalized_discounted_cumulative_gain_at_25"
DEFAULT_TRIALS = 10
MAX_TRIALS = 40
MAX_DEEP_TRIALS = 6
BUDGET_SECONDS = 900.0
DEEP_BUDGET_SECONDS = 1800.0


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter's range."""

    name: str
    kind: str  # "integer" | "continuous" | "categorical"
    low: float = 0.0
    high: float = 0.0
    values: tuple[str, ...] = ()

    def sample(self, rng: np.random.Generator) -> str:
        if self.kind == "categorical":
            return self.values[int(rng.integers(len(self.values)))]
        if self.kind == "integer":
            return str(int(rng.integers(int(self.low), int(self.high) + 1)))
        if self.low > 0 and self.high / self.low >= 100:
            # ranges spanning orders of magnitude (learning rates) are searched on a log scale
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return f"{value:.6g}"


@dataclass(frozen=True)
class Objective:
    metric: str
    maximize: bool = True

    def better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best if self.maximize else value < best


def search_space(hpo_config: Mapping[str, Any] | None) -> list[Dimension]:
    """The ranges of ``hpoConfig``, checked."""
    ranges = (hpo_config or {}).get("algorithmHyperParameterRanges") or {}
    dimensions: list[Dimension] = []
    for entry in ranges.get("integerHyperParameterRanges") or []:
        low, high = _bounds(entry, int)
        dimensions.append(Dimension(entry["name"], "integer", low, high))
    for entry in ranges.get("continuousHyperParameterRanges") or []:
        low, high = _bounds(entry, float)
        dimensions.append(Dimension(entry["name"], "continuous", low, high))
    for entry in ranges.get("categoricalHyperParameterRanges") or []:
        values = tuple(str(v) for v in entry.get("values") or [])
        if not entry.get("name") or not values:
            raise ConfigError("every categoricalHyperParameterRanges entry needs a name and values")
        dimensions.append(Dimension(entry["name"], "categorical", values=values))
    names = [d.name for d in dimensions]
    if len(set(names)) != len(names):
        raise ConfigError(f"a hyperparameter appears in more than one range: {names}")
    return dimensions


def objective(hpo_config: Mapping[str, Any] | None) -> Objective:
    spec = (hpo_config or {}).get("hpoObjective") or {}
    metric = spec.get("metricName") or DEFAULT_OBJECTIVE
    if metric not in SOLUTION_METRICS:
        raise ConfigError(
            f"hpoObjective metricName {metric!r} is not one of {', '.join(SOLUTION_METRICS)}"
        )
    return Objective(metric, maximize=str(spec.get("type") or "Maximize").lower() != "minimize")


def trial_count(hpo_config: Mapping[str, Any] | None, deep: bool) -> int:
    resources = (hpo_config or {}).get("hpoResourceConfig") or {}
    raw = resources.get("maxNumberOfTrainingJobs") or DEFAULT_TRIALS
    try:
        wanted = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"maxNumberOfTrainingJobs must be an integer, not {raw!r}") from None
    wanted = max(1, min(wanted, MAX_TRIALS))
    return min(wanted, MAX_DEEP_TRIALS) if deep else wanted


def search(
    evaluate: Callable[[dict[str, str], float | None], dict[str, float]],
    base: Mapping[str, str],
    hpo_config: Mapping[str, Any] | None,
    *,
    seed: int,
    deep: bool,
    log: Callable[[str], None],
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The best hyperparameter values found, and one record per trial.

    ``evaluate(params, time_budget)`` trains with ``params`` and returns the
    validation metrics. The returned values cover the searched names only (what
    DescribeSolutionVersion shows as tunedHPOParams).
    """
    dimensions = search_space(hpo_config)
    goal = objective(hpo_config)
    trials = trial_count(hpo_config, deep)
    budget = DEEP_BUDGET_SECONDS if deep else BUDGET_SECONDS
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    candidates: list[dict[str, str]] = []
    # the solution's own values (names it leaves out take the recipe's defaults)
    candidates.append({d.name: str(base[d.name]) for d in dimensions if d.name in base})
    seen = {tuple(sorted(c.items())) for c in candidates}
    attempts = 0
    while len(candidates) < trials and attempts < trials * 20:
        attempts += 1
        values = {d.name: d.sample(rng) for d in dimensions}
        key = tuple(sorted(values.items()))
        if key not in seen:
            seen.add(key)
            candidates.append(values)
    best_values: dict[str, str] = candidates[0] if candidates else {}
    best_score: float | None = None
    records: list[dict[str, Any]] = []
    for number, values in enumerate(candidates, start=1):
        elapsed = time.monotonic() - started
        left = budget - elapsed
        if number > 1 and left <= 0:
            log(f"hpo: time budget spent after {number - 1} trial(s)")
            break
        per_trial = left / (len(candidates) - number + 1) if deep else None
        metrics = evaluate({**base, **values}, per_trial)
        score = float(metrics.get(goal.metric, 0.0))
        records.append({"hyperparameters": values, goal.metric: score})
        log(f"hpo trial {number}/{len(candidates)} {values}: {goal.metric} {score:.4f}")
        if goal.better(score, best_score):
            best_score, best_values = score, values
    return dict(best_values), records


def _bounds(entry: Mapping[str, Any], kind: type) -> tuple[float, float]:
    name = entry.get("name")
    if not name:
        raise ConfigError("every hyperparameter range needs a name")
    try:
        low, high = kind(entry["minValue"]), kind(entry["maxValue"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"the range of {name} needs numeric minValue and maxValue") from None
    if low > high:
        raise ConfigError(f"the range of {name} has minValue {low} above maxValue {high}")
    return low, high
