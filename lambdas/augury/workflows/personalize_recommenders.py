"""The recommender workflows: training a recommender's model, and stopping or starting it.

``train-recommender`` runs for CreateRecommender, for an UpdateRecommender that
changes the columns training reads, and for the weekly retraining
(``recommender_retraining``). Whoever starts it has claimed the recommender
(``recommender_records``). The run creates a recommender model (a record
holding what a solution version holds, under the recommender), trains it with
the solution-version training steps of ``augury.workflows.personalize_training``
(the same minimum-data rules, counted on the use case's event type, the same
container), then ``activate`` makes it the one the recommender serves:

- creating: CREATE PENDING → CREATE IN_PROGRESS → ACTIVE (or CREATE FAILED
  with the reason, as a solution version would have it);
- updating: the recommender stays ACTIVE on its current model and
  configuration, ``latestRecommenderUpdate`` goes UPDATE PENDING → UPDATE
  IN_PROGRESS → ACTIVE, and the new model and configuration replace the old
  at once (or UPDATE FAILED, leaving the recommender as it was);
- retraining (every 7 days in full, and every two hours with ``MODE`` UPDATE
  for the personalized use cases when new data arrived: Amazon's automatic
  updates, which bring new items in without training from scratch): the same
  without ``latestRecommenderUpdate`` (Amazon shows none); a failure is
  logged and changes nothing.

A run whose claim was dropped meanwhile (the user stopped or deleted the
recommender during an automatic retraining) discards its model quietly. The
model before the current one is kept, so a request that read the recommender
just before a switch still finds its model; older ones are deleted.

``switch-recommender`` takes STOP PENDING → STOP IN_PROGRESS → INACTIVE and
START PENDING → START IN_PROGRESS → ACTIVE (once the model loads again).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from augury.personalize.campaign_deployment import check_model
from augury.personalize.recommender_records import (
    CONFIG_MEMBER,
    MODE,
    MODEL,
    PENDING_UPDATE,
    RUN,
    SWITCH_WORKFLOW,
    TRAIN_WORKFLOW,
    TRAINED_AT,
    TRAINING,
    job_id,
    model_arn,
    owns,
    stop_model,
    update_summary,
    without_claim,
)
from augury.personalize.resource_types import RECOMMENDER, RECOMMENDER_MODEL
from augury.personalize.solution_versions import JOB_ID, METRICS, MODEL_PREFIX
from augury.personalize.solutions import children
from augury.personalize.use_cases import use_case_for_arn
from augury.ports import NotFound
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

MODEL_KEEP = 2
"""Models a recommender keeps: the one it serves and the one before."""
JOB_KIND = "recommender"
"""The training job's name: ``<prefix>recommender-<job id>``."""
_CREATING = (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)


class _Superseded(Exception):
    """The run's claim was dropped: its model is not wanted any more."""


def _own_model(runtime: Runtime, state: State) -> str:
    return model_arn(runtime, state["arn"], state[RUN])


def _create_model(runtime: Runtime, state: State) -> dict[str, Any]:
    """The run's recommender model, created once: the use case's recipe and event type."""
    arn = state["arn"]
    model = _own_model(runtime, state)
    recommender = runtime.metadata.get(arn)
    if recommender is None or not owns(recommender, model):
        return {forecast_jobs.STOPPED: True}  # deleted, stopped or preempted before it began
    mode = str(state.get(MODE) or "FULL")
    if runtime.metadata.get(model) is None:
        use_case = use_case_for_arn(str(recommender.attributes["recipeArn"]))
        config = (
            recommender.attributes.get(PENDING_UPDATE)
            or recommender.attributes.get(CONFIG_MEMBER)
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
            "trainingMode": mode,
            JOB_ID: job_id(model),
            personalize_training.JOB_KIND_ATTRIBUTE: JOB_KIND,
        }
        if mode == "UPDATE":
            attributes[personalize_training.PREVIOUS_MODEL_ATTRIBUTE] = _served_prefix(
                runtime, recommender
            )
        if use_case.training_event_type:
            attributes["eventType"] = use_case.training_event_type
        with contextlib.suppress(ResourceAlreadyExists):  # a retry after it was written
            crud.create(
                runtime,
                RECOMMENDER_MODEL,
                model,
                state[RUN],
                status=Status.CREATE_PENDING,
                parent_arn=arn,
                attributes=attributes,
            )

    def change(record: Resource) -> Resource:
        if not owns(record, model):
            return record
        updated = record
        if record.attributes.get(PENDING_UPDATE) is not None:
            summary = dict(record.attributes.get("latestRecommenderUpdate") or {})
            summary.update(status="UPDATE IN_PROGRESS", lastUpdatedDateTime=time.time())
            updated = updated.with_attributes(latestRecommenderUpdate=summary)
        if Status(record.status) == Status.CREATE_PENDING:
            updated = updated.evolve(status=Status.CREATE_IN_PROGRESS.value)
        return updated

    crud.update(runtime, arn, change)
    return {"model": model}


def _served_prefix(runtime: Runtime, recommender: Resource) -> str:
    """Where the model an UPDATE builds on (the one served) keeps its files."""
    served = runtime.metadata.get(str(recommender.attributes.get(MODEL)))
    prefix = served.attributes.get(MODEL_PREFIX) if served is not None else None
    if not prefix:
        raise ResourceFailed(f"Recommender {recommender.arn} has no model to update")
    return str(prefix)


def _on_model(step: StepFunction) -> StepFunction:
    """A solution-version training step, run on the recommender model of this run."""

    def run(runtime: Runtime, state: State) -> Any:
        if state.get(forecast_jobs.STOPPED):
            return None
        model = _own_model(runtime, state)
        recommender = runtime.metadata.get(state["arn"])
        if recommender is None or not owns(recommender, model):
            stop_model(runtime, model)  # preempted: the step sees the stop and ends the job
        return step(runtime, {**state, "arn": model})

    run.__name__ = step.__name__
    return run


def _activate(runtime: Runtime, state: State) -> None:
    """The trained model becomes the recommender's (with a pending update's configuration),
    if the run still holds its claim; otherwise the model goes."""
    arn, model = state["arn"], _own_model(runtime, state)
    if state.get(forecast_jobs.STOPPED):
        _discard_unserved(runtime, arn, model)
        return
    check_model(runtime, model, "recommender model")
    record = runtime.metadata.get(model)
    metrics = dict(record.attributes.get(METRICS) or {}) if record is not None else {}

    def change(current: Resource) -> Resource:
        if current.attributes.get(MODEL) == model and not owns(current, model):
            return current  # a retry after the switch
        if not owns(current, model):
            raise _Superseded(arn)
        pending = current.attributes.get(PENDING_UPDATE)
        attributes = without_claim(current)
        attributes.pop("failureReason", None)
        attributes.update({MODEL: model, "modelMetrics": metrics})
        if state.get(MODE) != "UPDATE":
            attributes[TRAINED_AT] = time.time()
        if pending is not None:
            attributes[CONFIG_MEMBER] = pending
            attributes["latestRecommenderUpdate"] = _summary(current, pending, "ACTIVE")
        status = Status.ACTIVE.value if Status(current.status) in _CREATING else current.status
        return current.evolve(status=status, attributes=attributes)

    try:
        crud.update(runtime, arn, change)
    except (_Superseded, NotFound):
        _discard_unserved(runtime, arn, model)
        return
    try:
        _retire_old_models(runtime, arn)
    except Exception:  # the switch is done; old models go at the next one
        logger.exception("could not delete the old models of recommender %s", arn)


def _summary(record: Resource, config: dict[str, Any], status: str, reason: str = "") -> dict:
    """The update's summary in ``status``, keeping when the update was asked for."""
    summary = update_summary(config, status, reason or None)
    created = (record.attributes.get("latestRecommenderUpdate") or {}).get("creationDateTime")
    summary["creationDateTime"] = created or summary["creationDateTime"]
    return summary


def _retire_old_models(runtime: Runtime, arn: str) -> None:
    """Delete the recommender's ACTIVE models but the newest ``MODEL_KEEP``, never the one
    it serves or one being trained."""
    recommender = runtime.metadata.get(arn)
    if recommender is None:
        return
    keep = {recommender.attributes.get(MODEL), recommender.attributes.get(TRAINING)}
    served = [
        m
        for m in children(runtime, arn, RECOMMENDER_MODEL.kind)
        if m.arn not in keep and Status(m.status) == Status.ACTIVE
    ]
    served.sort(key=lambda m: m.created_at)
    for model in served[: max(len(served) - (MODEL_KEEP - 1), 0)]:
        _delete_model(runtime, model.arn)


def _delete_model(runtime: Runtime, model: str) -> None:
    runtime.blobs.delete_prefix(blob_prefix(model))
    with contextlib.suppress(NotFound):
        runtime.metadata.delete(model)


def _discard_unserved(runtime: Runtime, arn: str, model: str) -> None:
    """Stop the run's job and delete its model, unless the recommender serves it."""
    forecast_jobs.stop_job_quietly(
        runtime, runtime.settings.training_job_name(JOB_KIND, job_id(model))
    )
    recommender = runtime.metadata.get(arn)
    if recommender is None or recommender.attributes.get(MODEL) != model:
        _delete_model(runtime, model)


def _training_failed(runtime: Runtime, state: State, reason: str) -> None:
    """The run's model goes; if the run still holds its claim, the recommender fails to be
    created, its update fails, or (a retraining) nothing changes but the log."""
    arn = state["arn"]
    model = _own_model(runtime, state)
    _discard_unserved(runtime, arn, model)

    def change(record: Resource) -> Resource:
        if not owns(record, model):
            return record
        pending = record.attributes.get(PENDING_UPDATE)
        attributes = without_claim(record)
        if Status(record.status) in _CREATING:
            attributes["failureReason"] = reason[:1024]
            return record.evolve(status=Status.CREATE_FAILED.value, attributes=attributes)
        if pending is not None:
            attributes["latestRecommenderUpdate"] = _summary(
                record, pending, "UPDATE FAILED", reason
            )
        return record.evolve(attributes=attributes)

    try:
        crud.update(runtime, arn, change)
    except NotFound:
        return
    logger.warning("training recommender %s failed: %s", arn, reason)


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
    """A stop that failed leaves the recommender ACTIVE; a start, INACTIVE with the reason."""
    record = runtime.metadata.get(state["arn"])
    if record is None:
        return
    status = Status(record.status)
    logger.warning("switching recommender %s failed: %s", record.arn, reason)
    if status in (Status.STOP_PENDING, Status.STOP_IN_PROGRESS):
        crud.set_status(runtime, record.arn, Status.ACTIVE)
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
