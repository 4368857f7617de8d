"""Next-Best-Action on AWS's engines, in moto: three imports, training and a campaign on the
compiled state machines, PutActionInteractions through Kinesis and the consumer function,
then GetActionRecommendations from the serving function."""

from __future__ import annotations

import json
import time

import pytest

from tests.aws.moto_stack import USER_ROLE, Stack
from tests.aws.test_personalize_on_aws import wait_active
from tests.embedded.test_personalize_next_best_action import (
    ACTION_INTERACTIONS_SCHEMA,
    ACTIONS_SCHEMA,
    INTERACTIONS_SCHEMA,
    action_interactions_csv,
    actions_csv,
    interactions_csv,
)

RECIPE = "arn:aws:personalize:::recipe/aws-next-best-action"

pytestmark = pytest.mark.timeout(180)


def test_next_best_action_from_imports_to_action_recommendations(stack: Stack) -> None:
    personalize = stack.api.client("personalize")
    group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    datasets = {}
    for kind, schema, body in (
        ("Interactions", INTERACTIONS_SCHEMA, interactions_csv()),
        ("Actions", ACTIONS_SCHEMA, actions_csv()),
        ("Action_Interactions", ACTION_INTERACTIONS_SCHEMA, action_interactions_csv()),
    ):
        schema_arn = personalize.create_schema(name=f"shop-{kind}", schema=json.dumps(schema))
        dataset = personalize.create_dataset(
            name=f"shop-{kind}",
            schemaArn=schema_arn["schemaArn"],
            datasetGroupArn=group,
            datasetType=kind,
        )["datasetArn"]
        wait_active(lambda d=dataset: personalize.describe_dataset(datasetArn=d))
        source = stack.upload(f"nba/{kind.lower()}.csv", body.encode())
        job = personalize.create_dataset_import_job(
            jobName=f"{kind.lower()}-import",
            datasetArn=dataset,
            dataSource={"dataLocation": source},
            roleArn=USER_ROLE,
        )["datasetImportJobArn"]
        wait_active(lambda j=job: personalize.describe_dataset_import_job(datasetImportJobArn=j))
        datasets[kind] = dataset

    solution = personalize.create_solution(name="nba", datasetGroupArn=group, recipeArn=RECIPE)
    wait_active(lambda: personalize.describe_solution(solutionArn=solution["solutionArn"]))
    version = personalize.create_solution_version(solutionArn=solution["solutionArn"])
    arn = version["solutionVersionArn"]
    wait_active(lambda: personalize.describe_solution_version(solutionVersionArn=arn), 120)
    campaign = personalize.create_campaign(name="actions", solutionVersionArn=arn)["campaignArn"]
    tracker = personalize.create_event_tracker(name="site", datasetGroupArn=group)
    wait_active(lambda: personalize.describe_campaign(campaignArn=campaign))
    wait_active(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    )

    runtime = stack.api.client("personalize-runtime")

    def recommended(user: str) -> list[str]:
        answer = runtime.get_action_recommendations(campaignArn=campaign, userId=user)
        return [entry["actionId"] for entry in answer["actionList"]]

    shopper = "u000"  # an even user: a shopper, who mostly joins the loyalty programme
    before = recommended(shopper)
    assert "summer-sale" not in before  # expired

    events = stack.api.client("personalize-events")
    events.put_action_interactions(
        trackingId=tracker["trackingId"],
        actionInteractions=[
            {
                "actionId": "download-app",
                "userId": shopper,
                "sessionId": "s0",
                "timestamp": time.time(),
                "eventType": "Taken",
            }
        ],
    )
    events.put_actions(
        datasetArn=datasets["Actions"],
        actions=[{"actionId": "refer-a-friend", "properties": json.dumps({"value": 100})}],
    )
    assert stack.events.drain() == 2
    time.sleep(1.1)  # the serving function re-reads the actions catalog once a second
    after = recommended(shopper)
    assert "download-app" not in after  # taken now: it rests for its 30 days
    assert "refer-a-friend" in after  # a new action, offered unscored
