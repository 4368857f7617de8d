"""CreateSolution's ``solutionConfig``, checked against the recipe and the group's data.

Amazon refuses a solution whose configuration cannot train before it stores
it: a hyperparameter the recipe does not have, a value outside its range, HPO
ranges that are not ranges, an event-value threshold without an EVENT_VALUE
field, an optimization objective on a field the Items dataset lacks. Each
rule here raises ``InvalidInputException`` with the member path, so a user
sees which part of a large request is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from augury.personalize.group_data import GroupDataset, column_name
from augury.personalize.recipes import CATEGORICAL, CONTINUOUS, INTEGER, Recipe
from augury.resources.errors import InvalidInput
from augury_training.personalize_contract import SOLUTION_METRICS

MAX_HPO_TRAINING_JOBS = 40
MAX_HPO_PARALLEL_JOBS = 10
NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})
DATASET_TYPE_KEYS = ("INTERACTIONS", "ITEMS", "USERS")
REQUIRED_COLUMNS = {
    "INTERACTIONS": {"USER_ID", "ITEM_ID", "TIMESTAMP"},
    "ITEMS": {"ITEM_ID"},
    "USERS": {"USER_ID"},
    "ACTIONS": {"ACTION_ID"},
    "ACTION_INTERACTIONS": {"USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"},
}


def field_types(dataset: GroupDataset) -> dict[str, set[str]]:
    """Column name → the Avro type names of its field (nullable unions flattened)."""
    result: dict[str, set[str]] = {}
    for entry in dataset.schema.get("fields", []):
        kind = entry.get("type")
        names = kind if isinstance(kind, list) else [kind]
        result[column_name(entry["name"])] = {str(n) for n in names if n != "null"}
    return result


def check_solution_config(
    recipe: Recipe,
    config: Mapping[str, Any] | None,
    datasets: Mapping[str, GroupDataset],
    *,
    perform_hpo: bool,
) -> dict[str, Any]:
    """The configuration to store (as given, values normalised), or ``InvalidInput``."""
    config = dict(config or {})
    interactions = field_types(datasets["INTERACTIONS"])
    if "autoMLConfig" in config:
        raise InvalidInput(
            "solutionConfig.autoMLConfig is valid only with performAutoML, which Augury does not "
            "support; choose a recipe"
        )
    if "algorithmHyperParameters" in config:
        config["algorithmHyperParameters"] = _check_values(
            recipe,
            config["algorithmHyperParameters"],
            "solutionConfig.algorithmHyperParameters",
            algorithm=True,
        )
    if "featureTransformationParameters" in config:
        config["featureTransformationParameters"] = _check_values(
            recipe,
            config["featureTransformationParameters"],
            "solutionConfig.featureTransformationParameters",
            algorithm=False,
        )
    if "hpoConfig" in config:
        if not perform_hpo:
            raise InvalidInput("solutionConfig.hpoConfig is valid only when performHPO is true")
        config["hpoConfig"] = _check_hpo(recipe, config["hpoConfig"], config)
    threshold = config.get("eventValueThreshold")
    if threshold is not None:
        _check_number(threshold, "solutionConfig.eventValueThreshold")
        _need_field(interactions, "EVENT_VALUE", "solutionConfig.eventValueThreshold")
    if "eventsConfig" in config:
        _check_events_config(config["eventsConfig"], interactions)
    if "optimizationObjective" in config:
        _check_objective(recipe, config["optimizationObjective"], datasets)
    if "trainingDataConfig" in config:
        check_training_data(config["trainingDataConfig"], datasets)
    return config


def check_event_type(event_type: str | None, datasets: Mapping[str, GroupDataset]) -> None:
    if event_type:
        _need_field(field_types(datasets["INTERACTIONS"]), "EVENT_TYPE", "eventType")


def _need_field(fields: Mapping[str, set[str]], name: str, member: str) -> None:
    if name not in fields:
        raise InvalidInput(
            f"{member} needs an {name} field in the Interactions dataset's schema, which has "
            f"none (fields: {', '.join(fields)})"
        )


def _check_number(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where} must be a number; got {value!r}") from None


def _check_values(
    recipe: Recipe, values: Mapping[str, str], where: str, *, algorithm: bool
) -> dict[str, str]:
    known = recipe.hyperparameters if algorithm else recipe.feature_parameters
    result = {}
    for name, value in values.items():
        parameter = next((p for p in known if p.name == name), None)
        if parameter is None:
            names = ", ".join(p.name for p in known) or "none"
            raise InvalidInput(
                f"{where}: {name} is not a hyperparameter of the {recipe.name} recipe "
                f"(its hyperparameters here: {names})"
            )
        result[name] = parameter.check(value, where)
    return result


def _check_hpo(recipe: Recipe, hpo: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    hpo = dict(hpo)
    if not recipe.tunable:
        raise InvalidInput(
            f"The {recipe.name} recipe has no hyperparameters HPO can tune; set performHPO to false"
        )
    objective = hpo.get("hpoObjective")
    if objective:
        kind = objective.get("type")
        if kind is not None and kind not in ("Maximize", "Minimize"):
            raise InvalidInput(
                f"solutionConfig.hpoConfig.hpoObjective.type must be Maximize or Minimize; "
                f"got {kind!r}"
            )
        metric = objective.get("metricName")
        if metric is not None and metric not in SOLUTION_METRICS:
            raise InvalidInput(
                f"solutionConfig.hpoConfig.hpoObjective.metricName {metric!r} is not a solution "
                f"metric; use one of {', '.join(SOLUTION_METRICS)}"
            )
    resources = hpo.get("hpoResourceConfig")
    if resources:
        jobs = _count(resources, "maxNumberOfTrainingJobs", MAX_HPO_TRAINING_JOBS)
        parallel = _count(resources, "maxParallelTrainingJobs", MAX_HPO_PARALLEL_JOBS)
        if jobs is not None and parallel is not None and parallel > jobs:
            raise InvalidInput(
                "solutionConfig.hpoConfig.hpoResourceConfig: maxParallelTrainingJobs "
                f"({parallel}) cannot exceed maxNumberOfTrainingJobs ({jobs})"
            )
    ranges = hpo.get("algorithmHyperParameterRanges")
    if ranges:
        fixed = set((config.get("algorithmHyperParameters") or {}).keys())
        _check_ranges(recipe, ranges, fixed)
    return hpo


def _count(resources: Mapping[str, str], member: str, limit: int) -> int | None:
    value = resources.get(member)
    if value is None:
        return None
    where = f"solutionConfig.hpoConfig.hpoResourceConfig.{member}"
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidInput(f"{where} must be an integer; got {value!r}") from None
    if not 1 <= number <= limit:
        raise InvalidInput(f"{where} must be between 1 and {limit}; got {number}")
    return number


_RANGE_KINDS = (
    ("integerHyperParameterRanges", INTEGER),
    ("continuousHyperParameterRanges", CONTINUOUS),
    ("categoricalHyperParameterRanges", CATEGORICAL),
)


def _check_ranges(recipe: Recipe, ranges: Mapping[str, Any], fixed: set[str]) -> None:
    seen: set[str] = set()
    for member, kind in _RANGE_KINDS:
        where = f"solutionConfig.hpoConfig.algorithmHyperParameterRanges.{member}"
        for entry in ranges.get(member) or []:
            name = entry.get("name")
            parameter = recipe.hyperparameter(name or "")
            if parameter is None:
                raise InvalidInput(
                    f"{where}: {name} is not a hyperparameter of the {recipe.name} recipe"
                )
            if not parameter.tunable:
                raise InvalidInput(f"{where}: {name} is not tunable by HPO")
            if parameter.kind != kind:
                raise InvalidInput(
                    f"{where}: {name} is a {parameter.kind} hyperparameter; give its range in "
                    f"{parameter.kind}HyperParameterRanges"
                )
            if name in seen:
                raise InvalidInput(f"{where}: {name} has more than one range")
            if name in fixed:
                raise InvalidInput(
                    f"{where}: {name} is also fixed in algorithmHyperParameters; a "
                    "hyperparameter is either fixed or tuned"
                )
            seen.add(name)
            if kind == CATEGORICAL:
                values = entry.get("values") or []
                if not values:
                    raise InvalidInput(f"{where}: {name} needs at least one value")
                for value in values:
                    parameter.check(value, where)
            else:
                _check_bounds(parameter, entry, where)


def _check_bounds(parameter: Any, entry: Mapping[str, Any], where: str) -> None:
    low, high = entry.get("minValue"), entry.get("maxValue")
    name = parameter.name
    if low is None or high is None:
        raise InvalidInput(f"{where}: {name} needs both minValue and maxValue")
    if low > high:
        raise InvalidInput(f"{where}: {name} has minValue {low} greater than maxValue {high}")
    if not (parameter.within(low) and parameter.within(high)):
        raise InvalidInput(
            f"{where}: {name}'s range [{low}, {high}] must lie within {parameter.range_text()}"
        )


def _check_events_config(events: Mapping[str, Any], interactions: Mapping[str, set[str]]) -> None:
    where = "solutionConfig.eventsConfig.eventParametersList"
    seen: set[str] = set()
    for entry in events.get("eventParametersList") or []:
        event_type = entry.get("eventType")
        if not event_type:
            raise InvalidInput(f"{where}: every entry needs an eventType")
        if event_type in seen:
            raise InvalidInput(f"{where}: event type {event_type} is listed more than once")
        seen.add(event_type)
        weight = entry.get("weight")
        if weight is not None and not 0.0 <= float(weight) <= 1.0:
            raise InvalidInput(f"{where}: the weight of {event_type} must be in [0, 1]")
        if entry.get("eventValueThreshold") is not None:
            _need_field(interactions, "EVENT_VALUE", f"{where} eventValueThreshold")
    if seen:
        _need_field(interactions, "EVENT_TYPE", where)


def _check_objective(
    recipe: Recipe, objective: Mapping[str, Any], datasets: Mapping[str, GroupDataset]
) -> None:
    where = "solutionConfig.optimizationObjective"
    if recipe.recipe_type == "RELATED_ITEMS" or recipe.name in (
        "aws-popularity-count",
        "aws-trending-now",
    ):
        raise InvalidInput(
            f"{where} is supported only by the User-Personalization and Personalized-Ranking "
            f"recipes, not {recipe.name}"
        )
    attribute = objective.get("itemAttribute")
    if attribute:
        items = datasets.get("ITEMS")
        if items is None:
            raise InvalidInput(f"{where}.itemAttribute needs an Items dataset in the group")
        types = field_types(items).get(column_name(attribute))
        if types is None:
            raise InvalidInput(
                f"{where}.itemAttribute {attribute} is not a field of the Items dataset"
            )
        if not types & NUMERIC_TYPES:
            raise InvalidInput(f"{where}.itemAttribute {attribute} must be a numeric field")


def check_training_data(
    training: Mapping[str, Any],
    datasets: Mapping[str, GroupDataset],
    member_path: str = "solutionConfig.trainingDataConfig",
) -> None:
    """The columns a trainingDataConfig names exist and may be left out of training."""
    for member in ("excludedDatasetColumns", "includedDatasetColumns"):
        for dataset_type, columns in (training.get(member) or {}).items():
            where = f"{member_path}.{member}.{dataset_type}"
            key = dataset_type.upper()
            if key not in DATASET_TYPE_KEYS:
                raise InvalidInput(
                    f"{where}: the key must be a dataset type ({', '.join(DATASET_TYPE_KEYS)})"
                )
            dataset = datasets.get(key)
            if dataset is None:
                raise InvalidInput(f"{where}: the dataset group has no {key} dataset")
            _check_columns(columns, dataset, key, where, member)


def _check_columns(
    columns: Sequence[str], dataset: GroupDataset, key: str, where: str, member: str
) -> None:
    fields = field_types(dataset)
    for column in columns:
        name = column_name(column)
        if name not in fields:
            raise InvalidInput(f"{where}: {column} is not a field of the {key} dataset")
        if member == "excludedDatasetColumns" and name in REQUIRED_COLUMNS[key]:
            raise InvalidInput(f"{where}: {column} is required for training and can't be excluded")
