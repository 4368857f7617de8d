"""Recommenders of Domain dataset groups end to end, through stock boto3 clients.

Most tests run the fake personalization container (a popularity model that
records the job it got, ``job.json``); one trains the real SIMS recipe.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.bootstrap import DEFAULT_CONTAINERS
from augury.embedded.server import EmbeddedServer
from augury.personalize.resource_types import RECOMMENDER_MODEL
from tests.embedded.personalize_helpers import (
    RECIPE,
    client_for,
    create_recommender,
    held_workflows,
    interactions,
    make_group,
    model_file,
    put_data,
    start_server,
    wait_for,
    wait_idle,
    watches,
)
from tests.fixtures.fake_personalization_container import FAIL_ITEM, FAIL_REASON

SHOP_ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": "string", "categorical": True},
    ],
    "version": "1.0",
}
VOD_ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": "string", "categorical": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}


def two_audiences() -> list[dict[str, Any]]:
    """Users 0-29 watch films a00-a19 and click films b00-b19; users 30-59 the reverse.

    Counting Watch events only, the a films go together and the b films go together;
    counting the clicks too, every a film goes with every b film as well.
    """
    rows = []
    for user in range(60):
        watched, clicked = ("a", "b") if user < 30 else ("b", "a")
        for step in range(20):
            moment = 1_700_000_000 + user * 100 + 2 * step
            for kind, event_type, offset in ((watched, "Watch", 0), (clicked, "Click", 1)):
                rows.append(
                    {
                        "USER_ID": f"u{user:02d}",
                        "ITEM_ID": f"{kind}{(step + user) % 20:02d}",
                        "TIMESTAMP": moment + offset,
                        "EVENT_TYPE": event_type,
                        "EVENT_VALUE": 1.0,
                        "DEVICE": "tv",
                    }
                )
    return rows


@pytest.fixture
def server(tmp_path) -> Iterator[EmbeddedServer]:
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def personalize(server: EmbeddedServer) -> Any:
    return client_for(server)


@pytest.fixture
def runtime_client(server: EmbeddedServer) -> Any:
    return client_for(server, "personalize-runtime")


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def refused(call: Any, **request: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**request)
    return error_of(raised)


def job_of(server: EmbeddedServer, recommender_arn: str) -> dict[str, Any]:
    """What the container was handed for the recommender's current model."""
    model = server.runtime.metadata.get(recommender_arn).attributes["_model"]
    return model_file(server, model, "job.json")


def add_items(
    personalize: Any,
    server: EmbeddedServer,
    group: str,
    domain: str,
    schema: dict[str, Any],
    rows: list[dict[str, Any]],
) -> str:
    """An Items dataset of the domain's schema in ``group``, holding ``rows``."""
    name = f"{group.rsplit('/', 1)[-1]}-items"
    schema_arn = personalize.create_schema(name=name, schema=json.dumps(schema), domain=domain)[
        "schemaArn"
    ]
    dataset = personalize.create_dataset(
        name=name, schemaArn=schema_arn, datasetGroupArn=group, datasetType="Items"
    )["datasetArn"]
    wait_idle(server)
    put_data(server, dataset, rows)
    return dataset


def items_of(answer: dict[str, Any]) -> list[str]:
    return [item["itemId"] for item in answer["itemList"]]


def test_use_cases_are_listed_by_domain(personalize):
    vod = personalize.list_recipes(domain="VIDEO_ON_DEMAND")["recipes"]
    assert {r["name"] for r in vod} == {
        "aws-vod-because-you-watched-x",
        "aws-vod-more-like-x",
        "aws-vod-most-popular",
        "aws-vod-trending-now",
        "aws-vod-top-picks",
    }
    assert {r["domain"] for r in vod} == {"VIDEO_ON_DEMAND"}
    shop = personalize.list_recipes(domain="ECOMMERCE")["recipes"]
    assert len(shop) == 5 and all(r["recipeArn"].startswith(RECIPE + "aws-ecomm-") for r in shop)
    top = personalize.describe_recipe(recipeArn=RECIPE + "aws-vod-top-picks")["recipe"]
    assert top["recipeType"] == "USER_PERSONALIZATION" and top["name"] == "aws-vod-top-picks"
    assert top["description"].startswith("Top picks for you")
    related = personalize.describe_recipe(recipeArn=RECIPE + "aws-vod-because-you-watched-x")
    assert related["recipe"]["recipeType"] == "RELATED_ITEMS"


def test_a_recommender_trains_on_its_event_type_and_leaves_out_watched_videos(
    personalize, runtime_client, server
):
    group = make_group(personalize, server, "films", watches(), domain="VIDEO_ON_DEMAND")["group"]
    body = create_recommender(personalize, group, "because", "aws-vod-because-you-watched-x")
    assert body["status"] == "ACTIVE", body.get("failureReason")
    arn = body["recommenderArn"]
    assert body["recipeArn"] == RECIPE + "aws-vod-because-you-watched-x"
    assert body["datasetGroupArn"] == group
    assert body["recommenderConfig"] == {"minRecommendationRequestsPerSecond": 1}
    assert set(body["modelMetrics"]) >= {
        "coverage",
        "mean_reciprocal_rank_at_25",
        "normalized_discounted_cumulative_gain_at_10",
        "precision_at_25",
    }
    job = job_of(server, arn)
    assert job["config"]["recipe"] == "aws-sims" and job["config"]["event_type"] == "Watch"
    listed = personalize.list_recommenders(datasetGroupArn=group)["recommenders"]
    assert [(r["name"], r["status"]) for r in listed] == [("because", "ACTIVE")]
    unknown = group.rsplit("/", 1)[0] + "/unknown"  # the operation declares no NotFound
    assert personalize.list_recommenders(datasetGroupArn=unknown)["recommenders"] == []

    answer = runtime_client.get_recommendations(
        recommenderArn=arn, userId="u01", itemId="i010", numResults=200
    )
    assert answer["recommendationId"].startswith("RID-")
    watched = {
        r["ITEM_ID"] for r in watches() if r["USER_ID"] == "u01" and r["EVENT_TYPE"] == "Watch"
    }
    clicked = {r["ITEM_ID"] for r in watches() if r["USER_ID"] == "u01"} - watched
    listed_items = set(items_of(answer))
    assert listed_items and not listed_items & watched and "i010" not in listed_items
    assert clicked & listed_items, "only Watch events leave items out"
    stranger = runtime_client.get_recommendations(
        recommenderArn=arn, userId="new", itemId="i010", numResults=200
    )
    assert watched & set(items_of(stranger)), "a user with no history loses nothing"

    code, message = refused(runtime_client.get_recommendations, recommenderArn=arn, userId="u01")
    assert code == "InvalidInputException" and "give itemId" in message
    code, message = refused(runtime_client.get_recommendations, recommenderArn=arn, itemId="i010")
    assert code == "InvalidInputException" and "needs a userId" in message
    campaign = arn.replace(":recommender/", ":campaign/")
    code, message = refused(
        runtime_client.get_recommendations,
        recommenderArn=arn,
        campaignArn=campaign,
        userId="u01",
        itemId="i010",
    )
    assert code == "InvalidInputException" and "not both" in message


def test_minimum_data_is_counted_on_the_use_case_event_type(personalize, server):
    clicks_only = watches(("Click", "Click"))
    group = make_group(personalize, server, "clips", clicks_only, domain="VIDEO_ON_DEMAND")
    body = create_recommender(personalize, group["group"], "popular", "aws-vod-most-popular")
    assert body["status"] == "CREATE FAILED"
    assert "'Watch'" in body["failureReason"] and "1000" in body["failureReason"]
    assert "modelMetrics" not in body
    models = server.runtime.metadata.list(kind=RECOMMENDER_MODEL.kind, limit=10).items
    assert models == [], "a failed training leaves no model behind"
    # every event counts for Top picks: the same data trains it
    picks = create_recommender(personalize, group["group"], "picks", "aws-vod-top-picks")
    assert picks["status"] == "ACTIVE"
    personalize.delete_recommender(recommenderArn=body["recommenderArn"])
    wait_idle(server)
    names = [r["name"] for r in personalize.list_recommenders()["recommenders"]]
    assert names == ["picks"]


def test_update_stop_start_and_delete(personalize, runtime_client, server):
    group = make_group(personalize, server, "films", watches(), domain="VIDEO_ON_DEMAND")["group"]
    body = create_recommender(
        personalize,
        group,
        "picks",
        "aws-vod-top-picks",
        recommenderConfig={"itemExplorationConfig": {"explorationWeight": "0.1"}},
    )
    arn = body["recommenderArn"]
    assert body["recommenderConfig"]["itemExplorationConfig"] == {
        "explorationWeight": "0.1",
        "explorationItemAgeCutOff": "30",
    }
    first_model = server.runtime.metadata.get(arn).attributes["_model"]

    personalize.update_recommender(
        recommenderArn=arn, recommenderConfig={"minRecommendationRequestsPerSecond": 5}
    )
    body = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert body["status"] == "ACTIVE"
    assert body["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 5
    assert body["recommenderConfig"]["itemExplorationConfig"]["explorationWeight"] == "0.1"
    assert body["latestRecommenderUpdate"]["status"] == "ACTIVE"
    assert server.runtime.metadata.get(arn).attributes["_model"] == first_model

    excluded = {"excludedDatasetColumns": {"INTERACTIONS": ["DEVICE"]}}
    with held_workflows(server):
        personalize.update_recommender(
            recommenderArn=arn, recommenderConfig={"trainingDataConfig": excluded}
        )
        update = personalize.describe_recommender(recommenderArn=arn)["recommender"]
        assert update["status"] == "ACTIVE"  # it keeps serving while the model retrains
        assert update["latestRecommenderUpdate"]["status"] == "UPDATE PENDING"
        assert update["latestRecommenderUpdate"]["recommenderConfig"]["trainingDataConfig"] == (
            excluded
        )
        assert "trainingDataConfig" not in update["recommenderConfig"], "the old one serves"
        assert items_of(runtime_client.get_recommendations(recommenderArn=arn, userId="u01"))
        for call, request in (
            (personalize.update_recommender, {"recommenderConfig": {}}),
            (personalize.stop_recommender, {}),
            (personalize.delete_recommender, {}),
        ):
            code, message = refused(call, recommenderArn=arn, **request)
            assert code == "ResourceInUseException" and "update in progress" in message
    wait_idle(server)
    body = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert body["latestRecommenderUpdate"]["status"] == "ACTIVE"
    assert body["recommenderConfig"]["trainingDataConfig"] == excluded
    assert "DEVICE" not in job_of(server, arn)["columns"]["interactions"]
    assert server.runtime.metadata.get(arn).attributes["_model"] != first_model

    personalize.stop_recommender(recommenderArn=arn)
    body = wait_for(
        lambda: personalize.describe_recommender(recommenderArn=arn), statuses=["INACTIVE"]
    )
    code, message = refused(runtime_client.get_recommendations, recommenderArn=arn, userId="u01")
    assert code == "InvalidInputException" and "INACTIVE" in message
    code, _ = refused(personalize.update_recommender, recommenderArn=arn, recommenderConfig={})
    assert code == "ResourceInUseException"
    code, _ = refused(personalize.stop_recommender, recommenderArn=arn)
    assert code == "ResourceInUseException"
    personalize.start_recommender(recommenderArn=arn)
    wait_for(lambda: personalize.describe_recommender(recommenderArn=arn), statuses=["ACTIVE"])
    assert items_of(runtime_client.get_recommendations(recommenderArn=arn, userId="u01"))

    code, _ = refused(personalize.delete_dataset_group, datasetGroupArn=group)
    assert code == "ResourceInUseException"
    personalize.delete_recommender(recommenderArn=arn)
    wait_idle(server)
    assert personalize.list_recommenders(datasetGroupArn=group)["recommenders"] == []
    assert server.runtime.metadata.list(kind=RECOMMENDER_MODEL.kind, limit=10).items == []
    assert not list(server.runtime.blobs.list_keys("resources/personalize/recommender-model/"))
    code, _ = refused(personalize.describe_recommender, recommenderArn=arn)
    assert code == "ResourceNotFoundException"


def test_create_recommender_refuses_what_amazon_refuses(personalize, server):
    custom = make_group(personalize, server, "custom", interactions())["group"]
    films = make_group(personalize, server, "films", watches(), domain="VIDEO_ON_DEMAND")["group"]

    def create_refused(group: str, use_case: str, **request: Any) -> tuple[str, str]:
        return refused(
            personalize.create_recommender,
            name=request.pop("name", "r"),
            datasetGroupArn=group,
            recipeArn=RECIPE + use_case,
            **request,
        )

    code, message = create_refused(custom, "aws-vod-top-picks")
    assert code == "InvalidInputException" and "Custom dataset group" in message
    code, message = create_refused(films, "aws-ecomm-recommended-for-you")
    assert code == "InvalidInputException" and "ECOMMERCE use case" in message
    code, message = create_refused(films, "aws-user-personalization")
    assert code == "InvalidInputException" and "CreateSolution" in message
    code, _ = create_refused(films, "aws-vod-nothing")
    assert code == "ResourceNotFoundException"
    code, message = create_refused(films, "aws-vod-more-like-x")
    assert code == "InvalidInputException" and "Items dataset" in message
    code, message = create_refused(
        films,
        "aws-vod-most-popular",
        recommenderConfig={"itemExplorationConfig": {"explorationWeight": "0.5"}},
    )
    assert code == "InvalidInputException" and "itemExplorationConfig" in message
    code, message = create_refused(
        films,
        "aws-vod-top-picks",
        recommenderConfig={
            "trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": ["NOPE"]}}
        },
    )
    assert code == "InvalidInputException" and "recommenderConfig.trainingDataConfig" in message
    code, message = refused(
        personalize.create_solution,
        name="s",
        datasetGroupArn=films,
        recipeArn=RECIPE + "aws-vod-top-picks",
    )
    assert code == "InvalidInputException" and "CreateRecommender" in message
    create_recommender(personalize, films, "picks", "aws-vod-top-picks")
    code, _ = create_refused(films, "aws-vod-top-picks", name="picks")
    assert code == "ResourceAlreadyExistsException"


def test_more_like_x_trains_with_the_items_dataset(personalize, runtime_client, server):
    arns = make_group(personalize, server, "films", watches(), domain="VIDEO_ON_DEMAND")
    films = [
        {"ITEM_ID": f"i{k:03d}", "GENRES": "drama|crime", "CREATION_TIMESTAMP": 1_700_000_000}
        for k in range(60)
    ]
    add_items(personalize, server, arns["group"], "VIDEO_ON_DEMAND", VOD_ITEMS_SCHEMA, films)
    body = create_recommender(personalize, arns["group"], "like", "aws-vod-more-like-x")
    assert body["status"] == "ACTIVE", body.get("failureReason")
    assert job_of(server, body["recommenderArn"])["channels"] == ["interactions", "items"]
    answer = runtime_client.get_recommendations(
        recommenderArn=body["recommenderArn"], userId="new", itemId="i003", numResults=5
    )
    assert len(items_of(answer)) == 5 and "i003" not in items_of(answer)


def test_the_real_sims_recipe_serves_because_you_watched_x(tmp_path):
    """Trained on Watch events only, films go with the films their audience watched."""
    server = start_server(
        tmp_path, containers={"personalization": list(DEFAULT_CONTAINERS["personalization"])}
    )
    try:
        personalize = client_for(server)
        group = make_group(personalize, server, "films", two_audiences(), domain="VIDEO_ON_DEMAND")[
            "group"
        ]
        body = create_recommender(personalize, group, "because", "aws-vod-because-you-watched-x")
        assert body["status"] == "ACTIVE", body.get("failureReason")
        runtime_client = client_for(server, "personalize-runtime")
        answer = runtime_client.get_recommendations(
            recommenderArn=body["recommenderArn"], userId="new", itemId="a05", numResults=10
        )
        assert len(items_of(answer)) == 10
        assert all(item.startswith("a") for item in items_of(answer)), items_of(answer)
        # u00 watched a00-a19 (all of them): only the films it merely clicked are left
        seen = runtime_client.get_recommendations(
            recommenderArn=body["recommenderArn"], userId="u00", itemId="a05", numResults=10
        )
        assert all(item.startswith("b") for item in items_of(seen)), items_of(seen)
    finally:
        server.stop()


def test_a_failed_update_leaves_the_recommender_as_it_was(personalize, runtime_client, server):
    arns = make_group(personalize, server, "films", watches(), domain="VIDEO_ON_DEMAND")
    arn = create_recommender(personalize, arns["group"], "picks", "aws-vod-top-picks")[
        "recommenderArn"
    ]
    served = server.runtime.metadata.get(arn).attributes["_model"]
    put_data(server, arns["INTERACTIONS"], [*watches(), {**watches()[0], "ITEM_ID": FAIL_ITEM}])
    excluded = {"excludedDatasetColumns": {"INTERACTIONS": ["DEVICE"]}}
    personalize.update_recommender(
        recommenderArn=arn, recommenderConfig={"trainingDataConfig": excluded}
    )
    wait_idle(server)
    body = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert body["status"] == "ACTIVE" and "trainingDataConfig" not in body["recommenderConfig"]
    update = body["latestRecommenderUpdate"]
    assert update["status"] == "UPDATE FAILED" and FAIL_REASON in update["failureReason"]
    assert update["recommenderConfig"]["trainingDataConfig"] == excluded
    record = server.runtime.metadata.get(arn)
    assert record.attributes["_model"] == served and "_training" not in record.attributes
    assert server.runtime.metadata.list(kind=RECOMMENDER_MODEL.kind, limit=10).items == [
        server.runtime.metadata.get(served)
    ]
    assert items_of(runtime_client.get_recommendations(recommenderArn=arn, userId="u01"))
    personalize.update_recommender(  # and it can be updated again
        recommenderArn=arn, recommenderConfig={"minRecommendationRequestsPerSecond": 2}
    )


def shop_rows() -> list[dict[str, Any]]:
    """The shared interactions as an online shop's: even steps View, odd ones Purchase."""
    return watches(("View", "Purchase"))


def test_recommended_for_you_leaves_out_purchases_and_returns_metadata(
    personalize, runtime_client, server
):
    arns = make_group(personalize, server, "shop", shop_rows(), domain="ECOMMERCE")
    shoes = [{"ITEM_ID": f"i{k:03d}", "PRICE": float(k), "CATEGORY_L1": "shop"} for k in range(200)]
    add_items(personalize, server, arns["group"], "ECOMMERCE", SHOP_ITEMS_SCHEMA, shoes)
    arn = create_recommender(
        personalize, arns["group"], "for-you", "aws-ecomm-recommended-for-you"
    )["recommenderArn"]
    answer = runtime_client.get_recommendations(recommenderArn=arn, userId="u01", numResults=200)
    bought = {
        r["ITEM_ID"] for r in shop_rows() if r["USER_ID"] == "u01" and r["EVENT_TYPE"] == "Purchase"
    }
    viewed = {r["ITEM_ID"] for r in shop_rows() if r["USER_ID"] == "u01"} - bought
    assert not set(items_of(answer)) & bought and viewed & set(items_of(answer))

    code, message = refused(
        runtime_client.get_recommendations,
        recommenderArn=arn,
        userId="u01",
        metadataColumns={"ITEMS": ["PRICE"]},
    )
    assert code == "InvalidInputException" and "recommenderConfig" in message
    personalize.update_recommender(
        recommenderArn=arn, recommenderConfig={"enableMetadataWithRecommendations": True}
    )
    described = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert described["recommenderConfig"]["enableMetadataWithRecommendations"] is True
    listed = runtime_client.get_recommendations(
        recommenderArn=arn, userId="u01", numResults=3, metadataColumns={"ITEMS": ["PRICE"]}
    )["itemList"]
    assert [float(item["metadata"]["PRICE"]) for item in listed] == [
        float(item["itemId"][1:]) for item in listed
    ]

    together = create_recommender(
        personalize, arns["group"], "together", "aws-ecomm-frequently-bought-together"
    )
    assert job_of(server, together["recommenderArn"])["config"]["event_type"] == "Purchase"
    answer = runtime_client.get_recommendations(
        recommenderArn=together["recommenderArn"], itemId="i010", numResults=5
    )  # no userId: this use case needs none
    assert len(items_of(answer)) == 5
    code, message = refused(
        runtime_client.get_recommendations,
        recommenderArn=together["recommenderArn"].replace("together", "for-you"),
        userId="u01",
        itemId="i010",
    )
    assert code == "InvalidInputException" and "does not use itemId" in message
