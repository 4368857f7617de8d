"""Amazon Personalize's schema rules, one small case each, through the pure functions.

Every failure must name the field that breaks the rule, so each case checks the
error's ``field`` and that the message says it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from augury.personalize.avro_rules import (
    ParsedSchema,
    SchemaRuleError,
    check_for_dataset,
    check_replacement,
    normalize_dataset_type,
    parse_schema_text,
)


def record(*fields: dict[str, Any], name: str = "Schema") -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "com.amazonaws.personalize.schema",
            "fields": list(fields),
            "version": "1.0",
        }
    )


def field(name: str, type_: Any = "string", **attributes: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **attributes}


USER_ID, ITEM_ID = field("USER_ID"), field("ITEM_ID")
TIMESTAMP = field("TIMESTAMP", "long")
INTERACTIONS = (USER_ID, ITEM_ID, TIMESTAMP)


def parse(*fields: dict[str, Any]) -> ParsedSchema:
    return parse_schema_text(record(*fields))


def rejects(text: str, offending: str | None) -> SchemaRuleError:
    with pytest.raises(SchemaRuleError) as caught:
        parse_schema_text(text)
    return _named(caught.value, offending)


def rejects_for(
    fields: tuple[dict[str, Any], ...], dataset_type: str, offending: str, domain: str | None = None
) -> SchemaRuleError:
    schema = parse(*fields)
    with pytest.raises(SchemaRuleError) as caught:
        check_for_dataset(schema, dataset_type, domain)
    return _named(caught.value, offending)


def _named(error: SchemaRuleError, offending: str | None) -> SchemaRuleError:
    if offending is not None:
        assert error.field == offending
        assert offending in str(error)
    return error


# --- parsing: the shape every schema must have -------------------------------------------


def test_amazons_documented_interactions_example_parses() -> None:
    schema = parse(
        *INTERACTIONS,
        field("EVENT_TYPE"),
        field("EVENT_VALUE", ["null", "float"]),
        field("LOCATION", "string", categorical=True),
    )
    assert schema.record_name == "Schema"
    assert [f.name for f in schema.fields][:3] == ["USER_ID", "ITEM_ID", "TIMESTAMP"]
    location = schema.get("LOCATION")
    assert location is not None and location.categorical and not location.nullable


def test_null_union_in_either_order_is_a_nullable_field() -> None:
    schema = parse(field("A", ["null", "string"]), field("B", ["long", "null"]))
    a, b = schema.get("A"), schema.get("B")
    assert a is not None and (a.type, a.nullable) == ("string", True)
    assert b is not None and (b.type, b.nullable) == ("long", True)


def test_every_documented_data_type_is_accepted() -> None:
    types = ("float", "double", "int", "long", "string", "boolean")
    schema = parse(*(field(f"F_{t.upper()}", t) for t in types))
    assert [f.type for f in schema.fields] == list(types)


def test_primitive_written_as_an_object_is_accepted() -> None:
    assert parse(field("PRICE", {"type": "float"})).fields[0].type == "float"


def test_not_json_is_rejected() -> None:
    assert "not valid JSON" in str(rejects("{not json", None))


def test_top_level_must_be_a_record() -> None:
    assert "record" in str(rejects(json.dumps({"type": "string"}), None))


def test_record_needs_fields() -> None:
    assert "fields" in str(rejects(record(), None))


def test_record_needs_a_name_as_avro_does() -> None:
    text = json.dumps({"type": "record", "fields": [field("USER_ID")]})
    assert "not valid Avro" in str(rejects(text, None))


def test_field_without_type() -> None:
    rejects(record({"name": "GENRES"}), "GENRES")


def test_field_with_invalid_avro_name() -> None:
    rejects(record(field("1GENRE")), "1GENRE")


def test_field_with_a_dash_in_its_name() -> None:
    rejects(record(field("GENRE-L2")), "GENRE-L2")


def test_nested_record_is_rejected() -> None:
    nested = {"type": "record", "name": "Address", "fields": [field("CITY")]}
    error = rejects(record(field("ADDRESS", nested)), "ADDRESS")
    assert "flat" in str(error)


def test_array_is_rejected() -> None:
    rejects(record(field("GENRES", {"type": "array", "items": "string"})), "GENRES")


def test_map_is_rejected() -> None:
    rejects(record(field("ATTRS", {"type": "map", "values": "string"})), "ATTRS")


def test_enum_is_rejected() -> None:
    enum = {"type": "enum", "name": "Color", "symbols": ["RED"]}
    rejects(record(field("COLOR", enum)), "COLOR")


def test_bytes_is_not_a_personalize_type() -> None:
    rejects(record(field("PAYLOAD", "bytes")), "PAYLOAD")


def test_unknown_type_name() -> None:
    rejects(record(field("PRICE", "decimal")), "PRICE")


def test_null_alone_is_rejected() -> None:
    rejects(record(field("NOTHING", "null")), "NOTHING")


def test_union_of_two_data_types_is_rejected() -> None:
    rejects(record(field("MIXED", ["string", "int"])), "MIXED")


def test_union_with_null_twice_is_rejected() -> None:
    rejects(record(field("TWICE", ["null", "null", "string"])), "TWICE")


def test_union_with_a_nested_array_is_rejected() -> None:
    rejects(record(field("TAGS", ["null", {"type": "array", "items": "string"}])), "TAGS")


def test_categorical_only_on_strings() -> None:
    rejects(record(field("AGE", "int", categorical=True)), "AGE")


def test_textual_only_on_strings() -> None:
    rejects(record(field("PRICE", "float", textual=True)), "PRICE")


def test_categorical_and_textual_together() -> None:
    rejects(record(field("DESCRIPTION", "string", categorical=True, textual=True)), "DESCRIPTION")


def test_categorical_must_be_a_boolean() -> None:
    rejects(record(field("GENRES", "string", categorical="yes")), "GENRES")


def test_at_most_one_textual_field() -> None:
    text = record(field("TITLE", textual=True), field("DESCRIPTION", textual=True))
    assert "at most one textual" in str(rejects(text, "DESCRIPTION"))


def test_names_that_differ_only_in_underscores_collide() -> None:
    error = rejects(record(field("GENRES_FIELD_1"), field("GENRESFIELD1")), "GENRESFIELD1")
    assert "GENRES_FIELD_1" in str(error)


def test_duplicate_names_are_rejected() -> None:
    rejects(record(field("GENRES"), field("GENRES", "int")), "GENRES")


# --- dataset types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("Interactions", "INTERACTIONS"),
        ("interactions", "INTERACTIONS"),
        ("ITEMS", "ITEMS"),
        ("users", "USERS"),
        ("Action_Interactions", "ACTION_INTERACTIONS"),
    ],
)
def test_dataset_type_is_case_insensitive(given: str, normalized: str) -> None:
    assert normalize_dataset_type(given) == normalized


def test_unknown_dataset_type_names_the_member() -> None:
    with pytest.raises(SchemaRuleError) as caught:
        normalize_dataset_type("Ratings")
    assert caught.value.field == "datasetType" and "Ratings" in str(caught.value)


# --- Actions and Action_Interactions (Next-Best-Action) ----------------------------------

ACTION_ID = field("ACTION_ID")


def test_actions_need_an_id_and_a_metadata_field() -> None:
    check_for_dataset(
        parse(
            ACTION_ID,
            field("VALUE", ["null", "double"]),
            field("ACTION_EXPIRATION_TIMESTAMP", ["null", "long"]),
            field("REPEAT_FREQUENCY", ["null", "long"]),
        ),
        "ACTIONS",
        None,
    )
    with pytest.raises(SchemaRuleError, match="at least one metadata field"):
        check_for_dataset(parse(ACTION_ID), "ACTIONS", None)
    rejects_for((field("VALUE", "long"),), "ACTIONS", "ACTION_ID")


@pytest.mark.parametrize(
    ("keyword", "wrong", "said"),
    [
        ("VALUE", "string", "long, int, float or double, null"),
        ("REPEAT_FREQUENCY", "double", "int or long, null"),
        ("ACTION_EXPIRATION_TIMESTAMP", "int", "long, null"),
    ],
)
def test_action_keywords_keep_their_types(keyword: str, wrong: str, said: str) -> None:
    error = rejects_for((ACTION_ID, field(keyword, ["null", wrong])), "ACTIONS", keyword)
    assert said in str(error)


def test_action_interactions_need_user_action_time_and_event_type() -> None:
    fields = (USER_ID, ACTION_ID, TIMESTAMP, field("EVENT_TYPE"))
    check_for_dataset(parse(*fields), "ACTION_INTERACTIONS", None)
    rejects_for(fields[:3], "ACTION_INTERACTIONS", "EVENT_TYPE")


@pytest.mark.parametrize("dataset_type", ["ACTIONS", "ACTION_INTERACTIONS"])
def test_domain_groups_have_no_action_datasets(dataset_type: str) -> None:
    fields = (USER_ID, ACTION_ID, TIMESTAMP, field("EVENT_TYPE"), field("VALUE", "long"))
    error = rejects_for(fields, dataset_type, "datasetType", domain="ECOMMERCE")
    assert "Custom dataset group" in str(error)


# --- Interactions ------------------------------------------------------------------------


def test_minimal_interactions_schema_fits() -> None:
    check_for_dataset(parse(*INTERACTIONS), "INTERACTIONS", None)


def test_interactions_with_every_reserved_keyword_fit() -> None:
    check_for_dataset(
        parse(
            *INTERACTIONS,
            field("EVENT_TYPE"),
            field("EVENT_VALUE", ["null", "float"]),
            field("IMPRESSION", ["null", "string"]),
            field("RECOMMENDATION_ID", ["null", "string"]),
            field("EVENT_ATTRIBUTION_SOURCE", ["null", "string"]),
        ),
        "INTERACTIONS",
        None,
    )


@pytest.mark.parametrize("missing", ["USER_ID", "ITEM_ID", "TIMESTAMP"])
def test_interactions_need_their_three_fields(missing: str) -> None:
    fields = tuple(f for f in INTERACTIONS if f["name"] != missing)
    rejects_for((*fields, field("EVENT_TYPE")), "INTERACTIONS", missing)


def test_lower_case_required_name_gets_a_hint() -> None:
    error = rejects_for((field("user_id"), ITEM_ID, TIMESTAMP), "INTERACTIONS", "USER_ID")
    assert "user_id" in str(error) and "upper case" in str(error)


def test_timestamp_must_be_long() -> None:
    rejects_for((USER_ID, ITEM_ID, field("TIMESTAMP", "int")), "INTERACTIONS", "TIMESTAMP")


def test_user_id_must_be_string() -> None:
    rejects_for((field("USER_ID", "long"), ITEM_ID, TIMESTAMP), "INTERACTIONS", "USER_ID")


def test_required_field_cannot_be_nullable() -> None:
    fields = (USER_ID, field("ITEM_ID", ["null", "string"]), TIMESTAMP)
    rejects_for(fields, "INTERACTIONS", "ITEM_ID")


def test_required_string_cannot_be_categorical() -> None:
    fields = (field("USER_ID", categorical=True), ITEM_ID, TIMESTAMP)
    rejects_for(fields, "INTERACTIONS", "USER_ID")


def test_event_type_must_be_string() -> None:
    rejects_for((*INTERACTIONS, field("EVENT_TYPE", "int")), "INTERACTIONS", "EVENT_TYPE")


def test_event_type_cannot_be_categorical() -> None:
    fields = (*INTERACTIONS, field("EVENT_TYPE", categorical=True))
    error = rejects_for(fields, "INTERACTIONS", "EVENT_TYPE")
    assert "can't be categorical" in str(error)


def test_event_value_must_be_float() -> None:
    rejects_for((*INTERACTIONS, field("EVENT_VALUE", "string")), "INTERACTIONS", "EVENT_VALUE")


def test_impression_cannot_be_categorical() -> None:
    fields = (*INTERACTIONS, field("IMPRESSION", ["null", "string"], categorical=True))
    rejects_for(fields, "INTERACTIONS", "IMPRESSION")


def test_interactions_take_at_most_five_metadata_fields() -> None:
    context = tuple(field(f"CONTEXT_{i}", categorical=True) for i in range(6))
    rejects_for((*INTERACTIONS, field("EVENT_TYPE"), *context), "INTERACTIONS", "CONTEXT_5")


def test_interactions_five_metadata_fields_plus_keywords_fit() -> None:
    context = tuple(field(f"CONTEXT_{i}", categorical=True) for i in range(5))
    keywords = (field("EVENT_TYPE"), field("EVENT_VALUE", "float"))
    check_for_dataset(parse(*INTERACTIONS, *keywords, *context), "INTERACTIONS", None)


def test_interactions_cannot_have_textual_fields() -> None:
    rejects_for((*INTERACTIONS, field("NOTE", textual=True)), "INTERACTIONS", "NOTE")


# --- Users and Items ---------------------------------------------------------------------


def test_users_need_user_id() -> None:
    rejects_for((field("AGE", "int"),), "USERS", "USER_ID")


def test_users_need_a_metadata_field() -> None:
    schema = parse(USER_ID)
    with pytest.raises(SchemaRuleError) as caught:
        check_for_dataset(schema, "USERS", None)
    assert "metadata" in str(caught.value) and "USER_ID" in str(caught.value)


def test_users_take_at_most_25_metadata_fields() -> None:
    metadata = tuple(field(f"M{i}", "int") for i in range(26))
    rejects_for((USER_ID, *metadata), "USERS", "M25")


def test_users_cannot_have_textual_fields() -> None:
    rejects_for((USER_ID, field("BIO", textual=True)), "USERS", "BIO")


def test_items_with_categorical_and_textual_fields_fit() -> None:
    schema = parse(
        ITEM_ID,
        field("GENRES", ["null", "string"], categorical=True),
        field("CREATION_TIMESTAMP", "long"),
        field("DESCRIPTION", ["null", "string"], textual=True),
    )
    check_for_dataset(schema, "ITEMS", None)


def test_items_need_item_id() -> None:
    rejects_for((field("PRICE", "float"),), "ITEMS", "ITEM_ID")


def test_items_creation_timestamp_must_be_long() -> None:
    fields = (ITEM_ID, field("PRICE", "float"), field("CREATION_TIMESTAMP", "double"))
    rejects_for(fields, "ITEMS", "CREATION_TIMESTAMP")


def test_items_creation_timestamp_is_not_metadata() -> None:
    schema = parse(ITEM_ID, field("CREATION_TIMESTAMP", "long"))
    with pytest.raises(SchemaRuleError, match="metadata"):
        check_for_dataset(schema, "ITEMS", None)


def test_items_take_at_most_100_metadata_fields() -> None:
    metadata = tuple(field(f"M{i}", "float") for i in range(101))
    rejects_for((ITEM_ID, *metadata), "ITEMS", "M100")


# --- domains -----------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["ECOMMERCE", "VIDEO_ON_DEMAND"])
def test_domain_interactions_need_event_type(domain: str) -> None:
    rejects_for(INTERACTIONS, "INTERACTIONS", "EVENT_TYPE", domain)


def test_ecommerce_items_need_price_and_category_l1() -> None:
    rejects_for((ITEM_ID, field("CATEGORY_L1", categorical=True)), "ITEMS", "PRICE", "ECOMMERCE")
    rejects_for((ITEM_ID, field("PRICE", "float")), "ITEMS", "CATEGORY_L1", "ECOMMERCE")


def test_ecommerce_category_l1_must_be_categorical() -> None:
    fields = (ITEM_ID, field("PRICE", "float"), field("CATEGORY_L1"))
    error = rejects_for(fields, "ITEMS", "CATEGORY_L1", "ECOMMERCE")
    assert "must be categorical" in str(error)


def test_ecommerce_default_items_schema_fits() -> None:
    schema = parse(
        ITEM_ID,
        field("PRICE", "float"),
        field("CATEGORY_L1", categorical=True),
        field("CATEGORY_L2", ["null", "string"], categorical=True),
        field("PRODUCT_DESCRIPTION", ["null", "string"], textual=True),
        field("CREATION_TIMESTAMP", "long"),
        field("GENDER", ["null", "string"], categorical=True),
    )
    check_for_dataset(schema, "ITEMS", "ECOMMERCE")


def test_ecommerce_reserved_gender_must_be_categorical() -> None:
    fields = (ITEM_ID, field("PRICE", "float"), field("CATEGORY_L1", categorical=True))
    rejects_for((*fields, field("GENDER")), "ITEMS", "GENDER", "ECOMMERCE")


def test_video_items_need_creation_timestamp_and_genres() -> None:
    genres = field("GENRES", categorical=True)
    rejects_for((ITEM_ID, genres), "ITEMS", "CREATION_TIMESTAMP", "VIDEO_ON_DEMAND")
    created = field("CREATION_TIMESTAMP", "long")
    rejects_for((ITEM_ID, created), "ITEMS", "GENRES", "VIDEO_ON_DEMAND")


def test_video_product_description_must_be_textual() -> None:
    fields = (ITEM_ID, field("CREATION_TIMESTAMP", "long"), field("GENRES", categorical=True))
    error = rejects_for(
        (*fields, field("PRODUCT_DESCRIPTION", ["null", "string"])),
        "ITEMS",
        "PRODUCT_DESCRIPTION",
        "VIDEO_ON_DEMAND",
    )
    assert "must be textual" in str(error)


def test_video_users_subscription_model_must_be_categorical() -> None:
    fields = (USER_ID, field("SUBSCRIPTION_MODEL", ["null", "string"]))
    rejects_for(fields, "USERS", "SUBSCRIPTION_MODEL", "VIDEO_ON_DEMAND")


def test_custom_rules_do_not_ask_for_domain_fields() -> None:
    check_for_dataset(parse(ITEM_ID, field("GENRE", categorical=True)), "ITEMS", None)


# --- replacing a dataset's schema --------------------------------------------------------


CURRENT_USERS = (USER_ID, field("MEMBERSHIP", categorical=True))


def test_replacement_may_add_nullable_fields() -> None:
    new = parse(*CURRENT_USERS, field("AGE", ["null", "int"]))
    check_replacement(parse(*CURRENT_USERS), new, "USERS")


def test_replacement_must_keep_every_field() -> None:
    with pytest.raises(SchemaRuleError) as caught:
        check_replacement(parse(*CURRENT_USERS), parse(USER_ID, field("AGE", "int")), "USERS")
    _named(caught.value, "MEMBERSHIP")


def test_replacement_cannot_change_attributes() -> None:
    new = parse(USER_ID, field("MEMBERSHIP"))
    with pytest.raises(SchemaRuleError) as caught:
        check_replacement(parse(*CURRENT_USERS), new, "USERS")
    _named(caught.value, "MEMBERSHIP")


def test_replacement_new_field_must_allow_null() -> None:
    new = parse(*CURRENT_USERS, field("AGE", "int"))
    with pytest.raises(SchemaRuleError) as caught:
        check_replacement(parse(*CURRENT_USERS), new, "USERS")
    _named(caught.value, "AGE")


def test_interactions_schema_cannot_be_replaced() -> None:
    schema = parse(*INTERACTIONS)
    with pytest.raises(SchemaRuleError) as caught:
        check_replacement(schema, schema, "INTERACTIONS")
    _named(caught.value, "datasetType")
