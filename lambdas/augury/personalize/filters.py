"""Personalize filters: CreateFilter and friends over the expression grammar.

CreateFilter checks everything it can while the caller waits: the expression
must compile (``augury.personalize.filter_expressions``), the datasets it reads
must exist in the group, and each field it names must be in that dataset's
schema with a type it can filter on (not boolean, not textual; a number for
``<``, ``<=``, ``>``, ``>=``). Amazon's quotas are checked too: 10 filters per
dataset group, and 10 distinct dataset fields across them. The filter then goes
CREATE PENDING -> ACTIVE through the activation workflow, like datasets do.

Serving and batch jobs get a ready-to-apply filter from ``compiled_filter``,
which re-reads the record (so a deleted or unfinished filter is refused) and
compiles each distinct expression once per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, NoReturn

from augury.api.operations import OperationSet
from augury.personalize.avro_rules import (
    ParsedSchema,
    SchemaField,
    SchemaRuleError,
    parse_schema_text,
)
from augury.personalize.dataset_groups import ACTIVATE_WORKFLOW
from augury.personalize.filter_expressions import CompiledFilter, compile_filter
from augury.personalize.filter_grammar import (
    ACTION_INTERACTIONS,
    ACTIONS,
    INTERACTIONS,
    ITEMS,
    USERS,
    FieldUse,
    FilterExpressionError,
)
from augury.personalize.resource_types import BATCH_INFERENCE_JOB, DATASET, DATASET_GROUP, FILTER
from augury.resources import crud
from augury.resources.errors import (
    InvalidInput,
    LimitExceeded,
    ResourceAlreadyExists,
    ResourceInUse,
)
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

MAX_FILTERS_PER_GROUP = 30
"""Amazon's quota: at most 30 filters in a dataset group (adjustable at Amazon)."""
MAX_GROUP_FIELDS = 20
"""Amazon's quota: at most 20 distinct dataset fields across all of a group's filters."""
NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})
_DATASET_TYPES = {
    ITEMS: "ITEMS",
    USERS: "USERS",
    INTERACTIONS: "INTERACTIONS",
    ACTIONS: "ACTIONS",
    ACTION_INTERACTIONS: "ACTION_INTERACTIONS",
}


def _status(record: Resource) -> str:
    return Status(record.status).render("personalize")


@lru_cache(maxsize=512)
def _compiled(expression: str) -> CompiledFilter:
    """Compile once per distinct expression; filters never change after they are created."""
    return compile_filter(expression)


def built_in_filter(expression: str) -> CompiledFilter:
    """An expression Augury writes itself (a use case's exclusion), compiled once."""
    return _compiled(expression)


def _compile_request(expression: str) -> CompiledFilter:
    try:
        return _compiled(expression)
    except FilterExpressionError as error:
        raise InvalidInput(str(error)) from None


@operations("CreateFilter")
def create_filter(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Checked now against the group's datasets and quotas; ACTIVE once the workflow runs."""
    name = request["name"]
    expression = request["filterExpression"]
    group = crud.get_record(runtime, DATASET_GROUP, request["datasetGroupArn"])
    if Status(group.status) != Status.ACTIVE:
        raise ResourceInUse(
            f"Dataset group {group.arn} is {_status(group)}; filters can be added once it is ACTIVE"
        )
    arn = runtime.arns.build("personalize", "filter", name)
    if runtime.metadata.get(arn) is not None:
        raise ResourceAlreadyExists(f"A filter named {name} already exists: {arn}")
    compiled = _compile_request(expression)
    check_fields(compiled, group_schemas(runtime, group.arn), expression)
    others = group_filters(runtime, group.arn)
    _check_quotas(compiled, others, group.arn)
    crud.create(
        runtime,
        FILTER,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=group.arn,
        attributes={"filterExpression": expression},
        tags=request.get("tags"),
    )
    crud.start_workflow(runtime, ACTIVATE_WORKFLOW, arn)
    return {"filterArn": arn}


@operations("DescribeFilter")
def describe_filter(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, FILTER, request["filterArn"])


@operations("ListFilters")
def list_filters(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The group's filters (output member ``Filters``); with no group, every filter."""
    return crud.list_page(runtime, FILTER, request, parent_arn=request.get("datasetGroupArn"))


@operations("DeleteFilter")
def delete_filter(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Refused while a batch inference job that uses the filter is still running, as Amazon does."""
    arn = request["filterArn"]
    crud.get_record(runtime, FILTER, arn)
    busy = _running_job_using(runtime, arn)
    if busy is not None:
        raise ResourceInUse(
            f"Filter {arn} is used by batch inference job {busy.arn}, which is "
            f"{_status(busy)}; delete the filter once the job has finished"
        )
    crud.request_delete(runtime, FILTER, arn, blocking_children=False)
    return {}


def compiled_filter(
    runtime: Runtime, filter_arn: str, *, dataset_group_arn: str | None = None
) -> CompiledFilter:
    """The ACTIVE filter behind ``filter_arn``, compiled, for serving and batch jobs.

    ResourceNotFoundException when there is no such filter; InvalidInputException
    when it is not ACTIVE yet (or failed, or is being deleted), or belongs to a
    dataset group other than ``dataset_group_arn`` when one is given.
    """
    record = crud.get_record(runtime, FILTER, filter_arn)
    if Status(record.status) != Status.ACTIVE:
        raise InvalidInput(
            f"Filter {filter_arn} is {_status(record)}; it can be applied once it is ACTIVE"
        )
    if dataset_group_arn is not None and record.parent_arn != dataset_group_arn:
        raise InvalidInput(
            f"Filter {filter_arn} belongs to dataset group {record.parent_arn}, not to "
            f"{dataset_group_arn}"
        )
    return _compile_request(str(record.attributes["filterExpression"]))


# --- checks against the group ------------------------------------------------------------


def group_schemas(runtime: Runtime, group_arn: str) -> dict[str, ParsedSchema]:
    """The group's datasets' schemas, keyed ``ITEMS`` / ``USERS`` / ``INTERACTIONS``."""
    found: dict[str, ParsedSchema] = {}
    for record in _children(runtime, group_arn):
        if record.kind != DATASET.kind or Status(record.status).deleting:
            continue
        schema = runtime.metadata.get(str(record.attributes.get("schemaArn")))
        if schema is None:
            continue
        try:
            parsed = parse_schema_text(str(schema.attributes["schema"]))
        except SchemaRuleError:
            continue
        found[str(record.attributes.get("datasetType", "")).upper()] = parsed
    return found


def check_fields(
    compiled: CompiledFilter, schemas: dict[str, ParsedSchema], expression: str
) -> None:
    """Each field the filter reads must exist, in a dataset the group has, and suit the operator."""
    for use in compiled.fields:
        schema = schemas.get(_DATASET_TYPES[use.dataset])
        if schema is None:
            _fail(
                use,
                expression,
                f"the filter reads {use.dataset}.{use.field}, but the dataset group has no "
                f"{use.dataset} dataset; create it first",
            )
        schema_field = next(
            (item for item in schema.fields if item.name.upper() == use.field), None
        )
        if schema_field is None:
            names = ", ".join(item.name for item in schema.fields)
            _fail(
                use,
                expression,
                f"the {use.dataset} schema has no field {use.field}; its fields are {names}",
            )
        _check_field_type(use, schema_field, expression)


def _check_field_type(use: FieldUse, schema_field: SchemaField, expression: str) -> None:
    label = f"{use.dataset}.{schema_field.name}"
    if schema_field.type == "boolean":
        _fail(
            use,
            expression,
            f"{label} is boolean, and filters can't use boolean fields; store it as a string "
            '("True"/"False") or as an int (0/1)',
        )
    if schema_field.textual:
        _fail(use, expression, f"{label} is textual; filters can't use unstructured text fields")
    if use.needs_number and schema_field.type not in NUMERIC_TYPES:
        _fail(
            use,
            expression,
            f"{use.operator} needs a numeric field, but {label} is {schema_field.describe()}; "
            "use IN or = for strings",
        )


def _fail(use: FieldUse, expression: str, reason: str) -> NoReturn:
    raise InvalidInput(str(FilterExpressionError(reason, expression, use.offset)))


def group_filters(runtime: Runtime, group_arn: str) -> list[Resource]:
    """The group's filters that count against its quotas (not failed, not being deleted)."""
    return [
        record
        for record in _children(runtime, group_arn)
        if record.kind == FILTER.kind
        and not Status(record.status).deleting
        and not Status(record.status).failed
    ]


def _check_quotas(compiled: CompiledFilter, others: list[Resource], group_arn: str) -> None:
    if len(others) >= MAX_FILTERS_PER_GROUP:
        raise LimitExceeded(
            f"Dataset group {group_arn} already has {len(others)} filters; the limit is "
            f"{MAX_FILTERS_PER_GROUP} per dataset group. Delete a filter first"
        )
    fields = {(use.dataset, use.field) for use in compiled.fields}
    for record in others:
        try:
            existing = _compiled(str(record.attributes.get("filterExpression", "")))
        except FilterExpressionError:
            continue
        fields |= {(use.dataset, use.field) for use in existing.fields}
    if len(fields) > MAX_GROUP_FIELDS:
        listed = ", ".join(sorted(f"{dataset}.{name}" for dataset, name in fields))
        raise LimitExceeded(
            f"The filters of dataset group {group_arn} would use {len(fields)} distinct dataset "
            f"fields ({listed}); the limit is {MAX_GROUP_FIELDS} across a group's filters"
        )


def _children(runtime: Runtime, parent_arn: str) -> list[Resource]:
    records: list[Resource] = []
    cursor = None
    while True:
        page = runtime.metadata.list(parent_arn=parent_arn, limit=100, cursor=cursor)
        records.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return records


def _running_job_using(runtime: Runtime, filter_arn: str) -> Resource | None:
    for record in crud.every(runtime, BATCH_INFERENCE_JOB.kind):
        if record.attributes.get("filterArn") == filter_arn and Status(record.status).working:
            return record
    return None
