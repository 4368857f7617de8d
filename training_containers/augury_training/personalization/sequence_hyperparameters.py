"""The deep recipes' hyperparameters: Amazon's names and Augury's, their defaults per
encoder, and the checks that fail a training job before any work.

Kept apart from :mod:`.sequence_model` so that reading a solution's settings
needs neither PyTorch nor the training code (and so each module holds one idea).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from augury_training.forecasting.models.hyperparameters import (
    HyperparameterError,
    bounded_int,
    get_bool,
    get_choice,
    get_float,
)
from augury_training.sequence_encoder import GRU, TRANSFORMER

__all__ = [
    "ENCODER_DEFAULTS",
    "HyperparameterError",
    "SequenceHyperparameters",
    "parse_hyperparameters",
    "recipe_defaults",
]


@dataclass(frozen=True)
class SequenceHyperparameters:
    """The model's settings, parsed from the solution's string hyperparameters.

    The field defaults are the GRU's; ``ENCODER_DEFAULTS`` holds the ones that
    differ for the transformer (it prefers a lower learning rate, less dropout
    and more patience). ``extra`` keeps every hyperparameter as given.
    """

    encoder: str = GRU
    hidden_dimension: int = 64
    bptt: int = 64
    num_layers: int = 1
    num_heads: int = 2
    dropout: float = 0.3
    item_id_dropout: float = 0.05
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 60
    early_stopping_patience: int = 5
    validation_users: int = 1000
    recency_mask: bool = True
    min_user_history_length_percentile: float = 0.0
    max_user_history_length_percentile: float = 0.99
    full_softmax_max_items: int = 50_000
    num_sampled: int = 2048
    mixed_precision: bool = True
    num_averaged_models: int = 3
    extra: dict[str, str] = field(default_factory=dict, compare=False)


ENCODER_DEFAULTS: dict[str, dict[str, float]] = {
    GRU: {
        "num_layers": 1,
        "learning_rate": 3e-3,
        "dropout": 0.3,
        "early_stopping_patience": 5,
        "num_averaged_models": 3,
    },
    TRANSFORMER: {
        "num_layers": 2,
        "learning_rate": 1e-3,
        "dropout": 0.2,
        "early_stopping_patience": 8,
        "num_averaged_models": 3,
    },
}
"""Defaults that differ by encoder, used unless the hyperparameters say otherwise."""

_RECIPE_ENCODERS = {
    "aws-user-personalization": GRU,
    "aws-personalized-ranking": GRU,
    "aws-user-personalization-v2": TRANSFORMER,
    "aws-personalized-ranking-v2": TRANSFORMER,
}


def recipe_defaults(recipe: str) -> dict[str, str]:
    """The hyperparameters a deep recipe starts from (its encoder); merge the user's over them."""
    if recipe not in _RECIPE_ENCODERS:
        raise ValueError(f"{recipe!r} is not a sequence-model recipe")
    return {"encoder": _RECIPE_ENCODERS[recipe]}


def parse_hyperparameters(values: Mapping[str, str]) -> SequenceHyperparameters:
    """Check and parse string hyperparameters; unknown names are ignored (other parts use them).

    Amazon's names: ``hidden_dimension`` (vector size), ``bptt`` (history
    window), ``recency_mask`` (or v2's ``apply_recency_bias``: use item ages),
    ``min_user_history_length_percentile`` / ``max_user_history_length_percentile``.
    Augury's: ``encoder`` (gru | transformer), ``num_layers``, ``num_heads``,
    ``dropout``, ``item_id_dropout``, ``learning_rate``, ``weight_decay``,
    ``batch_size`` (windows per step), ``epochs`` (at most), ``early_stopping_patience``,
    ``validation_users``, ``full_softmax_max_items``, ``num_sampled``,
    ``mixed_precision``, ``num_averaged_models`` (networks trained from consecutive
    seeds and served as one, 1 to 5: ``augury_training.encoder_ensemble``). Raises
    ``HyperparameterError`` (a ``ValueError``) naming the parameter and what it accepts.
    """
    encoder = get_choice(values, "encoder", GRU, (GRU, TRANSFORMER))
    defaults = SequenceHyperparameters()
    per_encoder = ENCODER_DEFAULTS[encoder]
    dimension = bounded_int(values, "hidden_dimension", defaults.hidden_dimension, 8, 1024)
    heads = bounded_int(values, "num_heads", defaults.num_heads, 1, 16)
    if encoder == TRANSFORMER and dimension % heads:
        raise HyperparameterError(
            f"hidden_dimension ({dimension}) must be a multiple of num_heads ({heads})"
        )
    recency = values.get("recency_mask", values.get("apply_recency_bias"))
    low = get_float(values, "min_user_history_length_percentile", 0.0, minimum=0.0, maximum=1.0)
    high = get_float(values, "max_user_history_length_percentile", 0.99, minimum=0.0, maximum=1.0)
    if low >= high:
        raise HyperparameterError(
            f"min_user_history_length_percentile ({low:g}) must be below "
            f"max_user_history_length_percentile ({high:g})"
        )
    return SequenceHyperparameters(
        encoder=encoder,
        hidden_dimension=dimension,
        bptt=bounded_int(values, "bptt", defaults.bptt, 2, 1024),
        num_layers=bounded_int(values, "num_layers", int(per_encoder["num_layers"]), 1, 8),
        num_heads=heads,
        dropout=get_float(values, "dropout", per_encoder["dropout"], minimum=0.0, maximum=0.9),
        item_id_dropout=get_float(
            values, "item_id_dropout", defaults.item_id_dropout, minimum=0.0, maximum=0.9
        ),
        learning_rate=get_float(
            values,
            "learning_rate",
            per_encoder["learning_rate"],
            minimum=0.0,
            maximum=1.0,
            exclusive_minimum=True,
        ),
        weight_decay=get_float(values, "weight_decay", defaults.weight_decay, minimum=0.0),
        batch_size=bounded_int(values, "batch_size", defaults.batch_size, 1, 65_536),
        epochs=bounded_int(values, "epochs", defaults.epochs, 1, 10_000),
        early_stopping_patience=bounded_int(
            values,
            "early_stopping_patience",
            int(per_encoder["early_stopping_patience"]),
            1,
            10_000,
        ),
        validation_users=bounded_int(
            values, "validation_users", defaults.validation_users, 0, 10**7
        ),
        recency_mask=get_bool(
            {"recency_mask": recency} if recency is not None else {}, "recency_mask", True
        ),
        min_user_history_length_percentile=low,
        max_user_history_length_percentile=high,
        full_softmax_max_items=bounded_int(
            values, "full_softmax_max_items", defaults.full_softmax_max_items, 1, 10**8
        ),
        num_sampled=bounded_int(values, "num_sampled", defaults.num_sampled, 1, 10**6),
        mixed_precision=get_bool(values, "mixed_precision", True),
        num_averaged_models=bounded_int(
            values, "num_averaged_models", int(per_encoder["num_averaged_models"]), 1, 5
        ),
        extra={key: str(value) for key, value in values.items()},
    )
