"""Personalize solutions: a recipe and its configuration, bound to a dataset group.

A solution is configuration only; training happens per solution version
(``augury.personalize.solution_versions``). CreateSolution checks everything
it can before storing: the recipe exists, the group is ACTIVE and has an
Interactions dataset, the configuration fits the recipe
(``augury.personalize.solution_config``). The solution then goes CREATE
PENDING → ACTIVE through the activation workflow, as Amazon's does.

Decisions where Augury differs from Amazon, each refused with a message that
says so rather than accepted and ignored:

- ``performAutoML``: Amazon recommends against it, and the HRNN recipes it
  chose between are gone; Augury refuses it (choose a recipe).
- ``performAutoTraining``: Amazon defaults it to true and retrains every
  ``rate(N days)``. Augury has no scheduler yet, so it records false when the
  member is left out and refuses true; train with CreateSolutionVersion.
- ``performIncrementalUpdate``: only for Amazon's semantic-similarity recipe,
  which Augury does not offer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.dataset_groups import ACTIVATE_WORKFLOW
from augury.personalize.group_data import group_datasets
from augury.personalize.recipes import recipe_for_arn
from augury.personalize.resource_types import CAMPAIGN, DATASET_GROUP, SOLUTION, SOLUTION_VERSION
from augury.personalize.solution_config import check_event_type, check_solution_config
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status
from augury_training.personalize_contract import PERSONALIZED_ACTIONS

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

NO_AUTO_TRAINING = (
    "Augury does not run automatic training: set performAutoTraining to false (or leave it "
    "out) and create solution versions with CreateSolutionVersion"
)


def _status(record: Resource) -> str:
    return Status(record.status).render("personalize")


@operations("CreateSolution")
def create_solution(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("performAutoML"):
        raise InvalidInput(
            "performAutoML is not supported: Amazon recommends choosing a recipe instead, and "
            "Augury requires one. Set recipeArn (see ListRecipes) and leave performAutoML out"
        )
    if request.get("performAutoTraining"):
        raise InvalidInput(NO_AUTO_TRAINING)
    if request.get("performIncrementalUpdate"):
        raise InvalidInput(
            "performIncrementalUpdate is supported only for the semantic-similarity recipe, "
            "which Augury does not offer"
        )
    if not request.get("recipeArn"):
        raise InvalidInput("recipeArn is required when performAutoML is not true")
    recipe = recipe_for_arn(request["recipeArn"])
    group = crud.get_record(runtime, DATASET_GROUP, request["datasetGroupArn"])
    if Status(group.status) != Status.ACTIVE:
        raise ResourceInUse(
            f"Dataset group {group.arn} is {_status(group)}; solutions can be created once it "
            "is ACTIVE"
        )
    datasets = group_datasets(runtime, group.arn)
    if "INTERACTIONS" not in datasets:
        raise InvalidInput(
            f"Dataset group {group.arn} has no Interactions dataset; every recipe trains on "
            "interactions, so create one (and import data) first"
        )
    if recipe.recipe_type == PERSONALIZED_ACTIONS:
        _check_actions_solution(recipe.name, group.arn, datasets, request)
    perform_hpo = bool(request.get("performHPO"))
    if perform_hpo and not recipe.tunable:
        raise InvalidInput(
            f"performHPO is not supported for the {recipe.name} recipe: it has no tunable "
            "hyperparameters"
        )
    check_event_type(request.get("eventType"), datasets)
    config = request.get("solutionConfig") or {}
    if config.get("autoTrainingConfig"):
        raise InvalidInput(
            "solutionConfig.autoTrainingConfig is valid only with performAutoTraining. "
            + NO_AUTO_TRAINING
        )
    config = check_solution_config(recipe, config, datasets, perform_hpo=perform_hpo)
    name = request["name"]
    arn = runtime.arns.build("personalize", "solution", name)
    attributes: dict[str, Any] = {
        "recipeArn": recipe.arn,
        "performHPO": perform_hpo,
        "performAutoML": False,
        "performAutoTraining": False,
        "performIncrementalUpdate": False,
        "solutionConfig": config,
    }
    if request.get("eventType"):
        attributes["eventType"] = request["eventType"]
    crud.create(
        runtime,
        SOLUTION,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=group.arn,
        attributes=attributes,
        tags=request.get("tags"),
    )
    crud.start_workflow(runtime, ACTIVATE_WORKFLOW, arn)
    return {"solutionArn": arn}


def children(runtime: Runtime, arn: str, kind: str | None = None) -> Iterator[Resource]:
    """Every child of ``arn`` (of ``kind`` when given), oldest first."""
    cursor = None
    while True:
        page = runtime.metadata.list(parent_arn=arn, limit=100, cursor=cursor)
        for record in page.items:
            if kind is None or record.kind == kind:
                yield record
        cursor = page.cursor
        if cursor is None:
            return


def version_summary(record: Resource) -> dict[str, Any]:
    """A SolutionVersionSummary of ``record``."""
    summary = {
        "solutionVersionArn": record.arn,
        "status": _status(record),
        "trainingMode": record.attributes.get("trainingMode", "FULL"),
        "trainingType": record.attributes.get("trainingType", "MANUAL"),
        "creationDateTime": record.created_at,
        "lastUpdatedDateTime": record.updated_at,
    }
    if record.attributes.get("failureReason"):
        summary["failureReason"] = record.attributes["failureReason"]
    return summary


def _check_actions_solution(
    recipe: str, group_arn: str, datasets: Mapping[str, Any], request: Mapping[str, Any]
) -> None:
    """Next-Best-Action needs an Actions dataset, and learns from every item interaction: a
    selection of events would leave serving's features (every recent event) unlike
    training's."""
    if "ACTIONS" not in datasets:
        raise InvalidInput(
            f"Dataset group {group_arn} has no Actions dataset; the {recipe} recipe "
            "recommends the actions it holds, so create one (and import actions) first"
        )
    config = request.get("solutionConfig") or {}
    chosen = [
        name
        for name, given in (
            ("eventType", request.get("eventType")),
            ("solutionConfig.eventValueThreshold", config.get("eventValueThreshold")),
            ("solutionConfig.eventsConfig", config.get("eventsConfig")),
        )
        if given
    ]
    if chosen:
        raise InvalidInput(
            f"The {recipe} recipe learns from every item interaction; leave out {', '.join(chosen)}"
        )


@operations("DescribeSolution")
def describe_solution(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    result = crud.describe(runtime, SOLUTION, request["solutionArn"])
    latest = None
    for latest in children(runtime, request["solutionArn"], SOLUTION_VERSION.kind):  # noqa: B007
        pass
    if latest is not None:
        result["solution"]["latestSolutionVersion"] = version_summary(latest)
    return result


@operations("ListSolutions")
def list_solutions(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.list_page(runtime, SOLUTION, request, parent_arn=request.get("datasetGroupArn"))


@operations("DeleteSolution")
def delete_solution(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Refused while a campaign deploys one of its versions or a version is still training.

    Finished versions (and their finished batch jobs) go with the solution.
    """
    arn = request["solutionArn"]
    crud.get_record(runtime, SOLUTION, arn)
    for child in children(runtime, arn):
        if child.kind == CAMPAIGN.kind:
            raise ResourceInUse(
                f"Solution {arn} is in use by campaign {child.arn}; delete the campaigns based "
                "on the solution first (ListCampaigns with this solutionArn lists them)"
            )
        if Status(child.status).working:
            raise ResourceInUse(
                f"Solution {arn} has solution version {child.arn} in {_status(child)}; wait for "
                "it to finish or stop it with StopSolutionVersionCreation"
            )
        for grandchild in children(runtime, child.arn):
            if Status(grandchild.status).working:
                raise ResourceInUse(
                    f"Solution {arn} has work in progress: {grandchild.arn} is "
                    f"{_status(grandchild)}"
                )
    crud.request_delete(runtime, SOLUTION, arn, blocking_children=False)
    return {}


@operations("UpdateSolution")
def update_solution(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Change the solution's eventsConfig (automatic training stays off, see the module).

    The change is checked and applied at once, so ``latestSolutionUpdate`` reads
    ACTIVE when the call returns; the next solution version trains with it.
    """
    arn = request["solutionArn"]
    solution = crud.get_record(runtime, SOLUTION, arn)
    if Status(solution.status) != Status.ACTIVE:
        raise ResourceInUse(f"Solution {arn} is {_status(solution)}; update it once it is ACTIVE")
    if request.get("performAutoTraining"):
        raise InvalidInput(NO_AUTO_TRAINING)
    if request.get("performIncrementalUpdate"):
        raise InvalidInput(
            "performIncrementalUpdate is supported only for the semantic-similarity recipe, "
            "which Augury does not offer"
        )
    update_config = dict(request.get("solutionUpdateConfig") or {})
    if update_config.get("autoTrainingConfig"):
        raise InvalidInput(
            "solutionUpdateConfig.autoTrainingConfig is valid only with automatic training. "
            + NO_AUTO_TRAINING
        )
    config = dict(solution.attributes.get("solutionConfig") or {})
    if "eventsConfig" in update_config:
        recipe = recipe_for_arn(solution.attributes["recipeArn"])
        datasets = group_datasets(runtime, str(solution.parent_arn))
        if "INTERACTIONS" not in datasets:
            raise InvalidInput(f"The dataset group of {arn} no longer has an Interactions dataset")
        checked = check_solution_config(
            recipe,
            {"eventsConfig": update_config["eventsConfig"]},
            datasets,
            perform_hpo=False,
        )
        config["eventsConfig"] = checked["eventsConfig"]
    now = time.time()
    summary = {
        "solutionUpdateConfig": update_config,
        "status": "ACTIVE",
        "performAutoTraining": False,
        "performIncrementalUpdate": False,
        "creationDateTime": now,
        "lastUpdatedDateTime": now,
    }
    crud.update(
        runtime,
        arn,
        lambda record: record.with_attributes(solutionConfig=config, latestSolutionUpdate=summary),
    )
    return {"solutionArn": arn}
