"""A request may name only a role its caller may pass (``iam:PassRole``), as Amazon's
services require: through API Gateway's IAM identity, the API function and IAM's
answer (simulated here: moto has no policy simulator, ``moto_stack``)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from augury import handlers
from tests.aws.moto_stack import NOT_PASSABLE_ROLE, USER_ROLE, Stack
from tests.aws.shop_data import FORECAST_SCHEMA
from tests.aws.test_personalize_on_aws import SCHEMA
from tests.aws.test_sliced_imports_on_aws import dataset as interactions_dataset

pytestmark = pytest.mark.timeout(120)

CALLER = "arn:aws:sts::123456789012:assumed-role/tester/tester"
"""The identity ``api_gateway`` signs every request with."""


def refused(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_forecast_import_naming_a_role_the_caller_may_not_pass_is_refused(stack: Stack) -> None:
    forecast = stack.api.client("forecast")
    dataset = forecast.create_dataset(
        DatasetName="sales",
        Domain="RETAIL",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency="D",
        Schema=FORECAST_SCHEMA,
    )["DatasetArn"]
    source = stack.upload("sales/sales.csv", b"socks,2024-01-01,3\n")

    def start(role: str) -> dict:
        return forecast.create_dataset_import_job(
            DatasetImportJobName="first",
            DatasetArn=dataset,
            DataSource={"S3Config": {"Path": source, "RoleArn": role}},
        )

    code, message = refused(lambda: start(NOT_PASSABLE_ROLE))
    assert code == "AccessDeniedException"
    assert CALLER in message and f"iam:PassRole on resource: {NOT_PASSABLE_ROLE}" in message
    assert forecast.list_dataset_import_jobs()["DatasetImportJobs"] == []  # nothing was made
    assert start(USER_ROLE)["DatasetImportJobArn"].endswith("/first")


def test_every_personalize_role_member_is_checked(stack: Stack) -> None:
    personalize = stack.api.client("personalize")
    dataset = interactions_dataset(stack, "roles", "Interactions", SCHEMA)
    group = str(handlers.runtime().metadata.get(dataset).parent_arn)
    source = stack.upload("clicks/clicks.csv", b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\n")

    code, _ = refused(
        lambda: personalize.create_dataset_import_job(
            jobName="theirs",
            datasetArn=dataset,
            dataSource={"dataLocation": source},
            roleArn=NOT_PASSABLE_ROLE,
        )
    )
    assert code == "AccessDeniedException"
    code, _ = refused(
        lambda: personalize.create_metric_attribution(
            name="clicks",
            datasetGroupArn=group,
            metrics=[
                {
                    "eventType": "click",
                    "metricName": "CLICKS",
                    "expression": "SAMPLECOUNT()",
                }
            ],
            metricsOutputConfig={
                "s3DataDestination": {"path": "s3://customer-data/metrics/"},
                "roleArn": NOT_PASSABLE_ROLE,
            },
        )
    )
    assert code == "AccessDeniedException"
    assert personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"] == []
    assert personalize.list_metric_attributions(datasetGroupArn=group)["metricAttributions"] == []


def test_a_personalize_import_without_a_role_fails_instead_of_using_augurys_own(
    stack: Stack,
) -> None:
    personalize = stack.api.client("personalize")
    dataset = interactions_dataset(stack, "roleless", "Interactions", SCHEMA)
    source = stack.upload("open/clicks.csv", b"USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1700000000\n")
    job = personalize.create_dataset_import_job(
        jobName="roleless", datasetArn=dataset, dataSource={"dataLocation": source}
    )["datasetImportJobArn"]
    for _ in range(300):
        found = personalize.describe_dataset_import_job(datasetImportJobArn=job)
        if found["datasetImportJob"]["status"] not in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            break
        time.sleep(0.1)
    assert found["datasetImportJob"]["status"] == "CREATE FAILED"
    assert "No role was named to reach " + source in found["datasetImportJob"]["failureReason"]
