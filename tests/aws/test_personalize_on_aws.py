"""The Personalize workflow on AWS's engines, in moto: CreateDatasetGroup to GetRecommendations.

Every call is a stock boto3 client's, sent as an API Gateway proxy event to
``augury.handlers.api``. The dataset group, dataset, import, solution, training,
campaign, filter and event tracker work runs as executions of the compiled
state machines in moto's Step Functions; training is a SageMaker job served by
the personalization image's entry point. PutEvents lands on moto's Kinesis
stream, and the events consumer function, fed the stream's records in
batches, writes them to the user-history table (what serving reads at once)
and to S3 (what the next training reads).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from augury import handlers
from augury.personalize import event_consumer
from augury.personalize.event_data import events_prefix, group_scope, user_subject
from augury.personalize.group_data import read_table
from augury.resources import crud
from tests.aws.moto_stack import (
    DATA_BUCKET,
    HISTORY_TABLE,
    METRICS_NAMESPACE,
    REGION,
    USER_BUCKET,
    USER_ROLE,
    Stack,
)

USERS, PER_USER, ITEMS = 30, 40, 60
RECIPES = "arn:aws:personalize:::recipe/"
SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
    "version": "1.0",
}
UNWATCHED = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")'

pytestmark = pytest.mark.timeout(120)


def interactions_csv() -> bytes:
    """1200 clicks and purchases by 30 users (Amazon's minimum: 1000 and 25); i000 leads."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"])
    for user in range(USERS):
        for step in range(PER_USER):
            item = 0 if step % 4 == 0 else (user + step) % ITEMS
            event = "click" if step % 2 else "purchase"
            writer.writerow(
                [f"u{user:02d}", f"i{item:03d}", 1_700_000_000 + user * 1000 + step, event]
            )
    return out.getvalue().encode()


def wait_active(describe: Callable[[], dict[str, Any]], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = describe()
        body = next(value for key, value in answer.items() if key != "ResponseMetadata")
        if body["status"] not in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            assert body["status"] == "ACTIVE", body.get("failureReason")
            return body
        assert time.monotonic() < deadline, f"still {body['status']} after {timeout} s"
        time.sleep(0.1)


def imported_group(stack: Stack, name: str, domain: str | None = None) -> tuple[str, str]:
    """An ACTIVE dataset group (a Domain one with ``domain``) whose Interactions dataset holds
    ``interactions_csv()``, imported through the state machines: (group ARN, dataset ARN)."""
    personalize = stack.api.client("personalize")
    source = stack.upload("clicks/interactions.csv", interactions_csv())
    in_domain = {"domain": domain} if domain else {}
    group = personalize.create_dataset_group(name=name, **in_domain)["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    schema = personalize.create_schema(
        name=f"{name}-interactions", schema=json.dumps(SCHEMA), **in_domain
    )
    dataset = personalize.create_dataset(
        name=f"{name}-interactions",
        schemaArn=schema["schemaArn"],
        datasetGroupArn=group,
        datasetType="Interactions",
    )["datasetArn"]
    wait_active(lambda: personalize.describe_dataset(datasetArn=dataset))
    job = personalize.create_dataset_import_job(
        jobName="first", datasetArn=dataset, dataSource={"dataLocation": source}, roleArn=USER_ROLE
    )["datasetImportJobArn"]
    wait_active(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job))
    return group, dataset


def test_recommendations_from_dataset_group_to_put_events(stack: Stack) -> None:
    personalize = stack.api.client("personalize")
    runtime = stack.api.client("personalize-runtime")
    events = stack.api.client("personalize-events")
    group, _ = imported_group(stack, "shop")

    solution = personalize.create_solution(
        name="popular", datasetGroupArn=group, recipeArn=RECIPES + "aws-popularity-count"
    )["solutionArn"]
    unwatched = personalize.create_filter(
        name="unwatched", datasetGroupArn=group, filterExpression=UNWATCHED
    )["filterArn"]
    tracker = personalize.create_event_tracker(name="site", datasetGroupArn=group)
    attribution = personalize.create_metric_attribution(
        name="shop-metrics",
        datasetGroupArn=group,
        metrics=[{"eventType": "watch", "metricName": "WATCHES", "expression": "SAMPLECOUNT()"}],
        metricsOutputConfig={"roleArn": USER_ROLE},
    )["metricAttributionArn"]
    wait_active(lambda: personalize.describe_metric_attribution(metricAttributionArn=attribution))
    wait_active(lambda: personalize.describe_solution(solutionArn=solution))
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_active(lambda: personalize.describe_solution_version(solutionVersionArn=version))
    campaign = personalize.create_campaign(
        name="popular-campaign", solutionVersionArn=version, minProvisionedTPS=1
    )["campaignArn"]
    wait_active(lambda: personalize.describe_campaign(campaignArn=campaign))
    wait_active(lambda: personalize.describe_filter(filterArn=unwatched))
    wait_active(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    )

    def recommended() -> list[str]:
        answer = runtime.get_recommendations(
            campaignArn=campaign, userId="u07", numResults=10, filterArn=unwatched
        )
        shown.append(answer["recommendationId"])
        return [item["itemId"] for item in answer["itemList"]]

    shown: list[str] = []
    before = recommended()
    assert before[0] == "i000" and len(before) == 10  # the most popular item leads

    now = time.time()
    for item in (before[0], before[1]):
        events.put_events(
            trackingId=tracker["trackingId"],
            userId="u07",
            sessionId="session-7",
            eventList=[
                {"eventType": "watch", "itemId": item, "sentAt": now, "recommendationId": shown[0]}
            ],
        )
    events.put_events(
        trackingId=tracker["trackingId"],
        userId="u08",
        sessionId="session-8",
        eventList=[{"eventType": "click", "itemId": "i010", "sentAt": now}],
    )
    assert recommended() == before, "nothing is applied before the consumer reads the stream"

    assert stack.events.drain() == 3
    # One batch per shard: u07's events share a partition key, so they arrive together.
    # The key hashes the tracker's random trackingId, so u08's event lands on the same
    # shard in some runs (one batch of 3) and on another in the rest (batches of 2 and 1).
    assert sorted(stack.events.batches) in ([1, 2], [3])
    after = recommended()
    assert before[0] not in after and before[1] not in after
    assert after[:8] == before[2:]

    # Where the consumer put the events: the history table and the group's S3 prefix.
    history = boto3.client("dynamodb", region_name=REGION).scan(TableName=HISTORY_TABLE)
    assert history["Count"] >= 2
    landed = boto3.client("s3", region_name=REGION).list_objects_v2(
        Bucket=DATA_BUCKET, Prefix=events_prefix(group)
    )
    assert [item["Key"] for item in landed.get("Contents", [])], "events written for training"
    # The metric attribution credited both watches to the campaign that recommended them.
    watches = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace=METRICS_NAMESPACE,
        MetricName="WATCHES",
        Dimensions=[
            {"Name": "MetricAttributionArn", "Value": attribution},
            {"Name": "EventAttributionSource", "Value": campaign},
        ],
        StartTime=datetime.fromtimestamp(now - 3600, UTC),
        EndTime=datetime.fromtimestamp(now + 3600, UTC),
        Period=900,
        Statistics=["Sum"],
    )
    assert [point["Sum"] for point in watches["Datapoints"]] == [2.0]

    executions = stack.executions()
    expected = {"activate-resource", "personalize-import-dataset", "train-solution-version"}
    assert expected | {"deploy-campaign"} <= set(executions), executions
    assert all(status == "SUCCEEDED" for runs in executions.values() for status in runs)
    jobs = boto3.client("sagemaker", region_name=REGION).list_training_jobs()
    assert [job["TrainingJobStatus"] for job in jobs["TrainingJobSummaries"]] == ["Completed"]


def test_a_failed_batch_is_delivered_again_and_applied_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer reports the first record that fails on its own (ReportBatchItemFailures);
    the redelivery from it is applied once, since applying records again changes nothing."""
    personalize = stack.api.client("personalize")
    events = stack.api.client("personalize-events")
    group = personalize.create_dataset_group(name="retry")["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    schema = personalize.create_schema(name="retry-interactions", schema=json.dumps(SCHEMA))
    dataset = personalize.create_dataset(
        name="retry-interactions",
        schemaArn=schema["schemaArn"],
        datasetGroupArn=group,
        datasetType="Interactions",
    )["datasetArn"]
    tracker = personalize.create_event_tracker(name="site", datasetGroupArn=group)
    wait_active(lambda: personalize.describe_dataset(datasetArn=dataset))
    wait_active(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    )
    events.put_events(
        trackingId=tracker["trackingId"],
        userId="u01",
        sessionId="s-1",
        eventList=[
            {"eventId": f"e{n}", "eventType": "click", "itemId": f"i{n}", "sentAt": time.time()}
            for n in range(3)
        ],
    )

    original, calls = event_consumer.apply_records, []

    def fails_twice(runtime: Any, records: Any) -> None:
        calls.append(len(records))
        original(runtime, records)  # applied, then the function fails: a partial success
        if len(calls) <= 2:  # the batch, then its first record on its own
            raise ConnectionError("DynamoDB throttled")

    monkeypatch.setattr(event_consumer, "apply_records", fails_twice)
    assert stack.events.drain() == 3
    assert stack.events.batches == [3, 3] and calls == [3, 1, 3]
    runtime = handlers.runtime()
    scope = group_scope(runtime, group, "INTERACTIONS")
    history = runtime.history.history(str(scope), user_subject("u01"))
    assert [event["ITEM_ID"] for event in history] == ["i0", "i1", "i2"]


def lambda_context(name: str, timeout_minutes: int) -> SimpleNamespace:
    """What Lambda hands a scheduled function, for calling its handler in-process."""
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
        memory_limit_in_mb=2048,
        aws_request_id=name.lower(),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="in-process",
        get_remaining_time_in_millis=lambda: timeout_minutes * 60_000,
    )


def test_a_recommender_trains_serves_and_retrains_on_the_state_machines(stack: Stack) -> None:
    """CreateRecommender's training runs as a state machine execution; the hourly
    RecommenderRetrainer (``augury.handlers.retrain_recommenders``) starts another once
    the model is a week old, and the recommender serves the new model when it is ACTIVE."""
    personalize = stack.api.client("personalize")
    group, _ = imported_group(stack, "videos", domain="VIDEO_ON_DEMAND")
    arn = personalize.create_recommender(
        name="trending", datasetGroupArn=group, recipeArn=RECIPES + "aws-vod-trending-now"
    )["recommenderArn"]
    body = wait_active(lambda: personalize.describe_recommender(recommenderArn=arn))
    assert body["modelMetrics"]
    runtime_client = stack.api.client("personalize-runtime")
    listed = runtime_client.get_recommendations(recommenderArn=arn, userId="u01")["itemList"]
    assert len(listed) == 25

    runtime = handlers.runtime()
    first = runtime.metadata.get(arn).attributes["_model"]
    context = lambda_context("RecommenderRetrainer", 5)
    assert handlers.retrain_recommenders({"source": "aws.events"}, context) == {"started": []}
    week_ago = time.time() - 8 * 86_400
    crud.update(runtime, arn, lambda record: record.with_attributes(_trained_at=week_ago))
    assert handlers.retrain_recommenders({"source": "aws.events"}, context) == {"started": [arn]}
    deadline = time.monotonic() + 60
    while runtime.metadata.get(arn).attributes["_model"] == first:
        assert time.monotonic() < deadline, "the retrained model never became the served one"
        time.sleep(0.1)
    assert runtime_client.get_recommendations(recommenderArn=arn, userId="u01")["itemList"]
    assert "train-recommender" in stack.executions()


def test_the_scheduled_compactor_merges_event_files_in_s3(stack: Stack) -> None:
    """``augury.handlers.compact_events`` (EventBridge invokes it every 15 minutes) merges
    each dataset group's settled event files in the data bucket, as the consumer wrote them."""
    from augury.personalize.event_files import ARRIVAL_COLUMN, write_rows
    from augury.personalize.event_manifests import merged_sources
    from augury.personalize.event_properties import cached_schema

    personalize = stack.api.client("personalize")
    group = personalize.create_dataset_group(name="compacted")["datasetGroupArn"]
    wait_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    runtime = handlers.runtime()
    folder = events_prefix(group) + "interactions/"
    settled = time.time() - 86_400  # yesterday: every bucket holding it has settled
    for number in range(3):
        row = {
            "USER_ID": "u1",
            "ITEM_ID": f"i{number}",
            "TIMESTAMP": int(settled),
            "EVENT_TYPE": "click",
            "EVENT_ID": f"e{number}",
            ARRIVAL_COLUMN: settled + number,
        }
        write_rows(runtime, folder, cached_schema(json.dumps(SCHEMA)), [row], settled + number)
    s3 = boto3.client("s3", region_name=REGION)

    def listed() -> list[str]:
        found = s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=folder).get("Contents", [])
        return [item["Key"] for item in found]

    assert len(listed()) == 3
    context = lambda_context("EventsCompactor", 14)  # its timeout; it stops a minute early
    summary = handlers.compact_events({"source": "aws.events"}, context)
    assert summary["filesMerged"] >= 3 and summary["rowsKept"] >= 3
    sources = listed()
    holds = merged_sources(runtime, sources)  # the three stay for their grace period
    ((merged, held),) = holds.items()
    assert len(held) == 3 and set(held) < set(sources)
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=DATA_BUCKET, Key=merged)["Body"].read()))
    assert table.column("ITEM_ID").to_pylist() == ["i0", "i1", "i2"]


def test_a_data_deletion_job_runs_on_the_compiled_state_machine(stack: Stack) -> None:
    """CreateDataDeletionJob on AWS's engines: the state machine's step rewrites the dataset
    in S3, the recorded events, and forgets the user's history in DynamoDB."""
    personalize = stack.api.client("personalize")
    events = stack.api.client("personalize-events")
    group, dataset = imported_group(stack, "forgetful")
    tracker = personalize.create_event_tracker(name="site", datasetGroupArn=group)
    wait_active(
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    )
    for user in ("u03", "u04"):
        events.put_events(
            trackingId=tracker["trackingId"],
            userId=user,
            sessionId=f"session-{user}",
            eventList=[{"eventType": "click", "itemId": "i001", "sentAt": time.time()}],
        )
    assert stack.events.drain() == 2

    deletion = personalize.create_data_deletion_job(
        jobName="forget-u03",
        datasetGroupArn=group,
        dataSource={"dataLocation": stack.upload("deletions/users.csv", b"USER_ID\nu03\n")},
        roleArn=USER_ROLE,
    )["dataDeletionJobArn"]
    deadline = time.monotonic() + 60
    while True:
        body = personalize.describe_data_deletion_job(dataDeletionJobArn=deletion)
        found = body["dataDeletionJob"]
        if found["status"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert found["status"] == "COMPLETED", found.get("failureReason")
    assert found["numDeleted"] == PER_USER + 1  # u03's imported rows and its one event

    runtime = handlers.runtime()
    record = runtime.metadata.get(dataset)
    table = read_table(runtime, record.attributes["_data_prefix"])
    assert table.num_rows == USERS * PER_USER - PER_USER
    assert "u03" not in set(table.column("USER_ID").to_pylist())
    recorded = read_table(runtime, events_prefix(group) + "interactions/")
    assert recorded.column("USER_ID").to_pylist() == ["u04"]
    scope = str(group_scope(runtime, group, "INTERACTIONS"))
    assert runtime.history.history(scope, user_subject("u03")) == []
    assert len(runtime.history.history(scope, user_subject("u04"))) == 1
    assert "personalize-delete-users" in stack.executions()


def test_an_import_publishes_its_attribution_report_to_the_users_bucket(stack: Stack) -> None:
    """publishAttributionMetricsToS3 on the compiled import state machine: the report lands in
    the user's bucket, written as the attribution's role; the INCREMENTAL import's recent rows
    reach CloudWatch too."""
    personalize = stack.api.client("personalize")
    group, dataset = imported_group(stack, "reported")
    attribution = personalize.create_metric_attribution(
        name="reported-metrics",
        datasetGroupArn=group,
        metrics=[{"eventType": "click", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"}],
        metricsOutputConfig={
            "roleArn": USER_ROLE,
            "s3DataDestination": {"path": f"s3://{USER_BUCKET}/reports/"},
        },
    )["metricAttributionArn"]
    wait_active(lambda: personalize.describe_metric_attribution(metricAttributionArn=attribution))
    now = int(time.time())

    def reported_import(name: str, rows: str) -> str:
        header = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n"
        source = stack.upload(f"clicks/{name}.csv", (header + rows).encode())
        return personalize.create_dataset_import_job(
            jobName=name,
            datasetArn=dataset,
            dataSource={"dataLocation": source},
            roleArn=USER_ROLE,
            importMode="INCREMENTAL",
            publishAttributionMetricsToS3=True,
        )["datasetImportJobArn"]

    job = reported_import("late", "".join(f"u{user:02d},i001,{now},click\n" for user in range(3)))
    # Amazon's 1,000-row minimum applies to every Interactions import: the job fails, and
    # nothing is reported, as nothing was imported.
    with pytest.raises(AssertionError, match="1000"):
        wait_active(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job))
    assert stack.user_files("reports/") == {}

    job = reported_import(
        "more", "".join(f"u{n % 30:02d},i{n % 7:03d},{now},click\n" for n in range(1_000))
    )
    wait_active(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job))
    [(key, body)] = stack.user_files("reports/").items()
    assert key.startswith("reports/AggregatedAttributionMetrics-INCREMENTAL-")
    lines = body.decode().splitlines()
    assert (
        lines[0] == "METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP"
    )
    assert sum(float(line.split(",")[2]) for line in lines[1:]) == 1_000.0
    clicks = boto3.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace=METRICS_NAMESPACE,
        MetricName="CLICKS",
        Dimensions=[
            {"Name": "MetricAttributionArn", "Value": attribution},
            {"Name": "EventAttributionSource", "Value": "SOURCE_NAME_UNDEFINED"},
        ],
        StartTime=datetime.fromtimestamp(now - 3600, UTC),
        EndTime=datetime.fromtimestamp(now + 3600, UTC),
        Period=900,
        Statistics=["Sum"],
    )
    assert sum(point["Sum"] for point in clicks["Datapoints"]) == 1_000.0
