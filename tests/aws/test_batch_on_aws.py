"""CreateBatchInferenceJob in AWS mode: JSON Lines in from the user's bucket, ``.out`` back.

The solution version is trained by a SageMaker job (the personalization
image's entry point, popularity count); the ``batch-inference`` state machine
reads the input as the job's role and writes ``<input file>.out`` under the
output path, one line per input line in Amazon's shape:
``{"input": ..., "output": {"recommendedItems": [...], "scores": [...]}, "error": null}``.
"""

from __future__ import annotations

import json

import pytest

from tests.aws.moto_stack import USER_BUCKET, USER_ROLE, Stack
from tests.aws.shop_data import personalize_group
from tests.aws.test_personalize_on_aws import RECIPES, wait_active

pytestmark = pytest.mark.timeout(90)

INPUT = '{"userId": "u01"}\n{"userId": "stranger"}\nnot json\n{"itemId": "i001"}\n'


def test_batch_inference_reads_json_lines_and_writes_amazons_output(stack: Stack) -> None:
    personalize = stack.api.client("personalize")
    group, _ = personalize_group(stack, personalize, "batch")
    solution = personalize.create_solution(
        name="popular", datasetGroupArn=group, recipeArn=RECIPES + "aws-popularity-count"
    )["solutionArn"]
    wait_active(lambda: personalize.describe_solution(solutionArn=solution))
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_active(lambda: personalize.describe_solution_version(solutionVersionArn=version))
    source = stack.upload("batch/in/users.json", INPUT.encode())

    job = personalize.create_batch_inference_job(
        jobName="users",
        solutionVersionArn=version,
        numResults=5,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": f"s3://{USER_BUCKET}/batch/out/"}},
        roleArn=USER_ROLE,
    )["batchInferenceJobArn"]
    described = wait_active(
        lambda: personalize.describe_batch_inference_job(batchInferenceJobArn=job)
    )
    assert described["numResults"] == 5 and described["solutionVersionArn"] == version

    written = stack.user_files("batch/out/")
    assert list(written) == ["batch/out/users.json.out"]
    lines = [json.loads(line) for line in written["batch/out/users.json.out"].splitlines()]
    assert [set(line) for line in lines] == [{"input", "output", "error"}] * 4
    known, stranger, broken, missing = lines
    assert known["input"] == {"userId": "u01"} and known["error"] is None
    assert known["output"]["recommendedItems"][0] == "i000"  # the most popular item leads
    assert len(known["output"]["recommendedItems"]) == 5
    assert set(known["output"]) <= {"recommendedItems", "scores"}  # scores: when the recipe has
    assert stranger["output"]["recommendedItems"][0] == "i000"  # cold users get popular items
    assert broken["input"] == "not json" and broken["output"] is None
    assert "JSON" in broken["error"]
    assert missing["output"] is None and "userId" in missing["error"]

    executions = stack.executions()
    assert executions["batch-inference"] == ["SUCCEEDED"], executions
