"""How far back a deep forecaster looks, when the user does not say: chosen on held-out data.

A default context of four horizons was tuned on M3's monthly series. On short
yearly and quarterly series (Tourism, M1) one horizon, Amazon's own guidance
for DeepAR ("about the same as the prediction length"), forecasts much better;
on M3's "other" and M1's monthly series it forecasts much worse. Neither the
frequency nor the series' lengths told those groups apart
(docs/benchmarks/forecast_deep.md), so both DeepAR+ and CNN-QR train the two
and ask the held-out validation horizons, scored by wQL in the data's own
units: a loss in scaled units depends on the context that set the scale, so it
cannot compare two contexts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = [
    "DEFAULT_CONTEXT_HORIZONS",
    "SHORT_CONTEXT_HORIZONS",
    "SWITCH_MARGIN",
    "clearly_better",
    "context_candidates",
    "near_tie",
    "pinball_sums",
    "prefers_short",
    "room_to_try",
]

DEFAULT_CONTEXT_HORIZONS = 4
SHORT_CONTEXT_HORIZONS = 1
SWITCH_MARGIN = 0.05
"""The short context replaces the default only when its validation wQL is this much lower.

The held-out series train one horizon shorter than at forecast time, which
probably flatters short contexts: with DeepAR+ on M3's and M1's monthly series
one horizon validated 2.6% and 3.0% better and forecast the test horizon 4% and
30% worse. Where it validated 6.7% to 45% better (Tourism's and M1's yearly,
Tourism's quarterly and monthly series) it also forecast better. The margin was
set on these ten groups with DeepAR+ (docs/benchmarks/forecast_deep.md)."""


def context_candidates(default: int, horizon: int, chosen: int | None = None) -> tuple[int, ...]:
    """The contexts to train, the one kept unless another validates clearly better first.

    A ``chosen`` context (the user's or PerformHPO's) is the only one; otherwise
    ``default`` and then one horizon, unless they are the same. ``default`` is
    the model's own four-horizon default, already bounded as the model bounds it.
    """
    if chosen is not None:
        return (chosen,)
    short = min(SHORT_CONTEXT_HORIZONS * horizon, default)
    return (default,) if short == default else (default, short)


def prefers_short(default_wql: float | None, short_wql: float | None) -> bool:
    """Whether the short context's validation wQL beats the default's by :data:`SWITCH_MARGIN`."""
    return clearly_better(default_wql, short_wql)


def clearly_better(default_wql: float | None, other_wql: float | None) -> bool:
    """Whether a candidate's validation wQL beats the default's by :data:`SWITCH_MARGIN`:
    the rule for any setting chosen on the held-out horizons, the default kept on a near tie."""
    if default_wql is None or other_wql is None:
        return False
    return other_wql < (1.0 - SWITCH_MARGIN) * default_wql


def near_tie(kept_wql: float | None, other_wql: float | None) -> bool:
    """Whether a fit not kept validated within :data:`SWITCH_MARGIN` of the kept one, so the
    held-out horizons cannot tell the two apart and both forecast, pooled.

    A hard choice on a near tie follows the noise: on M3's monthly series DeepAR+ with one
    horizon of context validated 2.9% better than with four (short of the margin, so four
    were kept) and forecast the test horizon 4.5% better (0.0794 against 0.0831), and on
    M1's monthly series the opposite happened. The fits are trained already; pooling
    their sample paths, a mixture of the two, costs only the sampling.
    """
    if kept_wql is None or other_wql is None:
        return False
    return not clearly_better(other_wql, kept_wql)


def room_to_try(
    name: str,
    candidate: str,
    comparable: bool,
    deadline: float | None,
    first_seconds: float,
    log: Callable[[str], None],
) -> bool:
    """Whether to train another ``candidate`` (say "a context of 18"): only when something was
    held out to compare them on (``comparable``) and the time left would train the first
    again (``first_seconds``). Says why not in the job log."""
    if not comparable:
        log(f"{name}: no series is long enough to validate {candidate}; keeping the first")
        return False
    if deadline is not None and deadline - time.monotonic() < first_seconds:
        log(f"{name}: the time budget leaves no room to try {candidate}")
        return False
    return True


def pinball_sums(
    actual: np.ndarray, quantiles: np.ndarray, levels: np.ndarray
) -> tuple[float, float]:
    """The two sums a pooled wQL is the ratio of, for one batch of held-out horizons.

    ``actual`` is ``(B, H)`` in data units, NaN where unknown; ``quantiles`` is
    ``(L, B, H)``, the forecast at each of ``levels`` (``(L,)``). Returns the
    pinball loss averaged over the levels and summed over the observed points,
    and half the sum of their absolute values: summed over batches, the first
    divided by the second is the mean wQL over ``levels`` (wQL is twice the
    pinball loss over the absolute actuals).
    """
    observed = np.isfinite(actual)
    actual = np.where(observed, actual, 0.0)
    error = actual[None] - quantiles
    grid = np.asarray(levels, dtype=np.float64).reshape(-1, 1, 1)
    pinball = np.maximum(grid * error, (grid - 1.0) * error).mean(axis=0)
    return float(np.where(observed, pinball, 0.0).sum()), float(np.abs(actual).sum()) / 2
