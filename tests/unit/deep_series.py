"""Synthetic data the deep forecaster tests share: seasonal monthly series at many levels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from augury_training.forecasting.deep.context_choice import SWITCH_MARGIN
from augury_training.forecasting.deep.windows import SeriesSet

HORIZON = 12


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster on one thread, and CI's two cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def seasonal(n: int = 30, length: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Monthly series at different levels, half peaking mid-year and half at year end:
    ``(history, the next HORIZON points)``."""
    rng = np.random.default_rng(seed)
    cycle = np.sin(2 * np.pi * np.arange(length + HORIZON) / 12)
    levels = rng.uniform(5, 50, n)
    signs = np.where(np.arange(n) % 2, 1.0, -1.0)
    noise = rng.normal(0, 0.05, (n, length + HORIZON))
    full = levels[:, None] * (1 + 0.4 * signs[:, None] * cycle[None, :] + noise)
    return full[:, :length], full[:, length:]


def monthly(history: np.ndarray, **extra) -> SeriesSet:
    starts = np.full(len(history), np.datetime64("2010-01-01"))
    return SeriesSet([row for row in history], "M", starts=starts, **extra)


def quiet(_: str) -> None:
    pass


def assert_the_margin_chose(model) -> dict[str, float]:
    """Four horizons of context and one were both tried and scored, and the one kept is
    one horizon only if it validated better by the margin; returns the scores."""
    tried = model.summary["contexts_tried"]
    assert set(tried) == {str(4 * HORIZON), str(HORIZON)}
    assert all(score is not None and score > 0 for score in tried.values())
    short_wins = tried[str(HORIZON)] < (1 - SWITCH_MARGIN) * tried[str(4 * HORIZON)]
    assert model.context_length == (HORIZON if short_wins else 4 * HORIZON)
    assert model.summary["context_length"] == model.context_length
    return tried
