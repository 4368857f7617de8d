"""Recipes, solutions and solution versions through a stock boto3 client.

Training runs the fake personalization container (a real popularity model,
metrics tests can recompute); the minimum-data rules fail a version before
any container starts.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from augury.bootstrap import DEFAULT_CONTAINERS
from augury.embedded.server import EmbeddedServer
from augury.personalize.event_data import events_prefix
from augury.workflows.lifecycle import blob_prefix
from augury_training.personalize_contract import SOLUTION_METRICS
from tests.embedded.personalize_helpers import (
    RECIPE,
    client_for,
    error_of,
    interactions,
    item_rows,
    make_group,
    model_file,
    start_server,
    train,
    wait_for,
    wait_idle,
)
from tests.fixtures.fake_personalization_container import FAIL_ITEM, FAIL_REASON, SLEEP_ITEM


@pytest.fixture
def server(tmp_path) -> Iterator[EmbeddedServer]:
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def personalize(server: EmbeddedServer) -> Any:
    return client_for(server)


def test_recipes_are_amazons_with_their_algorithms_and_transformations(personalize):
    names = [r["name"] for r in personalize.list_recipes(recipeProvider="SERVICE")["recipes"]]
    assert "aws-user-personalization" in names and "aws-sims" in names
    assert len(names) == 9 + 10  # the custom recipes, then the domain use cases
    first = personalize.list_recipes(maxResults=3)
    rest = personalize.list_recipes(maxResults=20, nextToken=first["nextToken"])
    assert [r["name"] for r in first["recipes"] + rest["recipes"]] == names
    assert "nextToken" not in rest

    sims = personalize.describe_recipe(recipeArn=RECIPE + "aws-sims")["recipe"]
    assert sims["recipeType"] == "RELATED_ITEMS" and sims["status"] == "ACTIVE"
    assert sims["algorithmArn"] == "arn:aws:personalize:::algorithm/aws-sims"
    assert sims["featureTransformationArn"] == "arn:aws:personalize:::feature-transformation/sims"
    ranking = personalize.describe_recipe(recipeArn=RECIPE + "aws-personalized-ranking")["recipe"]
    assert ranking["recipeType"] == "PERSONALIZED_RANKING"

    algorithm = personalize.describe_algorithm(algorithmArn=sims["algorithmArn"])["algorithm"]
    assert algorithm["defaultHyperParameters"] == {
        "popularity_discount_factor": "0.5",
        "min_cointeraction_count": "3",
        "max_neighbours": "100",
    }
    ranges = algorithm["defaultHyperParameterRanges"]
    assert ranges["integerHyperParameterRanges"] == [
        {"name": "min_cointeraction_count", "minValue": 0, "maxValue": 10, "isTunable": True},
        {"name": "max_neighbours", "minValue": 1, "maxValue": 1000, "isTunable": False},
    ]
    similar = personalize.describe_recipe(recipeArn=RECIPE + "aws-similar-items")["recipe"]
    blend = personalize.describe_algorithm(algorithmArn=similar["algorithmArn"])["algorithm"]
    # the container's first blend (it validates others unless the solution sets one)
    assert blend["defaultHyperParameters"]["item_metadata_weight"] == "0.02"
    assert "held-out" in similar["description"]
    deep = personalize.describe_algorithm(
        algorithmArn=personalize.describe_recipe(recipeArn=RECIPE + "aws-user-personalization")[
            "recipe"
        ]["algorithmArn"]
    )["algorithm"]
    assert {k: deep["defaultHyperParameters"][k] for k in ("hidden_dimension", "epochs")} == {
        "hidden_dimension": "64",
        "epochs": "60",
    }
    transformation = personalize.describe_feature_transformation(
        featureTransformationArn=sims["featureTransformationArn"]
    )["featureTransformation"]
    assert transformation["defaultParameters"]["max_item_interaction_count_percentile"] == "0.9"

    with pytest.raises(ClientError) as raised:
        personalize.describe_recipe(recipeArn=RECIPE + "aws-hrnn")
    assert error_of(raised)[0] == "ResourceNotFoundException"


def test_a_domain_dataset_group_trains_custom_solutions_too(personalize, server):
    """Amazon lets a Domain dataset group hold custom solutions beside its recommenders."""
    arns = make_group(personalize, server, "shop", interactions(), domain="ECOMMERCE")
    _, version = train(personalize, arns["group"], "shop-popular")
    body = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert body["status"] == "ACTIVE"


def test_create_solution_checks_the_configuration_against_the_recipe(personalize, server):
    group = make_group(personalize, server, "shop", interactions())["group"]

    def refused(code: str = "InvalidInputException", **request: Any) -> str:
        request.setdefault("recipeArn", RECIPE + "aws-sims")
        if request["recipeArn"] is None:
            del request["recipeArn"]
        with pytest.raises(ClientError) as raised:
            personalize.create_solution(name="bad", datasetGroupArn=group, **request)
        assert error_of(raised)[0] == code, error_of(raised)
        return error_of(raised)[1]

    assert "hidden_dimension" in refused(
        solutionConfig={"algorithmHyperParameters": {"hidden_dimension": "64"}}
    )
    assert "[0, 10]" in refused(
        solutionConfig={"algorithmHyperParameters": {"min_cointeraction_count": "11"}}
    )
    assert "performHPO" in refused(solutionConfig={"hpoConfig": {}})
    assert "minValue" in refused(
        performHPO=True,
        solutionConfig={
            "hpoConfig": {
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [
                        {"name": "min_cointeraction_count", "minValue": 5, "maxValue": 2}
                    ]
                }
            }
        },
    )
    assert "maxParallelTrainingJobs" in refused(
        performHPO=True,
        solutionConfig={
            "hpoConfig": {
                "hpoResourceConfig": {
                    "maxNumberOfTrainingJobs": "2",
                    "maxParallelTrainingJobs": "3",
                }
            }
        },
    )
    assert "performHPO" in refused(recipeArn=RECIPE + "aws-popularity-count", performHPO=True)
    assert "recipe" in refused(performAutoML=True, recipeArn=None)
    assert "automatic training" in refused(performAutoTraining=True)
    assert "itemAttribute" in refused(
        recipeArn=RECIPE + "aws-user-personalization",
        solutionConfig={"optimizationObjective": {"itemAttribute": "PRICE"}},
    )
    assert "aws-hrnn" in refused("ResourceNotFoundException", recipeArn=RECIPE + "aws-hrnn")

    empty = personalize.create_dataset_group(name="empty")["datasetGroupArn"]
    wait_idle(server)
    with pytest.raises(ClientError) as raised:
        personalize.create_solution(
            name="nothing", datasetGroupArn=empty, recipeArn=RECIPE + "aws-sims"
        )
    assert "Interactions dataset" in error_of(raised)[1]

    arn = personalize.create_solution(
        name="sims", datasetGroupArn=group, recipeArn=RECIPE + "aws-sims"
    )["solutionArn"]
    with pytest.raises(ClientError) as raised:
        personalize.create_solution(
            name="sims", datasetGroupArn=group, recipeArn=RECIPE + "aws-sims"
        )
    assert error_of(raised)[0] == "ResourceAlreadyExistsException"
    solution = wait_for(lambda: personalize.describe_solution(solutionArn=arn))
    assert solution["status"] == "ACTIVE" and solution["performAutoTraining"] is False
    listed = personalize.list_solutions(datasetGroupArn=group)["solutions"]
    assert [(s["solutionArn"], s["recipeArn"]) for s in listed] == [(arn, RECIPE + "aws-sims")]


def test_hpo_without_ranges_searches_the_recipes_tunable_defaults(personalize, server):
    """As Amazon does: performHPO with no ranges tunes every tunable hyperparameter the
    solution did not fix, over DescribeAlgorithm's default ranges."""
    group = make_group(personalize, server, "shop", interactions(per_user=80))["group"]
    _, version = train(
        personalize,
        group,
        name="sims-hpo",
        recipe="aws-sims",
        performHPO=True,
        solutionConfig={"algorithmHyperParameters": {"min_cointeraction_count": "2"}},
    )
    body = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert "hpoConfig" not in body["solutionConfig"]  # what the user sent, as given
    searched = model_file(server, version, "job.json")["config"]["hpo_config"]
    assert searched["algorithmHyperParameterRanges"] == {
        "integerHyperParameterRanges": [],  # min_cointeraction_count is fixed; max_neighbours
        "continuousHyperParameterRanges": [  # is not tunable
            {"name": "popularity_discount_factor", "minValue": 0.0, "maxValue": 1.0}
        ],
        "categoricalHyperParameterRanges": [],
    }


def test_a_version_trains_with_hpo_and_reports_the_containers_metrics(personalize, server):
    rows = interactions(per_user=80)  # 1200 of the 2400 are clicks
    group = make_group(personalize, server, "shop", rows, items=item_rows())["group"]
    ranges = {
        "integerHyperParameterRanges": [
            {"name": "min_cointeraction_count", "minValue": 2, "maxValue": 6}
        ],
        "continuousHyperParameterRanges": [
            {"name": "popularity_discount_factor", "minValue": 0.25, "maxValue": 0.75}
        ],
    }
    solution, version = train(
        personalize,
        group,
        name="similar",
        recipe="aws-sims",
        performHPO=True,
        eventType="click",
        solutionConfig={
            "hpoConfig": {"algorithmHyperParameterRanges": ranges},
            "eventValueThreshold": "0",
            "trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": ["DEVICE"]}},
        },
    )
    body = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert version.startswith(solution + "/")
    assert body["solutionArn"] == solution and body["datasetGroupArn"] == group
    assert (body["trainingMode"], body["trainingType"]) == ("FULL", "MANUAL")
    assert body["recipeArn"] == RECIPE + "aws-sims" and body["eventType"] == "click"
    assert body["performHPO"] is True and body["trainingHours"] >= 0
    assert body["solutionConfig"]["hpoConfig"]["algorithmHyperParameterRanges"] == ranges
    assert body["tunedHPOParams"]["algorithmHyperParameters"] == {
        "min_cointeraction_count": "2",
        "popularity_discount_factor": "0.25",
    }

    metrics = personalize.get_solution_metrics(solutionVersionArn=version)
    assert metrics["solutionVersionArn"] == version
    base = round(2400 / 100000, 6)  # the fake container counts every row
    assert metrics["metrics"] == pytest.approx(
        {name: base + i / 1000 for i, name in enumerate(SOLUTION_METRICS)}
    )

    job = model_file(server, version, "job.json")
    assert job["channels"] == ["interactions", "items"]
    assert "DEVICE" not in job["columns"]["interactions"]
    # the copies without DEVICE served the job alone: none outlives it (a data deletion job
    # could not reach them)
    assert list(server.runtime.blobs.list_keys(blob_prefix(version) + "input/")) == []
    assert "EVENT_TYPE" in job["columns"]["interactions"]
    assert job["config"]["event_type"] == "click" and job["config"]["perform_hpo"] is True
    assert job["config"]["field_kinds"] == {
        "ITEMS": {"ITEM_ID": "string", "GENRE": "categorical", "PRICE": "numeric"},
        "INTERACTIONS": {  # the schema's; the excluded DEVICE is simply not in the data
            "USER_ID": "string",
            "ITEM_ID": "string",
            "TIMESTAMP": "numeric",
            "EVENT_TYPE": "string",
            "EVENT_VALUE": "numeric",
            "DEVICE": "categorical",
        },
    }

    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["latestSolutionVersion"]["solutionVersionArn"] == version
    assert described["latestSolutionVersion"]["status"] == "ACTIVE"
    listed = personalize.list_solution_versions(solutionArn=solution)["solutionVersions"]
    assert [(v["solutionVersionArn"], v["trainingMode"]) for v in listed] == [(version, "FULL")]


@pytest.mark.parametrize(
    ("rows", "event_type", "expected"),
    [
        (interactions(users=30, per_user=34)[:999], None, ["999 interactions", "1000"]),
        (interactions(users=20, per_user=60), None, ["20 users", "25"]),
        (interactions(users=30, per_user=40), "purchase", ["600 interactions", "'purchase'"]),
    ],
    ids=["interactions", "users", "after-event-type"],
)
def test_too_little_data_fails_at_once_with_amazons_rule(
    personalize, server, rows, event_type, expected
):
    group = make_group(personalize, server, "small", rows)["group"]
    extra = {"eventType": event_type} if event_type else {}
    solution = personalize.create_solution(
        name="small", datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count", **extra
    )["solutionArn"]
    wait_for(lambda: personalize.describe_solution(solutionArn=solution))
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    body = wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=version))
    assert body["status"] == "CREATE FAILED"
    for text in expected:
        assert text in body["failureReason"], body["failureReason"]
    assert "_training_job" not in server.runtime.metadata.get(version).attributes  # no container
    with pytest.raises(ClientError) as raised:
        personalize.get_solution_metrics(solutionVersionArn=version)
    assert error_of(raised)[0] == "InvalidInputException"


def test_events_count_toward_the_minimum_and_reach_the_container(personalize, server):
    group = make_group(personalize, server, "live", interactions()[:990])["group"]
    events = pa.Table.from_pylist(
        [
            {
                "USER_ID": "u01",
                "ITEM_ID": "i005",
                "TIMESTAMP": 1_800_000_000 + k,
                "EVENT_TYPE": "click",
            }
            for k in range(20)
        ]
    )
    sink = io.BytesIO()
    pq.write_table(events, sink)
    server.runtime.blobs.put_bytes(
        events_prefix(group) + "interactions/part-0.parquet", sink.getvalue()
    )
    _, version = train(personalize, group)
    assert model_file(server, version, "job.json")["channels"] == ["events", "interactions"]


def test_update_mode_follows_amazons_rules(personalize, server):
    group = make_group(personalize, server, "shop", interactions())["group"]
    popular = personalize.create_solution(
        name="popular", datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count"
    )["solutionArn"]
    personal = personalize.create_solution(
        name="personal", datasetGroupArn=group, recipeArn=RECIPE + "aws-user-personalization"
    )["solutionArn"]
    wait_idle(server)
    for solution, text in ((popular, "User-Personalization"), (personal, "FULL")):
        with pytest.raises(ClientError) as raised:
            personalize.create_solution_version(solutionArn=solution, trainingMode="UPDATE")
        assert error_of(raised)[0] == "InvalidInputException" and text in error_of(raised)[1]
    full = personalize.create_solution_version(solutionArn=personal)["solutionVersionArn"]
    with pytest.raises(ClientError) as raised:  # one version at a time
        personalize.create_solution_version(solutionArn=personal)
    assert error_of(raised)[0] == "ResourceInUseException"
    wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=full))
    update = personalize.create_solution_version(solutionArn=personal, trainingMode="UPDATE")[
        "solutionVersionArn"
    ]
    body = wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=update))
    assert (body["status"], body["trainingMode"]) == ("ACTIVE", "UPDATE")
    job = model_file(server, update, "job.json")
    assert "previous_model" in job["channels"] and job["config"]["training_mode"] == "UPDATE"
    described = personalize.describe_solution(solutionArn=personal)["solution"]
    assert described["latestSolutionVersion"]["trainingMode"] == "UPDATE"


def test_stop_ends_the_container_and_a_failure_keeps_its_reason(personalize, server):
    rows = interactions()
    rows[5]["ITEM_ID"] = SLEEP_ITEM
    group = make_group(personalize, server, "slow", rows)["group"]
    solution = personalize.create_solution(
        name="slow", datasetGroupArn=group, recipeArn=RECIPE + "aws-popularity-count"
    )["solutionArn"]
    wait_for(lambda: personalize.describe_solution(solutionArn=solution))
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_for(
        lambda: personalize.describe_solution_version(solutionVersionArn=version),
        ["CREATE IN_PROGRESS"],
    )
    with pytest.raises(ClientError) as raised:
        personalize.delete_solution(solutionArn=solution)
    assert error_of(raised)[0] == "ResourceInUseException"
    datasets = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    with pytest.raises(ClientError) as raised:  # the version is training on its data
        personalize.delete_dataset(datasetArn=datasets[0]["datasetArn"])
    assert error_of(raised) == (
        "ResourceInUseException",
        f"Dataset {datasets[0]['datasetArn']} has work in progress ({version} is CREATE "
        "IN_PROGRESS); delete it once that work has finished",
    )
    personalize.stop_solution_version_creation(solutionVersionArn=version)
    body = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert body["status"] in ("CREATE STOPPING", "CREATE STOPPED")
    body = wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=version))
    assert body["status"] == "CREATE STOPPED"
    with pytest.raises(ClientError) as raised:
        personalize.stop_solution_version_creation(solutionVersionArn=version)
    assert error_of(raised)[0] == "ResourceInUseException"

    rows[5]["ITEM_ID"] = FAIL_ITEM
    failing = make_group(personalize, server, "broken", rows)["group"]
    solution = personalize.create_solution(
        name="broken", datasetGroupArn=failing, recipeArn=RECIPE + "aws-popularity-count"
    )["solutionArn"]
    wait_for(lambda: personalize.describe_solution(solutionArn=solution))
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    body = wait_for(lambda: personalize.describe_solution_version(solutionVersionArn=version))
    assert body["status"] == "CREATE FAILED" and FAIL_REASON in body["failureReason"]
    with pytest.raises(ClientError) as raised:
        personalize.create_campaign(name="broken", solutionVersionArn=version)
    assert error_of(raised) == (
        "InvalidInputException",
        f"Solution version {version} is CREATE FAILED; a campaign can deploy it only when it "
        "is ACTIVE, so create a new solution version",
    )

    personalize.delete_solution(solutionArn=solution)  # a failed version does not block
    wait_idle(server)
    with pytest.raises(ClientError) as raised:
        personalize.describe_solution_version(solutionVersionArn=version)
    assert error_of(raised)[0] == "ResourceNotFoundException"


def test_the_real_container_trains_popularity_count_end_to_end(tmp_path):
    """The personalization container itself (not the fake), on small data."""
    server = start_server(tmp_path / "real", containers=dict(DEFAULT_CONTAINERS))
    try:
        personalize = client_for(server)
        group = make_group(personalize, server, "real", interactions())["group"]
        _, version = train(personalize, group)
        metrics = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
        assert set(metrics) == set(SOLUTION_METRICS)
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
        manifest = model_file(server, version, "recommender.json")
        assert manifest["recipe"] == "aws-popularity-count"
    finally:
        server.stop()
