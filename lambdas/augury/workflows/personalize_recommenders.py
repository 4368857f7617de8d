"""The recommender workflows: training a recommender's model, and stopping or starting it.

``train-recommender`` runs for CreateRecommender and for an UpdateRecommender
that changes the columns training reads. It creates a recommender model (a
record holding what a solution version holds, under the recommender), trains
it with the solution-version training steps of
``augury.workflows.personalize_training`` (the same minimum-data rules, counted
on the use case's event type, the same container), then ``activate`` makes it
the one the recommender serves:

- creating: CREATE PENDING → CREATE IN_PROGRESS → ACTIVE (or CREATE FAILED
  with the reason, as a solution version would have it);
- updating (and retraining every 7 days, ``recommender_retraining``): the
  recommender stays ACTIVE on its current model and
  configuration, ``latestRecommenderUpdate`` goes UPDATE PENDING → UPDATE
  IN_PROGRESS → ACTIVE, and the new model and configuration replace the old
  at once (or UPDATE FAILED, leaving the recommender as it was; a failed
  retraining is logged).

The model before the current one is kept, so a request that read the
recommender just before a switch still finds its model; older ones are deleted.

``switch-recommender`` takes STOP PENDING → STOP IN_PROGRESS → INACTIVE and
START PENDING → START IN_PROGRESS → ACTIVE (once the model loads again).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from augury.personalize.campaign_deployment import check_model
from augury.personalize.resource_types import RECOMMENDER, RECOMMENDER_MODEL
from augury.personalize.solution_versions import JOB_ID, METRICS
from augury.personalize.use_cases import use_case_for_arn
from augury.resources import crud
from augury.resources.errors import ResourceAlreadyExists
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.workflows import forecast_jobs, personalize_training
from augury.workflows.definition import ResourceFailed, State, Step, StepFunction, Workflow
from augury.workflows.lifecycle import blob_prefix

if TYPE_CHECKING:
    from augury.runtime import Runtime

logger = logging.getLogger(__name__)

TRAIN_WORKFLOW = "train-recommender"
SWITCH_WORKFLOW = "switch-recommender"
MODEL = "_model"
"""Recommender attribute: the recommender model serving answers with."""
TRAINING = "_training"
"""Recommender attribute: the recommender model being trained, while one is."""
TRAINED_AT = "_trained_at"
"""Recommender attribute (epoch seconds): when its current model became the one it serves
(``recommender_retraining`` retrains it 7 days later)."""
PENDING_UPDATE = "_pending_update"
"""Recommender attribute: the recommenderConfig an update applies once its model is ACTIVE."""
RUN = "run"
"""Workflow state: the training's ID (the model's ARN ends with it, so a retry finds it)."""
MODEL_KEEP = 2
"""Models a recommender keeps: the one it serves and the one before."""
_CREATING = (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)


def training_state(arn: str) -> dict[str, Any]:
    """The input of a ``train-recommender`` run for the recommender ``arn``."""
    return {"arn": arn, RUN: uuid.uuid4().hex[:8]}


def update_summary(config: dict[str, Any], status: str, reason: str | None = None) -> dict:
    """A RecommenderUpdateSummary."""
    now = time.time()
    summary: dict[str, Any] = {
        "recommenderConfig": dict(config),
        "status": status,
        "creationDateTime": now,
        "lastUpdatedDateTime": now,
    }
    if reason:
        summary["failureReason"] = reason[:1024]
    return summary


def _recommender(runtime: Runtime, arn: str) -> Resource:
    record = runtime.metadata.get(arn)
    if record is None:
        raise ResourceFailed(f"Recommender {arn} was deleted while its model was being trained")
    return record


def _create_model(runtime: Runtime, state: State) -> dict[str, Any]:
    """The run's recommender model, created once: the use case's recipe and event type."""
    arn = state["arn"]
    recommender = _recommender(runtime, arn)
    model_arn = runtime.arns.build(
        "personalize", RECOMMENDER_MODEL.arn_kind, recommender.name, state[RUN]
    )
    if runtime.metadata.get(model_arn) is None:
        use_case = use_case_for_arn(str(recommender.attributes["recipeArn"]))
        config = (
            recommender.attributes.get(PENDING_UPDATE)
            or recommender.attributes.get("recommenderConfig")
            or {}
        )
        solution_config = {}
        if config.get("trainingDataConfig"):
            solution_config["trainingDataConfig"] = config["trainingDataConfig"]
        attributes: dict[str, Any] = {
            "recipeArn": use_case.recipe_arn,
            "datasetGroupArn": recommender.parent_arn,
            "performHPO": False,
            "solutionConfig": solution_config,
            "trainingMode": "FULL",
            JOB_ID: uuid.uuid4().hex[:20],
        }
        if use_case.training_event_type:
            attributes["eventType"] = use_case.training_event_type
        with contextlib.suppress(ResourceAlreadyExists):  # a retry after it was written
            crud.create(
                runtime,
                RECOMMENDER_MODEL,
                model_arn,
                state[RUN],
                status=Status.CREATE_PENDING,
                parent_arn=arn,
                attributes=attributes,
            )

    def change(record: Resource) -> Resource:
        updated = record.with_attributes(**{TRAINING: model_arn})
        pending = record.attributes.get(PENDING_UPDATE)
        if pending is not None:
            summary = dict(record.attributes.get("latestRecommenderUpdate") or {})
            summary.update(status="UPDATE IN_PROGRESS", lastUpdatedDateTime=time.time())
            updated = updated.with_attributes(latestRecommenderUpdate=summary)
        if Status(record.status) == Status.CREATE_PENDING:
            updated = updated.evolve(status=Status.CREATE_IN_PROGRESS.value)
        return updated

    crud.update(runtime, arn, change)
    return {"model": model_arn}


def _on_model(step: StepFunction) -> StepFunction:
    """A solution-version training step, run on the recommender model of this run."""

    def run(runtime: Runtime, state: State) -> Any:
        if state.get(forecast_jobs.STOPPED):
            return None
        return step(runtime, {**state, "arn": state["model"]})

    run.__name__ = step.__name__
    return run


def _activate(runtime: Runtime, state: State) -> None:
    """The trained model becomes the recommender's (with a pending update's configuration)."""
    arn, model_arn = state["arn"], state["model"]
    if state.get(forecast_jobs.STOPPED):
        raise ResourceFailed(f"The training of recommender {arn} was stopped")
    check_model(runtime, model_arn, "recommender model")
    model = runtime.metadata.get(model_arn)
    metrics = dict(model.attributes.get(METRICS) or {}) if model is not None else {}

    def change(record: Resource) -> Resource:
        attributes = dict(record.attributes)
        if attributes.get(MODEL) == model_arn and TRAINING not in attributes:
            return record  # a retry after the switch
        pending = attributes.pop(PENDING_UPDATE, None)
        attributes.pop(TRAINING, None)
        attributes.pop("failureReason", None)
        attributes.update({MODEL: model_arn, "modelMetrics": metrics, TRAINED_AT: time.time()})
        if pending is not None:
            attributes["recommenderConfig"] = pending
            created = (attributes.get("latestRecommenderUpdate") or {}).get("creationDateTime")
            summary = update_summary(pending, "ACTIVE")
            summary["creationDateTime"] = created or summary["creationDateTime"]
            attributes["latestRecommenderUpdate"] = summary
        status = Status.ACTIVE.value if Status(record.status) in _CREATING else record.status
        return record.evolve(status=status, attributes=attributes)

    crud.update(runtime, arn, change)
    _retire_old_models(runtime, arn)


def _retire_old_models(runtime: Runtime, arn: str) -> None:
    """Delete the recommender's models but the newest ``MODEL_KEEP`` it served and any
    model being trained."""
    recommender = runtime.metadata.get(arn)
    if recommender is None:
        return
    training = recommender.attributes.get(TRAINING)
    served = [m for m in _models(runtime, arn) if m.arn != training and _is_active(m)]
    for model in served[:-MODEL_KEEP]:
        if model.arn != recommender.attributes.get(MODEL):
            _delete_model(runtime, model.arn)


def _models(runtime: Runtime, arn: str) -> list[Resource]:
    """The recommender's models, oldest first."""
    found: list[Resource] = []
    cursor = None
    while True:
        page = runtime.metadata.list(parent_arn=arn, limit=100, cursor=cursor)
        found.extend(r for r in page.items if r.kind == RECOMMENDER_MODEL.kind)
        cursor = page.cursor
        if cursor is None:
            return sorted(found, key=lambda r: r.created_at)


def _is_active(record: Resource) -> bool:
    return Status(record.status) == Status.ACTIVE


def _delete_model(runtime: Runtime, model_arn: str) -> None:
    runtime.blobs.delete_prefix(blob_prefix(model_arn))
    runtime.metadata.delete(model_arn)


def _training_failed(runtime: Runtime, state: State, reason: str) -> None:
    """The run's model goes; the recommender fails to be created, or its update fails."""
    arn = state["arn"]
    model_arn = state.get("model")
    recommender = runtime.metadata.get(arn)
    if model_arn is None and recommender is not None:
        model_arn = recommender.attributes.get(TRAINING)
    if model_arn and runtime.metadata.get(model_arn) is not None:
        personalize_training.training_failed(runtime, {**state, "arn": model_arn}, reason)
        _delete_model(runtime, model_arn)
    if recommender is None:
        return
    logger.warning("training recommender %s failed: %s", arn, reason)

    def change(record: Resource) -> Resource:
        attributes = dict(record.attributes)
        attributes.pop(TRAINING, None)
        pending = attributes.pop(PENDING_UPDATE, None)
        if Status(record.status) in _CREATING:
            attributes["failureReason"] = reason[:1024]
            return record.evolve(status=Status.CREATE_FAILED.value, attributes=attributes)
        if pending is not None:
            summary = update_summary(pending, "UPDATE FAILED", reason)
            created = (attributes.get("latestRecommenderUpdate") or {}).get("creationDateTime")
            summary["creationDateTime"] = created or summary["creationDateTime"]
            attributes["latestRecommenderUpdate"] = summary
        return record.evolve(attributes=attributes)

    crud.update(runtime, arn, change)


def _switch(runtime: Runtime, state: State) -> None:
    """STOP PENDING → INACTIVE, or START PENDING → ACTIVE once the model loads."""
    arn = state["arn"]
    record = runtime.metadata.get(arn)
    if record is None or record.kind != RECOMMENDER.kind:
        return
    status = Status(record.status)
    if status in (Status.STOP_PENDING, Status.STOP_IN_PROGRESS):
        crud.set_status(runtime, arn, Status.STOP_IN_PROGRESS)
        crud.set_status(runtime, arn, Status.INACTIVE)
    elif status in (Status.START_PENDING, Status.START_IN_PROGRESS):
        crud.set_status(runtime, arn, Status.START_IN_PROGRESS)
        check_model(runtime, str(record.attributes.get(MODEL)), "recommender model")
        crud.set_status(runtime, arn, Status.ACTIVE)


def _switch_failed(runtime: Runtime, state: State, reason: str) -> None:
    """A stop that failed leaves the recommender ACTIVE; a start, INACTIVE; with the reason."""
    record = runtime.metadata.get(state["arn"])
    if record is None:
        return
    status = Status(record.status)
    if status in (Status.STOP_PENDING, Status.STOP_IN_PROGRESS):
        crud.set_status(runtime, record.arn, Status.ACTIVE, reason)
    elif status in (Status.START_PENDING, Status.START_IN_PROGRESS):
        crud.set_status(runtime, record.arn, Status.INACTIVE, reason)


TRAIN_RECOMMENDER = Workflow(
    name=TRAIN_WORKFLOW,
    steps=(
        Step("model", _create_model),
        Step("prepare", _on_model(personalize_training.prepare)),
        Step("start", _on_model(personalize_training.start)),
        Step("wait", _on_model(personalize_training.wait), retry=personalize_training.JOB_WAIT),
        Step("activate", _activate),
    ),
    on_failure=_training_failed,
)

SWITCH_RECOMMENDER = Workflow(
    name=SWITCH_WORKFLOW,
    steps=(Step("switch", _switch),),
    on_failure=_switch_failed,
)

WORKFLOWS: tuple[Workflow, ...] = (TRAIN_RECOMMENDER, SWITCH_RECOMMENDER)
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
