"""Forecast datasets: a schema, a domain and a type, ready to receive imported data.

A dataset is ACTIVE as soon as CreateDataset returns, as in Amazon Forecast:
there is nothing to build until data is imported. Everything that can be
wrong with the definition (schema, frequency, encryption settings) is refused
up front with an ``InvalidInputException``. Forecast has no UpdateDataset; a
dataset's definition is fixed for its life.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast import schema_rules
from augury.forecast.access_config import checked_encryption
from augury.forecast.resource_types import DATASET
from augury.resources import crud
from augury.resources.errors import ResourceInUse
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecast")

DELETABLE = (Status.ACTIVE, Status.CREATE_FAILED, Status.DELETE_FAILED)
"""Amazon deletes ACTIVE and CREATE_FAILED datasets; DELETE_FAILED may be retried."""


@operations("CreateDataset")
def create_dataset(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    name, domain, dataset_type = request["DatasetName"], request["Domain"], request["DatasetType"]
    frequency = request.get("DataFrequency")
    attributes = list(request["Schema"].get("Attributes") or [])
    schema_rules.check_frequency(dataset_type, frequency)
    schema_rules.check_schema(domain, dataset_type, attributes)
    encryption = checked_encryption(request.get("EncryptionConfig"))

    fields: dict[str, Any] = {
        "Domain": domain,
        "DatasetType": dataset_type,
        "Schema": {
            "Attributes": [
                {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                for a in attributes
            ]
        },
    }
    if frequency:
        fields["DataFrequency"] = frequency
    if encryption:
        fields["EncryptionConfig"] = encryption
    arn = runtime.arns.build("forecast", "dataset", name)
    crud.create(
        runtime,
        DATASET,
        arn,
        name,
        status=Status.ACTIVE,
        attributes=fields,
        tags=request.get("Tags"),
    )
    return {"DatasetArn": arn}


@operations("DescribeDataset")
def describe_dataset(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, DATASET, request["DatasetArn"])


@operations("ListDatasets")
def list_datasets(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.list_page(runtime, DATASET, request)


@operations("DeleteDataset")
def delete_dataset(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Delete a dataset; dataset groups that list it keep its ARN, as in Amazon Forecast.

    Amazon leaves it to the user to drop the ARN with UpdateDatasetGroup.
    """
    arn = request["DatasetArn"]
    status = Status(crud.get_record(runtime, DATASET, arn).status)
    if status not in DELETABLE:
        raise ResourceInUse(
            f"Dataset {arn} is {status.value}; a dataset can be deleted when it is ACTIVE "
            "or CREATE_FAILED"
        )
    crud.request_delete(runtime, DATASET, arn)
    return {}
