"""Recipes by Amazon's name: each turns a ``TrainingSet`` into the artifacts serving loads.

A recipe returns :class:`Artifacts` (the manifest ``kind``, its arrays and, for
the deep recipes, a sequence encoder); :func:`write_model` writes them, with
the catalog, histories and popularity every kind shares, through
``recommender_artifacts.write_recommender``. Evaluation writes a model the same
way to a scratch folder and loads it back, so metrics are computed by exactly
the code that serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from augury_training.contract import ClientError
from augury_training.event_rule import EventRule
from augury_training.personalization.catalog import TrainingSet
from augury_training.personalize_contract import RECIPE_TYPES
from augury_training.recommender_artifacts import (
    ENCODER_DIR,
    UNCHOSEN_IMPRESSIONS_FILE,
    write_recommender,
)

FEATURES_FILE = "features.json"
"""The metadata feature spaces (``features.FeatureSpace``), reused by trainingMode=UPDATE."""

DEEP_RECIPES = frozenset(
    {
        "aws-user-personalization",
        "aws-user-personalization-v2",
        "aws-personalized-ranking",
        "aws-personalized-ranking-v2",
    }
)


class ConfigError(ClientError):
    """The solution's configuration is unusable; the message names the setting."""


@dataclass
class RecipeContext:
    """What a recipe needs besides data and hyperparameters."""

    recipe: str = ""
    seed: int = 42
    feature_transformation: Mapping[str, str] = field(default_factory=dict)
    time_budget_seconds: float | None = None
    log: Callable[[str], None] = print


@dataclass
class Artifacts:
    """One trained model in memory, ready to write."""

    kind: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    encoder: Any = None
    manifest: dict[str, Any] = field(default_factory=dict)


def fit(
    recipe: str, data: TrainingSet, hyperparameters: Mapping[str, str], context: RecipeContext
) -> Artifacts:
    """Train ``recipe`` on ``data``."""
    if recipe not in RECIPE_TYPES:
        raise ConfigError(f"recipe {recipe!r} is not one of {', '.join(sorted(RECIPE_TYPES))}")
    context = replace(context, recipe=recipe)
    if recipe == "aws-popularity-count":
        from augury_training.personalization.popularity import fit_popularity

        return fit_popularity(data, hyperparameters, context)
    if recipe == "aws-trending-now":
        from augury_training.personalization.popularity import fit_trending

        return fit_trending(data, hyperparameters, context)
    if recipe == "aws-sims":
        from augury_training.personalization.cooccurrence import fit_sims

        return fit_sims(data, hyperparameters, context)
    if recipe == "aws-similar-items":
        from augury_training.personalization.similar_items import fit_similar_items

        return fit_similar_items(data, hyperparameters, context)
    from augury_training.personalization.deep import fit_sequence

    return fit_sequence(data, hyperparameters, context)


def write_model(
    model_dir: Path,
    recipe: str,
    data: TrainingSet,
    artifacts: Artifacts,
    *,
    hyperparameters: Mapping[str, str],
    event_type: str | None = None,
    rule: EventRule | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a trained model where ``load_recommender`` reads it.

    ``rule`` is the solution's event selection, stored so serving counts the
    events recorded since training the way training counted the dataset's.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    if artifacts.encoder is not None:
        artifacts.encoder.save(model_dir / ENCODER_DIR)
    spaces = {
        "items": data.item_space.to_dict() if data.item_space else None,
        "users": data.user_space.to_dict() if data.user_space else None,
    }
    (model_dir / FEATURES_FILE).write_text(json.dumps(spaces), encoding="utf-8")
    manifest: dict[str, Any] = {
        "recipe": recipe,
        "recipe_type": RECIPE_TYPES[recipe],
        "kind": artifacts.kind,
        "event_type": event_type or None,
        "event_rule": (rule or EventRule()).to_manifest(),
        "hyperparameters": dict(hyperparameters),
        "latest_timestamp": data.latest_timestamp,
        "interactions": int(data.items.size),
        **artifacts.manifest,
        **(extra or {}),
    }
    write_recommender(
        model_dir,
        manifest,
        item_ids=data.item_ids,
        user_ids=data.user_ids,
        popularity=data.popularity,
        histories=data.histories,
        arrays={
            **{f"{name}.npy": array for name, array in artifacts.arrays.items()},
            **(
                {UNCHOSEN_IMPRESSIONS_FILE: data.unchosen_impressions}
                if data.unchosen_impressions is not None
                else {}
            ),
        },
        item_creation_seconds=data.item_creation,
    )


# -- hyperparameter values (strings, as Amazon takes them) ----------------------------------


def int_param(
    params: Mapping[str, str],
    name: str,
    default: int,
    low: int | None = None,
    high: int | None = None,
) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(float(raw))
    except (TypeError, ValueError):
        raise ConfigError(f"hyperparameter {name} must be an integer, not {raw!r}") from None
    _check_range(name, value, low, high)
    return value


def float_param(
    params: Mapping[str, str],
    name: str,
    default: float,
    low: float | None = None,
    high: float | None = None,
) -> float:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"hyperparameter {name} must be a number, not {raw!r}") from None
    if not np.isfinite(value):
        raise ConfigError(f"hyperparameter {name} must be a finite number, not {raw!r}")
    _check_range(name, value, low, high)
    return value


def _check_range(name: str, value: float, low: float | None, high: float | None) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"hyperparameter {name} must be between {low} and {high}, not {value}")
