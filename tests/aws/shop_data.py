"""Dataset groups with imported data, through the API, for the AWS-mode tests.

The data and the waiting are those of ``test_forecast_on_aws`` and
``test_personalize_on_aws``; each helper runs the import as its state machine
in moto, reading the file from the user's bucket as ``USER_ROLE``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.aws import test_forecast_on_aws as forecast_data
from tests.aws import test_personalize_on_aws as personalize_data
from tests.aws.moto_stack import USER_ROLE, Stack

FORECAST_SCHEMA = {
    "Attributes": [
        {"AttributeName": "item_id", "AttributeType": "string"},
        {"AttributeName": "timestamp", "AttributeType": "timestamp"},
        {"AttributeName": "demand", "AttributeType": "float"},
    ]
}


def forecast_group(stack: Stack, forecast: Any, name: str) -> str:
    """A RETAIL dataset group whose daily sales (``sales_csv``) are imported; its ARN."""
    folder = stack.upload(f"{name}-input/sales.csv", forecast_data.sales_csv()).rsplit("/", 1)[0]
    group = forecast.create_dataset_group(DatasetGroupName=name, Domain="RETAIL")["DatasetGroupArn"]
    dataset = forecast.create_dataset(
        DatasetName=f"{name}_sales",
        Domain="RETAIL",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency="D",
        Schema=FORECAST_SCHEMA,
    )["DatasetArn"]
    forecast.update_dataset_group(DatasetGroupArn=group, DatasetArns=[dataset])
    job = forecast.create_dataset_import_job(
        DatasetImportJobName="first",
        DatasetArn=dataset,
        DataSource={"S3Config": {"Path": folder + "/", "RoleArn": USER_ROLE}},
        TimestampFormat="yyyy-MM-dd",
    )["DatasetImportJobArn"]
    forecast_data.wait_active(lambda: forecast.describe_dataset_import_job(DatasetImportJobArn=job))
    return group


def personalize_group(stack: Stack, personalize: Any, name: str) -> tuple[str, str]:
    """A dataset group whose Interactions (``interactions_csv``) are imported: (group, dataset)."""
    source = stack.upload(f"{name}-input/interactions.csv", personalize_data.interactions_csv())
    wait = personalize_data.wait_active
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    schema = personalize.create_schema(
        name=f"{name}-interactions", schema=json.dumps(personalize_data.SCHEMA)
    )["schemaArn"]
    dataset = personalize.create_dataset(
        name=f"{name}-interactions",
        schemaArn=schema,
        datasetGroupArn=group,
        datasetType="Interactions",
    )["datasetArn"]
    wait(lambda: personalize.describe_dataset(datasetArn=dataset))
    job = personalize.create_dataset_import_job(
        jobName="first", datasetArn=dataset, dataSource={"dataLocation": source}, roleArn=USER_ROLE
    )["datasetImportJobArn"]
    wait(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job))
    return group, dataset
