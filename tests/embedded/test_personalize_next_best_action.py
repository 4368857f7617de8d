"""Next-Best-Action end to end through stock boto3 clients: Actions and Action_Interactions
datasets, PutActions / PutActionInteractions, the real aws-next-best-action recipe, and
GetActionRecommendations.

The shop's 200 users come in two kinds. "Shoppers" (even users) interact with items
i000-i019 and mostly join the loyalty programme when shown it; "readers" (odd users)
interact with i020-i039 and mostly subscribe to the newsletter. Both download the app
about half the time. A new user's first few item events should be enough for the
model to tell which kind they are, without retraining.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from augury.bootstrap import DEFAULT_CONTAINERS
from tests.conftest import dummy_aws_credentials
from tests.embedded.personalize_helpers import (
    RECIPE,
    ROLE,
    client_for,
    error_of,
    start_server,
    wait_for,
    wait_idle,
)
from tests.unit.test_personalization_next_best_action import most_taken_metrics

START = 1_700_000_000
USERS = 200
ACTIONS_SCHEMA = {
    "type": "record",
    "name": "Actions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ACTION_ID", "type": "string"},
        {"name": "VALUE", "type": ["null", "long"]},
        {"name": "ACTION_EXPIRATION_TIMESTAMP", "type": ["null", "long"]},
        {"name": "REPEAT_FREQUENCY", "type": ["null", "int"]},
        {"name": "CHANNEL", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}
ACTION_INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "ActionInteractions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ACTION_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
    "version": "1.0",
}
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}
TAKE_RATES = {  # (shopper, reader)
    "join-loyalty": (0.85, 0.10),
    "subscribe-newsletter": (0.10, 0.85),
    "download-app": (0.45, 0.45),
}


def shopper(user: int) -> bool:
    return user % 2 == 0


def interactions_csv() -> str:
    rng = random.Random(7)
    lines = ["USER_ID,ITEM_ID,TIMESTAMP"]
    for user in range(USERS):
        first = 0 if shopper(user) else 20
        for step in range(10):
            lines.append(
                f"u{user:03d},i{first + rng.randrange(20):03d},{START + user * 100 + step}"
            )
    return "\n".join(lines) + "\n"


def actions_csv() -> str:
    return (
        "ACTION_ID,VALUE,ACTION_EXPIRATION_TIMESTAMP,REPEAT_FREQUENCY,CHANNEL\n"
        "join-loyalty,10,,,web\n"
        "subscribe-newsletter,1,,,email\n"
        "download-app,5,,30,web\n"
        f"summer-sale,50,{START},,web\n"
    )


def action_interactions_csv() -> str:
    rng = random.Random(11)
    lines = ["USER_ID,ACTION_ID,TIMESTAMP,EVENT_TYPE"]
    for user in range(USERS):
        moment = START + 50_000 + user * 1_000
        order = list(TAKE_RATES)
        rng.shuffle(order)  # each user is shown the actions in their own order
        for step, action in enumerate(order):
            shown = moment + step * 100
            lines.append(f"u{user:03d},{action},{shown},VIEWED")
            took = rng.random() < TAKE_RATES[action][0 if shopper(user) else 1]
            lines.append(f"u{user:03d},{action},{shown + 60},{'TAKEN' if took else 'NOT_TAKEN'}")
    return "\n".join(lines) + "\n"


def make_dataset(personalize: Any, group: str, kind: str, schema: dict[str, Any]) -> str:
    schema_arn = personalize.create_schema(name=f"shop-{kind}", schema=json.dumps(schema))
    return personalize.create_dataset(
        name=f"shop-{kind}",
        schemaArn=schema_arn["schemaArn"],
        datasetGroupArn=group,
        datasetType=kind,
    )["datasetArn"]


def run_import(personalize: Any, dataset: str, name: str, location: str) -> None:
    job = personalize.create_dataset_import_job(
        jobName=name, datasetArn=dataset, dataSource={"dataLocation": location}, roleArn=ROLE
    )["datasetImportJobArn"]
    body = wait_for(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job))
    assert body["status"] == "ACTIVE", body.get("failureReason")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with dummy_aws_credentials():
        server = start_server(
            tmp_path_factory.mktemp("nba"),
            containers={"personalization": list(DEFAULT_CONTAINERS["personalization"])},
        )
        personalize = client_for(server)
        bucket = Path(server.runtime.settings.data_dir) / "s3" / "shop"
        bucket.mkdir(parents=True)
        for name, text in (
            ("interactions.csv", interactions_csv()),
            ("actions.csv", actions_csv()),
            ("action_interactions.csv", action_interactions_csv()),
        ):
            (bucket / name).write_text(text)
        group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
        wait_idle(server)
        datasets = {
            kind: make_dataset(personalize, group, kind, schema)
            for kind, schema in (
                ("Interactions", INTERACTIONS_SCHEMA),
                ("Actions", ACTIONS_SCHEMA),
                ("Action_Interactions", ACTION_INTERACTIONS_SCHEMA),
            )
        }
        wait_idle(server)
        for kind, file in (
            ("Interactions", "interactions.csv"),
            ("Actions", "actions.csv"),
            ("Action_Interactions", "action_interactions.csv"),
        ):
            run_import(personalize, datasets[kind], f"{kind.lower()}-import", f"s3://shop/{file}")
        solution = personalize.create_solution(
            name="next-best", datasetGroupArn=group, recipeArn=RECIPE + "aws-next-best-action"
        )["solutionArn"]
        wait_for(lambda: personalize.describe_solution(solutionArn=solution))
        version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        body = wait_for(
            lambda: personalize.describe_solution_version(solutionVersionArn=version), timeout=180
        )
        assert body["status"] == "ACTIVE", body.get("failureReason")
        campaign = personalize.create_campaign(name="actions", solutionVersionArn=version)
        wait_for(lambda: personalize.describe_campaign(campaignArn=campaign["campaignArn"]))
        tracker = personalize.create_event_tracker(name="site", datasetGroupArn=group)
        wait_idle(server)
        yield {
            "server": server,
            "personalize": personalize,
            "group": group,
            "datasets": datasets,
            "version": version,
            "campaign": campaign["campaignArn"],
            "trackingId": tracker["trackingId"],
        }
        server.stop()


def recommend(shop: dict[str, Any], user: str, **request: Any) -> list[tuple[str, float]]:
    runtime = client_for(shop["server"], "personalize-runtime")
    answer = runtime.get_action_recommendations(
        campaignArn=shop["campaign"], userId=user, **request
    )
    assert answer["recommendationId"].startswith("RID-")
    return [(entry["actionId"], entry["score"]) for entry in answer["actionList"]]


def settle(shop: dict[str, Any]) -> None:
    assert shop["server"].runtime.events.drain(timeout=10)


def test_a_new_users_first_item_events_decide_their_next_best_action(shop) -> None:
    events = client_for(shop["server"], "personalize-events")
    for user, items in (
        ("new-shopper", ("i001", "i005", "i007")),
        ("new-reader", ("i021", "i025")),
    ):
        events.put_events(
            trackingId=shop["trackingId"],
            userId=user,
            sessionId=f"{user}-session",
            eventList=[
                {"eventType": "click", "itemId": item, "sentAt": time.time()} for item in items
            ],
        )
    settle(shop)
    shopper_list = recommend(shop, "new-shopper")
    reader_list = recommend(shop, "new-reader")
    assert shopper_list[0][0] == "join-loyalty", shopper_list
    assert reader_list[0][0] == "subscribe-newsletter", reader_list
    scores = dict(shopper_list)
    assert 0.5 < scores["join-loyalty"] < 1.0 and scores["subscribe-newsletter"] < 0.5
    assert "summer-sale" not in scores  # expired
    assert len(shopper_list) == 3 and [s for _, s in shopper_list] == sorted(
        (s for _, s in shopper_list), reverse=True
    )


def test_taken_actions_rest_for_their_repeat_frequency_or_for_good(shop) -> None:
    events = client_for(shop["server"], "personalize-events")
    events.put_action_interactions(
        trackingId=shop["trackingId"],
        actionInteractions=[
            {
                "actionId": "download-app",
                "userId": "new-taker",
                "sessionId": "t1",
                "timestamp": time.time(),
                "eventType": "Taken",
            },
            {
                "actionId": "join-loyalty",
                "userId": "new-taker",
                "sessionId": "t1",
                "timestamp": time.time() - 40 * 86_400,
                "eventType": "Taken",
            },
        ],
    )
    settle(shop)
    listed = [action for action, _ in recommend(shop, "new-taker")]
    # download-app rests 30 days; join-loyalty has no repeat frequency: never again
    assert listed == ["subscribe-newsletter"]
    # known users who took an action in the training data are not offered it again either
    took_loyalty = next(
        line.split(",")[0]
        for line in action_interactions_csv().splitlines()
        if ",join-loyalty," in line and line.endswith(",TAKEN")
    )
    assert "join-loyalty" not in [a for a, _ in recommend(shop, took_loyalty)]


def test_a_new_action_is_offered_unscored_until_it_has_interactions(shop) -> None:
    events = client_for(shop["server"], "personalize-events")
    events.put_actions(
        datasetArn=shop["datasets"]["Actions"],
        actions=[{"actionId": "refer-a-friend", "properties": json.dumps({"value": 100})}],
    )
    settle(shop)
    deadline = time.monotonic() + 5
    while True:  # the actions catalog is re-read within a second
        listed = recommend(shop, "u000", numResults=10)
        if "refer-a-friend" in dict(listed) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert dict(listed)["refer-a-friend"] == 0.0
    assert listed[-1][0] == "refer-a-friend" or all(score == 0.0 for _, score in listed)
    assert len(recommend(shop, "u000", numResults=1)) == 1


def test_action_filters_on_actions_and_on_the_users_action_interactions(shop) -> None:
    personalize = shop["personalize"]
    filters = {}
    for name, expression in (
        ("not-by-channel", "EXCLUDE ActionID WHERE Actions.CHANNEL IN ($CHANNEL)"),
        ("declined", 'INCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")'),
    ):
        filters[name] = personalize.create_filter(
            name=name, datasetGroupArn=shop["group"], filterExpression=expression
        )["filterArn"]
        wait_for(lambda n=name: personalize.describe_filter(filterArn=filters[n]))
    everything = [a for a, _ in recommend(shop, "u001", numResults=10)]
    no_web = [
        a
        for a, _ in recommend(
            shop,
            "u001",
            numResults=10,
            filterArn=filters["not-by-channel"],
            filterValues={"CHANNEL": '"web"'},
        )
    ]
    channels = {line.split(",")[0]: line.split(",")[4] for line in actions_csv().splitlines()[1:]}
    assert no_web == [a for a in everything if channels.get(a) != "web"]
    assert len(no_web) < len(everything)
    declined_in_training = {
        line.split(",")[1]
        for line in action_interactions_csv().splitlines()
        if line.startswith("u001,") and line.endswith(",NOT_TAKEN")
    }
    assert declined_in_training  # the data has some; the filter reads the imported dataset
    declined = recommend(shop, "u001", numResults=10, filterArn=filters["declined"])
    assert {a for a, _ in declined} == declined_in_training & set(everything)
    with pytest.raises(ClientError) as raised:
        personalize.create_filter(
            name="bad",
            datasetGroupArn=shop["group"],
            filterExpression='EXCLUDE ActionID WHERE Actions.COLOUR IN ("red")',
        )
    assert "has no field COLOUR" in error_of(raised)[1]


def test_an_export_of_the_actions_holds_imported_and_put_actions(shop) -> None:
    personalize = shop["personalize"]
    events = client_for(shop["server"], "personalize-events")
    events.put_actions(
        datasetArn=shop["datasets"]["Actions"],
        actions=[{"actionId": "refer-a-friend", "properties": json.dumps({"value": 100})}],
    )
    settle(shop)
    job = personalize.create_dataset_export_job(
        jobName="actions-out",
        datasetArn=shop["datasets"]["Actions"],
        ingestionMode="ALL",
        roleArn=ROLE,
        jobOutput={"s3DataDestination": {"path": "s3://shop/out/"}},
    )["datasetExportJobArn"]
    body = wait_for(lambda: personalize.describe_dataset_export_job(datasetExportJobArn=job))
    assert body["status"] == "ACTIVE", body.get("failureReason")
    out = Path(shop["server"].runtime.settings.data_dir) / "s3" / "shop" / "out"
    lines = "".join(path.read_text() for path in sorted(out.glob("*.csv"))).splitlines()
    assert lines[0].startswith("ACTION_ID,VALUE")
    exported = {line.split(",")[0] for line in lines[1:]}
    assert exported == {
        "join-loyalty",
        "subscribe-newsletter",
        "download-app",
        "summer-sale",
        "refer-a-friend",
    }


def test_metrics_and_what_is_refused(shop) -> None:
    personalize = shop["personalize"]
    metrics = personalize.get_solution_metrics(solutionVersionArn=shop["version"])["metrics"]
    rows = [line.split(",") for line in action_interactions_csv().splitlines()[1:]]
    shown = pd.DataFrame(rows, columns=["USER_ID", "ACTION_ID", "TIMESTAMP", "EVENT_TYPE"])
    peer = most_taken_metrics(shown.astype({"TIMESTAMP": int}), seed=42)  # the job's seed
    for name in ("normalized_discounted_cumulative_gain_at_5", "mean_reciprocal_rank_at_25"):
        assert metrics[name] > peer[name] + 0.05, (name, metrics[name], peer[name])
    assert metrics["coverage"] == 1.0
    with pytest.raises(ClientError) as raised:
        personalize.create_solution(
            name="clicks-only",
            datasetGroupArn=shop["group"],
            recipeArn=RECIPE + "aws-next-best-action",
            eventType="click",
        )
    assert "leave out eventType" in error_of(raised)[1]
    runtime = client_for(shop["server"], "personalize-runtime")
    with pytest.raises(ClientError) as raised:
        runtime.get_recommendations(campaignArn=shop["campaign"], userId="u000")
    assert "GetActionRecommendations" in error_of(raised)[1]
    for request, words in (({"numResults": 101}, "numResults"),):
        with pytest.raises(ClientError) as raised:
            runtime.get_action_recommendations(
                campaignArn=shop["campaign"], userId="u000", **request
            )
        assert error_of(raised)[0] == "InvalidInputException" and words in error_of(raised)[1]
    events = client_for(shop["server"], "personalize-events")
    with pytest.raises(ClientError) as raised:
        events.put_action_interactions(
            trackingId=shop["trackingId"],
            actionInteractions=[
                {
                    "actionId": "download-app",
                    "userId": "u000",
                    "sessionId": "s",
                    "timestamp": time.time(),
                    "eventType": "Clicked",
                }
            ],
        )
    assert "Taken, Not Taken or Viewed" in error_of(raised)[1]


def test_a_data_deletion_job_forgets_the_users_action_interactions(shop) -> None:
    personalize = shop["personalize"]
    events = client_for(shop["server"], "personalize-events")
    events.put_action_interactions(
        trackingId=shop["trackingId"],
        actionInteractions=[
            {
                "actionId": action,
                "userId": "forgotten",
                "sessionId": "f1",
                "timestamp": time.time(),
                "eventType": "TAKEN",
            }
            for action in ("download-app", "join-loyalty")
        ],
    )
    settle(shop)
    assert "download-app" not in [a for a, _ in recommend(shop, "forgotten")]
    ids = Path(shop["server"].runtime.settings.data_dir) / "s3" / "shop" / "forget.csv"
    ids.write_text("USER_ID\nforgotten\n")
    job = personalize.create_data_deletion_job(
        jobName="forget",
        datasetGroupArn=shop["group"],
        dataSource={"dataLocation": "s3://shop/forget.csv"},
        roleArn=ROLE,
    )["dataDeletionJobArn"]
    body = wait_for(
        lambda: personalize.describe_data_deletion_job(dataDeletionJobArn=job),
        statuses=("COMPLETED", "FAILED"),
    )
    assert body["status"] == "COMPLETED", body.get("failureReason")
    assert body["numDeleted"] == 2  # the two actions the user took, recorded as events
    listed = [a for a, _ in recommend(shop, "forgotten")]
    assert "download-app" in listed and "join-loyalty" in listed


def test_action_datasets_belong_to_custom_groups_and_the_recipe_needs_actions(
    server, client
) -> None:
    personalize = client("personalize")
    domain = personalize.create_dataset_group(name="films", domain="VIDEO_ON_DEMAND")
    custom = personalize.create_dataset_group(name="bare")
    wait_idle(server)
    schema = personalize.create_schema(
        name="actions", schema=json.dumps(ACTIONS_SCHEMA), domain="VIDEO_ON_DEMAND"
    )
    with pytest.raises(ClientError) as raised:
        personalize.create_dataset(
            name="actions",
            schemaArn=schema["schemaArn"],
            datasetGroupArn=domain["datasetGroupArn"],
            datasetType="Actions",
        )
    assert "Custom dataset group" in error_of(raised)[1]
    make_dataset(personalize, custom["datasetGroupArn"], "Interactions", INTERACTIONS_SCHEMA)
    wait_idle(server)
    with pytest.raises(ClientError) as raised:
        personalize.create_solution(
            name="nba",
            datasetGroupArn=custom["datasetGroupArn"],
            recipeArn=RECIPE + "aws-next-best-action",
        )
    assert "no Actions dataset" in error_of(raised)[1]
    bad = dict(ACTIONS_SCHEMA, fields=[{"name": "ACTION_ID", "type": "string"}])
    bad_schema = personalize.create_schema(name="bare-actions", schema=json.dumps(bad))
    with pytest.raises(ClientError) as raised:
        personalize.create_dataset(
            name="bare-actions",
            schemaArn=bad_schema["schemaArn"],
            datasetGroupArn=custom["datasetGroupArn"],
            datasetType="Actions",
        )
    assert "at least one metadata field" in error_of(raised)[1]


def test_trimming_one_dataset_leaves_the_other_event_folders_whole(server) -> None:
    """trainingDataConfig drops EVENT_TYPE from Interactions: the Interactions events lose it,
    the action interactions (which need it) keep it."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from augury.personalize.group_data import GroupDataset
    from augury.workflows import personalize_training

    runtime = server.runtime

    def put(key: str, table: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        runtime.blobs.put_bytes(key, sink.getvalue())

    events = "resources/personalize/dataset-group/g/events/"
    put(
        events + "interactions/a.parquet",
        pa.table({"USER_ID": ["u"], "ITEM_ID": ["i"], "TIMESTAMP": [1], "EVENT_TYPE": ["x"]}),
    )
    put(
        events + "action_interactions/b.parquet",
        pa.table({"USER_ID": ["u"], "ACTION_ID": ["a"], "TIMESTAMP": [1], "EVENT_TYPE": ["TAKEN"]}),
    )
    put("data/interactions/part.parquet", pa.table({"USER_ID": ["u"], "ITEM_ID": ["i"]}))
    fields = [{"name": n, "type": "string"} for n in ("USER_ID", "ITEM_ID", "EVENT_TYPE")]
    interactions = GroupDataset(
        arn="arn:aws:personalize:us-east-1:000000000000:dataset/g/INTERACTIONS",
        dataset_type="INTERACTIONS",
        schema={"fields": [*fields, {"name": "TIMESTAMP", "type": "long"}]},
        data_prefix="data/interactions/",
        rows=1,
    )
    config = {"trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": ["EVENT_TYPE"]}}}
    version = "arn:aws:personalize:us-east-1:000000000000:solution/s/v1"
    channels = personalize_training._channels(
        runtime, version, {"INTERACTIONS": interactions}, events, config
    )
    trimmed = channels["events"]
    assert trimmed != events

    def columns(key: str) -> list[str]:
        return pq.read_table(io.BytesIO(runtime.blobs.get_bytes(key))).column_names

    assert "EVENT_TYPE" not in columns(trimmed + "interactions/a.parquet")
    assert "EVENT_TYPE" in columns(trimmed + "action_interactions/b.parquet")
