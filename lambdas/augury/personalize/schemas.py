"""Personalize schemas: Avro definitions that datasets are created with.

A schema is checked for its shape when it is created; the rules that depend on
a dataset type wait for CreateDataset (``augury.personalize.datasets``), since
only a dataset says which type the schema describes. Amazon's DatasetSchema has
no status member: a schema is usable the moment CreateSchema returns, and
DeleteSchema removes it at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.avro_rules import ParsedSchema, SchemaRuleError, parse_schema_text
from augury.personalize.resource_types import DATASET, SCHEMA
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.record import Resource

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")


def parsed(text: str) -> ParsedSchema:
    """The schema behind ``text``, or ``InvalidInputException`` with the rule it breaks."""
    try:
        return parse_schema_text(text)
    except SchemaRuleError as error:
        raise InvalidInput(str(error)) from None


def first_dataset_using(runtime: Runtime, schema_arn: str) -> str | None:
    """A dataset whose current schema is ``schema_arn``; the store lists by kind, so scan them."""
    for record in crud.every(runtime, DATASET.kind):
        if record.attributes.get("schemaArn") == schema_arn:
            return record.arn
    return None


def schema_record(runtime: Runtime, arn: str) -> Resource:
    return crud.get_record(runtime, SCHEMA, arn)


@operations("CreateSchema")
def create_schema(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    name, text = request["name"], request["schema"]
    parsed(text)
    arn = runtime.arns.build("personalize", "schema", name)
    attributes = {"schema": text}
    if request.get("domain"):
        attributes["domain"] = request["domain"]
    crud.create(runtime, SCHEMA, arn, name, attributes=attributes)
    return {"schemaArn": arn}


@operations("DescribeSchema")
def describe_schema(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, SCHEMA, request["schemaArn"])


@operations("ListSchemas")
def list_schemas(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.list_page(runtime, SCHEMA, request)


@operations("DeleteSchema")
def delete_schema(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Refused while a dataset uses the schema, as Amazon does; otherwise gone at once."""
    arn = request["schemaArn"]
    schema_record(runtime, arn)
    user = first_dataset_using(runtime, arn)
    if user is not None:
        raise ResourceInUse(
            f"Schema {arn} is used by dataset {user}; delete that dataset (or replace its "
            "schema) before deleting the schema"
        )
    runtime.metadata.delete(arn)
    return {}
