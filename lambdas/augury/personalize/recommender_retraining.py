"""Recommenders retrain themselves every 7 days, as Amazon's do.

Amazon retrains the models behind an ACTIVE recommender every 7 days, in
full, on all the data then in its datasets (and recorded through PutEvents);
a stopped recommender does not retrain. ``retrain_due`` starts the
``train-recommender`` workflow for each recommender whose model is that old;
the recommender keeps serving its model until the new one is ACTIVE, and a
failed retraining leaves it as it was (the reason is logged).

It runs on a schedule: in embedded mode a thread of the server
(``RetrainingScheduler``), on AWS the ``RecommenderRetrainer`` function every
hour. Starting a retraining first claims the recommender (its ``_training``
attribute, written only if still unset), so two runs at once start it once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from augury.personalize.resource_types import RECOMMENDER, RECOMMENDER_MODEL
from augury.ports import NotFound
from augury.resources import crud
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.workflows.personalize_recommenders import (
    PENDING_UPDATE,
    RUN,
    TRAIN_WORKFLOW,
    TRAINED_AT,
    TRAINING,
    training_state,
)

if TYPE_CHECKING:
    from augury.runtime import Runtime

logger = logging.getLogger(__name__)

RETRAIN_AFTER_SECONDS = 7 * 86_400
CHECK_EVERY_SECONDS = 60.0
"""How often the embedded server looks for recommenders due (a cheap metadata listing)."""


class _NotDue(Exception):
    """The recommender changed since it was listed: it is no longer due."""


def _recommenders(runtime: Runtime) -> Iterator[Resource]:
    cursor = None
    while True:
        page = runtime.metadata.list(kind=RECOMMENDER.kind, limit=100, cursor=cursor)
        yield from page.items
        cursor = page.cursor
        if cursor is None:
            return


def is_due(record: Resource, now: float) -> bool:
    """ACTIVE, not training, and its model trained ``RETRAIN_AFTER_SECONDS`` ago or more."""
    attributes = record.attributes
    if Status(record.status) != Status.ACTIVE:
        return False
    if attributes.get(TRAINING) or attributes.get(PENDING_UPDATE):
        return False
    trained_at = attributes.get(TRAINED_AT)
    if not isinstance(trained_at, int | float):
        trained_at = record.updated_at.timestamp()
    return now - float(trained_at) >= RETRAIN_AFTER_SECONDS


def retrain_due(runtime: Runtime, now: float | None = None) -> list[str]:
    """Start retraining every recommender due at ``now``; the ARNs started."""
    moment = time.time() if now is None else now
    started = []
    for record in _recommenders(runtime):
        if is_due(record, moment) and _start(runtime, record.arn, moment):
            started.append(record.arn)
    return started


def _start(runtime: Runtime, arn: str, now: float) -> bool:
    state = training_state(arn)
    name = arn.rsplit("/", 1)[-1]
    model_arn = runtime.arns.build("personalize", RECOMMENDER_MODEL.arn_kind, name, state[RUN])

    def claim(record: Resource) -> Resource:
        if not is_due(record, now):
            raise _NotDue(arn)
        return record.with_attributes(**{TRAINING: model_arn})

    try:
        crud.update(runtime, arn, claim)
    except (_NotDue, NotFound):
        return False  # retrained, updated, stopped or deleted meanwhile
    try:
        runtime.workflows.start(TRAIN_WORKFLOW, state)
    except Exception:
        logger.exception("could not start retraining recommender %s", arn)

        def release(record: Resource) -> Resource:
            attributes = dict(record.attributes)
            if attributes.get(TRAINING) == model_arn:
                attributes.pop(TRAINING)
            return record.evolve(attributes=attributes)

        crud.update(runtime, arn, release)
        return False
    logger.info("retraining recommender %s (model %s)", arn, model_arn)
    return True


class RetrainingScheduler:
    """A daemon thread of the embedded server: ``retrain_due`` every ``interval`` seconds."""

    def __init__(self, runtime: Runtime, interval: float = CHECK_EVERY_SECONDS) -> None:
        self._runtime = runtime
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retraining", daemon=True)

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
                retrain_due(self._runtime)
            except Exception:  # the next round tries again; serving is not affected
                logger.exception("looking for recommenders to retrain failed")
