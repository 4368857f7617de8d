"""GetRecommendations and GetPersonalizedRanking end to end, through stock boto3 clients.

One server per module (training runs the fake personalization container, which
writes a real popularity model: item i000 is the most popular, and item
``i{k}`` is a drama when k is odd, a comedy when even). Campaigns, filters and
an event tracker are created through the ``personalize`` client; PutEvents
goes through ``personalize-events``, so the test also shows an event reaching
the next answer within a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from tests.conftest import dummy_aws_credentials
from tests.embedded.personalize_helpers import (
    client_for,
    error_of,
    interactions,
    item_rows,
    make_group,
    start_server,
    train,
    wait_for,
)


def is_drama(item_id: str) -> bool:
    return int(item_id[1:]) % 2 == 1


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A group with data, three trained versions, their campaigns and two filters."""
    with dummy_aws_credentials():
        server = start_server(tmp_path_factory.mktemp("runtime"))
        personalize = client_for(server)
        arns = make_group(personalize, server, "shop", interactions(), items=item_rows())
        group = arns["group"]
        found: dict[str, Any] = {"server": server, "group": group}
        for name, recipe, config in (
            ("up", "aws-user-personalization", {"enableMetadataWithRecommendations": True}),
            ("ranking", "aws-personalized-ranking", {}),
            ("sims", "aws-sims", {}),
        ):
            _, version = train(personalize, group, name=name, recipe=recipe)
            campaign = personalize.create_campaign(
                name=f"{name}-campaign", solutionVersionArn=version, campaignConfig=config
            )["campaignArn"]
            found[name] = campaign
        for name, expression in (
            ("genre", "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)"),
            ("unwatched", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")'),
        ):
            found[name] = personalize.create_filter(
                name=name, datasetGroupArn=group, filterExpression=expression
            )["filterArn"]
        for name in ("up", "ranking", "sims"):
            wait_for(lambda n=name: personalize.describe_campaign(campaignArn=found[n]))
        for name in ("genre", "unwatched"):
            wait_for(lambda n=name: personalize.describe_filter(filterArn=found[n]))
        found["trackingId"] = personalize.create_event_tracker(
            name="tracker", datasetGroupArn=group
        )["trackingId"]
        yield found
        server.stop()


@pytest.fixture
def runtime_client(setup: dict[str, Any]) -> Any:
    server: EmbeddedServer = setup["server"]
    return client_for(server, "personalize-runtime")


def items_of(answer: dict[str, Any], member: str = "itemList") -> list[str]:
    return [item["itemId"] for item in answer[member]]


def test_recommendations_carry_scores_an_id_and_honour_num_results(setup, runtime_client):
    answer = runtime_client.get_recommendations(campaignArn=setup["up"], userId="u01")
    assert len(answer["itemList"]) == 25
    assert answer["recommendationId"].startswith("RID-")
    assert items_of(answer)[0] == "i000"
    scores = [item["score"] for item in answer["itemList"]]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    few = runtime_client.get_recommendations(campaignArn=setup["up"], userId="u01", numResults=3)
    assert items_of(few) == items_of(answer)[:3]
    stranger = runtime_client.get_recommendations(campaignArn=setup["up"], userId="nobody")
    assert items_of(stranger)[0] == "i000"
    with pytest.raises(ClientError) as raised:
        runtime_client.get_recommendations(campaignArn=setup["up"], userId="u01", numResults=501)
    assert error_of(raised) == ("InvalidInputException", error_of(raised)[1])
    assert "numResults" in error_of(raised)[1]


def test_a_filter_with_values_and_a_promotion(setup, runtime_client):
    dramas = runtime_client.get_recommendations(
        campaignArn=setup["up"],
        userId="u01",
        numResults=10,
        filterArn=setup["genre"],
        filterValues={"GENRE": '"drama"'},
    )
    assert len(dramas["itemList"]) == 10 and all(is_drama(i) for i in items_of(dramas))
    promoted = runtime_client.get_recommendations(
        campaignArn=setup["up"],
        userId="u01",
        numResults=10,
        filterArn=setup["genre"],
        filterValues={"GENRE": '"drama"'},
        promotions=[
            {
                "name": "comedy-night",
                "percentPromotedItems": 20,
                "filterArn": setup["genre"],
                "filterValues": {"GENRE": '"comedy"'},
            }
        ],
    )["itemList"]
    names = [item.get("promotionName") for item in promoted]
    assert names.count("comedy-night") == 2
    assert all(
        is_drama(item["itemId"]) != (item.get("promotionName") == "comedy-night")
        for item in promoted
    )


def test_metadata_columns_come_back_as_strings(setup, runtime_client):
    answer = runtime_client.get_recommendations(
        campaignArn=setup["up"],
        userId="u01",
        numResults=2,
        metadataColumns={"ITEMS": ["GENRE", "PRICE"]},
    )
    first = answer["itemList"][0]
    assert first["metadata"] == {"GENRE": "comedy", "PRICE": "0.0"}
    with pytest.raises(ClientError) as raised:
        runtime_client.get_recommendations(
            campaignArn=setup["ranking"], userId="u01", metadataColumns={"ITEMS": ["GENRE"]}
        )
    assert error_of(raised)[0] == "InvalidInputException"


def test_put_events_reaches_the_next_answer_within_a_second(setup, runtime_client):
    events = client_for(setup["server"], "personalize-events")

    def unwatched() -> list[str]:
        return items_of(
            runtime_client.get_recommendations(
                campaignArn=setup["up"], userId="u07", filterArn=setup["unwatched"]
            )
        )

    top = unwatched()[0]
    events.put_events(
        trackingId=setup["trackingId"],
        userId="u07",
        sessionId="s-7",
        eventList=[{"eventType": "watch", "itemId": top, "sentAt": time.time()}],
    )
    deadline = time.monotonic() + 1.0
    while top in unwatched():
        assert time.monotonic() < deadline, "the event did not reach the answer in 1 s"
        time.sleep(0.02)


def test_ranking_puts_unknown_items_last(setup, runtime_client):
    answer = runtime_client.get_personalized_ranking(
        campaignArn=setup["ranking"], userId="u01", inputList=["i005", "brand-new", "i000"]
    )
    ranked = answer["personalizedRanking"]
    assert [item["itemId"] for item in ranked] == ["i000", "i005", "brand-new"]
    assert ranked[-1]["score"] == 0.0
    assert sum(item["score"] for item in ranked) == pytest.approx(1.0)
    with pytest.raises(ClientError) as raised:
        runtime_client.get_recommendations(campaignArn=setup["ranking"], userId="u01")
    assert "GetPersonalizedRanking" in error_of(raised)[1]


def test_related_items_for_known_and_unknown_items(setup, runtime_client):
    related = runtime_client.get_recommendations(campaignArn=setup["sims"], itemId="i000")
    assert "i000" not in items_of(related)
    assert all("score" not in item for item in related["itemList"])
    unknown = runtime_client.get_recommendations(campaignArn=setup["sims"], itemId="never-seen")
    assert items_of(unknown)[0] == "i000"
    with pytest.raises(ClientError) as raised:
        runtime_client.get_recommendations(campaignArn=setup["sims"], userId="u01")
    assert error_of(raised)[0] == "InvalidInputException"


def test_unknown_campaigns_and_recommenders(setup, runtime_client):
    missing = setup["up"].replace("up-campaign", "nope")
    with pytest.raises(runtime_client.exceptions.ResourceNotFoundException) as raised:
        runtime_client.get_recommendations(campaignArn=missing, userId="u01")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    recommender = setup["up"].replace("campaign/up-campaign", "recommender/r")
    with pytest.raises(runtime_client.exceptions.ResourceNotFoundException):
        runtime_client.get_recommendations(recommenderArn=recommender, userId="u01")
