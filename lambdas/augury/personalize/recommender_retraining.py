"""Recommenders retrain themselves every 7 days, as Amazon's do.

Amazon retrains the models behind an ACTIVE recommender every 7 days, in
full, on all the data then in its datasets (and recorded through PutEvents);
a stopped recommender does not retrain. Top picks for you and Recommended for
you are also updated every two hours, so that new items can be recommended:
here an UPDATE training of their User-Personalization model (as trainingMode
UPDATE does for a solution), started only when the group has data the served
model has not read. ``retrain_due`` claims each
recommender whose model, or last retraining, is that old and starts the
``train-recommender`` workflow; the recommender keeps serving its model until
the new one is ACTIVE. A failed retraining is logged, leaves the recommender as
it was, and is tried again 7 days later (not at once: the data that failed it
rarely changes within the hour).

It runs on a schedule: in embedded mode a thread of the server
(``RetrainingScheduler``), on AWS the ``RecommenderRetrainer`` function every
hour. On AWS each round also releases claims that no run acted on within
``STALE_CLAIM_SECONDS`` (a process that died between claiming and starting the
workflow, an execution aborted by hand); the embedded server releases every
claim when it starts instead, since no run survives a restart
(``release_claims``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from augury.personalize.event_data import events_prefix
from augury.personalize.event_files import arrival_of
from augury.personalize.recipes import RECIPES
from augury.personalize.recommender_records import (
    LAST_RETRAINING,
    LAST_UPDATE,
    MODE,
    MODEL,
    PENDING_UPDATE,
    RUN,
    TRAIN_WORKFLOW,
    TRAINED_AT,
    TRAINING,
    TRAINING_SINCE,
    claim,
    model_arn,
    new_run,
    owns,
    update_summary,
    without_claim,
)
from augury.personalize.resource_types import DATASET, RECOMMENDER
from augury.personalize.serving_sources import DATA_READ_AT
from augury.personalize.solutions import children
from augury.personalize.use_cases import use_case_for_arn
from augury.ports import NotFound
from augury.resources import crud
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.workflows.personalize_training import PREPARED_AT

if TYPE_CHECKING:
    from augury.runtime import Runtime

logger = logging.getLogger(__name__)

RETRAIN_AFTER_SECONDS = 7 * 86_400
UPDATE_AFTER_SECONDS = 2 * 3_600
"""Amazon updates Top picks and Recommended for you with new items every two hours."""
STALE_CLAIM_SECONDS = 3_600
"""A claim whose model record does not exist this long after it was made has no run."""
CHECK_EVERY_SECONDS = 60.0
"""How often the embedded server looks for recommenders due (a cheap metadata listing)."""
INTERRUPTED = "The training was interrupted before it began; ask again"


class _Changed(Exception):
    """The recommender changed since it was listed."""


def is_due(record: Resource, now: float) -> bool:
    """ACTIVE, unclaimed, and neither trained nor retrained for ``RETRAIN_AFTER_SECONDS``."""
    attributes = record.attributes
    if Status(record.status) != Status.ACTIVE or attributes.get(TRAINING):
        return False
    moments = [attributes.get(TRAINED_AT), attributes.get(LAST_RETRAINING)]
    known = [float(m) for m in moments if isinstance(m, int | float)]
    last = max(known) if known else record.updated_at.timestamp()
    return now - last >= RETRAIN_AFTER_SECONDS


def is_update_due(runtime: Runtime, record: Resource, now: float) -> bool:
    """A personalized use case, ACTIVE and unclaimed, not trained or updated for
    ``UPDATE_AFTER_SECONDS``, whose group has data its model has not read."""
    attributes = record.attributes
    if Status(record.status) != Status.ACTIVE or attributes.get(TRAINING):
        return False
    use_case = use_case_for_arn(str(attributes["recipeArn"]))
    if not RECIPES[use_case.recipe].updatable:
        return False
    moments = [attributes.get(TRAINED_AT), attributes.get(LAST_UPDATE)]
    known = [float(m) for m in moments if isinstance(m, int | float)]
    if known and now - max(known) < UPDATE_AFTER_SECONDS:
        return False
    return _new_data(runtime, record)


def _new_data(runtime: Runtime, record: Resource) -> bool:
    """Whether a dataset of the group changed, or events arrived, since the served model
    read its data."""
    model = runtime.metadata.get(str(record.attributes.get(MODEL)))
    read_at = model.attributes.get(DATA_READ_AT) if model is not None else None
    if not isinstance(read_at, int | float):
        return model is not None
    prepared_at = model.attributes.get(PREPARED_AT)
    datasets_at = float(prepared_at) if isinstance(prepared_at, int | float) else read_at
    group = str(record.parent_arn)
    if any(d.updated_at.timestamp() > datasets_at for d in children(runtime, group, DATASET.kind)):
        return True
    keys = runtime.blobs.list_keys(events_prefix(group))
    return any(key.endswith(".parquet") and arrival_of(key) > read_at for key in keys)


def retrain_due(
    runtime: Runtime, now: float | None = None, *, release_stale: bool = True
) -> list[str]:
    """Release stale claims (``release_stale``), then start retraining every recommender
    due at ``now`` (in full weekly, or an update with new data every two hours); the ARNs
    started. One recommender's trouble is logged and does not hold the others back."""
    moment = time.time() if now is None else now
    started = []
    for record in crud.every(runtime, RECOMMENDER.kind):
        try:
            if _next_step(runtime, record, moment, release_stale):
                started.append(record.arn)
        except Exception:
            logger.exception("checking recommender %s for retraining failed", record.arn)
    return started


def _next_step(runtime: Runtime, record: Resource, now: float, release_stale: bool) -> bool:
    """Release the record's stale claim, or start its due training; whether one started."""
    if release_stale and _stale(runtime, record, now):
        _release(runtime, record.arn, str(record.attributes[TRAINING]))
        return False
    if is_due(record, now):
        return _start(runtime, record.arn, now, "FULL")
    return is_update_due(runtime, record, now) and _start(runtime, record.arn, now, "UPDATE")


def release_claims(runtime: Runtime) -> int:
    """Release every claim (after a restart none has a run left); how many were."""
    released = 0
    for record in crud.every(runtime, RECOMMENDER.kind):
        held = record.attributes.get(TRAINING)
        if held and _release(runtime, record.arn, str(held)):
            released += 1
    return released


def _stale(runtime: Runtime, record: Resource, now: float) -> bool:
    """A claim an hour old whose model was never created, or has been finished for an
    hour without the run acting on it (an execution that ended without its failure
    handler). Only for Step Functions, which starts a run at once: the embedded engine may
    queue one behind long trainings, and no run outlives its process (``release_claims``)."""
    held = record.attributes.get(TRAINING)
    since = record.attributes.get(TRAINING_SINCE)
    if not held or not isinstance(since, int | float) or now - since < STALE_CLAIM_SECONDS:
        return False
    model = runtime.metadata.get(str(held))
    if model is None:
        return True
    finished = Status(model.status).finalized
    return finished and now - model.updated_at.timestamp() >= STALE_CLAIM_SECONDS


def _release(runtime: Runtime, arn: str, held: str) -> bool:
    """Drop the claim on ``held``: a creation fails, an update fails, a retraining is off."""

    def change(record: Resource) -> Resource:
        if not owns(record, held):
            raise _Changed(arn)
        pending = record.attributes.get(PENDING_UPDATE)
        attributes = without_claim(record)
        if Status(record.status) in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS):
            attributes["failureReason"] = INTERRUPTED
            return record.evolve(status=Status.CREATE_FAILED.value, attributes=attributes)
        if pending is not None:
            attributes["latestRecommenderUpdate"] = update_summary(
                pending, "UPDATE FAILED", INTERRUPTED
            )
        return record.evolve(attributes=attributes)

    try:
        crud.update(runtime, arn, change)
    except (_Changed, NotFound):
        return False
    logger.warning("released recommender %s's claim for %s: no training took it up", arn, held)
    return True


def _start(runtime: Runtime, arn: str, now: float, mode: str) -> bool:
    run = new_run()
    model = model_arn(runtime, arn, run)
    full = mode == "FULL"

    def take(record: Resource) -> Resource:
        still = is_due(record, now) if full else is_update_due(runtime, record, now)
        if not still:
            raise _Changed(arn)
        tried = {LAST_RETRAINING if full else LAST_UPDATE: now}
        return record.with_attributes(**claim(model, now), **tried)

    try:
        crud.update(runtime, arn, take)
    except (_Changed, NotFound):
        return False  # retrained, updated, stopped or deleted meanwhile
    try:
        runtime.workflows.start(TRAIN_WORKFLOW, {"arn": arn, RUN: run, MODE: mode})
    except Exception:
        logger.exception("could not start retraining recommender %s", arn)
        _release(runtime, arn, model)
        return False
    logger.info("retraining recommender %s (%s, model %s)", arn, mode, model)
    return True


class RetrainingScheduler:
    """A daemon thread of the embedded server: ``retrain_due`` every ``interval`` seconds."""

    def __init__(self, runtime: Runtime, interval: float = CHECK_EVERY_SECONDS) -> None:
        self._runtime = runtime
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retraining", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> RetrainingScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                retrain_due(self._runtime, release_stale=False)
            except Exception:  # the next round tries again; serving is not affected
                logger.exception("looking for recommenders to retrain failed")
