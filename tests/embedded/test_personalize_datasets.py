"""Personalize schemas and datasets end to end, through a stock boto3 client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from augury.embedded.server import EmbeddedServer

INTERACTIONS = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}
USERS = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "MEMBERSHIP", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}
ITEMS = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": "CREATION_TIMESTAMP", "type": "long"},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
    ],
    "version": "1.0",
}


def with_fields(schema: dict[str, Any], *fields: dict[str, Any]) -> str:
    return json.dumps({**schema, "fields": [*schema["fields"], *fields]})


@pytest.fixture
def personalize(client: Callable[[str], Any]) -> Any:
    return client("personalize")


@pytest.fixture
def group(personalize: Any, wait_for_workflows: Callable[[], None]) -> str:
    """An ACTIVE Custom dataset group."""
    arn = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    wait_for_workflows()
    return arn


@pytest.fixture
def schemas(personalize: Any) -> dict[str, str]:
    """One schema per supported dataset type, by type."""
    return {
        kind: personalize.create_schema(name=f"{kind.lower()}-schema", schema=json.dumps(body))[
            "schemaArn"
        ]
        for kind, body in (("Interactions", INTERACTIONS), ("Users", USERS), ("Items", ITEMS))
    }


@pytest.fixture
def held_workflows(server: EmbeddedServer) -> Iterator[Callable[[], None]]:
    """Hold workflow starts so CREATE PENDING is observable; call the result to run them."""
    engine = server.runtime.workflows
    original = engine.start
    held: list[tuple[str, dict[str, Any]]] = []
    engine.start = lambda workflow, payload: held.append((workflow, dict(payload))) or "held"

    def release() -> None:
        engine.start = original
        for workflow, payload in held:
            original(workflow, payload)
        held.clear()

    yield release
    release()


def create(personalize: Any, group: str, schema: str, dataset_type: str, **extra: Any) -> str:
    return personalize.create_dataset(
        name=f"{dataset_type.lower()}-data",
        schemaArn=schema,
        datasetGroupArn=group,
        datasetType=dataset_type,
        **extra,
    )["datasetArn"]


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


# --- schemas -----------------------------------------------------------------------------


def test_schema_create_describe_and_no_status(personalize: Any) -> None:
    text = json.dumps(INTERACTIONS)
    arn = personalize.create_schema(name="clicks", schema=text, domain="ECOMMERCE")["schemaArn"]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:schema/clicks"
    schema = personalize.describe_schema(schemaArn=arn)["schema"]
    assert schema["name"] == "clicks"
    assert schema["schema"] == text
    assert schema["domain"] == "ECOMMERCE"
    assert "status" not in schema
    assert schema["creationDateTime"] <= schema["lastUpdatedDateTime"]


def test_list_schemas_pages(personalize: Any) -> None:
    for index in range(5):
        personalize.create_schema(name=f"s{index}", schema=json.dumps(USERS))
    first = personalize.list_schemas(maxResults=2)
    assert len(first["schemas"]) == 2
    names = [s["name"] for s in first["schemas"]]
    token = first["nextToken"]
    while token:
        page = personalize.list_schemas(maxResults=2, nextToken=token)
        names += [s["name"] for s in page["schemas"]]
        token = page.get("nextToken")
    assert names == [f"s{index}" for index in range(5)]
    assert "schema" not in first["schemas"][0]


def test_duplicate_schema_name(personalize: Any) -> None:
    personalize.create_schema(name="users", schema=json.dumps(USERS))
    code, message = error_of(
        lambda: personalize.create_schema(name="users", schema=json.dumps(USERS))
    )
    assert code == "ResourceAlreadyExistsException"
    assert "schema/users" in message


def test_bad_avro_names_the_field(personalize: Any) -> None:
    bad = with_fields(USERS, {"name": "TAGS", "type": {"type": "array", "items": "string"}})
    code, message = error_of(lambda: personalize.create_schema(name="bad", schema=bad))
    assert code == "InvalidInputException"
    assert "TAGS" in message


def test_schema_that_is_not_json(personalize: Any) -> None:
    code, message = error_of(lambda: personalize.create_schema(name="bad", schema="{oops"))
    assert code == "InvalidInputException" and "JSON" in message


def test_missing_schema_names_the_arn(personalize: Any) -> None:
    arn = "arn:aws:personalize:us-east-1:000000000000:schema/nope"
    code, message = error_of(lambda: personalize.describe_schema(schemaArn=arn))
    assert code == "ResourceNotFoundException" and arn in message


# --- datasets ----------------------------------------------------------------------------


def test_three_dataset_types_go_from_pending_to_active(
    personalize: Any,
    group: str,
    schemas: dict[str, str],
    held_workflows: Callable[[], None],
    wait_for_workflows: Callable[[], None],
) -> None:
    arns = {
        kind: create(personalize, group, schemas[kind], kind.lower() if kind == "Users" else kind)
        for kind in ("Interactions", "Users", "Items")
    }
    prefix = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/"
    assert arns == {k: prefix + k.upper() for k in ("Interactions", "Users", "Items")}
    for arn in arns.values():
        assert personalize.describe_dataset(datasetArn=arn)["dataset"]["status"] == "CREATE PENDING"
    held_workflows()
    wait_for_workflows()
    users = personalize.describe_dataset(datasetArn=arns["Users"])["dataset"]
    assert users["status"] == "ACTIVE"
    assert users["datasetType"] == "Users"  # the spelling Amazon documents
    assert users["datasetGroupArn"] == group
    assert users["schemaArn"] == schemas["Users"]
    assert users["name"] == "users-data"


def test_list_datasets_pages_within_the_group(
    personalize: Any, group: str, schemas: dict[str, str]
) -> None:
    other = personalize.create_dataset_group(name="other")["datasetGroupArn"]
    for kind in ("Interactions", "Users", "Items"):
        create(personalize, group, schemas[kind], kind)
    first = personalize.list_datasets(datasetGroupArn=group, maxResults=2)
    second = personalize.list_datasets(datasetGroupArn=group, nextToken=first["nextToken"])
    listed = [d["datasetType"] for d in first["datasets"] + second["datasets"]]
    assert listed == ["Interactions", "Users", "Items"]
    assert "nextToken" not in second
    assert personalize.list_datasets(datasetGroupArn=other)["datasets"] == []
    assert len(personalize.list_datasets()["datasets"]) == 3


def test_one_dataset_per_type_per_group(
    personalize: Any, group: str, schemas: dict[str, str]
) -> None:
    create(personalize, group, schemas["Users"], "Users")
    code, message = error_of(
        lambda: personalize.create_dataset(
            name="again", schemaArn=schemas["Users"], datasetGroupArn=group, datasetType="USERS"
        )
    )
    assert code == "ResourceAlreadyExistsException"
    assert "dataset/shop/USERS" in message
    # the request's own mistake is reported before the group's lack of room
    missing_schema = "arn:aws:personalize:us-east-1:000000000000:schema/none"
    code, message = error_of(lambda: create(personalize, group, missing_schema, "Users"))
    assert code == "ResourceNotFoundException" and missing_schema in message


def test_missing_group_schema_and_dataset_name_the_arn(
    personalize: Any, group: str, schemas: dict[str, str]
) -> None:
    missing_group = "arn:aws:personalize:us-east-1:000000000000:dataset-group/none"
    code, message = error_of(lambda: create(personalize, missing_group, schemas["Users"], "Users"))
    assert code == "ResourceNotFoundException" and missing_group in message
    missing_schema = "arn:aws:personalize:us-east-1:000000000000:schema/none"
    code, message = error_of(lambda: create(personalize, group, missing_schema, "Users"))
    assert code == "ResourceNotFoundException" and missing_schema in message
    missing = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/ITEMS"
    code, message = error_of(lambda: personalize.describe_dataset(datasetArn=missing))
    assert code == "ResourceNotFoundException" and missing in message


def test_wrong_fields_for_the_type(personalize: Any, group: str, schemas: dict[str, str]) -> None:
    code, message = error_of(lambda: create(personalize, group, schemas["Users"], "Interactions"))
    assert code == "InvalidInputException"
    assert "ITEM_ID" in message


def test_textual_field_only_on_items(personalize: Any, group: str) -> None:
    schema = personalize.create_schema(
        name="bio",
        schema=with_fields(USERS, {"name": "BIO", "type": "string", "textual": True}),
    )["schemaArn"]
    code, message = error_of(lambda: create(personalize, group, schema, "Users"))
    assert code == "InvalidInputException" and "BIO" in message


def test_an_unknown_type(personalize: Any, group: str, schemas: dict[str, str]) -> None:
    code, message = error_of(lambda: create(personalize, group, schemas["Users"], "Ratings"))
    assert code == "InvalidInputException" and "datasetType" in message


def test_an_actions_dataset_needs_an_actions_schema(
    personalize: Any, group: str, schemas: dict[str, str]
) -> None:
    code, message = error_of(lambda: create(personalize, group, schemas["Users"], "Actions"))
    assert code == "InvalidInputException"
    assert message == "Actions schemas need the field ACTION_ID (string)"


def test_group_must_be_active(
    personalize: Any, schemas: dict[str, str], held_workflows: Callable[[], None]
) -> None:
    pending = personalize.create_dataset_group(name="pending")["datasetGroupArn"]
    code, message = error_of(lambda: create(personalize, pending, schemas["Users"], "Users"))
    assert code == "ResourceInUseException" and "CREATE PENDING" in message


def test_schema_domain_must_match_the_group(
    personalize: Any,
    group: str,
    schemas: dict[str, str],
    wait_for_workflows: Callable[[], None],
) -> None:
    shop = personalize.create_dataset_group(name="retail", domain="ECOMMERCE")["datasetGroupArn"]
    wait_for_workflows()
    code, message = error_of(lambda: create(personalize, shop, schemas["Users"], "Users"))
    assert code == "InvalidInputException" and "ECOMMERCE" in message
    domain_schema = personalize.create_schema(
        name="ecommerce-users", schema=json.dumps(USERS), domain="ECOMMERCE"
    )["schemaArn"]
    code, message = error_of(lambda: create(personalize, group, domain_schema, "Users"))
    assert code == "InvalidInputException" and "Custom" in message
    assert create(personalize, shop, domain_schema, "Users").endswith("dataset/retail/USERS")


def test_ecommerce_items_need_their_domain_fields(
    personalize: Any, wait_for_workflows: Callable[[], None]
) -> None:
    shop = personalize.create_dataset_group(name="retail", domain="ECOMMERCE")["datasetGroupArn"]
    wait_for_workflows()
    schema = personalize.create_schema(
        name="ecommerce-items", schema=json.dumps(ITEMS), domain="ECOMMERCE"
    )["schemaArn"]
    code, message = error_of(lambda: create(personalize, shop, schema, "Items"))
    assert code == "InvalidInputException" and "PRICE" in message


# --- deleting ----------------------------------------------------------------------------


def test_delete_rules(
    personalize: Any,
    group: str,
    schemas: dict[str, str],
    wait_for_workflows: Callable[[], None],
) -> None:
    dataset = create(personalize, group, schemas["Interactions"], "Interactions")
    wait_for_workflows()
    code, message = error_of(lambda: personalize.delete_schema(schemaArn=schemas["Interactions"]))
    assert code == "ResourceInUseException" and dataset in message
    code, message = error_of(lambda: personalize.delete_dataset_group(datasetGroupArn=group))
    assert code == "ResourceInUseException" and dataset in message

    personalize.delete_dataset(datasetArn=dataset)
    wait_for_workflows()
    code, _ = error_of(lambda: personalize.describe_dataset(datasetArn=dataset))
    assert code == "ResourceNotFoundException"
    personalize.delete_schema(schemaArn=schemas["Interactions"])
    code, _ = error_of(lambda: personalize.describe_schema(schemaArn=schemas["Interactions"]))
    assert code == "ResourceNotFoundException"
    personalize.delete_dataset_group(datasetGroupArn=group)
    wait_for_workflows()
    assert personalize.list_dataset_groups()["datasetGroups"] == []


def test_pending_dataset_cannot_be_deleted(
    personalize: Any, group: str, schemas: dict[str, str], held_workflows: Callable[[], None]
) -> None:
    dataset = create(personalize, group, schemas["Items"], "Items")
    code, message = error_of(lambda: personalize.delete_dataset(datasetArn=dataset))
    assert code == "ResourceInUseException" and "CREATE PENDING" in message


# --- tags and updates --------------------------------------------------------------------


def test_dataset_tags(personalize: Any, group: str, schemas: dict[str, str]) -> None:
    dataset = create(
        personalize, group, schemas["Items"], "Items", tags=[{"tagKey": "team", "tagValue": "a"}]
    )
    personalize.tag_resource(resourceArn=dataset, tags=[{"tagKey": "env", "tagValue": "dev"}])
    tags = personalize.list_tags_for_resource(resourceArn=dataset)["tags"]
    assert {t["tagKey"]: t["tagValue"] for t in tags} == {"team": "a", "env": "dev"}
    personalize.untag_resource(resourceArn=dataset, tagKeys=["team"])
    tags = personalize.list_tags_for_resource(resourceArn=dataset)["tags"]
    assert tags == [{"tagKey": "env", "tagValue": "dev"}]
    code, _ = error_of(
        lambda: personalize.untag_resource(
            resourceArn=dataset, tagKeys=[f"k{n}" for n in range(51)]
        )
    )
    assert code == "TooManyTagKeysException"
    assert personalize.list_tags_for_resource(resourceArn=dataset)["tags"] == tags


def test_update_users_dataset_schema(
    personalize: Any,
    group: str,
    schemas: dict[str, str],
    wait_for_workflows: Callable[[], None],
) -> None:
    dataset = create(personalize, group, schemas["Users"], "Users")
    wait_for_workflows()
    wider = personalize.create_schema(
        name="users-v2", schema=with_fields(USERS, {"name": "AGE", "type": ["null", "int"]})
    )["schemaArn"]
    assert personalize.update_dataset(datasetArn=dataset, schemaArn=wider)["datasetArn"] == dataset
    described = personalize.describe_dataset(datasetArn=dataset)["dataset"]
    assert described["schemaArn"] == wider
    assert described["status"] == "ACTIVE"
    assert described["latestDatasetUpdate"]["schemaArn"] == wider
    assert described["latestDatasetUpdate"]["status"] == "ACTIVE"
    personalize.delete_schema(schemaArn=schemas["Users"])


def test_update_rejects_dropped_fields_and_interactions(
    personalize: Any,
    group: str,
    schemas: dict[str, str],
    wait_for_workflows: Callable[[], None],
) -> None:
    users = create(personalize, group, schemas["Users"], "Users")
    interactions = create(personalize, group, schemas["Interactions"], "Interactions")
    wait_for_workflows()
    narrower = json.dumps(
        {**USERS, "fields": [USERS["fields"][0], {"name": "AGE", "type": ["null", "int"]}]}
    )
    narrow = personalize.create_schema(name="users-narrow", schema=narrower)["schemaArn"]
    code, message = error_of(lambda: personalize.update_dataset(datasetArn=users, schemaArn=narrow))
    assert code == "InvalidInputException" and "MEMBERSHIP" in message
    code, message = error_of(
        lambda: personalize.update_dataset(datasetArn=interactions, schemaArn=narrow)
    )
    assert code == "InvalidInputException" and "Interactions" in message
