"""How a deep model's window is scaled when its context gives nothing to scale by.

A context with nothing observed (a cold-start item) takes its metadata neighbours'
level; one that observed only zeros (an item that stopped selling) takes a slow
item's level, so it is not forecast like a new item of its category.
"""

from __future__ import annotations

import numpy as np
import pytest

from augury_training.forecasting.deep.common import QUIET_LEVEL_QUANTILE, ScaleFallback
from augury_training.forecasting.deep.windows import (
    SeriesSet,
    gather_context_windows,
    gather_windows,
    lags_for_frequency,
    prepare,
)

HORIZON, CONTEXT = 7, 14


def _prepared(series: list[np.ndarray]):
    data = SeriesSet(series, "D")
    lags = lags_for_frequency("D", max(len(s) for s in series))
    return prepare(data, HORIZON, CONTEXT, lags, None, 0), lags


def test_the_quiet_scale_is_a_slow_items_level():
    levels = np.array([1.0, 2.0, 4.0, 8.0, 16.0, np.nan])  # the last item never sold
    fallback = ScaleFallback.fit(levels, np.zeros((6, 0), dtype=np.int64), [])
    expected = np.exp(np.quantile(np.log(levels[:5]), QUIET_LEVEL_QUANTILE))
    assert fallback.quiet == pytest.approx(expected)
    assert fallback.quiet < float(np.exp(fallback.overall))


def test_selling_quiet_and_unknown_contexts_each_get_their_own_scale():
    selling = np.full(40, 10.0, dtype=np.float32)
    stopped = np.concatenate([np.full(20, 30.0), np.zeros(20)]).astype(np.float32)
    unknown = np.full(40, np.nan, dtype=np.float32)
    prepared, lags = _prepared([selling, stopped, unknown])
    rows = np.arange(3)
    starts = prepared.pad + prepared.lengths  # forecasting right after each history
    fallback = np.array([50.0, 50.0, 50.0], dtype=np.float32)
    windows = gather_windows(prepared, rows, starts, CONTEXT, lags, fallback, 0.5)
    assert windows.scale.tolist() == [10.0, 0.5, 50.0]
    context = gather_context_windows(prepared, rows, starts, CONTEXT, fallback, 0.5)
    assert context.scale.tolist() == [10.0, 0.5, 50.0]


def test_a_model_saved_before_the_quiet_scale_keeps_scaling_as_it_did():
    stopped = np.concatenate([np.full(20, 30.0), np.zeros(20)]).astype(np.float32)
    prepared, lags = _prepared([stopped])
    fallback = np.array([50.0], dtype=np.float32)
    start = prepared.pad + prepared.lengths
    windows = gather_windows(prepared, np.arange(1), start, CONTEXT, lags, fallback)
    assert windows.scale.tolist() == [50.0]
    assert np.isnan(ScaleFallback(0.0, []).quiet)  # what an older saved model unpickles to
