"""Metric attributions end to end, through stock boto3 clients against embedded Augury.

One server for the module: a group with interactions and items (item ``i{k}``
costs ``k``), a trained popularity version deployed as a campaign, an event
tracker, and a metric attribution counting clicks, purchase values and
purchase revenue. Embedded mode writes what AWS would send CloudWatch to
``<data dir>/metrics/<attribution>.csv``; imports write Amazon's S3 report.
"""

from __future__ import annotations

import csv
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from augury.personalize import event_consumer
from augury.workflows import personalize_import
from tests.conftest import dummy_aws_credentials
from tests.embedded.personalize_helpers import (
    ROLE,
    client_for,
    error_of,
    interactions,
    item_rows,
    make_group,
    start_server,
    train,
    wait_for,
    wait_idle,
)

METRICS = [
    {"eventType": "click", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"},
    {"eventType": "purchase", "metricName": "VALUE", "expression": "SUM(Interactions.EVENT_VALUE)"},
    {"eventType": "purchase", "metricName": "REVENUE", "expression": "sum(Items.price)"},
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with dummy_aws_credentials():
        server = start_server(tmp_path_factory.mktemp("attribution"))
        personalize = client_for(server)
        arns = make_group(personalize, server, "shop", interactions(), items=item_rows())
        _, version = train(personalize, arns["group"])
        campaign = personalize.create_campaign(name="popular", solutionVersionArn=version)
        wait_for(lambda: personalize.describe_campaign(campaignArn=campaign["campaignArn"]))
        tracking = personalize.create_event_tracker(name="site", datasetGroupArn=arns["group"])
        attribution = personalize.create_metric_attribution(
            name="shop-metrics",
            datasetGroupArn=arns["group"],
            metrics=METRICS,
            metricsOutputConfig={
                "roleArn": ROLE,
                "s3DataDestination": {"path": "s3://reports/shop/"},
            },
        )["metricAttributionArn"]
        wait_idle(server)
        yield {
            "server": server,
            "personalize": personalize,
            "campaign": campaign["campaignArn"],
            "trackingId": tracking["trackingId"],
            "attribution": attribution,
            **arns,
        }
        server.stop()


def reported(path: Path) -> dict[tuple[str, str], float]:
    """The metric file's values summed per (metric, source), as CloudWatch's Sum gives them."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    if not path.exists():
        return totals
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            assert int(row["TIMESTAMP"]) % 900 == 0
            totals[(row["METRIC_NAME"], row["EVENT_ATTRIBUTION_SOURCE"])] += float(row["VALUE"])
    return totals


def metric_file(server: EmbeddedServer) -> Path:
    return Path(server.runtime.settings.data_dir) / "metrics" / "shop-metrics.csv"


def settle(server: EmbeddedServer) -> None:
    assert server.runtime.events.drain(timeout=10)


def test_describe_list_and_its_metrics(setup: dict[str, Any]) -> None:
    personalize = setup["personalize"]
    body = personalize.describe_metric_attribution(metricAttributionArn=setup["attribution"])
    found = body["metricAttribution"]
    assert found["status"] == "ACTIVE"
    assert found["datasetGroupArn"] == setup["group"]
    assert found["metricsOutputConfig"]["s3DataDestination"]["path"] == "s3://reports/shop/"
    listed = personalize.list_metric_attributions(datasetGroupArn=setup["group"])
    assert [a["metricAttributionArn"] for a in listed["metricAttributions"]] == [
        setup["attribution"]
    ]
    first = personalize.list_metric_attribution_metrics(
        metricAttributionArn=setup["attribution"], maxResults=2
    )
    rest = personalize.list_metric_attribution_metrics(
        metricAttributionArn=setup["attribution"], nextToken=first["nextToken"]
    )
    assert first["metrics"] + rest["metrics"] == METRICS
    assert "nextToken" not in rest
    with pytest.raises(ClientError) as raised:  # a token pages only the list it came from
        personalize.list_recipes(nextToken=first["nextToken"])
    assert error_of(raised)[0] == "InvalidNextTokenException"


def test_a_group_has_one_attribution_and_deleting_the_group_waits_for_it(setup) -> None:
    personalize = setup["personalize"]
    with pytest.raises(ClientError) as raised:
        personalize.create_metric_attribution(
            name="second",
            datasetGroupArn=setup["group"],
            metrics=METRICS[:1],
            metricsOutputConfig={"roleArn": ROLE},
        )
    assert error_of(raised)[0] == "LimitExceededException"
    assert setup["attribution"] in error_of(raised)[1]
    with pytest.raises(ClientError) as raised:
        personalize.delete_dataset_group(datasetGroupArn=setup["group"])
    assert error_of(raised)[0] == "ResourceInUseException"


def test_events_are_credited_to_their_source(setup: dict[str, Any]) -> None:
    server, campaign = setup["server"], setup["campaign"]
    runtime = client_for(server, "personalize-runtime")
    events = client_for(server, "personalize-events")
    recommendation = runtime.get_recommendations(campaignArn=campaign, userId="u01")
    rid = recommendation["recommendationId"]
    now = time.time()
    before = reported(metric_file(server))
    event_list = [
        {
            "eventId": "c1",
            "eventType": "click",
            "itemId": "i001",
            "sentAt": now,
            "recommendationId": rid,
        },
        {
            "eventId": "c2",
            "eventType": "click",
            "itemId": "i002",
            "sentAt": now,
            "metricAttribution": {"eventAttributionSource": "newsletter"},
            "recommendationId": rid,
        },
        {"eventId": "c3", "eventType": "click", "itemId": "i003", "sentAt": now},
        {
            "eventId": "c4",
            "eventType": "click",
            "itemId": "i004",
            "sentAt": now,
            "recommendationId": f"RID-{uuid.uuid4()}",
        },
        {
            "eventId": "p1",
            "eventType": "purchase",
            "itemId": "i005",
            "sentAt": now,
            "eventValue": 3.5,
            "recommendationId": rid,
        },
        {
            "eventId": "old",
            "eventType": "click",
            "itemId": "i006",
            "sentAt": now - 15 * 86_400,
            "recommendationId": rid,
        },
        {"eventId": "v1", "eventType": "view", "itemId": "i007", "sentAt": now},
    ]
    events.put_events(
        trackingId=setup["trackingId"], userId="u01", sessionId="s1", eventList=event_list[:5]
    )
    events.put_events(
        trackingId=setup["trackingId"], userId="u01", sessionId="s1", eventList=event_list[5:]
    )
    settle(server)
    counted = reported(metric_file(server))
    gained = {key: counted[key] - before.get(key, 0.0) for key in counted}
    assert {k: v for k, v in gained.items() if v} == {
        ("CLICKS", campaign): 1.0,
        ("CLICKS", "newsletter"): 1.0,  # the event's own source wins over its recommendation
        ("CLICKS", "SOURCE_NAME_UNDEFINED"): 2.0,  # no source, and an ID no campaign gave
        ("VALUE", campaign): 3.5,
        ("REVENUE", campaign): 5.0,  # item i005's PRICE
    }
    # The same events sent again (as a retried call would) are not counted twice.
    events.put_events(
        trackingId=setup["trackingId"], userId="u01", sessionId="s1", eventList=event_list[:5]
    )
    settle(server)
    assert reported(metric_file(server)) == counted


def test_an_event_repeated_in_a_call_or_retried_after_a_failure_counts_once(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = setup["server"]
    events = client_for(server, "personalize-events")
    original, calls = event_consumer.write_rows, []

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the event files could not be written")
        return original(*args, **kwargs)

    monkeypatch.setattr(event_consumer, "write_rows", fails_once)
    before = reported(metric_file(server))
    click = {
        "eventId": "twice",
        "eventType": "click",
        "itemId": "i009",
        "sentAt": time.time(),
        "metricAttribution": {"eventAttributionSource": "retried"},
    }
    events.put_events(
        trackingId=setup["trackingId"], userId="u03", sessionId="s3", eventList=[click, click]
    )
    settle(server)
    assert len(calls) == 2, "the batch failed once and was applied again"
    counted = reported(metric_file(server))
    gained = {key: counted[key] - before.get(key, 0.0) for key in counted}
    assert {k: v for k, v in gained.items() if v} == {("CLICKS", "retried"): 1.0}


def test_an_incremental_import_reports_to_s3_and_its_recent_rows_as_events_do(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(personalize_import, "MIN_INTERACTIONS_PER_IMPORT", 3)
    server, personalize = setup["server"], setup["personalize"]
    data_dir = Path(server.runtime.settings.data_dir)
    source = data_dir / "s3" / "imports" / "late.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    old = now - 30 * 86_400
    source.write_text(
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n"
        f"u01,i010,{now},purchase,2.0,tv\n"
        f"u02,i010,{now},purchase,1.0,tv\n"
        f"u03,i020,{old},purchase,4.0,tv\n"
        f"u04,i020,{now},click,,tv\n"
        f"u05,i020,{now},view,,tv\n"
    )
    before = reported(metric_file(server))
    job = personalize.create_dataset_import_job(
        jobName="late-events",
        datasetArn=setup["INTERACTIONS"],
        dataSource={"dataLocation": "s3://imports/late.csv"},
        roleArn=ROLE,
        importMode="INCREMENTAL",
        publishAttributionMetricsToS3=True,
    )["datasetImportJobArn"]
    body = wait_for(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job))
    assert body["status"] == "ACTIVE", body.get("failureReason")
    assert body["publishAttributionMetricsToS3"] is True
    [report] = (data_dir / "s3" / "reports" / "shop").glob("AggregatedAttributionMetrics-*.csv")
    assert report.name.startswith("AggregatedAttributionMetrics-INCREMENTAL-")
    assert reported(report) == {
        ("VALUE", "SOURCE_NAME_UNDEFINED"): 7.0,  # every row, the 30-day-old one too
        ("REVENUE", "SOURCE_NAME_UNDEFINED"): 10.0 + 10.0 + 20.0,
        ("CLICKS", "SOURCE_NAME_UNDEFINED"): 1.0,
    }
    counted = reported(metric_file(server))
    gained = {key: counted[key] - before.get(key, 0.0) for key in counted}
    assert {k: v for k, v in gained.items() if v} == {
        ("VALUE", "SOURCE_NAME_UNDEFINED"): 3.0,  # CloudWatch takes rows under 14 days old
        ("REVENUE", "SOURCE_NAME_UNDEFINED"): 20.0,
        ("CLICKS", "SOURCE_NAME_UNDEFINED"): 1.0,
    }


def test_updating_metrics(setup: dict[str, Any]) -> None:
    personalize, arn = setup["personalize"], setup["attribution"]
    personalize.update_metric_attribution(
        metricAttributionArn=arn,
        addMetrics=[{"eventType": "view", "metricName": "VIEWS", "expression": "SAMPLECOUNT()"}],
        removeMetrics=["VALUE"],
    )
    metrics = personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    assert [m["metricName"] for m in metrics] == ["CLICKS", "REVENUE", "VIEWS"]
    for change, code, words in (
        ({"removeMetrics": ["NOPE"]}, "InvalidInputException", "no metric named NOPE"),
        (
            {
                "addMetrics": [
                    {"eventType": "x", "metricName": "CLICKS", "expression": "SAMPLECOUNT()"}
                ]
            },
            "ResourceAlreadyExistsException",
            "already has a metric named CLICKS",
        ),
        (
            {
                "addMetrics": [
                    {"eventType": "x", "metricName": f"M{n}", "expression": "SAMPLECOUNT()"}
                    for n in range(8)
                ]
            },
            "InvalidInputException",
            "at most 10",
        ),
    ):
        with pytest.raises(ClientError) as raised:
            personalize.update_metric_attribution(metricAttributionArn=arn, **change)
        assert error_of(raised)[0] == code and words in error_of(raised)[1]
    personalize.update_metric_attribution(
        metricAttributionArn=arn,
        addMetrics=[METRICS[1]],
        removeMetrics=["VIEWS"],
    )
    metrics = personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    assert [m["metricName"] for m in metrics] == ["CLICKS", "REVENUE", "VALUE"]


# --- on a fresh server: what is refused, and deletion ---------------------------------


@pytest.fixture
def personalize(client) -> Any:
    return client("personalize")


def create(personalize: Any, group: str, metrics: list[dict[str, str]], **output: Any) -> str:
    return personalize.create_metric_attribution(
        name="metrics",
        datasetGroupArn=group,
        metrics=metrics,
        metricsOutputConfig={"roleArn": ROLE, **output},
    )["metricAttributionArn"]


def test_bad_metrics_and_outputs_are_refused_with_the_reason(
    server: EmbeddedServer, personalize: Any
) -> None:
    bare = personalize.create_dataset_group(name="bare")["datasetGroupArn"]
    wait_idle(server)
    with pytest.raises(ClientError) as raised:
        create(personalize, bare, METRICS[:1])
    assert error_of(raised)[0] == "InvalidInputException"
    assert "no Interactions dataset" in error_of(raised)[1]
    group = make_group(personalize, server, "shop", None)["group"]  # no Items dataset
    for metrics, words in (
        ([{"eventType": "a", "metricName": "M", "expression": "COUNT()"}], "not a metric function"),
        (
            [{"eventType": "a", "metricName": "M", "expression": "SUM(EVENT_VALUE)"}],
            "is not SAMPLECOUNT() or SUM(Interactions.COLUMN)",
        ),
        ([{"eventType": "a", "metricName": "M", "expression": "SUM(Users.AGE)"}], "not Users"),
        (
            [{"eventType": "a", "metricName": "M", "expression": "SUM(Items.PRICE)"}],
            "needs the dataset group's Items dataset",
        ),
        (
            [{"eventType": "a", "metricName": "M", "expression": "SUM(Interactions.DEVICE)"}],
            "needs a numeric column; Interactions.DEVICE is categorical string, null",
        ),
        (
            [{"eventType": "a", "metricName": "M", "expression": "SUM(Interactions.PRICE)"}],
            "has no field PRICE",
        ),
        (
            [{"eventType": "a", "metricName": "M", "expression": "SAMPLECOUNT(Interactions.X)"}],
            "takes no column",
        ),
        (METRICS[:1] * 2, "given twice"),
    ):
        with pytest.raises(ClientError) as raised:
            create(personalize, group, metrics)
        assert error_of(raised)[0] == "InvalidInputException"
        assert words in error_of(raised)[1], error_of(raised)[1]
    with pytest.raises(ClientError) as raised:
        personalize.create_metric_attribution(
            name="metrics",
            datasetGroupArn=group,
            metrics=METRICS[:1],
            metricsOutputConfig={"roleArn": "not-a-role"},
        )
    assert "metricsOutputConfig.roleArn" in error_of(raised)[1]
    with pytest.raises(ClientError) as raised:
        create(personalize, group, METRICS[:1], s3DataDestination={"path": "/tmp/reports"})
    assert "s3DataDestination.path" in error_of(raised)[1]
    assert personalize.list_metric_attributions()["metricAttributions"] == []


def test_publishing_to_s3_needs_an_attribution_with_a_destination(
    server: EmbeddedServer, personalize: Any
) -> None:
    arns = make_group(personalize, server, "shop", None)

    def start_import() -> Any:
        return personalize.create_dataset_import_job(
            jobName="job",
            datasetArn=arns["INTERACTIONS"],
            dataSource={"dataLocation": "s3://bucket/file.csv"},
            roleArn=ROLE,
            publishAttributionMetricsToS3=True,
        )

    with pytest.raises(ClientError) as raised:
        start_import()
    assert "needs an ACTIVE metric attribution" in error_of(raised)[1]
    arn = create(personalize, arns["group"], METRICS[:1])
    wait_idle(server)
    with pytest.raises(ClientError) as raised:
        start_import()
    assert "has no metricsOutputConfig.s3DataDestination" in error_of(raised)[1]
    personalize.delete_metric_attribution(metricAttributionArn=arn)
    wait_idle(server)
    with pytest.raises(ClientError) as raised:
        personalize.describe_metric_attribution(metricAttributionArn=arn)
    assert error_of(raised)[0] == "ResourceNotFoundException"
    # Its slot went with it: the group can have a new one, and then be deleted once it is gone.
    again = create(personalize, arns["group"], METRICS[:1])
    wait_idle(server)
    personalize.delete_metric_attribution(metricAttributionArn=again)
    wait_idle(server)
    for dataset in (arns["INTERACTIONS"],):
        personalize.delete_dataset(datasetArn=dataset)
    wait_idle(server)
    personalize.delete_dataset_group(datasetGroupArn=arns["group"])
    wait_idle(server)
    assert personalize.list_dataset_groups()["datasetGroups"] == []


def test_a_full_import_reports_every_row_to_s3_and_nothing_to_cloudwatch(
    server: EmbeddedServer, personalize: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(personalize_import, "MIN_INTERACTIONS_PER_IMPORT", 3)
    arns = make_group(personalize, server, "shop", None, items=item_rows())
    create(personalize, arns["group"], METRICS, s3DataDestination={"path": "s3://reports/full"})
    wait_idle(server)
    data_dir = Path(server.runtime.settings.data_dir)
    source = data_dir / "s3" / "imports" / "all.csv"
    source.parent.mkdir(parents=True)
    now = int(time.time())
    source.write_text(
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n"
        f"u01,i003,{now},purchase,2.0,tv\n"
        f"u02,i004,{now - 40 * 86_400},purchase,1.5,tv\n"
        f"u03,i004,{now},click,,tv\n"
    )
    job = personalize.create_dataset_import_job(
        jobName="everything",
        datasetArn=arns["INTERACTIONS"],
        dataSource={"dataLocation": "s3://imports/all.csv"},
        roleArn=ROLE,
        importMode="FULL",
        publishAttributionMetricsToS3=True,
    )["datasetImportJobArn"]
    body = wait_for(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job))
    assert body["status"] == "ACTIVE", body.get("failureReason")
    [report] = (data_dir / "s3" / "reports" / "full").glob("*.csv")
    assert report.name.startswith("AggregatedAttributionMetrics-FULL-")
    assert reported(report) == {
        ("VALUE", "SOURCE_NAME_UNDEFINED"): 3.5,
        ("REVENUE", "SOURCE_NAME_UNDEFINED"): 3.0 + 4.0,
        ("CLICKS", "SOURCE_NAME_UNDEFINED"): 1.0,
    }
    assert not (data_dir / "metrics" / "metrics.csv").exists()  # FULL imports: S3 only
