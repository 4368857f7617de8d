"""PutEvents / PutUsers / PutItems ``properties``: Amazon's camel-case keys, checked by type."""

from __future__ import annotations

import json

import pytest

from augury.personalize.avro_rules import parse_schema_text
from augury.personalize.event_properties import camel_case, missing_required, parse_properties
from augury.resources.errors import InvalidInput

SCHEMA = parse_schema_text(
    json.dumps(
        {
            "type": "record",
            "name": "Items",
            "fields": [
                {"name": "ITEM_ID", "type": "string"},
                {"name": "NUMBER_OF_RATINGS", "type": ["null", "int"]},
                {"name": "PRICE", "type": "double"},
                {"name": "GENRES", "type": ["null", "string"], "categorical": True},
                {"name": "IN_STOCK", "type": ["null", "boolean"]},
                {"name": "brandName", "type": ["null", "string"]},
                {"name": "CREATION_TIMESTAMP", "type": ["null", "long"]},
                {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
            ],
        }
    )
)


def parse(properties: dict | str) -> dict:
    text = properties if isinstance(properties, str) else json.dumps(properties)
    return parse_properties(
        text, SCHEMA, where="items[0].properties", label="Items", from_members={"ITEM_ID": "itemId"}
    )


def refused(properties: dict | str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(properties)
    return caught.value.message


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ("NUMBER_OF_RATINGS", "numberOfRatings"),
        ("PRICE", "price"),
        ("CREATION_TIMESTAMP", "creationTimestamp"),
        ("brandName", "brandName"),
        ("Genre", "genre"),
    ],
)
def test_camel_case_is_amazons_key(field: str, key: str) -> None:
    assert camel_case(field) == key


def test_keys_match_fields_ignoring_case_and_underscores() -> None:
    assert parse({"numberOfRatings": 3, "PRICE": 1, "in_stock": True, "brandName": "x"}) == {
        "NUMBER_OF_RATINGS": 3,
        "PRICE": 1.0,
        "IN_STOCK": True,
        "BRANDNAME": "x",
    }


def test_values_are_normalised_to_the_column_type() -> None:
    assert parse(
        {"numberOfRatings": "12", "price": "9.5", "genres": ["Horror", "Comedy"], "inStock": "TRUE"}
    ) == {"NUMBER_OF_RATINGS": 12, "PRICE": 9.5, "GENRES": "Horror|Comedy", "IN_STOCK": True}
    assert parse({"numberOfRatings": 4.0, "genres": 7}) == {"NUMBER_OF_RATINGS": 4, "GENRES": "7"}
    assert parse({"numberOfRatings": None}) == {"NUMBER_OF_RATINGS": None}


def test_unknown_key_is_named_with_the_valid_ones() -> None:
    message = refused({"colour": "red"})
    assert "'colour'" in message and "items[0].properties" in message
    assert "numberOfRatings" in message and "itemId" not in message


@pytest.mark.parametrize(
    ("properties", "words"),
    [
        ({"numberOfRatings": "many"}, ["'numberOfRatings'", "NUMBER_OF_RATINGS", "whole number"]),
        ({"numberOfRatings": 2.5}, ["whole number"]),
        ({"numberOfRatings": 2**40}, ["too large"]),
        ({"price": "cheap"}, ["PRICE", "number"]),
        ({"price": True}, ["PRICE"]),
        ({"price": None}, ["null", "not nullable"]),
        ({"inStock": "yes"}, ["IN_STOCK", "true or false"]),
        ({"genres": {"a": 1}}, ["GENRES", "string"]),
        ({"itemId": "other"}, ["itemId", "member"]),
    ],
)
def test_mistyped_values_say_what_to_send(properties: dict, words: list[str]) -> None:
    message = refused(properties)
    for word in words:
        assert word in message


def test_properties_must_be_a_json_object() -> None:
    assert "not valid JSON" in refused("{oops")
    assert "JSON object" in refused("[1, 2]")


def test_missing_required_field_names_its_key() -> None:
    with pytest.raises(InvalidInput) as caught:
        missing_required(SCHEMA, {"ITEM_ID"}, where="items[1]", label="Items")
    assert "PRICE" in caught.value.message and "'price'" in caught.value.message
    missing_required(SCHEMA, {"ITEM_ID", "PRICE"}, where="items[1]", label="Items")


def test_what_an_import_would_refuse_is_refused() -> None:
    """An export of streamed rows must import again: an import's limits apply to both."""
    assert "too large for Unix epoch seconds (milliseconds?)" in refused(
        {"creationTimestamp": 1_700_000_000_000}
    )
    assert parse({"creationTimestamp": -86_400}) == {"CREATION_TIMESTAMP": -86_400}
    assert refused({"description": "x" * 20_001}) == (
        "items[0].properties: property 'description': the textual value has 20001 characters; "
        "Personalize allows at most 20000 for DESCRIPTION"
    )
    assert parse({"description": "x" * 20_000})["DESCRIPTION"] == "x" * 20_000
    assert "a categorical value has 1001 characters" in refused({"genres": ["a", "b" * 1001]})
    assert "at most 1000 for brandName" in refused({"brandName": "b" * 1001})
