"""Personalize dataset groups: the container for datasets, solutions and campaigns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.resource_types import DATA_DELETION_JOB, DATASET_GROUP
from augury.resources import crud
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

ACTIVATE_WORKFLOW = "activate-resource"


@operations("CreateDatasetGroup")
def create_dataset_group(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Created CREATE PENDING; the activation workflow checks it and makes it ACTIVE."""
    name = request["name"]
    arn = runtime.arns.build("personalize", "dataset-group", name)
    attributes = {
        key: request[key] for key in ("roleArn", "kmsKeyArn", "domain") if request.get(key)
    }
    crud.create(
        runtime,
        DATASET_GROUP,
        arn,
        name,
        status=Status.CREATE_PENDING,
        attributes=attributes,
        tags=request.get("tags"),
    )
    crud.start_workflow(runtime, ACTIVATE_WORKFLOW, arn)
    result = {"datasetGroupArn": arn}
    if "domain" in attributes:
        result["domain"] = attributes["domain"]
    return result


@operations("DescribeDatasetGroup")
def describe_dataset_group(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, DATASET_GROUP, request["datasetGroupArn"])


@operations("ListDatasetGroups")
def list_dataset_groups(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.list_page(runtime, DATASET_GROUP, request)


@operations("DeleteDatasetGroup")
def delete_dataset_group(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Amazon refuses while datasets, solutions, filters or trackers remain in the group.

    Finished data deletion jobs are history, not resources (Personalize has no call to
    delete one): they go with the group. One still running holds it.
    """
    crud.request_delete(
        runtime, DATASET_GROUP, request["datasetGroupArn"], history={DATA_DELETION_JOB.kind}
    )
    return {}
