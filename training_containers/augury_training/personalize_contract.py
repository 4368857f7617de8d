"""What the Personalize control plane and the personalization container agree on.

Both sides import this module (standard library only), so the job
configuration, the channel names, the recipes and the artifact layout are
written once.

A solution-version job reads these channels (each a folder of Parquet files):

``interactions``
    The Interactions dataset's current data (required).
``users``, ``items``
    The Users and Items datasets' current data, when the group has them.
``actions``, ``action_interactions``
    The Actions and Action_Interactions datasets' current data, when the group
    has them (Next-Best-Action reads them; other recipes ignore them).
``events``
    What arrived through PutEvents / PutUsers / PutItems / PutActions /
    PutActionInteractions since the datasets were imported, in sub-folders
    ``interactions/``, ``users/``, ``items/``, ``actions/`` and
    ``action_interactions/`` (same columns as the datasets). Users, items and
    actions found in both the dataset and the events take the event's row (the
    later one).
``previous_model``
    For ``trainingMode=UPDATE``: the model files of the solution's latest
    ACTIVE version, which the job updates instead of training from scratch.

Column conventions in every channel: one column per schema field, named as in
the schema but with Amazon's reserved names upper-cased (``USER_ID``,
``ITEM_ID``, ``TIMESTAMP``, ``EVENT_TYPE``, ``EVENT_VALUE``, ``IMPRESSION``,
``RECOMMENDATION_ID``, ``CREATION_TIMESTAMP``); IDs are strings, timestamps
int64 seconds since the epoch, categorical fields the raw string (multiple
values joined with ``|``).

The job writes to ``model/``: ``recommender.json`` (the manifest, read first
by serving), ``metrics.json`` (``SOLUTION_METRICS`` by name, computed on
Amazon's split) and the recipe's array files, which
``augury_training.recommender_artifacts`` loads with NumPy alone.

The configuration travels as one hyperparameter, ``config``: a JSON document.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIG_HYPERPARAMETER = "config"

INTERACTIONS_CHANNEL = "interactions"
USERS_CHANNEL = "users"
ITEMS_CHANNEL = "items"
ACTIONS_CHANNEL = "actions"
ACTION_INTERACTIONS_CHANNEL = "action_interactions"
EVENTS_CHANNEL = "events"
PREVIOUS_MODEL_CHANNEL = "previous_model"

MANIFEST_FILE = "recommender.json"
METRICS_FILE = "metrics.json"

USER_PERSONALIZATION = "USER_PERSONALIZATION"
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
RELATED_ITEMS = "RELATED_ITEMS"
PERSONALIZED_ACTIONS = "PERSONALIZED_ACTIONS"

RECIPE_ARN_PREFIX = "arn:aws:personalize:::recipe/"

RECIPE_TYPES: dict[str, str] = {
    "aws-user-personalization": USER_PERSONALIZATION,
    "aws-user-personalization-v2": USER_PERSONALIZATION,
    "aws-popularity-count": USER_PERSONALIZATION,
    "aws-trending-now": USER_PERSONALIZATION,
    "aws-personalized-ranking": PERSONALIZED_RANKING,
    "aws-personalized-ranking-v2": PERSONALIZED_RANKING,
    "aws-sims": RELATED_ITEMS,
    "aws-similar-items": RELATED_ITEMS,
    "aws-next-best-action": PERSONALIZED_ACTIONS,
}
"""Every recipe Augury trains, by Amazon's name, with Amazon's recipe type."""

SOLUTION_METRICS = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)
"""The metrics GetSolutionMetrics returns, by Amazon's names."""


RESERVED_NAMES = frozenset(
    {
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "IMPRESSION",
        "RECOMMENDATION_ID",
        "EVENT_ATTRIBUTION_SOURCE",
        "CREATION_TIMESTAMP",
    }
)
"""Amazon's reserved field names, which it matches case-insensitively; their columns are
stored upper-cased, every other field's as its schema spells it."""

FIELD_KINDS = ("categorical", "textual", "numeric", "boolean", "string")
"""How a Users or Items field is encoded: as its schema says (``"categorical": true``,
``"textual": true``, a number or boolean type), ``string`` when it says nothing more."""


def recipe_name(recipe_arn: str) -> str:
    """``arn:aws:personalize:::recipe/aws-sims`` → ``aws-sims``."""
    return recipe_arn.removeprefix(RECIPE_ARN_PREFIX)


def recipe_arn(name: str) -> str:
    return RECIPE_ARN_PREFIX + name


@dataclass
class SolutionJobConfig:
    """One solution-version training job, as the control plane asks for it.

    ``algorithm_hyperparameters`` and ``feature_transformation_parameters`` are
    the solution's ``solutionConfig`` maps (strings, as Amazon takes them);
    ``hpo_config`` is its ``hpoConfig`` as the API received it, and is used
    only when ``perform_hpo``. ``event_type`` (the solution's eventType) keeps
    only interactions of that type; ``events_config`` is
    ``solutionConfig.eventsConfig`` (event-type weights and value thresholds).
    """

    recipe: str
    training_mode: str = "FULL"
    perform_hpo: bool = False
    hpo_config: dict[str, Any] | None = None
    algorithm_hyperparameters: dict[str, str] = field(default_factory=dict)
    feature_transformation_parameters: dict[str, str] = field(default_factory=dict)
    event_type: str | None = None
    events_config: dict[str, Any] | None = None
    event_value_threshold: str | None = None
    optimization_objective: dict[str, Any] | None = None
    seed: int = 42
    evaluate: bool = True
    field_kinds: dict[str, dict[str, str]] = field(default_factory=dict)
    """``"USERS"`` / ``"ITEMS"`` / ``"INTERACTIONS"`` → column → what its schema declares
    it to be: one of ``FIELD_KINDS``. Channels carry no schema, so without it the
    container would have to guess whether a string is a category or free text, or
    which Interactions columns are context."""

    @property
    def recipe_type(self) -> str:
        return RECIPE_TYPES[self.recipe]

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SolutionJobConfig:
        data = json.loads(text)
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in data.items() if key in known})
