"""What a recommender's record holds besides Amazon's members, and who may train it.

The API (``recommenders``), the weekly retraining (``recommender_retraining``),
the ``train-recommender`` workflow and serving all read these attributes; this
module names them once and keeps serving clear of the workflow layer.

One training at a time: whoever starts a ``train-recommender`` run first
*claims* the recommender, in the same atomic write that checks it may
(``TRAINING`` holds the ARN of the model that run will create, ``model_arn``).
The run acts on the recommender only while its claim stands: a user's
StopRecommender, DeleteRecommender or retraining UpdateRecommender drops the
claim of an automatic retraining, and that run then quietly discards its model.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from augury.personalize.resource_types import RECOMMENDER_MODEL
from augury.ports import NotFound
from augury.resources import crud
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

TRAIN_WORKFLOW = "train-recommender"
SWITCH_WORKFLOW = "switch-recommender"
CONFIG_MEMBER = "recommenderConfig"

MODEL = "_model"
"""The recommender model serving answers with."""
TRAINING = "_training"
"""The claim: the ARN of the model a running training will create."""
TRAINING_SINCE = "_training_since"
"""When the claim was made (epoch seconds): a claim no run took up is released later."""
PENDING_UPDATE = "_pending_update"
"""The recommenderConfig an update applies once its model is ACTIVE."""
TRAINED_AT = "_trained_at"
"""When the last model trained in full became the one served (epoch seconds)."""
LAST_UPDATE = "_last_update"
"""When the two-hourly update with new data last started (epoch seconds)."""
MODE = "mode"
"""Workflow state: the run's trainingMode, FULL (the default) or UPDATE."""
LAST_RETRAINING = "_last_retraining"
"""When the weekly retraining last started (epoch seconds), whatever became of it."""
RUN = "run"
"""Workflow state: the run's ID, the last part of its model's ARN."""


def new_run() -> str:
    return uuid.uuid4().hex[:8]


def model_arn(runtime: Runtime, recommender_arn: str, run: str) -> str:
    """The ARN of the model run ``run`` trains for the recommender."""
    name = recommender_arn.rsplit("/", 1)[-1]
    return runtime.arns.build("personalize", RECOMMENDER_MODEL.arn_kind, name, run)


def job_id(model: str) -> str:
    """The training job's ID, derived from the model's ARN so that a failure handler can
    stop the job even after the model's record is gone."""
    return hashlib.sha256(model.encode()).hexdigest()[:20]


def claim(model: str, now: float | None = None) -> dict[str, Any]:
    """The attributes that claim a recommender for the run training ``model``."""
    return {TRAINING: model, TRAINING_SINCE: time.time() if now is None else now}


def owns(record: Resource, model: str) -> bool:
    return record.attributes.get(TRAINING) == model


def without_claim(record: Resource) -> dict[str, Any]:
    """The record's attributes, its claim (and a pending update) dropped."""
    attributes = dict(record.attributes)
    for name in (TRAINING, TRAINING_SINCE, PENDING_UPDATE):
        attributes.pop(name, None)
    return attributes


def automatic_claim(record: Resource) -> str | None:
    """The model an automatic retraining is training, if one holds the claim (a user's
    update holds it with a pending configuration)."""
    if record.attributes.get(PENDING_UPDATE) is not None:
        return None
    return record.attributes.get(TRAINING)


def stop_model(runtime: Runtime, model: str) -> None:
    """Ask the run training ``model`` to stop (its record, as StopSolutionVersionCreation
    does): CREATE PENDING ends CREATE STOPPED, CREATE IN_PROGRESS becomes CREATE STOPPING
    and the run stops its job."""

    def stop(record: Resource) -> Resource:
        status = Status(record.status)
        if status == Status.CREATE_PENDING:
            return record.evolve(status=Status.CREATE_STOPPED.value)
        if status == Status.CREATE_IN_PROGRESS:
            return record.evolve(status=Status.CREATE_STOPPING.value)
        return record

    with contextlib.suppress(NotFound):
        crud.update(runtime, model, stop)


def update_summary(config: dict[str, Any], status: str, reason: str | None = None) -> dict:
    """A RecommenderUpdateSummary."""
    now = time.time()
    summary: dict[str, Any] = {
        CONFIG_MEMBER: dict(config),
        "status": status,
        "creationDateTime": now,
        "lastUpdatedDateTime": now,
    }
    if reason:
        summary["failureReason"] = reason[:1024]
    return summary
