"""The ``deploy-campaign`` workflow: a campaign (or a campaign update) goes live.

Creating a campaign: CREATE PENDING → CREATE IN_PROGRESS → ACTIVE once its
solution version is still ACTIVE and its model loads (in embedded mode the
load also warms serving's cache, so the first GetRecommendations is fast).

Updating one: the request waits on the record as ``_pending_update`` and
``latestCampaignUpdate`` shows UPDATE PENDING, then UPDATE IN_PROGRESS; the
campaign keeps serving its current version and configuration until the
update is ACTIVE, when they are replaced at once (Amazon's behaviour). A
failed update leaves the campaign as it was, with the reason in
``latestCampaignUpdate.failureReason``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.personalize.campaign_config import update_summary
from augury.personalize.resource_types import MODEL_KINDS
from augury.personalize.solution_versions import MODEL_PREFIX
from augury.ports import BlobNotFound
from augury.resources import crud
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.workflows.definition import ResourceFailed, State, Step, Workflow
from augury_training.personalize_contract import MANIFEST_FILE

if TYPE_CHECKING:
    from augury.runtime import Runtime

DEPLOY_WORKFLOW = "deploy-campaign"
PENDING_UPDATE = "_pending_update"


def _campaign(runtime: Runtime, arn: str) -> Resource:
    record = runtime.metadata.get(arn)
    if record is None:
        raise ResourceFailed(f"Campaign {arn} was deleted while it was being deployed")
    return record


def check_model(runtime: Runtime, version_arn: str, what: str = "solution version") -> None:
    """The version (or recommender model: ``what``) is still ACTIVE and its model loads."""
    version = runtime.metadata.get(version_arn)
    if version is None or version.kind not in MODEL_KINDS:
        raise ResourceFailed(f"The {what} {version_arn} no longer exists")
    if Status(version.status) != Status.ACTIVE:
        raise ResourceFailed(f"The {what} {version_arn} is no longer ACTIVE")
    prefix = version.attributes.get(MODEL_PREFIX)
    try:
        runtime.blobs.get_bytes(f"{prefix}{MANIFEST_FILE}")
    except BlobNotFound:
        raise ResourceFailed(f"The model of {what} {version_arn} is missing; retrain") from None
    try:
        from augury.serving.recommender_cache import recommender_for
    except ModuleNotFoundError as error:  # serving not built in this tree: nothing to warm
        if error.name != "augury.serving.recommender_cache":
            raise
        return
    try:
        recommender_for(runtime, version_arn)
    except Exception as error:
        reason = f"The model of {what} {version_arn} could not be loaded: {error}"
        raise ResourceFailed(reason) from None


def _deploy(runtime: Runtime, state: State) -> None:
    arn = state["arn"]
    record = _campaign(runtime, arn)
    if state.get("update"):
        _apply_update(runtime, record)
        return
    if Status(record.status) == Status.ACTIVE:
        return
    crud.set_status(runtime, arn, Status.CREATE_IN_PROGRESS)
    check_model(runtime, str(record.attributes["solutionVersionArn"]))
    crud.set_status(runtime, arn, Status.ACTIVE)


def _apply_update(runtime: Runtime, record: Resource) -> None:
    pending: dict[str, Any] | None = record.attributes.get(PENDING_UPDATE)
    if not pending:
        return  # a retry after the update was applied
    crud.update(
        runtime,
        record.arn,
        lambda current: current.with_attributes(
            latestCampaignUpdate={
                **current.attributes.get("latestCampaignUpdate", {}),
                "status": "UPDATE IN_PROGRESS",
            }
        ),
    )
    check_model(runtime, pending["solutionVersionArn"])

    def change(current: Resource) -> Resource:
        attributes = dict(current.attributes)
        attributes.pop(PENDING_UPDATE, None)
        attributes.pop("failureReason", None)
        attributes.update(
            solutionVersionArn=pending["solutionVersionArn"],
            minProvisionedTPS=pending["minProvisionedTPS"],
            campaignConfig=pending["campaignConfig"],
            latestCampaignUpdate=update_summary(
                pending["solutionVersionArn"],
                pending["minProvisionedTPS"],
                pending["campaignConfig"],
                "ACTIVE",
            ),
        )
        return current.evolve(status=Status.ACTIVE.value, attributes=attributes)

    crud.update(runtime, record.arn, change)


def _failed(runtime: Runtime, state: State, reason: str) -> None:
    arn = state["arn"]
    record = runtime.metadata.get(arn)
    if record is None:
        return
    if not state.get("update"):
        crud.set_status(runtime, arn, Status.CREATE_FAILED, reason)
        return

    def change(current: Resource) -> Resource:
        attributes = dict(current.attributes)
        pending = attributes.pop(PENDING_UPDATE, None) or {}
        attributes["latestCampaignUpdate"] = update_summary(
            pending.get("solutionVersionArn", ""),
            int(pending.get("minProvisionedTPS") or 1),
            pending.get("campaignConfig") or {},
            "UPDATE FAILED",
            reason[:1024],
        )
        return current.evolve(attributes=attributes)

    crud.update(runtime, arn, change)


DEPLOY_CAMPAIGN = Workflow(
    name=DEPLOY_WORKFLOW,
    steps=(Step("deploy", _deploy),),
    on_failure=_failed,
)
