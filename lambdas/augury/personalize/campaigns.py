"""Personalize campaigns: a solution version deployed for real-time calls.

A campaign is stored under its solution (so ListCampaigns by solutionArn is a
child listing, and the solution cannot be deleted under it) with the members
serving reads: ``solutionVersionArn`` (the version it answers with) and
``campaignConfig`` (exploration, metadata, sync). The ``deploy-campaign``
workflow (``augury.personalize.campaign_deployment``) takes it CREATE PENDING
→ ACTIVE, and applies updates the same way. With
``syncWithLatestSolutionVersion`` the campaign moves to each new ACTIVE
version of its solution as training finishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.campaign_config import (
    check_exploration,
    recipe_of,
    refuse_ranking_influence,
    resolve_version,
    update_summary,
)
from augury.personalize.campaign_deployment import DEPLOY_WORKFLOW, PENDING_UPDATE
from augury.personalize.resource_types import CAMPAIGN
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

DEFAULT_TPS = 1
CONFIG_FLAGS = ("enableMetadataWithRecommendations", "syncWithLatestSolutionVersion")


def _status(record: Resource) -> str:
    return Status(record.status).render("personalize")


def _campaign_config(
    runtime: Runtime, requested: dict[str, Any], arn: str, purpose: str
) -> tuple[Resource, dict[str, Any]]:
    """The version to deploy and the campaignConfig to store, both checked."""
    refuse_ranking_influence(requested, "campaignConfig")
    sync = bool(requested.get("syncWithLatestSolutionVersion"))
    version = resolve_version(runtime, arn, sync, purpose)
    exploration = check_exploration(
        recipe_of(version),
        requested.get("itemExplorationConfig"),
        "campaignConfig.itemExplorationConfig",
    )
    config: dict[str, Any] = {flag: bool(requested.get(flag)) for flag in CONFIG_FLAGS}
    if exploration is not None:
        config["itemExplorationConfig"] = exploration
    return version, config


@operations("CreateCampaign")
def create_campaign(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    version, config = _campaign_config(
        runtime,
        request.get("campaignConfig") or {},
        request["solutionVersionArn"],
        "a campaign can deploy it",
    )
    name = request["name"]
    arn = runtime.arns.build("personalize", "campaign", name)
    tps = int(request.get("minProvisionedTPS") or DEFAULT_TPS)
    crud.create(
        runtime,
        CAMPAIGN,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=version.parent_arn,
        attributes={
            "solutionVersionArn": version.arn,
            "minProvisionedTPS": tps,
            "campaignConfig": config,
        },
        tags=request.get("tags"),
    )
    crud.start_workflow(runtime, DEPLOY_WORKFLOW, arn)
    return {"campaignArn": arn}


@operations("DescribeCampaign")
def describe_campaign(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, CAMPAIGN, request["campaignArn"])


@operations("ListCampaigns")
def list_campaigns(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Every campaign, or the campaigns deploying versions of ``solutionArn`` (none for a
    solution that does not exist: the operation declares no ResourceNotFoundException)."""
    solution_arn = request.get("solutionArn")
    return crud.list_page(runtime, CAMPAIGN, request, parent_arn=solution_arn)


@operations("UpdateCampaign")
def update_campaign(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Deploy another version or change the TPS or configuration; members left out stay.

    Amazon allows an update of an ACTIVE or CREATE FAILED campaign with no other
    update in progress; the campaign keeps answering with what it has until the
    update is ACTIVE.
    """
    arn = request["campaignArn"]
    campaign = crud.get_record(runtime, CAMPAIGN, arn)
    status = Status(campaign.status)
    if status not in (Status.ACTIVE, Status.CREATE_FAILED):
        raise ResourceInUse(
            f"Campaign {arn} is {_status(campaign)}; it can be updated when it is ACTIVE or "
            "CREATE FAILED"
        )
    if campaign.attributes.get(PENDING_UPDATE):
        raise ResourceInUse(f"Campaign {arn} already has an update in progress")
    current = dict(campaign.attributes.get("campaignConfig") or {})
    requested = request.get("campaignConfig")
    merged: dict[str, Any] = dict(current)
    if requested is not None:
        merged.update(requested)
        if "itemExplorationConfig" not in requested:
            merged.pop("itemExplorationConfig", None)
            if current.get("itemExplorationConfig"):
                merged["itemExplorationConfig"] = current["itemExplorationConfig"]
    version_arn = request.get("solutionVersionArn") or campaign.attributes["solutionVersionArn"]
    if (
        current.get("syncWithLatestSolutionVersion")
        and merged.get("syncWithLatestSolutionVersion")
        and not request.get("solutionVersionArn")
        and not version_arn.endswith("/$LATEST")
    ):
        # a synced campaign stores the version it deploys; an update that names none keeps
        # following the latest. Turning sync on needs SolutionArn/$LATEST, as at creation.
        version_arn = f"{campaign.parent_arn}/$LATEST"
    version, config = _campaign_config(runtime, merged, version_arn, "a campaign can deploy it")
    if version.parent_arn != campaign.parent_arn:
        raise InvalidInput(
            f"Campaign {arn} deploys versions of solution {campaign.parent_arn}; "
            f"{version.arn} belongs to another solution"
        )
    tps = int(request.get("minProvisionedTPS") or campaign.attributes.get("minProvisionedTPS") or 1)
    pending = {
        "solutionVersionArn": version.arn,
        "minProvisionedTPS": tps,
        "campaignConfig": config,
    }
    summary = update_summary(version.arn, tps, config, "UPDATE PENDING")
    crud.update(
        runtime,
        arn,
        lambda record: record.with_attributes(
            **{PENDING_UPDATE: pending, "latestCampaignUpdate": summary}
        ),
    )
    try:
        runtime.workflows.start(DEPLOY_WORKFLOW, {"arn": arn, "update": True})
    except Exception as error:
        from augury.personalize.campaign_deployment import DEPLOY_CAMPAIGN

        DEPLOY_CAMPAIGN.on_failure(
            runtime, {"arn": arn, "update": True}, f"Could not start the update: {error}"
        )
        raise
    return {"campaignArn": arn}


@operations("DeleteCampaign")
def delete_campaign(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["campaignArn"]
    campaign = crud.get_record(runtime, CAMPAIGN, arn)
    if campaign.attributes.get(PENDING_UPDATE):
        raise ResourceInUse(f"Campaign {arn} has an update in progress; delete it once it ends")
    crud.request_delete(runtime, CAMPAIGN, arn)
    return {}
