"""Forecast dataset groups: a domain and the datasets a predictor trains on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast.resource_types import DATASET, DATASET_GROUP
from augury.resources import crud
from augury.resources.errors import InvalidInput
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecast")

MAX_DATASETS_PER_GROUP = 3
"""One target time series, one related time series, one item metadata dataset."""


def _checked_datasets(runtime: Runtime, domain: str, dataset_arns: list[str]) -> list[str]:
    """Every ARN names an ACTIVE dataset of the group's domain, at most one per type."""
    if len(dataset_arns) > MAX_DATASETS_PER_GROUP:
        raise InvalidInput(
            f"A dataset group holds at most {MAX_DATASETS_PER_GROUP} datasets "
            "(one of each dataset type)"
        )
    seen_types: dict[str, str] = {}
    for arn in dataset_arns:
        record = crud.get_record(runtime, DATASET, arn)
        if Status(record.status) != Status.ACTIVE:
            raise InvalidInput(f"Dataset {arn} is {record.status}; only ACTIVE datasets can join")
        dataset_domain = record.attributes.get("Domain")
        if dataset_domain != domain:
            raise InvalidInput(
                f"Dataset {arn} is in the {dataset_domain} domain; this dataset group is {domain}"
            )
        dataset_type = record.attributes.get("DatasetType", "")
        if seen_types.get(dataset_type) == arn:
            raise InvalidInput(f"Dataset {arn} is listed twice; list each dataset once")
        if dataset_type in seen_types:
            raise InvalidInput(
                f"Datasets {seen_types[dataset_type]} and {arn} are both {dataset_type}; "
                "a dataset group holds one dataset of each type"
            )
        seen_types[dataset_type] = arn
    return list(dataset_arns)


@operations("CreateDatasetGroup")
def create_dataset_group(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    name, domain = request["DatasetGroupName"], request["Domain"]
    arn = runtime.arns.build("forecast", "dataset-group", name)
    datasets = _checked_datasets(runtime, domain, request.get("DatasetArns") or [])
    crud.create(
        runtime,
        DATASET_GROUP,
        arn,
        name,
        status=Status.ACTIVE,
        attributes={"Domain": domain, "DatasetArns": datasets},
        tags=request.get("Tags"),
    )
    return {"DatasetGroupArn": arn}


@operations("UpdateDatasetGroup")
def update_dataset_group(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["DatasetGroupArn"]
    record = crud.get_record(runtime, DATASET_GROUP, arn)
    if Status(record.status) != Status.ACTIVE:
        raise InvalidInput(f"Dataset group {arn} is {record.status}; it must be ACTIVE to update")
    datasets = _checked_datasets(runtime, record.attributes["Domain"], request["DatasetArns"])
    crud.update(runtime, arn, lambda current: current.with_attributes(DatasetArns=datasets))
    return {}


@operations("DescribeDatasetGroup")
def describe_dataset_group(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, DATASET_GROUP, request["DatasetGroupArn"])


@operations("ListDatasetGroups")
def list_dataset_groups(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.list_page(runtime, DATASET_GROUP, request)


@operations("DeleteDatasetGroup")
def delete_dataset_group(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Deleting a group leaves its datasets, as Amazon Forecast does."""
    crud.request_delete(runtime, DATASET_GROUP, request["DatasetGroupArn"])
    return {}
