"""The API Lambda handler: API Gateway proxy events through the same dispatch path.

Stores are moto's DynamoDB and S3, as in a deployed stack; workflows go to
Step Functions (moto records the executions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from augury import handlers
from augury.aws.dynamodb_store import table_definition

TABLE, BUCKET = "augury-resources", "augury-data"


class FakeContext:
    function_name = "augury-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:augury-api"
    aws_request_id = "test-request"


@pytest.fixture
def aws_env(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("AUGURY_METADATA", f"dynamodb://{TABLE}")
    monkeypatch.setenv("AUGURY_BLOBS", f"s3://{BUCKET}")
    monkeypatch.setenv("AUGURY_WORKFLOWS", "stepfunctions://augury-")
    monkeypatch.setenv("AUGURY_ACCOUNT", "123456789012")
    monkeypatch.setenv("AUGURY_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Augury")
    with mock_aws():
        boto3.client("dynamodb").create_table(**table_definition(TABLE))
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        handlers.runtime.cache_clear()
        handlers.dispatcher.cache_clear()
        yield
        handlers.runtime.cache_clear()
        handlers.dispatcher.cache_clear()


def proxy_event(path: str, body: dict[str, Any], target: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = target
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"requestId": "req-1", "stage": "prod", "path": f"/prod{path}"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handlers.api(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_forecast_operations_through_api_gateway_events(aws_env):
    status, body = invoke(
        proxy_event(
            "/forecast/",
            {"DatasetGroupName": "retail", "Domain": "RETAIL"},
            "AmazonForecast.CreateDatasetGroup",
        )
    )
    assert status == 200
    arn = body["DatasetGroupArn"]
    assert arn == "arn:aws:forecast:us-east-1:123456789012:dataset-group/retail"

    status, body = invoke(
        proxy_event("/forecast/", {"DatasetGroupArn": arn}, "AmazonForecast.DescribeDatasetGroup")
    )
    assert status == 200
    assert body["Status"] == "ACTIVE"
    assert isinstance(body["CreationTime"], float)

    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"arn": {"S": arn}})
    assert "Item" in item, "the record lives in DynamoDB"

    status, body = invoke(
        proxy_event(
            "/forecast/",
            {"DatasetGroupName": "retail", "Domain": "RETAIL"},
            "AmazonForecast.CreateDatasetGroup",
        )
    )
    assert status == 400
    assert body["__type"] == "ResourceAlreadyExistsException"


def test_asynchronous_work_starts_a_step_functions_execution(aws_env):
    sfn = boto3.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/sfn"
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    machine = sfn.create_state_machine(
        name="augury-activate-resource", definition=definition, roleArn=role
    )["stateMachineArn"]

    status, body = invoke(
        proxy_event("/personalize/", {"name": "shop"}, "AmazonPersonalize.CreateDatasetGroup")
    )
    assert status == 200
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
    started = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(started["input"]) == {"arn": body["datasetGroupArn"]}


def test_rest_json_services_and_errors_through_the_handler(aws_env):
    event = proxy_event(
        "/personalize-runtime/recommendations",
        {"campaignArn": "arn:aws:personalize:us-east-1:123456789012:campaign/c", "userId": "u"},
    )
    status, body = invoke(event)
    assert status == 404
    assert body["__type"] == "ResourceNotFoundException"
    assert "campaign/c" in body["message"]

    actions = proxy_event(
        "/personalize-runtime/action-recommendations",
        {"campaignArn": "arn:aws:personalize:us-east-1:123456789012:campaign/c", "userId": "u"},
    )
    status, body = invoke(actions)
    assert (status, body["__type"]) == (404, "ResourceNotFoundException")

    unimplemented = proxy_event(
        "/forecastquery/",
        {"WhatIfForecastArn": "arn:x"},
        "AmazonForecastRuntime.QueryWhatIfForecast",
    )
    status, body = invoke(unimplemented)
    assert status == 501
    assert body["__type"] == "NotImplementedException"

    status, body = invoke(proxy_event("/forecast/", {}, "AmazonForecast.DescribeDatasetGroup"))
    assert status == 400
    assert body["__type"] == "ValidationException"
