"""Personalize filters end to end, through a stock boto3 client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from augury.personalize.filters import compiled_filter
from augury.resources.errors import InvalidInput, ResourceNotFound

ACCOUNT = "arn:aws:personalize:us-east-1:000000000000"

SCHEMAS = {
    "Interactions": {
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
    },
    "Users": {
        "type": "record",
        "name": "Users",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "MEMBERSHIP", "type": ["null", "string"], "categorical": True},
            {"name": "AGE", "type": ["null", "int"]},
        ],
        "version": "1.0",
    },
    "Items": {
        "type": "record",
        "name": "Items",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "GENRES", "type": ["null", "string"], "categorical": True},
            {"name": "PRICE", "type": ["null", "float"]},
            {"name": "ADULT", "type": ["null", "boolean"]},
            {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
            {"name": "CREATION_TIMESTAMP", "type": "long"},
        ],
        "version": "1.0",
    },
}


@pytest.fixture
def personalize(client: Callable[[str], Any]) -> Any:
    return client("personalize")


def make_group(
    personalize: Any, name: str, schemas: dict[str, dict[str, Any]], wait: Callable[[], None]
) -> str:
    """An ACTIVE dataset group with one dataset per entry of ``schemas`` (type -> schema)."""
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    wait()
    for kind, body in schemas.items():
        schema = personalize.create_schema(name=f"{name}-{kind.lower()}", schema=json.dumps(body))[
            "schemaArn"
        ]
        personalize.create_dataset(
            name=f"{name}-{kind.lower()}",
            schemaArn=schema,
            datasetGroupArn=group,
            datasetType=kind,
        )
    wait()
    return group


@pytest.fixture
def group(personalize: Any, wait_for_workflows: Callable[[], None]) -> str:
    """An ACTIVE group with all three datasets."""
    return make_group(personalize, "shop", SCHEMAS, wait_for_workflows)


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


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_create_describe_list_and_delete(
    personalize: Any,
    group: str,
    server: EmbeddedServer,
    held_workflows: Callable[[], None],
    wait_for_workflows: Callable[[], None],
) -> None:
    expression = (
        "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE) AND Items.PRICE < 20 IF CurrentUser.AGE > 17"
        ' | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    )
    arn = personalize.create_filter(
        name="affordable",
        datasetGroupArn=group,
        filterExpression=expression,
        tags=[{"tagKey": "team", "tagValue": "recs"}],
    )["filterArn"]
    assert arn == f"{ACCOUNT}:filter/affordable"
    assert personalize.describe_filter(filterArn=arn)["filter"]["status"] == "CREATE PENDING"
    with pytest.raises(InvalidInput, match="CREATE PENDING; it can be applied once it is ACTIVE"):
        compiled_filter(server.runtime, arn)
    held_workflows()
    wait_for_workflows()

    described = personalize.describe_filter(filterArn=arn)["filter"]
    assert described["status"] == "ACTIVE"
    assert described["name"] == "affordable"
    assert described["datasetGroupArn"] == group
    assert described["filterExpression"] == expression
    assert described["creationDateTime"] <= described["lastUpdatedDateTime"]
    tags = personalize.list_tags_for_resource(resourceArn=arn)["tags"]
    assert tags == [{"tagKey": "team", "tagValue": "recs"}]

    compiled = compiled_filter(server.runtime, arn, dataset_group_arn=group)
    assert compiled.parameters == ["GENRE"]
    assert compiled.dataset_types == {"Items", "Users", "Interactions"}
    with pytest.raises(InvalidInput, match="belongs to dataset group"):
        compiled_filter(server.runtime, arn, dataset_group_arn=f"{ACCOUNT}:dataset-group/other")

    listed = personalize.list_filters(datasetGroupArn=group)["Filters"]
    assert [(f["name"], f["status"], f["filterArn"]) for f in listed] == [
        ("affordable", "ACTIVE", arn)
    ]
    assert "filterExpression" not in listed[0]
    assert personalize.list_filters()["Filters"][0]["filterArn"] == arn

    code, message = error_of(lambda: personalize.delete_dataset_group(datasetGroupArn=group))
    assert code == "ResourceInUseException"

    personalize.delete_filter(filterArn=arn)
    wait_for_workflows()
    assert personalize.list_filters(datasetGroupArn=group)["Filters"] == []
    code, message = error_of(lambda: personalize.describe_filter(filterArn=arn))
    assert code == "ResourceNotFoundException" and arn in message
    with pytest.raises(ResourceNotFound):
        compiled_filter(server.runtime, arn)


def test_list_filters_pages_within_a_group(
    personalize: Any, group: str, wait_for_workflows: Callable[[], None]
) -> None:
    for index in range(3):
        personalize.create_filter(
            name=f"f{index}",
            datasetGroupArn=group,
            filterExpression=f'EXCLUDE ItemID WHERE Items.GENRES IN ("g{index}")',
        )
    first = personalize.list_filters(datasetGroupArn=group, maxResults=2)
    second = personalize.list_filters(datasetGroupArn=group, nextToken=first["nextToken"])
    names = [f["name"] for f in first["Filters"] + second["Filters"]]
    assert names == ["f0", "f1", "f2"]
    assert "nextToken" not in second


BAD_EXPRESSIONS = [
    ('INCLUDE ItemID WHERE Items.GENRES IN ("a"', "at character 42 (its end)"),
    ("INCLUDE ItemID WHERE Items.GENRES NOT IN ($G)", "NOT IN"),
    ('INCLUDE ItemID WHERE Items.GENRES IN ("a") AND Interactions.EVENT_TYPE IN ("b")', "|"),
    ('INCLUDE ItemID WHERE Items.COLOR IN ("red")', "no field COLOR"),
    ('INCLUDE ItemID WHERE Items.ADULT IN ("true")', "boolean"),
    ('INCLUDE ItemID WHERE Items.DESCRIPTION IN ("x")', "textual"),
    ("INCLUDE ItemID WHERE Items.GENRES > 3", "needs a numeric field"),
    ('INCLUDE ItemID WHERE Items.GENRES IN ("a") IF CurrentUser.HEIGHT > 3', "HEIGHT"),
    ('INCLUDE UserID WHERE Users.MEMBERSHIP IN ("gold") IF CurrentUser.AGE > 3', "IF"),
]
"""Expressions CreateFilter refuses, each with a piece of the reason it must give."""


def test_bad_expressions_are_invalid_input(personalize: Any, group: str) -> None:
    for expression, reason in BAD_EXPRESSIONS:
        code, message = error_of(
            lambda expression=expression: personalize.create_filter(
                name="bad", datasetGroupArn=group, filterExpression=expression
            )
        )
        assert code == "InvalidInputException", expression
        assert reason in message, (expression, message)
    assert personalize.list_filters(datasetGroupArn=group)["Filters"] == []


def test_datasets_the_filter_reads_must_exist(
    personalize: Any, wait_for_workflows: Callable[[], None]
) -> None:
    group = make_group(personalize, "items-only", {"Items": SCHEMAS["Items"]}, wait_for_workflows)
    code, message = error_of(
        lambda: personalize.create_filter(
            name="clicked",
            datasetGroupArn=group,
            filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
        )
    )
    assert code == "InvalidInputException"
    assert "no Interactions dataset" in message
    personalize.create_filter(
        name="cheap",
        datasetGroupArn=group,
        filterExpression="INCLUDE ItemID WHERE Items.PRICE <= $MAX",
    )


def test_group_and_name_errors(personalize: Any, group: str) -> None:
    missing = f"{ACCOUNT}:dataset-group/nope"
    code, message = error_of(
        lambda: personalize.create_filter(
            name="x",
            datasetGroupArn=missing,
            filterExpression='EXCLUDE ItemID WHERE Items.A IN ("a")',
        )
    )
    assert code == "ResourceNotFoundException" and missing in message
    expression = 'EXCLUDE ItemID WHERE Items.GENRES IN ("a")'
    personalize.create_filter(name="dup", datasetGroupArn=group, filterExpression=expression)
    code, message = error_of(
        lambda: personalize.create_filter(
            name="dup", datasetGroupArn=group, filterExpression=expression
        )
    )
    assert code == "ResourceAlreadyExistsException" and "filter/dup" in message
    code, _ = error_of(lambda: personalize.describe_filter(filterArn=f"{ACCOUNT}:filter/nope"))
    assert code == "ResourceNotFoundException"
    code, _ = error_of(lambda: personalize.delete_filter(filterArn=f"{ACCOUNT}:filter/nope"))
    assert code == "ResourceNotFoundException"


def test_quotas_per_dataset_group(personalize: Any, group: str) -> None:
    fields = ["GENRES", "PRICE", "ITEM_ID", "CREATION_TIMESTAMP"]
    for index in range(30):
        field = fields[index % len(fields)]
        value = '"a"' if field in ("GENRES", "ITEM_ID") else "1"
        personalize.create_filter(
            name=f"f{index}",
            datasetGroupArn=group,
            filterExpression=f"EXCLUDE ItemID WHERE Items.{field} IN ({value})",
        )
    code, message = error_of(
        lambda: personalize.create_filter(
            name="eleventh",
            datasetGroupArn=group,
            filterExpression='EXCLUDE ItemID WHERE Items.GENRES IN ("b")',
        )
    )
    assert code == "LimitExceededException" and "30 per dataset group" in message


def test_distinct_fields_across_a_groups_filters(
    personalize: Any, wait_for_workflows: Callable[[], None]
) -> None:
    wide = dict(SCHEMAS["Items"])
    wide["fields"] = [*SCHEMAS["Items"]["fields"]] + [
        {"name": f"F{n}", "type": ["null", "string"], "categorical": True} for n in range(20)
    ]
    group = make_group(personalize, "wide", {"Items": wide}, wait_for_workflows)
    for first in (0, 10):  # Amazon's quotas: 10 fields in a filter, 20 across a group's
        tests = " OR ".join(f'Items.F{n} IN ("x")' for n in range(first, first + 10))
        personalize.create_filter(
            name=f"ten-{first}",
            datasetGroupArn=group,
            filterExpression=f"EXCLUDE ItemID WHERE {tests}",
        )
    code, message = error_of(
        lambda: personalize.create_filter(
            name="one-more",
            datasetGroupArn=group,
            filterExpression='EXCLUDE ItemID WHERE Items.GENRES IN ("x")',
        )
    )
    assert code == "LimitExceededException" and "21 distinct dataset fields" in message
