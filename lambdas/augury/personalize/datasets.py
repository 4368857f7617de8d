"""Personalize datasets: one per type in a dataset group, each bound to a schema.

The dataset type is what finally says which of Amazon's field rules a schema
must meet, so CreateDataset and UpdateDataset are where those rules run
(``augury.personalize.avro_rules``). The ARN is
``dataset/<dataset group name>/<DATASET_TYPE>``, which is why a group holds at
most one dataset of each type. A dataset is the child of its group, so the
group can't be deleted while the dataset exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.avro_rules import (
    DATASET_TYPES,
    SchemaRuleError,
    check_for_dataset,
    check_replaceable,
    check_replacement,
    normalize_dataset_type,
)
from augury.personalize.dataset_groups import ACTIVATE_WORKFLOW
from augury.personalize.resource_types import (
    DATASET,
    DATASET_GROUP,
    RECOMMENDER,
    RECOMMENDER_MODEL,
    SOLUTION,
    SOLUTION_VERSION,
)
from augury.personalize.schemas import parsed, schema_record
from augury.personalize.solutions import children
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceAlreadyExists, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")


def _rule_checked(check: Callable[..., None], *args: Any) -> None:
    """Run an ``avro_rules`` check; its failure is the user's input, so InvalidInputException."""
    try:
        check(*args)
    except SchemaRuleError as error:
        raise InvalidInput(str(error)) from None


def _status(record: Resource) -> str:
    return Status(record.status).render("personalize")


def _active_group(runtime: Runtime, arn: str) -> Resource:
    group = crud.get_record(runtime, DATASET_GROUP, arn)
    if Status(group.status) != Status.ACTIVE:
        raise ResourceInUse(
            f"Dataset group {arn} is {_status(group)}; datasets can be added once it is ACTIVE"
        )
    return group


def _check_domain(group: Resource, schema: Resource) -> None:
    """A Domain dataset group takes schemas of its domain; a Custom group, schemas with none."""
    group_domain = group.attributes.get("domain")
    schema_domain = schema.attributes.get("domain")
    if group_domain != schema_domain:
        theirs = f"the {schema_domain} domain" if schema_domain else "no domain"
        ours = f"the {group_domain} domain" if group_domain else "a Custom dataset group"
        raise InvalidInput(
            f"Schema {schema.arn} has {theirs}, but dataset group {group.arn} is {ours}; "
            "the schema's domain must match the dataset group's"
        )


@operations("CreateDataset")
def create_dataset(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Checked now against the type's rules, then CREATE PENDING until the workflow activates it."""
    dataset_type = _dataset_type(request["datasetType"])
    group = _active_group(runtime, request["datasetGroupArn"])
    # the request's own mistakes first, then whether the group has room for it
    schema = schema_record(runtime, request["schemaArn"])
    _check_domain(group, schema)
    domain = group.attributes.get("domain")
    _rule_checked(check_for_dataset, parsed(schema.attributes["schema"]), dataset_type, domain)
    arn = runtime.arns.build("personalize", "dataset", group.name, dataset_type)
    existing = runtime.metadata.get(arn)
    if existing is not None:
        raise ResourceAlreadyExists(
            f"Dataset group {group.arn} already has a {dataset_type} dataset, {existing.name}: "
            f"{arn}"
        )
    crud.create(
        runtime,
        DATASET,
        arn,
        request["name"],
        status=Status.CREATE_PENDING,
        parent_arn=group.arn,
        attributes={"datasetType": DATASET_TYPES[dataset_type], "schemaArn": schema.arn},
        tags=request.get("tags"),
    )
    crud.start_workflow(runtime, ACTIVATE_WORKFLOW, arn)
    return {"datasetArn": arn}


def _dataset_type(text: str) -> str:
    try:
        return normalize_dataset_type(text)
    except SchemaRuleError as error:
        raise InvalidInput(str(error)) from None


@operations("DescribeDataset")
def describe_dataset(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, DATASET, request["datasetArn"])


@operations("ListDatasets")
def list_datasets(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The group's datasets; with no group, every dataset (the member is optional)."""
    return crud.list_page(runtime, DATASET, request, parent_arn=request.get("datasetGroupArn"))


@operations("DeleteDataset")
def delete_dataset(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Amazon refuses only while work on the dataset is still running: an import or
    export of it, or a solution version training on its dataset group's data.

    Finished children such as completed import jobs don't block the delete, so
    the generic children check is replaced by a check for work in progress.
    """
    arn = request["datasetArn"]
    dataset = crud.get_record(runtime, DATASET, arn)
    busy = _work_in_progress(runtime, dataset)
    if busy is not None:
        raise ResourceInUse(
            f"Dataset {arn} has work in progress ({busy}); delete it once that work has finished"
        )
    crud.request_delete(runtime, DATASET, arn, blocking_children=False)
    return {}


def _work_in_progress(runtime: Runtime, dataset: Resource) -> str | None:
    """What still works on ``dataset``'s data: a job of it, or a solution version or a
    recommender of its group training."""
    for child in children(runtime, dataset.arn):
        if Status(child.status).working:
            return f"{child.arn} is {_status(child)}"
    group = dataset.parent_arn or ""
    for solution in children(runtime, group, SOLUTION.kind):
        for version in children(runtime, solution.arn, SOLUTION_VERSION.kind):
            if Status(version.status).working:
                return f"{version.arn} is {_status(version)}"
    for recommender in children(runtime, group, RECOMMENDER.kind):
        for model in children(runtime, recommender.arn, RECOMMENDER_MODEL.kind):
            if Status(model.status).working:
                return f"recommender {recommender.arn} is training"
    return None


@operations("UpdateDataset")
def update_dataset(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Replace an Items or Users dataset's schema with one that only adds nullable fields.

    The checks are all synchronous, so the update is complete when the call
    returns: ``latestDatasetUpdate`` reads ACTIVE and the dataset stays ACTIVE.
    """
    arn = request["datasetArn"]
    dataset = crud.get_record(runtime, DATASET, arn)
    if Status(dataset.status) != Status.ACTIVE:
        raise ResourceInUse(f"Dataset {arn} is {_status(dataset)}; it can be updated once ACTIVE")
    dataset_type = normalize_dataset_type(dataset.attributes["datasetType"])
    _rule_checked(check_replaceable, dataset_type)
    new_schema = schema_record(runtime, request["schemaArn"])
    group = crud.get_record(runtime, DATASET_GROUP, dataset.parent_arn or "")
    _check_domain(group, new_schema)
    new = parsed(new_schema.attributes["schema"])
    current_record = runtime.metadata.get(dataset.attributes["schemaArn"])
    if current_record is not None:
        current = parsed(current_record.attributes["schema"])
        _rule_checked(check_replacement, current, new, dataset_type)
    _rule_checked(check_for_dataset, new, dataset_type, group.attributes.get("domain"))
    now = time.time()
    update = {
        "schemaArn": new_schema.arn,
        "status": Status.ACTIVE.render("personalize"),
        "creationDateTime": now,
        "lastUpdatedDateTime": now,
    }
    crud.update(
        runtime,
        arn,
        lambda record: record.with_attributes(schemaArn=new_schema.arn, latestDatasetUpdate=update),
    )
    return {"datasetArn": arn}
