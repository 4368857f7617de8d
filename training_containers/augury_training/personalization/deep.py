"""The deep recipes (user-personalization, personalized-ranking, and their v2) and UPDATE.

Training hands the histories, event weights and metadata features to the
sequence model (``sequence_model.train_sequence_model``, PyTorch; the only
place torch is imported, and only when a deep recipe trains) and keeps the
NumPy encoders it returns (``num_averaged_models`` networks, served as one).

``trainingMode=UPDATE`` does not retrain: it loads the previous version's
encoder, grows its catalog by the items that appeared since (PutItems or new
imports), each known by its metadata through the previous feature space
(``SequenceEncoder.with_new_items``, in every averaged network), and refreshes
the histories and popularity from the current data, so new items become
recommendable through exploration and new interactions shape the stored
histories.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from augury_training.personalization.catalog import TrainingSet, build_training_set
from augury_training.personalization.features import FeatureSpace
from augury_training.personalization.recipes import (
    FEATURES_FILE,
    Artifacts,
    ConfigError,
    RecipeContext,
)
from augury_training.recommender_artifacts import ENCODER_DIR, ITEMS_FILE, MANIFEST_FILE, USERS_FILE

AVERAGED_MODELS = "num_averaged_models"
"""How many networks the sequence model trains and serves as one."""
HISTORY_PERCENTILES = ("min_user_history_length_percentile", "max_user_history_length_percentile")


def sequence_hyperparameters(
    recipe: str, hyperparameters: Mapping[str, str], context: RecipeContext
) -> dict[str, str]:
    """The recipe's defaults, then the history-length percentiles, then the solution's values."""
    from augury_training.personalization.sequence_hyperparameters import recipe_defaults

    merged = dict(recipe_defaults(recipe))
    for name in HISTORY_PERCENTILES:
        if name in context.feature_transformation:
            merged[name] = str(context.feature_transformation[name])
    merged.update({k: str(v) for k, v in hyperparameters.items()})
    return merged


def fit_sequence(
    data: TrainingSet, hyperparameters: Mapping[str, str], context: RecipeContext
) -> Artifacts:
    from augury_training.personalization.sequence_model import (
        SequenceTrainingData,
        train_sequence_model,
    )

    params = sequence_hyperparameters(context.recipe, hyperparameters, context)
    has_history = np.flatnonzero(np.bincount(data.users, minlength=data.n_users) > 0)
    histories = data.histories
    weighted = bool(np.any(data.weights != 1.0))
    user_rows = (
        has_history.astype(np.int64)
        if data.user_features is not None
        else np.full(has_history.size, -1, dtype=np.int64)
    )
    contexts = data.history_contexts
    space = data.context_space
    training = SequenceTrainingData(
        sequences=[histories[u] for u in has_history],
        weights=[data.history_weights[u] for u in has_history] if weighted else None,
        user_rows=user_rows,
        item_features=data.item_features,
        user_features=data.user_features,
        item_age_days=data.item_age_days(),
        n_items=data.n_items,
        contexts=None if contexts is None else [contexts[u] for u in has_history],
        context_fields=() if space is None else space.fields,
        context_values=() if space is None else space.values,
        context_edges=() if space is None else space.edges,
    )
    context.log(
        f"{context.recipe}: {len(training.sequences)} user histories over {data.n_items} items, "
        f"item features {_width(data.item_features)}, user features {_width(data.user_features)}, "
        f"context {', '.join(training.context_fields) or 'none'}"
    )
    try:
        encoder = train_sequence_model(
            training,
            params,
            seed=context.seed,
            time_budget_seconds=context.time_budget_seconds,
            log=context.log,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return Artifacts(
        kind="sequence",
        encoder=encoder,
        manifest={
            "user_features": data.user_features is not None,
            "trained_users": data.n_users,
            "networks": encoder.training,
        },
    )


def previous_model_dir(channel: Path) -> Path | None:
    """Where the previous version's manifest is within the channel (None when absent)."""
    if (channel / MANIFEST_FILE).is_file():
        return channel
    if channel.is_dir():
        found = sorted(channel.rglob(MANIFEST_FILE))
        if found:
            return found[0].parent
    return None


def update_sequence(
    previous: Path,
    interactions: pd.DataFrame,
    users: pd.DataFrame | None,
    items: pd.DataFrame | None,
    context: RecipeContext,
    unchosen_impressions: pd.Series | None = None,
) -> tuple[TrainingSet, Artifacts, dict]:
    """The previous encoder over a catalog grown by the new items, with fresh histories.

    Returns the training set (catalog, histories, popularity), the artifacts and
    the previous manifest.
    """
    from augury_training.encoder_ensemble import EncoderEnsemble

    manifest = json.loads((previous / MANIFEST_FILE).read_text(encoding="utf-8"))
    old_items = json.loads((previous / ITEMS_FILE).read_text(encoding="utf-8"))
    old_users = json.loads((previous / USERS_FILE).read_text(encoding="utf-8"))
    spaces = _feature_spaces(previous)
    data = build_training_set(
        interactions,
        users,
        items,
        item_order=old_items,
        user_order=old_users,
        item_space=spaces.get("items") or FeatureSpace([]),
        user_space=spaces.get("users") or FeatureSpace([]),
        unchosen_impressions=unchosen_impressions,
    )
    encoder = EncoderEnsemble.load(previous / ENCODER_DIR)
    known = encoder.n_items
    added = data.n_items - known
    if added > 0:
        features = None
        if data.item_features is not None:
            features = data.item_features[known:]
        encoder = encoder.with_new_items(features, added)
    context.log(
        f"update: {added} new item(s) added to the previous catalog of {known}; "
        f"{data.n_users - len(old_users)} new user(s); {data.items.size} interactions"
    )
    artifacts = Artifacts(
        kind="sequence",
        encoder=encoder,
        manifest={
            "user_features": bool(manifest.get("user_features")),
            "trained_users": int(manifest.get("trained_users", len(old_users))),
            "updated_from_items": known,
        },
    )
    return data, artifacts, manifest


def _feature_spaces(previous: Path) -> dict[str, FeatureSpace | None]:
    path = previous / FEATURES_FILE
    if not path.is_file():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: FeatureSpace.from_dict(value) if value else None for name, value in document.items()
    }


def _width(features: np.ndarray | None) -> str:
    return "none" if features is None else str(features.shape[1])
