"""Workflows every resource type shares: becoming ACTIVE and being deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from augury.resources.crud import DELETE_WORKFLOW, set_status
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.workflows.definition import ResourceFailed, ResourcePending, State, Step, Workflow
from augury.workflows.validators import validate_for_activation

if TYPE_CHECKING:
    from augury.runtime import Runtime


def blob_prefix(arn: str) -> str:
    """Where a resource keeps its data in the blob store: one prefix per resource.

    The service is part of it: a Forecast dataset ``g`` and a Personalize
    dataset group ``g`` must never share blobs.
    """
    _, _, service, _, _, rest = arn.split(":", 5)
    return f"resources/{service}/{rest}/"


def _activate(runtime: Runtime, state: State) -> None:
    arn = state["arn"]
    record = runtime.metadata.get(arn)
    if record is None:
        raise ResourceFailed(f"{arn} disappeared before it became active")
    if Status(record.status) == Status.ACTIVE:
        return
    set_status(runtime, arn, Status.CREATE_IN_PROGRESS)
    problem = validate_for_activation(runtime, record)
    if problem:
        raise ResourceFailed(problem)
    set_status(runtime, arn, Status.ACTIVE)


def _activation_failed(runtime: Runtime, state: State, reason: str) -> None:
    if runtime.metadata.get(state["arn"]) is not None:
        set_status(runtime, state["arn"], Status.CREATE_FAILED, reason)


def _delete(runtime: Runtime, state: State) -> None:
    arn = state["arn"]
    if runtime.metadata.get(arn) is None:
        return
    busy = _working_child(runtime, arn)
    if busy is not None:  # a recommender's automatic retraining, stopping: let it clean up
        raise ResourcePending(f"{busy.arn} is still {busy.status}")
    set_status(runtime, arn, Status.DELETE_IN_PROGRESS)
    _delete_tree(runtime, arn)


def _working_child(runtime: Runtime, arn: str) -> Resource | None:
    """A child a workflow still owns. Deletion is refused while children work, except
    where the API lets a user's deletion stop them first; it then waits for them here, so
    that nothing they write afterwards outlives the resource."""
    cursor = None
    while True:
        page = runtime.metadata.list(parent_arn=arn, limit=100, cursor=cursor)
        for child in page.items:
            status = Status(child.status)
            if status.working and not status.deleting:  # deleting ones go with the tree
                return child
        cursor = page.cursor
        if cursor is None:
            return None


def _delete_tree(runtime: Runtime, arn: str) -> None:
    """The resource, its blobs, and whatever finished children it still has.

    Deletion is only requested once nothing below is being worked on, so the
    children left here (completed import jobs, say) are history, not work.
    """
    while True:
        children = runtime.metadata.list(parent_arn=arn, limit=100).items
        if not children:
            break
        for child in children:
            _delete_tree(runtime, child.arn)
    runtime.blobs.delete_prefix(blob_prefix(arn))
    runtime.metadata.delete(arn)


def _deletion_failed(runtime: Runtime, state: State, reason: str) -> None:
    if runtime.metadata.get(state["arn"]) is not None:
        set_status(runtime, state["arn"], Status.DELETE_FAILED, reason)


ACTIVATE = Workflow(
    name="activate-resource",
    steps=(Step("activate", _activate),),
    on_failure=_activation_failed,
)

DELETE = Workflow(
    name=DELETE_WORKFLOW,
    steps=(Step("delete", _delete),),
    on_failure=_deletion_failed,
)
