"""How fast items are rising: Trending-Now's scores (NumPy only).

An item's trend is the rise of its (weighted) interaction count from the
previous window to the latest one, both ending at the newest interaction, as a
Poisson z-score ``(latest - previous) / sqrt(previous + 1)``: a jump from 0 to
30 outranks one from 100 to 110, and one from 100 to 200 outranks one from 0
to 5. Ties go to the latest count, then to overall popularity, far below a
real difference.

Training picks the window (:func:`choose_window`) and scores the dataset;
serving scores again with the same window when events arrive after training
(:func:`rise_scores` on the training's recent interactions plus the new ones),
so Trending-Now follows the events without a new solution version.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_WINDOW_INTERACTIONS", "choose_window", "recent_mask", "rise_scores"]

MIN_WINDOW_INTERACTIONS = 50
"""The two windows together must hold at least this many interactions (or all there are)."""


def choose_window(timestamps: np.ndarray, window: int) -> int:
    """``window`` (seconds), doubled until the latest two windows hold enough interactions.

    When the latest two windows hold too few interactions to say anything, the
    window doubles until they hold enough or cover all the data.
    """
    if timestamps.size == 0:
        return window
    end = int(timestamps.max())
    span = end - int(timestamps.min())
    wanted = min(MIN_WINDOW_INTERACTIONS, timestamps.size)
    while True:
        if (timestamps > end - 2 * window).sum() >= wanted or 2 * window > span:
            return window
        window *= 2


def recent_mask(timestamps: np.ndarray, end: int, window: int) -> np.ndarray:
    """The interactions any later trend can still count: newer than ``end - 2 * window``.

    Later scores end at ``end`` or after, so their two windows start after
    ``end - 2 * window``.
    """
    return timestamps > end - 2 * window


def rise_scores(
    items: np.ndarray,
    timestamps: np.ndarray,
    weights: np.ndarray,
    n_items: int,
    window: int,
    overall: np.ndarray,
    end: int | None = None,
) -> np.ndarray:
    """Each item's rise into the latest window ending at ``end`` (default: the newest time).

    ``overall`` is each item's count over all the data, the last tie-break.
    """
    if items.size == 0:
        return 1e-6 * overall / (overall.max() + 1.0) if overall.size else np.zeros(n_items)
    end = int(timestamps.max()) if end is None else end
    latest = timestamps > end - window
    previous = (timestamps > end - 2 * window) & ~latest
    latest_counts = np.bincount(items[latest], weights=weights[latest], minlength=n_items)
    previous_counts = np.bincount(items[previous], weights=weights[previous], minlength=n_items)
    scores = (latest_counts - previous_counts) / np.sqrt(previous_counts + 1.0)
    scores = scores + 1e-3 * latest_counts / (latest_counts.max() + 1.0)
    scores = scores + 1e-6 * overall / (overall.max() + 1.0)
    return scores.astype(np.float64)
