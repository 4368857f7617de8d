"""StepFunctionsEngine against moto's Step Functions."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from augury.aws.stepfunctions_engine import StepFunctionsEngine

ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("stepfunctions", region_name="us-east-1")


def test_state_machine_arn_is_built_from_the_prefix():
    engine = StepFunctionsEngine("eu-west-1", ACCOUNT, "augury-", client=object())
    assert engine.state_machine_arn("train") == (
        f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:augury-train"
    )


def test_start_runs_the_prefixed_state_machine_with_the_payload(sfn):
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    created = sfn.create_state_machine(
        name="augury-train",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/augury-workflows",
    )
    engine = StepFunctionsEngine("us-east-1", ACCOUNT, "augury-", client=sfn)
    assert engine.state_machine_arn("train") == created["stateMachineArn"]

    payload = {"resource_arn": "arn:aws:forecast:us-east-1:123456789012:predictor/p", "n": 1}
    execution_arn = engine.start("train", payload)

    execution = sfn.describe_execution(executionArn=execution_arn)
    assert execution["stateMachineArn"] == created["stateMachineArn"]
    assert json.loads(execution["input"]) == payload
    listed = sfn.list_executions(stateMachineArn=created["stateMachineArn"])["executions"]
    assert [e["executionArn"] for e in listed] == [execution_arn]


def test_start_of_a_missing_workflow_fails(sfn):
    engine = StepFunctionsEngine("us-east-1", ACCOUNT, "augury-", client=sfn)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        engine.start("nope", {})
