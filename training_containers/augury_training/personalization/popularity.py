"""aws-popularity-count and aws-trending-now: the same answer for every user.

Popularity-Count ranks items by how many users interacted with them, each user
counted once (at their largest eventsConfig weight for the item), as Amazon's
recipe ranks "the items with the most interactions data from unique users".
Trending-Now ranks them by how fast their interactions are rising
(``augury_training.trends``): the count in the latest window
(``trend_discovery_frequency``, a feature transformation parameter as in
Amazon's recipe: "30 mins", "1 hour", "3 hours" or "1 day", doubled while the
data is too thin) against the window before it. The model keeps the
interactions of its latest two windows, so serving scores again as events
arrive, without a new solution version.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from augury_training.personalization.catalog import TrainingSet
from augury_training.personalization.recipes import Artifacts, ConfigError, RecipeContext
from augury_training.recommender_artifacts import (
    TREND_ITEMS,
    TREND_TIMES,
    TREND_WEIGHTS,
    TRENDING,
)
from augury_training.trends import choose_window, recent_mask, rise_scores

TREND_FREQUENCIES = {
    "30 mins": 1800,
    "30 minutes": 1800,
    "1 hour": 3600,
    "3 hours": 3 * 3600,
    "1 day": 86_400,
}
DEFAULT_FREQUENCY = "1 day"


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
    window = choose_window(data.timestamps, TREND_FREQUENCIES[frequency])
    end = data.latest_timestamp
    scores = rise_scores(
        data.items, data.timestamps, data.weights, data.n_items, window, data.popularity
    )
    recent = recent_mask(data.timestamps, end, window)
    context.log(
        f"trending over windows of {window} s ending at {end}; "
        f"{int(recent.sum())} recent interactions kept for serving"
    )
    return Artifacts(
        kind="trending",
        arrays={
            TRENDING: scores,
            TREND_ITEMS: data.items[recent].astype(np.int32),
            TREND_TIMES: data.timestamps[recent].astype(np.int64),
            TREND_WEIGHTS: data.weights[recent].astype(np.float32),
        },
        manifest={
            "trend_discovery_frequency": frequency,
            "trend_window_seconds": window,
            "trend_end": end,
        },
    )
