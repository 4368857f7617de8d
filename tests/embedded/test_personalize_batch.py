"""Batch inference jobs through a stock boto3 client, answered by the real serving core.

Input files go where embedded mode keeps ``s3://`` data (``<data dir>/s3/``);
the fake personalization container trains real popularity models, so item
``i000`` (the most popular) leads every list that is not about it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from tests.embedded.personalize_helpers import (
    RECIPE,
    ROLE,
    client_for,
    error_of,
    interactions,
    make_group,
    start_server,
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


def s3_file(tmp_path: Path, key: str, text: str | bytes) -> str:
    path = tmp_path / "data" / "s3" / "bucket" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return f"s3://bucket/{key}"


def output_lines(tmp_path: Path, key: str) -> list[dict[str, Any]]:
    path = tmp_path / "data" / "s3" / "bucket" / key
    return [json.loads(line) for line in path.read_text().splitlines()]


def versions(personalize: Any, server: EmbeddedServer, group: str, *recipes: str) -> list[str]:
    """One ACTIVE version per recipe, trained side by side."""
    solutions = [
        personalize.create_solution(
            name=recipe.removeprefix("aws-"), datasetGroupArn=group, recipeArn=RECIPE + recipe
        )["solutionArn"]
        for recipe in recipes
    ]
    wait_idle(server)
    arns = [
        personalize.create_solution_version(solutionArn=s)["solutionVersionArn"] for s in solutions
    ]
    wait_idle(server)
    return arns


def batch(personalize: Any, name: str, version: str, source: str, **extra: Any) -> dict:
    arn = personalize.create_batch_inference_job(
        jobName=name,
        solutionVersionArn=version,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": f"s3://bucket/out/{name}/"}},
        roleArn=ROLE,
        **extra,
    )["batchInferenceJobArn"]
    return wait_for(lambda: personalize.describe_batch_inference_job(batchInferenceJobArn=arn))


def test_batch_inference_writes_amazons_output_for_each_recipe_type(personalize, server, tmp_path):
    group = make_group(personalize, server, "shop", interactions())["group"]
    popular, sims, ranking, trending = versions(
        personalize,
        server,
        group,
        "aws-popularity-count",
        "aws-sims",
        "aws-personalized-ranking",
        "aws-trending-now",
    )

    users = s3_file(
        tmp_path,
        "in/users.json",
        '{"userId": "u01"}\n\n{"userId": "stranger"}\nnot json\n{"itemId": "i001"}\n',
    )
    job = batch(personalize, "users", popular, users, numResults=5)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert job["numResults"] == 5 and job["solutionVersionArn"] == popular
    known, stranger, broken, missing = output_lines(tmp_path, "out/users/users.json.out")
    assert known["input"] == {"userId": "u01"} and known["error"] is None
    assert len(known["output"]["recommendedItems"]) == 5
    assert known["output"]["recommendedItems"][0] == "i000"
    assert stranger["output"]["recommendedItems"][0] == "i000"  # unknown users get popular items
    assert broken["input"] == "not json" and broken["output"] is None and "JSON" in broken["error"]
    assert missing["output"] is None and "userId" in missing["error"]

    s3_file(tmp_path, "related/a.jsonl", '\ufeff{"itemId": "i000"}\n')  # saved with a BOM
    s3_file(tmp_path, "related/b.jsonl", '{"itemId": "i007"}\n{"itemId": "unseen"}\n')
    job = batch(personalize, "related", sims, "s3://bucket/related/")
    assert job["status"] == "ACTIVE", job.get("failureReason")
    (first,) = output_lines(tmp_path, "out/related/a.jsonl.out")
    assert "i000" not in first["output"]["recommendedItems"]  # never the query item itself
    assert len(first["output"]["recommendedItems"]) == 25
    seven, unseen = output_lines(tmp_path, "out/related/b.jsonl.out")
    assert seven["output"]["recommendedItems"][0] == "i000"
    assert unseen["error"] is None and unseen["output"]["recommendedItems"]

    lists = s3_file(
        tmp_path, "in/rank.json", '{"userId": "u01", "itemList": ["zzz", "i003", "i000"]}\n'
    )
    job = batch(personalize, "rank", ranking, lists)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    (ranked,) = output_lines(tmp_path, "out/rank/rank.json.out")
    assert ranked["output"]["recommendedItems"] == ["i000", "i003", "zzz"]

    listed = personalize.list_batch_inference_jobs(solutionVersionArn=popular)
    assert [j["jobName"] for j in listed["batchInferenceJobs"]] == ["users"]

    with pytest.raises(ClientError) as raised:
        batch(personalize, "trend", trending, users)
    assert (
        error_of(raised)[0] == "InvalidInputException" and "aws-trending-now" in error_of(raised)[1]
    )


def test_batch_jobs_refuse_bad_requests_and_fail_only_on_unreadable_input(
    personalize, server, tmp_path
):
    catalog = [{"ITEM_ID": f"i{n:03d}", "GENRE": "a", "PRICE": 1.0} for n in range(3)]
    group = make_group(personalize, server, "shop", interactions(), items=catalog)["group"]
    (popular,) = versions(personalize, server, group, "aws-popularity-count")
    users = s3_file(tmp_path, "in/users.json", '{"userId": "u01"}\n')
    filters = {
        name: personalize.create_filter(name=name, datasetGroupArn=group, filterExpression=text)[
            "filterArn"
        ]
        for name, text in {
            "segments": 'INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")',
            "same-genre": "INCLUDE ItemID WHERE Items.GENRE IN CurrentItem.GENRE",
        }.items()
    }
    wait_idle(server)

    def refused(code: str = "InvalidInputException", **extra: Any) -> str:
        with pytest.raises(ClientError) as raised:
            batch(personalize, "bad", popular, users, **extra)
        assert error_of(raised)[0] == code, error_of(raised)
        return error_of(raised)[1]

    assert "500" in refused(numResults=501)
    assert "User-Personalization" in refused(
        batchInferenceJobConfig={"itemExplorationConfig": {"explorationWeight": "0.2"}}
    )
    missing_filter = popular.replace(":solution/", ":filter/").rsplit("/", 1)[0]
    refused("ResourceNotFoundException", filterArn=missing_filter)
    # as GetRecommendations would: a filter of users, or one comparing with the request's
    # item where the input lines name users, is refused before the job instead of failing
    # every line
    assert "ItemID" in refused(filterArn=filters["segments"])
    assert "CurrentItem" in refused(filterArn=filters["same-genre"])
    with pytest.raises(ClientError) as raised:
        personalize.create_batch_segment_job(
            jobName="segments",
            solutionVersionArn=popular,
            jobInput={"s3DataSource": {"path": users}},
            jobOutput={"s3DataDestination": {"path": "s3://bucket/segments/"}},
            roleArn=ROLE,
        )
    assert error_of(raised)[0] == "InvalidInputException"
    assert "aws-item-affinity" in error_of(raised)[1]
    assert personalize.list_batch_segment_jobs()["batchSegmentJobs"] == []

    job = batch(personalize, "nothing", popular, "s3://bucket/empty/")
    assert job["status"] == "CREATE FAILED" and "no input file" in job["failureReason"]
    binary = s3_file(tmp_path, "in/binary.json", b"\xff\xfe{}\n")
    job = batch(personalize, "binary", popular, binary)
    assert job["status"] == "CREATE FAILED"
    assert binary in job["failureReason"] and "UTF-8" in job["failureReason"]
