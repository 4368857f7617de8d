"""aws-popularity-count and aws-trending-now: the same answer for every user.

Popularity-Count ranks items by their (eventsConfig-weighted) interaction
count. Trending-Now ranks them by how fast their interactions are rising: the
count in the latest window (``trend_discovery_frequency``, a feature
transformation parameter as in Amazon's recipe: "30 mins", "1 hour",
"3 hours" or "1 day") against the window before it, as a Poisson z-score
``(latest - previous) / sqrt(previous + 1)``: a jump from 0 to 30 outranks one
from 100 to 110, and one from 100 to 200 outranks one from 0 to 5. When the
latest two windows hold too few interactions to say anything, the window
doubles until they hold enough (or cover all the data).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from augury_training.personalization.catalog import TrainingSet
from augury_training.personalization.recipes import Artifacts, ConfigError, RecipeContext

TREND_FREQUENCIES = {
    "30 mins": 1800,
    "30 minutes": 1800,
    "1 hour": 3600,
    "3 hours": 3 * 3600,
    "1 day": 86_400,
}
DEFAULT_FREQUENCY = "1 day"
MIN_WINDOW_INTERACTIONS = 50
"""The two windows together must hold at least this many interactions (or all there are)."""


def fit_popularity(
    data: TrainingSet, hyperparameters: Mapping[str, str], context: RecipeContext
) -> Artifacts:
    """Nothing to learn beyond the popularity every model stores."""
    context.log(f"popularity over {data.items.size} interactions and {data.n_items} items")
    return Artifacts(kind="popularity")


def fit_trending(
    data: TrainingSet, hyperparameters: Mapping[str, str], context: RecipeContext
) -> Artifacts:
    frequency = context.feature_transformation.get("trend_discovery_frequency", DEFAULT_FREQUENCY)
    if frequency not in TREND_FREQUENCIES:
        raise ConfigError(
            f"featureTransformationParameters trend_discovery_frequency must be one of "
            f"{', '.join(repr(f) for f in TREND_FREQUENCIES)}, not {frequency!r}"
        )
    scores, window = trending_scores(
        data.items, data.timestamps, data.weights, data.n_items, TREND_FREQUENCIES[frequency]
    )
    context.log(f"trending over windows of {window} s ending at {data.latest_timestamp}")
    return Artifacts(
        kind="trending",
        arrays={"trending": scores},
        manifest={"trend_discovery_frequency": frequency, "trend_window_seconds": window},
    )


def trending_scores(
    items: np.ndarray,
    timestamps: np.ndarray,
    weights: np.ndarray,
    n_items: int,
    window: int,
) -> tuple[np.ndarray, int]:
    """Each item's rise from the previous window to the latest one, and the window used."""
    if items.size == 0:
        return np.zeros(n_items), window
    end = int(timestamps.max())
    span = end - int(timestamps.min())
    wanted = min(MIN_WINDOW_INTERACTIONS, items.size)
    while True:
        recent = timestamps > end - 2 * window
        if recent.sum() >= wanted or 2 * window > span:
            break
        window *= 2
    latest = timestamps > end - window
    previous = recent & ~latest
    latest_counts = np.bincount(items[latest], weights=weights[latest], minlength=n_items)
    previous_counts = np.bincount(items[previous], weights=weights[previous], minlength=n_items)
    scores = (latest_counts - previous_counts) / np.sqrt(previous_counts + 1.0)
    # break ties by the latest count, then by overall popularity, far below a real difference
    overall = np.bincount(items, weights=weights, minlength=n_items)
    scores = scores + 1e-3 * latest_counts / (latest_counts.max() + 1.0)
    scores = scores + 1e-6 * overall / (overall.max() + 1.0)
    return scores.astype(np.float64), window
