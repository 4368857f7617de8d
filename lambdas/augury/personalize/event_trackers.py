"""Personalize event trackers: the tracking IDs PutEvents is called with.

A tracker belongs to one dataset group, and a group has at most one tracker
(Amazon's limit; a second CreateEventTracker is ``LimitExceededException``).
Its ``trackingId`` is a fresh UUID. PutEvents knows only that ID, so each
tracker has two small companion records, both its children (deleted with it by
the generic delete workflow):

- a *tracking ID record* at ``tracking-id/<trackingId>``, so the ID is found
  with one keyed read, never a scan;
- a *slot record* at ``event-tracker-slot/<group name>``, whose conditional
  create makes "one tracker per group" hold even for two concurrent calls
  (``augury.resources.group_slots``).

Their kinds are not ``personalize:`` kinds, so no Personalize API lists, tags
or describes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.dataset_groups import ACTIVATE_WORKFLOW
from augury.personalize.resource_types import DATASET_GROUP, EVENT_TRACKER
from augury.resources import crud
from augury.resources.errors import (
    ResourceInUse,
    ResourceNotFound,
)
from augury.resources.group_slots import create_one_per_group
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

TRACKING_ID_KIND = "augury:tracking-id"
SLOT_KIND = "event-tracker-slot"


@dataclass(frozen=True)
class Tracker:
    """What PutEvents needs to know about a tracking ID."""

    arn: str
    tracking_id: str
    dataset_group_arn: str


def _tracking_id_arn(runtime: Runtime, tracking_id: str) -> str:
    return runtime.arns.build("personalize", "tracking-id", tracking_id)


@operations("CreateEventTracker")
def create_event_tracker(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """CREATE PENDING now; ACTIVE once the activation workflow has run, as Amazon reports it."""
    name = request["name"]
    group = crud.get_record(runtime, DATASET_GROUP, request["datasetGroupArn"])
    tracking_id = str(uuid.uuid4())
    arn = create_one_per_group(
        runtime,
        EVENT_TRACKER,
        group,
        name,
        slot_kind=SLOT_KIND,
        label="an event tracker",
        attributes={"trackingId": tracking_id, "accountId": runtime.settings.account},
        tags=request.get("tags"),
    ).arn
    runtime.metadata.create(
        Resource(
            arn=_tracking_id_arn(runtime, tracking_id),
            kind=TRACKING_ID_KIND,
            name=tracking_id,
            status="ACTIVE",
            parent_arn=arn,
            attributes={"eventTrackerArn": arn, "datasetGroupArn": group.arn},
        )
    )
    crud.start_workflow(runtime, ACTIVATE_WORKFLOW, arn)
    return {"eventTrackerArn": arn, "trackingId": tracking_id}


@operations("DescribeEventTracker")
def describe_event_tracker(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, EVENT_TRACKER, request["eventTrackerArn"])


@operations("ListEventTrackers")
def list_event_trackers(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The group's trackers; with no group, every tracker in the account."""
    return crud.list_page(
        runtime, EVENT_TRACKER, request, parent_arn=request.get("datasetGroupArn")
    )


@operations("DeleteEventTracker")
def delete_event_tracker(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """DELETE PENDING, then gone with its companion records; the recorded data stays."""
    crud.request_delete(runtime, EVENT_TRACKER, request["eventTrackerArn"], blocking_children=False)
    return {}


def tracker_for(runtime: Runtime, tracking_id: str) -> Tracker:
    """The ACTIVE tracker behind ``tracking_id``: one keyed read, then the tracker itself.

    Unknown (or deleted) → ``ResourceNotFoundException``; a tracker that is not
    ACTIVE yet → ``ResourceInUseException``, since Amazon takes events only
    once the tracker is ACTIVE.
    """
    pointer = runtime.metadata.get(_tracking_id_arn(runtime, tracking_id))
    if pointer is None or pointer.kind != TRACKING_ID_KIND:
        raise ResourceNotFound(f"No event tracker found with tracking ID {tracking_id}")
    tracker = runtime.metadata.get(pointer.attributes["eventTrackerArn"])
    if tracker is None or tracker.kind != EVENT_TRACKER.kind:
        raise ResourceNotFound(f"No event tracker found with tracking ID {tracking_id}")
    status = Status(tracker.status)
    if status.deleting or status.failed:
        raise ResourceNotFound(
            f"The event tracker {tracker.arn} for tracking ID {tracking_id} is "
            f"{status.render('personalize')}"
        )
    if status != Status.ACTIVE:
        raise ResourceInUse(
            f"The event tracker {tracker.arn} is {status.render('personalize')}; "
            "send events once it is ACTIVE"
        )
    return Tracker(
        arn=tracker.arn,
        tracking_id=tracking_id,
        dataset_group_arn=pointer.attributes["datasetGroupArn"],
    )
