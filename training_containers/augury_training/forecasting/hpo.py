"""PerformHPO for the deep models: a seeded random search over HPOConfig's ranges.

The ranges are Amazon's ``HPOConfig.ParameterRanges`` (integer, continuous and
categorical ranges, with ``ScalingType`` Auto, Linear, Logarithmic or
ReverseLogarithmic); without an HPOConfig the algorithm's default ranges
(:func:`default_ranges`) are searched, as Amazon tunes its defaults.

Why the search is built this way:

* **No peeking at the backtest.** Trials train on the data before a validation
  window that ends where the earliest backtest window starts, and are scored
  there with the predictor's OptimizationMetric. The backtest (and so
  GetAccuracyMetrics) then measures the chosen values on data the search never
  saw, as an honest estimate should.
* **Within the ranges, from where no search would be.** The first trial is
  the predictor's own TrainingParameters (or the algorithm's defaults), each
  tuned one moved to its nearest value inside its range
  (:meth:`Dimension.nearest`): the ranges are what the user lets the search
  choose, so no trial leaves them, and where they hold the untuned setting,
  tuning can only keep or improve its validation score. Every trial, the first
  included, names a value for every tuned hyperparameter, so the values chosen
  can always be reported.
* **Bounded.** At most ``HPO_TRIALS`` trials; a job's time budget is shared between
  them, and a deep model stops between two batches when its share is spent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from augury_training.forecast_contract import HPO_TRIALS
from augury_training.forecast_hpo import Dimension, SearchError, default_ranges, parse_ranges

__all__ = ["Dimension", "SearchError", "Trial", "default_ranges", "parse_ranges", "search"]


@dataclass
class Trial:
    parameters: dict[str, str]
    score: float
    seconds: float


def search(
    evaluate: Callable[[dict[str, str], float | None], float],
    base: Mapping[str, str],
    dimensions: Sequence[Dimension],
    *,
    seed: int,
    time_budget_seconds: float | None,
    defaults: Mapping[str, str] | None = None,
    trials: int = HPO_TRIALS,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, str], list[Trial]]:
    """The best hyperparameters (``base`` with the tuned names replaced) and every trial.

    ``evaluate(parameters, seconds)`` trains with ``parameters`` within ``seconds``
    (``None``: no limit) and returns the validation loss (lower is better; NaN
    counts as the worst). ``defaults`` are the values the algorithm uses for the
    tuned names ``base`` does not set: the first trial starts from them.
    """
    rng = np.random.default_rng(seed)
    start = {**(defaults or {}), **base}
    first = dict(base) | {d.name: d.nearest(start.get(d.name)) for d in dimensions}
    proposals = [first]
    seen = {tuple(sorted(first.items()))}
    attempts = 0
    while len(proposals) < trials and attempts < trials * 20 and dimensions:
        attempts += 1
        candidate = dict(base) | {d.name: d.sample(rng) for d in dimensions}
        key = tuple(sorted(candidate.items()))
        if key not in seen:
            seen.add(key)
            proposals.append(candidate)
    began = time.monotonic()
    history: list[Trial] = []
    for number, parameters in enumerate(proposals, 1):
        share = None
        if time_budget_seconds is not None:
            remaining = time_budget_seconds - (time.monotonic() - began)
            if remaining <= 0 and history:
                log(f"HPO: time budget spent after {len(history)} trial(s)")
                break
            share = max(1.0, remaining / (len(proposals) - number + 1))
        started = time.monotonic()
        score = float(evaluate(parameters, share))
        history.append(Trial(parameters, score, round(time.monotonic() - started, 3)))
        tuned = {d.name: parameters[d.name] for d in dimensions}
        log(f"HPO trial {number}/{len(proposals)}: {tuned} -> validation {score:.5g}")
    best = min(history, key=lambda t: t.score if math.isfinite(t.score) else math.inf)
    return dict(best.parameters), history
