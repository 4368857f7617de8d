"""The recipes Augury offers, as ListRecipes and DescribeRecipe show them.

Each recipe is one of Amazon's, under Amazon's name and ARNs, with the
hyperparameters its developer-guide page documents (name, default, range,
whether HPO may tune it). CreateSolution checks a solution's
``algorithmHyperParameters``, ``featureTransformationParameters`` and HPO
ranges against this catalog, and DescribeAlgorithm / DescribeFeatureTransformation
read it, so a recipe's rules are written once.

Where Amazon's documentation names no feature transformation for a recipe (the
v2 recipes, Similar-Items, Trending-Now), ``featureTransformationArn`` is left
out rather than invented; their featurization parameters still live here.
ListRecipes and DescribeRecipe also show the domain use cases
(``augury.personalize.use_cases``), the recipes of recommenders; a solution
cannot use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.use_cases import UseCase, is_use_case_arn, use_case_for_arn, use_cases
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceNotFound
from augury_training.personalize_contract import (
    PERSONALIZED_ACTIONS,
    PERSONALIZED_RANKING,
    RECIPE_ARN_PREFIX,
    RECIPE_TYPES,
    RELATED_ITEMS,
    USER_PERSONALIZATION,
)

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

ALGORITHM_ARN_PREFIX = "arn:aws:personalize:::algorithm/"
FEATURE_TRANSFORMATION_ARN_PREFIX = "arn:aws:personalize:::feature-transformation/"
CATALOG_TIMESTAMP = 1_700_000_000.0
"""creationDateTime / lastUpdatedDateTime of every built-in recipe (they never change)."""
CONTAINER_IMAGE = "augury/personalization"

INTEGER, CONTINUOUS, CATEGORICAL = "integer", "continuous", "categorical"
BOOLEAN_VALUES = ("true", "false")


@dataclass(frozen=True)
class HyperParameter:
    """One documented hyperparameter: its kind, default and allowed values."""

    name: str
    kind: str
    default: str
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] = ()
    tunable: bool = False

    def check(self, value: str, where: str) -> str:
        """``value`` normalised, or ``InvalidInput`` naming ``where`` and the allowed range."""
        text = str(value).strip()
        if self.kind == CATEGORICAL:
            allowed = {v.lower(): v for v in self.values}
            if text.lower() not in allowed:
                raise InvalidInput(
                    f"{where}: {self.name} must be one of {', '.join(self.values)}; got {value!r}"
                )
            return allowed[text.lower()]
        try:
            number = int(text) if self.kind == INTEGER else float(text)
        except ValueError:
            kind = "an integer" if self.kind == INTEGER else "a number"
            raise InvalidInput(f"{where}: {self.name} must be {kind}; got {value!r}") from None
        if not self.within(number):
            raise InvalidInput(f"{where}: {self.name} must be in {self.range_text()}; got {value}")
        return text

    def within(self, number: float) -> bool:
        low_ok = self.minimum is None or number >= self.minimum
        high_ok = self.maximum is None or number <= self.maximum
        return low_ok and high_ok

    def range_text(self) -> str:
        low = "-inf" if self.minimum is None else _number(self.minimum)
        high = "inf" if self.maximum is None else _number(self.maximum)
        return f"[{low}, {high}]"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class FeatureTransformation:
    name: str
    parameters: tuple[HyperParameter, ...]

    @property
    def arn(self) -> str:
        return FEATURE_TRANSFORMATION_ARN_PREFIX + self.name


@dataclass(frozen=True)
class Recipe:
    """A built-in recipe: what the API shows and what CreateSolution checks against."""

    name: str
    recipe_type: str
    description: str
    algorithm: str
    hyperparameters: tuple[HyperParameter, ...] = ()
    feature_parameters: tuple[HyperParameter, ...] = ()
    feature_transformation: str | None = None
    deep: bool = False
    """Trains the PyTorch sequence model (a GPU instance on AWS)."""
    updatable: bool = False
    """Accepts trainingMode UPDATE and campaign item exploration (User-Personalization)."""
    batch: bool = True
    """Can serve batch inference jobs (Amazon refuses Trending-Now and Next-Best-Action)."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return RECIPE_ARN_PREFIX + self.name

    @property
    def algorithm_arn(self) -> str:
        return ALGORITHM_ARN_PREFIX + self.algorithm

    @property
    def feature_transformation_arn(self) -> str | None:
        if self.feature_transformation is None:
            return None
        return FEATURE_TRANSFORMATION_ARN_PREFIX + self.feature_transformation

    def hyperparameter(self, name: str) -> HyperParameter | None:
        return next((p for p in self.hyperparameters if p.name == name), None)

    def feature_parameter(self, name: str) -> HyperParameter | None:
        return next((p for p in self.feature_parameters if p.name == name), None)

    @property
    def tunable(self) -> tuple[HyperParameter, ...]:
        return tuple(p for p in self.hyperparameters if p.tunable)

    def ranges(
        self, *, tunable_only: bool = False, leave_out: frozenset[str] = frozenset()
    ) -> dict[str, list[dict[str, Any]]]:
        """The hyperparameters as a ``HyperParameterRanges`` object: every one with its
        ``isTunable`` (DescribeAlgorithm's defaultHyperParameterRanges), or only the
        tunable ones not in ``leave_out`` (what performHPO searches by default)."""
        ranges: dict[str, list[dict[str, Any]]] = {
            "integerHyperParameterRanges": [],
            "continuousHyperParameterRanges": [],
            "categoricalHyperParameterRanges": [],
        }
        for parameter in self.hyperparameters:
            if parameter.name in leave_out or (tunable_only and not parameter.tunable):
                continue
            entry: dict[str, Any] = {"name": parameter.name}
            if not tunable_only:
                entry["isTunable"] = parameter.tunable
            if parameter.kind == CATEGORICAL:
                entry["values"] = list(parameter.values)
            else:
                entry["minValue"], entry["maxValue"] = parameter.minimum, parameter.maximum
            ranges[f"{parameter.kind}HyperParameterRanges"].append(entry)
        return ranges

    def hpo_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The solution's hpoConfig with the recipe's default ranges where it gives none,
        as Amazon searches them: every tunable hyperparameter the solution did not fix
        in ``algorithmHyperParameters``."""
        hpo = dict(config.get("hpoConfig") or {})
        given = hpo.get("algorithmHyperParameterRanges") or {}
        if not any(given.get(kind) for kind in given):
            fixed = frozenset((config.get("algorithmHyperParameters") or {}).keys())
            hpo["algorithmHyperParameterRanges"] = self.ranges(tunable_only=True, leave_out=fixed)
        return hpo


def _percentile(name: str, default: str) -> HyperParameter:
    return HyperParameter(name, CONTINUOUS, default, 0.0, 1.0)


def _sequence_hyperparameters(
    *, layers: str, learning_rate: str, dropout: str, patience: str
) -> tuple[HyperParameter, ...]:
    """What the sequence model takes, with the defaults the container really uses.

    Amazon's names first (``hidden_dimension``, ``bptt``), with Augury's defaults
    (tuned on MovieLens 100K, see ``sequence_model``) rather than Amazon's, since
    DescribeAlgorithm should say what training will do; then Augury's own
    training knobs, which Amazon's recipes do not expose.
    """
    return (
        HyperParameter("hidden_dimension", INTEGER, "64", 32, 256, tunable=True),
        HyperParameter("bptt", INTEGER, "64", 2, 256, tunable=True),
        HyperParameter("num_layers", INTEGER, layers, 1, 4, tunable=True),
        HyperParameter("learning_rate", CONTINUOUS, learning_rate, 1e-5, 0.1, tunable=True),
        HyperParameter("dropout", CONTINUOUS, dropout, 0.0, 0.9, tunable=True),
        HyperParameter("epochs", INTEGER, "60", 1, 1000),
        HyperParameter("batch_size", INTEGER, "32", 1, 4096),
        HyperParameter("early_stopping_patience", INTEGER, patience, 1, 100),
        HyperParameter("num_averaged_models", INTEGER, "3", 1, 5),
    )


_SEQUENCE_HYPERPARAMETERS = (
    *_sequence_hyperparameters(layers="1", learning_rate="0.003", dropout="0.3", patience="5"),
    HyperParameter("recency_mask", CATEGORICAL, "true", values=BOOLEAN_VALUES, tunable=True),
)
_V2_HYPERPARAMETERS = (
    *_sequence_hyperparameters(layers="2", learning_rate="0.001", dropout="0.2", patience="8"),
    HyperParameter("num_heads", INTEGER, "2", 1, 16),
    HyperParameter("apply_recency_bias", CATEGORICAL, "true", values=BOOLEAN_VALUES),
)
_USER_HISTORY_FILTERING = (
    _percentile("min_user_history_length_percentile", "0.0"),
    _percentile("max_user_history_length_percentile", "0.99"),
)
_SIMS_FILTERING = (
    _percentile("min_user_history_length_percentile", "0.005"),
    _percentile("max_user_history_length_percentile", "0.995"),
    _percentile("min_item_interaction_count_percentile", "0.01"),
    _percentile("max_item_interaction_count_percentile", "0.9"),
)

FEATURE_TRANSFORMATIONS = {
    ft.name: ft
    for ft in (
        FeatureTransformation("JSON-percentile-filtering", _USER_HISTORY_FILTERING),
        FeatureTransformation("sims", _SIMS_FILTERING),
    )
}

_RECIPES = (
    Recipe(
        name="aws-user-personalization",
        recipe_type=USER_PERSONALIZATION,
        description=(
            "Predicts the items a user will interact with next from their history, item and "
            "user metadata, and explores new items as a campaign's explorationWeight asks."
        ),
        algorithm="aws-user-personalization",
        hyperparameters=_SEQUENCE_HYPERPARAMETERS,
        feature_parameters=_USER_HISTORY_FILTERING,
        feature_transformation="JSON-percentile-filtering",
        deep=True,
        updatable=True,
    ),
    Recipe(
        name="aws-user-personalization-v2",
        recipe_type=USER_PERSONALIZATION,
        description=(
            "A transformer-style sequence model over each user's history for personalized "
            "recommendations from large catalogs, with exploration of new items."
        ),
        algorithm="aws-user-personalization-v2",
        hyperparameters=_V2_HYPERPARAMETERS,
        deep=True,
        updatable=True,
    ),
    Recipe(
        name="aws-popularity-count",
        recipe_type=USER_PERSONALIZATION,
        description=(
            "Recommends the items with the most interactions from unique users, the same list "
            "for everyone: a baseline for the other recipes' metrics."
        ),
        algorithm="aws-popularity-count",
        feature_transformation="sims",
        feature_parameters=_SIMS_FILTERING,
    ),
    Recipe(
        name="aws-trending-now",
        recipe_type=USER_PERSONALIZATION,
        description=(
            "Recommends the items whose interactions are rising fastest over the trend "
            "discovery interval."
        ),
        algorithm="aws-trending-now-custom",
        feature_parameters=(
            HyperParameter(
                "trend_discovery_frequency",
                CATEGORICAL,
                "1 day",
                values=("30 mins", "1 hour", "3 hours", "1 day"),
            ),
        ),
        batch=False,
    ),
    Recipe(
        name="aws-personalized-ranking",
        recipe_type=PERSONALIZED_RANKING,
        description="Re-ranks a given list of items for a user, most relevant first.",
        algorithm="aws-personalized-ranking",
        hyperparameters=_SEQUENCE_HYPERPARAMETERS,
        feature_parameters=_USER_HISTORY_FILTERING,
        feature_transformation="JSON-percentile-filtering",
        deep=True,
    ),
    Recipe(
        name="aws-personalized-ranking-v2",
        recipe_type=PERSONALIZED_RANKING,
        description=(
            "Re-ranks a given list of items for a user with the v2 sequence model, for large "
            "catalogs."
        ),
        algorithm="aws-personalized-ranking-v2",
        hyperparameters=_V2_HYPERPARAMETERS,
        deep=True,
    ),
    Recipe(
        name="aws-sims",
        recipe_type=RELATED_ITEMS,
        description=(
            "Item-to-item similarities from co-occurrence in user histories, discounted by "
            "popularity; popular items when an item has too little data."
        ),
        algorithm="aws-sims",
        hyperparameters=(
            HyperParameter("popularity_discount_factor", CONTINUOUS, "0.5", 0.0, 1.0, tunable=True),
            HyperParameter("min_cointeraction_count", INTEGER, "3", 0, 10, tunable=True),
            HyperParameter("max_neighbours", INTEGER, "100", 1, 1000),
        ),
        feature_parameters=_SIMS_FILTERING,
        feature_transformation="sims",
    ),
    Recipe(
        name="aws-similar-items",
        recipe_type=RELATED_ITEMS,
        description=(
            "Similar items from co-occurrence and item metadata together, so items with few "
            "or no interactions still get similar items. Unless the solution sets the blend, "
            "training chooses it on each user's held-out latest item."
        ),
        algorithm="aws-similar-items",
        # Amazon's Similar-Items trains embeddings (item_id_hidden_dim,
        # item_metadata_hidden_dim); Augury's blends co-occurrence with metadata
        # similarity, so it takes the knobs of that blend instead. The defaults
        # shown are the first blend tried; with none of the three set, the
        # container picks the best of its grid (similar_items.BLEND_GRID).
        hyperparameters=(
            HyperParameter("item_metadata_weight", CONTINUOUS, "0.02", 0.0, 1.0, tunable=True),
            HyperParameter("item_metadata_shrinkage", CONTINUOUS, "5", 0.0, 1000.0, tunable=True),
            HyperParameter("min_cointeraction_count", INTEGER, "1", 0, 10, tunable=True),
            HyperParameter("max_neighbours", INTEGER, "100", 1, 1000),
        ),
    ),
    Recipe(
        name="aws-next-best-action",
        recipe_type=PERSONALIZED_ACTIONS,
        description=(
            "Ranks the actions of the Actions dataset by how likely the user is to take each "
            "within the action optimization period, from their interactions with items and "
            "actions; equally likely actions rank by their VALUE."
        ),
        algorithm="aws-next-best-action",
        feature_parameters=(HyperParameter("action_optimization_period", INTEGER, "14", 1, 30),),
        batch=False,
    ),
)

RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in _RECIPES}
"""Every recipe, by name; the same set the container's ``RECIPE_TYPES`` lists."""
assert set(RECIPES) == set(RECIPE_TYPES), "recipes and the container contract disagree"
assert all(RECIPE_TYPES[r.name] == r.recipe_type for r in _RECIPES)

ALGORITHMS: dict[str, Recipe] = {recipe.algorithm_arn: recipe for recipe in _RECIPES}


def recipe_for_arn(arn: str) -> Recipe:
    """The recipe behind ``arn``; ``ResourceNotFoundException`` for any other ARN.

    A domain use case's ARN is ``InvalidInputException``: it is a recipe, but only
    a recommender can use it.
    """
    if is_use_case_arn(arn):
        raise InvalidInput(
            f"Recipe {arn} is a domain use case: create a recommender with it "
            "(CreateRecommender) in a Domain dataset group. Solutions use custom recipes"
        )
    recipe = (
        RECIPES.get(arn.removeprefix(RECIPE_ARN_PREFIX))
        if arn.startswith(RECIPE_ARN_PREFIX)
        else None
    )
    if recipe is None:
        raise ResourceNotFound(
            f"Recipe {arn} does not exist. Augury's recipes are: "
            + ", ".join(r.arn for r in _RECIPES)
        )
    return recipe


def _dates() -> dict[str, float]:
    return {"creationDateTime": CATALOG_TIMESTAMP, "lastUpdatedDateTime": CATALOG_TIMESTAMP}


def _recipe_body(recipe: Recipe) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": recipe.name,
        "recipeArn": recipe.arn,
        "algorithmArn": recipe.algorithm_arn,
        "status": "ACTIVE",
        "description": recipe.description,
        "recipeType": recipe.recipe_type,
        **_dates(),
    }
    if recipe.feature_transformation_arn:
        body["featureTransformationArn"] = recipe.feature_transformation_arn
    return body


@operations("ListRecipes")
def list_recipes(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The custom recipes then the use cases; with ``domain``, that domain's use cases only.

    recipeProvider SERVICE is the only provider.
    """
    domain = request.get("domain")
    summaries = [] if domain else [_summary(r.name, r.arn) for r in _RECIPES]
    summaries += [_summary(u.name, u.arn, u.domain) for u in use_cases(domain)]
    return crud.slice_page(summaries, request, "recipes", f"recipes:{domain or ''}")


def _summary(name: str, arn: str, domain: str | None = None) -> dict[str, Any]:
    summary: dict[str, Any] = {"name": name, "recipeArn": arn, "status": "ACTIVE", **_dates()}
    if domain:
        summary["domain"] = domain
    return summary


@operations("DescribeRecipe")
def describe_recipe(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["recipeArn"]
    if is_use_case_arn(arn):
        return {"recipe": _use_case_body(use_case_for_arn(arn))}
    return {"recipe": _recipe_body(recipe_for_arn(arn))}


def _use_case_body(use_case: UseCase) -> dict[str, Any]:
    """A use case as DescribeRecipe shows it: its own name and description, and the type
    and algorithm of the custom recipe Augury trains it with."""
    base = _recipe_body(RECIPES[use_case.recipe])
    return {
        **base,
        "name": use_case.name,
        "recipeArn": use_case.arn,
        "description": f"{use_case.title}: {use_case.description}",
    }


@operations("DescribeAlgorithm")
def describe_algorithm(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["algorithmArn"]
    recipe = ALGORITHMS.get(arn)
    if recipe is None:
        raise ResourceNotFound(f"Algorithm {arn} does not exist")
    ranges = recipe.ranges()
    return {
        "algorithm": {
            "name": recipe.algorithm,
            "algorithmArn": recipe.algorithm_arn,
            "algorithmImage": {"name": recipe.algorithm, "dockerURI": CONTAINER_IMAGE},
            "defaultHyperParameters": {p.name: p.default for p in recipe.hyperparameters},
            "defaultHyperParameterRanges": ranges,
            "defaultResourceConfig": {
                "maxNumberOfTrainingJobs": "20",
                "maxParallelTrainingJobs": "5",
            },
            "trainingInputMode": "File",
            **_dates(),
        }
    }


@operations("DescribeFeatureTransformation")
def describe_feature_transformation(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["featureTransformationArn"]
    transformation = FEATURE_TRANSFORMATIONS.get(
        arn.removeprefix(FEATURE_TRANSFORMATION_ARN_PREFIX)
    )
    if transformation is None or not arn.startswith(FEATURE_TRANSFORMATION_ARN_PREFIX):
        raise ResourceNotFound(f"Feature transformation {arn} does not exist")
    return {
        "featureTransformation": {
            "name": transformation.name,
            "featureTransformationArn": transformation.arn,
            "defaultParameters": {p.name: p.default for p in transformation.parameters},
            "status": "ACTIVE",
            **_dates(),
        }
    }
