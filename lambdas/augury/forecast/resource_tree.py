"""DeleteResourceTree and StopResource.

DeleteResourceTree (API reference) deletes a resource and every resource
created from it: a dataset group's predictors, their backtest export jobs,
forecasts and forecast export jobs; a dataset's import jobs. It deletes Augury's
records and files only, never a dataset a group merely lists, nor files already
exported to the user's storage. If anything in the tree is still being worked
on, nothing is deleted: ResourceInUseException.

StopResource moves a resource that is being created to CREATE_STOPPING; its
workflow stops the container it runs, if any, and ends it CREATE_STOPPED. A
stopped resource cannot be resumed. Augury stops dataset import jobs (the
dataset keeps the data it had), predictors, forecasts and both kinds of export
job.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast.resource_types import (
    DATASET,
    DATASET_GROUP,
    DATASET_IMPORT_JOB,
    FORECAST,
    FORECAST_EXPORT_JOB,
    PREDICTOR,
    PREDICTOR_BACKTEST_EXPORT_JOB,
)
from augury.ports import NotFound
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.resources.types import by_kind

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecast")

TRAINING_JOB = "_training_job"
STOPPABLE = frozenset(
    t.kind
    for t in (
        DATASET_IMPORT_JOB,
        PREDICTOR,
        FORECAST,
        FORECAST_EXPORT_JOB,
        PREDICTOR_BACKTEST_EXPORT_JOB,
    )
)
_BEING_CREATED = (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS)
TREE_ROOTS = (DATASET, DATASET_GROUP, PREDICTOR, FORECAST)
"""The parents DeleteResourceTree takes (Amazon's list, less the what-if analyses,
explainabilities and monitors Augury does not implement): a job is a leaf, deleted by its
own Delete operation."""


def _label(record: Resource) -> str:
    resource_type = by_kind(record.kind)
    return resource_type.label if resource_type else record.kind


def descendants(runtime: Runtime, arn: str) -> list[Resource]:
    """Every resource below ``arn``, parents before their children."""
    found: list[Resource] = []
    pending = [arn]
    while pending:
        parent = pending.pop(0)
        cursor = None
        while True:
            page = runtime.metadata.list(parent_arn=parent, limit=100, cursor=cursor)
            found.extend(page.items)
            pending.extend(child.arn for child in page.items)
            cursor = page.cursor
            if cursor is None:
                break
    return found


@operations("DeleteResourceTree")
def delete_resource_tree(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["ResourceArn"]
    root = crud.record_for_any_arn(runtime, "forecast", arn)
    if root.kind not in {kind.kind for kind in TREE_ROOTS}:
        *others, last = [f"a {kind.label}" for kind in TREE_ROOTS]
        raise InvalidInput(
            f"{arn} is a {_label(root)}; DeleteResourceTree deletes {', '.join(others)} or "
            f"{last}, with what was created from it"
        )
    tree = [root, *descendants(runtime, arn)]
    for record in tree:
        status = Status(record.status)
        if status.working:
            raise ResourceInUse(
                f"The {_label(record)} {record.arn} is {status.value}; DeleteResourceTree "
                "deletes a tree only when nothing in it is in progress"
            )
    for record in reversed(tree[1:]):
        crud.set_status(runtime, record.arn, Status.DELETE_PENDING)
    crud.set_status(runtime, arn, Status.DELETE_PENDING)
    crud.start_workflow(runtime, crud.DELETE_WORKFLOW, arn)
    return {}


@operations("StopResource")
def stop_resource(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["ResourceArn"]
    record = crud.record_for_any_arn(runtime, "forecast", arn)
    if record.kind not in STOPPABLE:
        raise InvalidInput(
            f"StopResource cannot stop a {_label(record)}; Augury stops dataset import jobs, "
            "predictors, forecasts, forecast export jobs and predictor backtest export jobs"
        )

    def change(current: Resource) -> Resource:
        status = Status(current.status)
        if status == Status.CREATE_STOPPING:
            return current
        if status not in _BEING_CREATED:
            raise InvalidInput(
                f"The {_label(current)} {arn} is {status.value}; only a resource that is being "
                "created (CREATE_PENDING or CREATE_IN_PROGRESS) can be stopped"
            )
        return current.evolve(status=Status.CREATE_STOPPING.value)

    stopped = crud.update(runtime, arn, change)
    job = stopped.attributes.get(TRAINING_JOB)
    if job:
        with contextlib.suppress(NotFound):
            runtime.trainer.stop(job)
    return {}
