"""Personalize recommenders: a Domain dataset group's use cases, trained and served.

A recommender is a use case (``augury.personalize.use_cases``) of its Domain
dataset group, answering GetRecommendations with ``recommenderArn``. Where a
custom group needs a solution, a solution version and a campaign, a
recommender is all three: CreateRecommender trains its model (the
``train-recommender`` workflow, ``augury.workflows.personalize_recommenders``)
and it serves as soon as it is ACTIVE.

- UpdateRecommender changes ``recommenderConfig``. A change to the columns
  training reads (``trainingDataConfig``) retrains the model, as Amazon does,
  while the recommender keeps serving its current model and configuration;
  any other change applies at once. Either way ``latestRecommenderUpdate``
  tells its status.
- StopRecommender / StartRecommender take it INACTIVE and back (the
  ``switch-recommender`` workflow); an INACTIVE recommender answers nothing.
- A dataset group cannot be deleted while it has recommenders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.campaign_config import check_exploration
from augury.personalize.group_data import group_datasets
from augury.personalize.recipes import RECIPES
from augury.personalize.recommender_records import (
    CONFIG_MEMBER,
    MODEL,
    PENDING_UPDATE,
    RUN,
    SWITCH_WORKFLOW,
    TRAIN_WORKFLOW,
    automatic_claim,
    claim,
    model_arn,
    new_run,
    stop_model,
    update_summary,
    without_claim,
)
from augury.personalize.resource_types import DATASET_GROUP, RECOMMENDER
from augury.personalize.solution_config import check_training_data
from augury.personalize.use_cases import UseCase, is_use_case_arn, use_case_for_arn
from augury.resources import crud
from augury.resources.crud import DELETE_WORKFLOW
from augury.resources.errors import InvalidInput, ResourceInUse, ResourceNotFound
from augury.resources.record import Resource
from augury.resources.status import Status
from augury_training.personalize_contract import recipe_name

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

DEFAULT_REQUESTS_PER_SECOND = 1


def _status(record: Resource) -> str:
    return Status(record.status).render("personalize")


def _use_case(recipe_arn: str) -> UseCase:
    if not is_use_case_arn(recipe_arn) and recipe_name(recipe_arn) in RECIPES:
        raise InvalidInput(
            f"Recipe {recipe_arn} is a custom recipe: train it with CreateSolution and serve it "
            "with CreateCampaign. A recommender takes a domain use case (ListRecipes with domain)"
        )
    return use_case_for_arn(recipe_arn)


def _config(
    use_case: UseCase, requested: dict[str, Any], group_arn: str, runtime: Runtime
) -> dict[str, Any]:
    """The recommenderConfig to store, checked against the use case and the group's data."""
    rps = requested.get("minRecommendationRequestsPerSecond")
    rps = DEFAULT_REQUESTS_PER_SECOND if rps is None else int(rps)
    if rps < 1:
        raise InvalidInput(
            f"{CONFIG_MEMBER}.minRecommendationRequestsPerSecond must be at least 1; got {rps}"
        )
    config: dict[str, Any] = {"minRecommendationRequestsPerSecond": rps}
    exploration = requested.get("itemExplorationConfig")
    recipe = RECIPES[use_case.recipe]
    if exploration:
        if not recipe.updatable:
            raise InvalidInput(
                f"{CONFIG_MEMBER}.itemExplorationConfig applies only to use cases that "
                "recommend items for a user (aws-ecomm-recommended-for-you, "
                f"aws-vod-top-picks); {use_case.name} is {use_case.title}"
            )
        config["itemExplorationConfig"] = check_exploration(
            recipe, exploration, f"{CONFIG_MEMBER}.itemExplorationConfig"
        )
    training = requested.get("trainingDataConfig")
    if training:
        check_training_data(
            training, group_datasets(runtime, group_arn), f"{CONFIG_MEMBER}.trainingDataConfig"
        )
        config["trainingDataConfig"] = training
    if requested.get("enableMetadataWithRecommendations") is not None:
        config["enableMetadataWithRecommendations"] = bool(
            requested["enableMetadataWithRecommendations"]
        )
    return config


def _check_group(runtime: Runtime, group: Resource, use_case: UseCase) -> None:
    """The group is an ACTIVE Domain group of the use case's domain, with its datasets."""
    if Status(group.status) != Status.ACTIVE:
        raise ResourceInUse(
            f"Dataset group {group.arn} is {_status(group)}; recommenders can be created once "
            "it is ACTIVE"
        )
    domain = group.attributes.get("domain")
    if not domain:
        raise InvalidInput(
            f"Dataset group {group.arn} is a Custom dataset group; recommenders need a Domain "
            "dataset group. Use CreateSolution and CreateCampaign in a Custom group"
        )
    if domain != use_case.domain:
        raise InvalidInput(
            f"Recipe {use_case.arn} is a {use_case.domain} use case; dataset group {group.arn} "
            f"is of the {domain} domain"
        )
    datasets = group_datasets(runtime, group.arn)
    if "INTERACTIONS" not in datasets:
        raise InvalidInput(
            f"Dataset group {group.arn} has no Interactions dataset; every use case trains on "
            "interactions, so create one (and import data) first"
        )
    if use_case.needs_items_dataset and "ITEMS" not in datasets:
        raise InvalidInput(
            f"The {use_case.title} use case ({use_case.name}) trains on item metadata too: "
            f"dataset group {group.arn} needs an Items dataset"
        )


@operations("CreateRecommender")
def create_recommender(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    use_case = _use_case(request["recipeArn"])
    group = crud.get_record(runtime, DATASET_GROUP, request["datasetGroupArn"])
    _check_group(runtime, group, use_case)
    config = _config(use_case, request.get(CONFIG_MEMBER) or {}, group.arn, runtime)
    name = request["name"]
    arn = runtime.arns.build("personalize", "recommender", name)
    run = new_run()
    crud.create(
        runtime,
        RECOMMENDER,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=group.arn,
        attributes={
            "recipeArn": use_case.arn,
            CONFIG_MEMBER: config,
            **claim(model_arn(runtime, arn, run)),
        },
        tags=request.get("tags"),
    )
    try:
        runtime.workflows.start(TRAIN_WORKFLOW, {"arn": arn, RUN: run})
    except Exception as error:
        reason = f"Could not start the {TRAIN_WORKFLOW} workflow: {error}"
        crud.update(
            runtime,
            arn,
            lambda record: record.evolve(
                status=Status.CREATE_FAILED.value,
                attributes={**without_claim(record), "failureReason": reason},
            ),
        )
        raise
    return {"recommenderArn": arn}


@operations("DescribeRecommender")
def describe_recommender(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """modelMetrics only while a model serves or can serve (Amazon: none while the
    recommender is created or deleted)."""
    described = crud.describe(runtime, RECOMMENDER, request["recommenderArn"])
    body = described["recommender"]
    if Status.parse(body["status"]).deleting:
        body.pop("modelMetrics", None)
    return described


@operations("ListRecommenders")
def list_recommenders(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The group's recommenders; with no datasetGroupArn, every recommender (none for a
    group that does not exist: the operation declares no ResourceNotFoundException)."""
    group_arn = request.get("datasetGroupArn")
    return crud.list_page(runtime, RECOMMENDER, request, parent_arn=group_arn)


def _refuse_during_update(record: Resource, action: str) -> None:
    """ResourceInUseException while a user's update trains (an automatic retraining gives
    way instead: ``_preempt``)."""
    if record.attributes.get(PENDING_UPDATE) is not None:
        raise ResourceInUse(
            f"Recommender {record.arn} has an update in progress; it can be {action} once the "
            "update ends (see latestRecommenderUpdate)"
        )


def _require_active(record: Resource, action: str) -> None:
    if Status(record.status) != Status.ACTIVE:
        raise ResourceInUse(
            f"Recommender {record.arn} is {_status(record)}; it can be {action} when it is ACTIVE"
        )


def _preempt(runtime: Runtime, cancelled: str | None) -> None:
    """Stop the automatic retraining whose claim a user's call just dropped: its run sees
    the stop (or the missing claim) and discards its model."""
    if cancelled:
        stop_model(runtime, cancelled)


@operations("UpdateRecommender")
def update_recommender(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Change recommenderConfig; members left out keep their values.

    New training columns retrain the model in the background (an automatic
    retraining under way gives way); anything else applies at once.
    """
    arn = request["recommenderArn"]
    record = crud.get_record(runtime, RECOMMENDER, arn)
    _require_active(record, "updated")
    _refuse_during_update(record, "updated")
    use_case = use_case_for_arn(str(record.attributes["recipeArn"]))
    current = dict(record.attributes.get(CONFIG_MEMBER) or {})
    merged = {**current, **(request.get(CONFIG_MEMBER) or {})}
    config = _config(use_case, merged, str(record.parent_arn), runtime)
    retrain = config.get("trainingDataConfig") != current.get("trainingDataConfig")
    run = new_run()
    cancelled: list[str] = []

    def change(latest: Resource) -> Resource:
        _require_active(latest, "updated")
        _refuse_during_update(latest, "updated")
        if latest.attributes.get(CONFIG_MEMBER) != record.attributes.get(CONFIG_MEMBER):
            raise ResourceInUse(f"Recommender {arn} changed meanwhile; try again")
        if not retrain:
            summary = update_summary(config, "ACTIVE")
            return latest.with_attributes(
                **{CONFIG_MEMBER: config, "latestRecommenderUpdate": summary}
            )
        cancelled[:] = [c for c in (automatic_claim(latest),) if c]
        return latest.evolve(
            attributes={
                **without_claim(latest),
                PENDING_UPDATE: config,
                "latestRecommenderUpdate": update_summary(config, "UPDATE PENDING"),
                **claim(model_arn(runtime, arn, run)),
            }
        )

    crud.update(runtime, arn, change)
    if not retrain:
        return {"recommenderArn": arn}
    _preempt(runtime, cancelled[0] if cancelled else None)
    try:
        runtime.workflows.start(TRAIN_WORKFLOW, {"arn": arn, RUN: run})
    except Exception as error:
        failed = update_summary(config, "UPDATE FAILED", f"Could not start the update: {error}")
        crud.update(
            runtime,
            arn,
            lambda latest: latest.evolve(
                attributes={**without_claim(latest), "latestRecommenderUpdate": failed}
            ),
        )
        raise
    return {"recommenderArn": arn}


@operations("StopRecommender")
def stop_recommender(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """ACTIVE → STOP PENDING → INACTIVE; an automatic retraining under way stops too."""
    arn = request["recommenderArn"]
    crud.get_record(runtime, RECOMMENDER, arn)
    cancelled: list[str] = []

    def change(record: Resource) -> Resource:
        _require_active(record, "stopped")
        _refuse_during_update(record, "stopped")
        cancelled[:] = [c for c in (automatic_claim(record),) if c]
        return record.evolve(status=Status.STOP_PENDING.value, attributes=without_claim(record))

    crud.update(runtime, arn, change)
    _preempt(runtime, cancelled[0] if cancelled else None)
    _start_switch(runtime, arn, Status.ACTIVE)
    return {"recommenderArn": arn}


@operations("StartRecommender")
def start_recommender(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["recommenderArn"]
    crud.get_record(runtime, RECOMMENDER, arn)

    def change(record: Resource) -> Resource:
        if Status(record.status) != Status.INACTIVE:
            raise ResourceInUse(
                f"Recommender {arn} is {_status(record)}; only an INACTIVE recommender can be "
                "started"
            )
        return record.evolve(status=Status.START_PENDING.value)

    crud.update(runtime, arn, change)
    _start_switch(runtime, arn, Status.INACTIVE)
    return {"recommenderArn": arn}


def _start_switch(runtime: Runtime, arn: str, before: Status) -> None:
    """Start the switch workflow; if it cannot start, the recommender is as ``before``."""
    try:
        runtime.workflows.start(SWITCH_WORKFLOW, {"arn": arn})
    except Exception:
        crud.set_status(runtime, arn, before)
        raise


@operations("DeleteRecommender")
def delete_recommender(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Its models go with it. Refused while it is created, switched or updated; an
    automatic retraining under way stops."""
    arn = request["recommenderArn"]
    crud.get_record(runtime, RECOMMENDER, arn)
    cancelled: list[str] = []

    def change(record: Resource) -> Resource:
        status = Status(record.status)
        if status.working:
            raise ResourceInUse(
                f"Recommender {arn} is {_status(record)}; it can be deleted once it is ACTIVE, "
                "INACTIVE or has failed"
            )
        _refuse_during_update(record, "deleted")
        cancelled[:] = [c for c in (automatic_claim(record),) if c]
        return record.evolve(status=Status.DELETE_PENDING.value, attributes=without_claim(record))

    crud.update(runtime, arn, change)
    _preempt(runtime, cancelled[0] if cancelled else None)
    crud.start_workflow(runtime, DELETE_WORKFLOW, arn)
    return {}


def serving_recommender(runtime: Runtime, arn: str) -> tuple[Resource, UseCase, str]:
    """The recommender behind ``arn``, its use case and the model it serves, if it can
    answer now (ACTIVE, also while an update trains)."""
    record = runtime.metadata.get(arn)
    if record is None or record.kind != RECOMMENDER.kind:
        raise ResourceNotFound(f"No recommender found with ARN {arn}")
    model = record.attributes.get(MODEL)
    if Status(record.status) != Status.ACTIVE or not model:
        raise InvalidInput(
            f"Recommender {arn} is {_status(record)}; it can answer once it is ACTIVE"
            + (" (StartRecommender starts it)" if Status(record.status) == Status.INACTIVE else "")
        )
    return record, use_case_for_arn(str(record.attributes["recipeArn"])), str(model)


def check_request(use_case: UseCase, user_id: str | None, item_id: str | None) -> None:
    """What the use case's GetRecommendations needs, as Amazon's guide states it."""
    what = f"The {use_case.title} use case ({use_case.name})"
    if use_case.needs_item and not item_id:
        raise InvalidInput(f"{what} recommends items related to one: give itemId")
    if not use_case.needs_item and item_id:
        raise InvalidInput(f"{what} does not use itemId")
    if use_case.needs_user and not user_id:
        raise InvalidInput(f"{what} needs a userId")
