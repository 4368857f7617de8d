"""The deployed API as a client sees it: IAM authorization, then Amazon's own errors.

A stock boto3 client signs for its own service and API Gateway refuses it; the
client ``augury.clients.deployed_client`` returns signs for ``execute-api``
and reaches the handler, whose errors boto3 raises as the service's
exceptions.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.aws.moto_stack import REGION, Stack


def test_only_execute_api_signatures_reach_the_handler(stack: Stack) -> None:
    stock = stack.api.attach(
        boto3.client("personalize", region_name=REGION, endpoint_url=stack.api.url + "personalize")
    )
    with pytest.raises(ClientError) as refused:
        stock.list_dataset_groups()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "execute-api" in str(refused.value)
    assert stack.api.requests == [], "a refused request never reaches the function"

    personalize = stack.api.client("personalize")
    assert personalize.list_dataset_groups()["datasetGroups"] == []
    missing = f"arn:aws:personalize:{REGION}:123456789012:dataset-group/none"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=missing)
    event = stack.api.requests[-1]
    assert event["path"].rstrip("/") == "/personalize"  # the stage is not part of the path
    assert event["requestContext"]["path"] == "/prod" + event["path"]
