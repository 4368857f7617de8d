"""The deep forecasters' choice of context: the candidates, the margin and the score."""

from __future__ import annotations

import numpy as np
import pytest

from augury_training.forecasting.deep.context_choice import (
    SWITCH_MARGIN,
    context_candidates,
    near_tie,
    pinball_sums,
    prefers_short,
)
from augury_training.forecasting.metrics import average_weighted_quantile_loss


def test_the_candidates_are_the_default_then_one_horizon_unless_one_is_given() -> None:
    assert context_candidates(48, 12) == (48, 12)
    assert context_candidates(12, 12) == (12,)  # the default is already one horizon
    assert context_candidates(8, 12) == (8,)  # a default shorter than a horizon stays alone
    assert context_candidates(48, 12, chosen=30) == (30,)


def test_the_short_context_must_win_by_the_margin() -> None:
    assert prefers_short(0.100, 0.100 * (1 - SWITCH_MARGIN) - 1e-6)
    assert not prefers_short(0.100, 0.100 * (1 - SWITCH_MARGIN) + 1e-6)
    assert not prefers_short(None, 0.01) and not prefers_short(0.1, None)


def test_a_fit_is_a_near_tie_unless_the_kept_one_validated_better_by_the_margin() -> None:
    """Near ties forecast together: a fit not kept joins the kept one unless the kept one's
    validation wQL is lower than its own by the margin, whichever of them scored lower."""
    assert near_tie(0.100, 0.100)
    assert near_tie(0.100, 0.097)  # validated a little better, not clearly: kept the default
    assert near_tie(0.100, 0.100 / (1 - SWITCH_MARGIN) - 1e-6)
    assert not near_tie(0.100, 0.100 / (1 - SWITCH_MARGIN) + 1e-6)
    assert not near_tie(None, 0.1) and not near_tie(0.1, None)


def test_pooled_over_batches_the_sums_give_the_mean_wql() -> None:
    rng = np.random.default_rng(0)
    actual = rng.uniform(1, 100, (10, 6))
    actual[2, 3] = np.nan  # unknown points count nowhere
    levels = np.array([0.1, 0.5, 0.9])
    forecasts = {q: actual * (0.8 + 0.4 * q) + rng.normal(0, 3, actual.shape) for q in levels}
    stacked = np.stack([forecasts[q] for q in levels])
    first = pinball_sums(actual[:4], stacked[:, :4], levels)
    second = pinball_sums(actual[4:], stacked[:, 4:], levels)
    pooled = (first[0] + second[0]) / (first[1] + second[1])
    expected = average_weighted_quantile_loss(actual, {float(q): forecasts[q] for q in levels})
    assert pooled == pytest.approx(expected, rel=1e-12)
