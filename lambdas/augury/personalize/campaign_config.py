"""What campaigns and batch inference jobs share: the deployed version and its exploration.

A campaign (and a batch inference job) names a solution version that must be
ACTIVE; a campaign that syncs with its solution may name it as
``<solution ARN>/$LATEST``. Item exploration (``explorationWeight`` 0-1,
``explorationItemAgeCutOff`` in days) applies to the User-Personalization
recipes only, as in Amazon; a campaign of one of those recipes that gives
none gets Amazon's defaults (0.3 and 30 days), which serving then applies.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from augury.personalize.recipes import Recipe, recipe_for_arn
from augury.personalize.resource_types import CAMPAIGN, SOLUTION, SOLUTION_VERSION
from augury.personalize.solution_versions import latest_active
from augury.personalize.solutions import children
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

LATEST_SUFFIX = "/$LATEST"
EXPLORATION_WEIGHT = "explorationWeight"
EXPLORATION_AGE = "explorationItemAgeCutOff"
DEFAULT_EXPLORATION = {EXPLORATION_WEIGHT: "0.3", EXPLORATION_AGE: "30"}


def _status(record: Resource) -> str:
    return Status(record.status).render("personalize")


def active_version(runtime: Runtime, arn: str, purpose: str) -> Resource:
    """The ACTIVE solution version ``arn`` names, or Amazon's error for one that is not."""
    record = crud.get_record(runtime, SOLUTION_VERSION, arn)
    status = Status(record.status)
    if status.working:
        raise ResourceInUse(
            f"Solution version {arn} is {_status(record)}; {purpose} once it is ACTIVE"
        )
    if status != Status.ACTIVE:
        raise InvalidInput(
            f"Solution version {arn} is {_status(record)}; {purpose} only when it is ACTIVE, "
            "so create a new solution version"
        )
    return record


def resolve_version(runtime: Runtime, arn: str, sync: bool, purpose: str) -> Resource:
    """The version a campaign deploys: ``arn`` itself, or its solution's latest for $LATEST."""
    if not arn.endswith(LATEST_SUFFIX):
        if sync:
            raise InvalidInput(
                "With syncWithLatestSolutionVersion true, solutionVersionArn must name the "
                f"solution in <solution ARN>{LATEST_SUFFIX} form; got {arn}"
            )
        return active_version(runtime, arn, purpose)
    if not sync:
        raise InvalidInput(
            f"A solutionVersionArn in <solution ARN>{LATEST_SUFFIX} form needs "
            "campaignConfig.syncWithLatestSolutionVersion set to true"
        )
    solution_arn = arn.removesuffix(LATEST_SUFFIX)
    crud.get_record(runtime, SOLUTION, solution_arn)
    latest = latest_active(runtime, solution_arn)
    if latest is None:
        raise InvalidInput(f"Solution {solution_arn} has no ACTIVE solution version to deploy")
    return latest


def recipe_of(version: Resource) -> Recipe:
    return recipe_for_arn(version.attributes["recipeArn"])


def check_exploration(
    recipe: Recipe, exploration: Mapping[str, str] | None, where: str
) -> dict[str, str] | None:
    """The exploration settings to store (defaults filled in), or ``InvalidInput``."""
    if not recipe.updatable:
        if exploration:
            raise InvalidInput(
                f"{where} is supported only for the User-Personalization recipes; this solution "
                f"version uses {recipe.name}"
            )
        return None
    result = dict(DEFAULT_EXPLORATION)
    for name, value in (exploration or {}).items():
        if name not in DEFAULT_EXPLORATION:
            raise InvalidInput(
                f"{where}: {name} is not an exploration setting; use {EXPLORATION_WEIGHT} and "
                f"{EXPLORATION_AGE}"
            )
        try:
            number = float(value)
        except ValueError:
            raise InvalidInput(f"{where}: {name} must be a number; got {value!r}") from None
        if name == EXPLORATION_WEIGHT and not 0.0 <= number <= 1.0:
            raise InvalidInput(f"{where}: {EXPLORATION_WEIGHT} must be in [0, 1]; got {value}")
        if name == EXPLORATION_AGE and number <= 0:
            raise InvalidInput(f"{where}: {EXPLORATION_AGE} must be a positive number of days")
        result[name] = str(value)
    return result


def refuse_ranking_influence(config: Mapping[str, Any], where: str) -> None:
    if config.get("rankingInfluence"):
        raise InvalidInput(f"{where}.rankingInfluence is not supported by Augury's recipes")


def update_summary(
    version_arn: str, tps: int, config: Mapping[str, Any], status: str, reason: str | None = None
) -> dict[str, Any]:
    """A CampaignUpdateSummary."""
    now = time.time()
    summary: dict[str, Any] = {
        "solutionVersionArn": version_arn,
        "minProvisionedTPS": tps,
        "campaignConfig": dict(config),
        "status": status,
        "creationDateTime": now,
        "lastUpdatedDateTime": now,
    }
    if reason:
        summary["failureReason"] = reason
    return summary


def sync_campaigns(runtime: Runtime, solution_arn: str, version_arn: str) -> list[str]:
    """Move the solution's syncing campaigns to ``version_arn`` (a new ACTIVE version).

    Returns the campaigns moved. A campaign in the middle of its own update is
    left alone: that update names the version it wants.
    """
    moved = []
    for campaign in children(runtime, solution_arn, CAMPAIGN.kind):
        config = campaign.attributes.get("campaignConfig") or {}
        if not config.get("syncWithLatestSolutionVersion"):
            continue
        if Status(campaign.status) != Status.ACTIVE or campaign.attributes.get("_pending_update"):
            continue

        def change(record: Resource) -> Resource:
            tps = int(record.attributes.get("minProvisionedTPS") or 1)
            current = record.attributes.get("campaignConfig") or {}
            summary = update_summary(version_arn, tps, current, "ACTIVE")
            return record.with_attributes(
                solutionVersionArn=version_arn, latestCampaignUpdate=summary
            )

        crud.update(runtime, campaign.arn, change)
        moved.append(campaign.arn)
    return moved
