"""Campaigns through a stock boto3 client: create, update, sync with new versions, delete.

Versions are trained by the fake personalization container, which writes a
real popularity model, so a deployed campaign answers GetRecommendations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from tests.embedded.personalize_helpers import (
    RECIPE,
    client_for,
    error_of,
    held_workflows,
    interactions,
    make_group,
    start_server,
    train,
    wait_for,
    wait_idle,
)


@pytest.fixture
def server(tmp_path) -> Iterator[EmbeddedServer]:
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def personalize(server: EmbeddedServer) -> Any:
    return client_for(server)


def describe(personalize: Any, arn: str) -> dict[str, Any]:
    return personalize.describe_campaign(campaignArn=arn)["campaign"]


def test_a_campaign_deploys_a_version_serves_it_and_blocks_deletes(personalize, server):
    group = make_group(personalize, server, "shop", interactions())["group"]
    solution, version = train(personalize, group)
    with pytest.raises(ClientError) as raised:
        personalize.create_campaign(
            name="explore",
            solutionVersionArn=version,
            campaignConfig={"itemExplorationConfig": {"explorationWeight": "0.5"}},
        )
    assert error_of(raised)[0] == "InvalidInputException"
    assert "User-Personalization" in error_of(raised)[1]

    campaign = personalize.create_campaign(name="front", solutionVersionArn=version)["campaignArn"]
    body = wait_for(lambda: personalize.describe_campaign(campaignArn=campaign))
    assert body["status"] == "ACTIVE", body.get("failureReason")
    assert body["solutionVersionArn"] == version and body["minProvisionedTPS"] == 1
    assert body["campaignConfig"] == {
        "enableMetadataWithRecommendations": False,
        "syncWithLatestSolutionVersion": False,
    }
    listed = personalize.list_campaigns(solutionArn=solution)["campaigns"]
    assert [c["campaignArn"] for c in listed] == [campaign]
    # ListCampaigns declares no ResourceNotFoundException: an unknown solution has none
    unknown = solution.rsplit("/", 1)[0] + "/unknown"
    assert personalize.list_campaigns(solutionArn=unknown)["campaigns"] == []

    runtime = client_for(server, "personalize-runtime")
    items = runtime.get_recommendations(campaignArn=campaign, userId="u03", numResults=5)
    assert items["itemList"][0]["itemId"] == "i000"  # the most popular item
    assert len(items["itemList"]) == 5

    with pytest.raises(ClientError) as raised:
        personalize.delete_solution(solutionArn=solution)
    assert error_of(raised)[0] == "ResourceInUseException" and campaign in error_of(raised)[1]
    personalize.delete_campaign(campaignArn=campaign)
    wait_idle(server)
    with pytest.raises(ClientError) as raised:
        personalize.describe_campaign(campaignArn=campaign)
    assert error_of(raised)[0] == "ResourceNotFoundException"
    personalize.delete_solution(solutionArn=solution)
    wait_idle(server)
    assert personalize.list_solutions(datasetGroupArn=group)["solutions"] == []


def test_exploration_updates_and_sync_with_the_latest_version(personalize, server):
    group = make_group(personalize, server, "news", interactions())["group"]
    solution, other = (
        personalize.create_solution(
            name=name, datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
        )["solutionArn"]
        for name in ("personal", "other")
    )
    wait_idle(server)
    first, foreign = (
        personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
        for arn in (solution, other)
    )  # trained side by side
    wait_idle(server)

    def refused(**request: Any) -> str:
        with pytest.raises(ClientError) as raised:
            personalize.create_campaign(name="bad", **request)
        assert error_of(raised)[0] == "InvalidInputException", error_of(raised)
        return error_of(raised)[1]

    assert "[0, 1]" in refused(
        solutionVersionArn=first,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "1.5"}},
    )
    assert "explorationRate" in refused(
        solutionVersionArn=first,
        campaignConfig={"itemExplorationConfig": {"explorationRate": "0.1"}},
    )
    assert "$LATEST" in refused(
        solutionVersionArn=first, campaignConfig={"syncWithLatestSolutionVersion": True}
    )
    assert "syncWithLatestSolutionVersion" in refused(solutionVersionArn=f"{solution}/$LATEST")

    fixed = personalize.create_campaign(name="fixed", solutionVersionArn=first)["campaignArn"]
    synced = personalize.create_campaign(
        name="synced",
        solutionVersionArn=f"{solution}/$LATEST",
        campaignConfig={
            "syncWithLatestSolutionVersion": True,
            "itemExplorationConfig": {"explorationWeight": "0.8"},
        },
    )["campaignArn"]
    wait_idle(server)
    assert describe(personalize, fixed)["campaignConfig"]["itemExplorationConfig"] == {
        "explorationWeight": "0.3",
        "explorationItemAgeCutOff": "30",
    }
    body = describe(personalize, synced)
    assert body["status"] == "ACTIVE" and body["solutionVersionArn"] == first
    assert body["campaignConfig"]["itemExplorationConfig"]["explorationWeight"] == "0.8"

    second = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=second))
    body = describe(personalize, synced)
    assert body["solutionVersionArn"] == second
    assert body["latestCampaignUpdate"]["solutionVersionArn"] == second
    assert body["latestCampaignUpdate"]["status"] == "ACTIVE"
    assert describe(personalize, fixed)["solutionVersionArn"] == first

    with held_workflows(server):
        personalize.update_campaign(
            campaignArn=fixed,
            solutionVersionArn=second,
            minProvisionedTPS=3,
            campaignConfig={"itemExplorationConfig": {"explorationItemAgeCutOff": "7"}},
        )
        body = describe(personalize, fixed)  # still serving the first version meanwhile
        assert (body["solutionVersionArn"], body["minProvisionedTPS"]) == (first, 1)
        assert body["latestCampaignUpdate"]["status"] == "UPDATE PENDING"
        with pytest.raises(ClientError) as raised:
            personalize.update_campaign(campaignArn=fixed, minProvisionedTPS=4)
        assert error_of(raised)[0] == "ResourceInUseException"
    wait_idle(server)
    body = describe(personalize, fixed)
    assert (body["solutionVersionArn"], body["minProvisionedTPS"]) == (second, 3)
    assert body["campaignConfig"]["itemExplorationConfig"] == {
        "explorationWeight": "0.3",
        "explorationItemAgeCutOff": "7",
    }
    assert body["latestCampaignUpdate"]["status"] == "ACTIVE"

    # CampaignConfig: with syncWithLatestSolutionVersion "you must specify the ARN of your
    # solution ... in SolutionArn/$LATEST format", on an update as at creation
    with pytest.raises(ClientError) as raised:
        personalize.update_campaign(
            campaignArn=fixed, campaignConfig={"syncWithLatestSolutionVersion": True}
        )
    assert error_of(raised)[0] == "InvalidInputException" and "$LATEST" in error_of(raised)[1]
    personalize.update_campaign(campaignArn=synced, minProvisionedTPS=2)  # keeps following
    wait_idle(server)
    assert describe(personalize, synced)["campaignConfig"]["syncWithLatestSolutionVersion"]

    with pytest.raises(ClientError) as raised:
        personalize.update_campaign(campaignArn=fixed, solutionVersionArn=foreign)
    assert error_of(raised)[0] == "InvalidInputException" and other in error_of(raised)[1]
