"""Forecast's schema and frequency rules, one rule at a time, without a server."""

from __future__ import annotations

import botocore.session
import pytest

from augury.forecast import schema_rules
from augury.forecast.domains import (
    DATASET_TYPES,
    DOMAINS,
    ITEM_METADATA,
    RELATED_TIME_SERIES,
    TARGET_TIME_SERIES,
)
from augury.resources.errors import InvalidInput

SUPPORTED = [(name, spec.dataset_type) for name, domain in DOMAINS.items() for spec in domain.specs]


def attrs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": name, "AttributeType": kind} for name, kind in pairs]


def minimal(domain: str, dataset_type: str) -> list[dict[str, str]]:
    """The required fields at their documented types, plus a feature for related series."""
    spec = DOMAINS[domain].spec(dataset_type)
    assert spec is not None
    pairs = [(f.name, f.documented_type) for f in spec.required]
    if dataset_type == RELATED_TIME_SERIES:
        pairs.append(("feature", "float"))
    return attrs(*pairs)


def rejects(domain: str, dataset_type: str, attributes: list[dict[str, str]]) -> str:
    with pytest.raises(InvalidInput) as error:
        schema_rules.check_schema(domain, dataset_type, attributes)
    return error.value.message


RETAIL_TARGET = [("item_id", "string"), ("timestamp", "timestamp"), ("demand", "float")]
RETAIL_RELATED = [("item_id", "string"), ("timestamp", "timestamp"), ("price", "float")]


def test_every_domain_is_documented_with_its_identifier_and_target():
    targets = {name: (d.identifier, d.target.name) for name, d in DOMAINS.items()}
    assert targets == {
        "RETAIL": ("item_id", "demand"),
        "CUSTOM": ("item_id", "target_value"),
        "INVENTORY_PLANNING": ("item_id", "demand"),
        "EC2_CAPACITY": ("instance_type", "number_of_instances"),
        "WORK_FORCE": ("workforce_type", "workforce_demand"),
        "WEB_TRAFFIC": ("item_id", "value"),
        "METRICS": ("metric_name", "metric_value"),
    }
    assert len(SUPPORTED) == 20  # WEB_TRAFFIC documents no item metadata


@pytest.mark.parametrize(("domain", "dataset_type"), SUPPORTED)
def test_required_attributes_are_accepted(domain, dataset_type):
    schema_rules.check_schema(domain, dataset_type, minimal(domain, dataset_type))


@pytest.mark.parametrize(("domain", "dataset_type"), SUPPORTED)
def test_documented_optional_attributes_are_accepted(domain, dataset_type):
    spec = DOMAINS[domain].spec(dataset_type)
    extra = attrs(*((f.name, f.documented_type) for f in spec.suggested))
    schema_rules.check_schema(domain, dataset_type, minimal(domain, dataset_type) + extra)


@pytest.mark.parametrize(("domain", "dataset_type"), SUPPORTED)
def test_each_required_attribute_is_named_when_missing(domain, dataset_type):
    schema = minimal(domain, dataset_type)
    for index, attribute in enumerate(schema):
        if attribute["AttributeName"] == "feature":
            continue
        rest = [*schema[:index], *schema[index + 1 :], *attrs(("note", "string"))]
        message = rejects(domain, dataset_type, rest)
        assert f"requires attribute {attribute['AttributeName']} (" in message
        assert f"The {domain} domain's {dataset_type} dataset" in message


def test_the_message_names_the_attribute_and_its_type():
    message = rejects("RETAIL", TARGET_TIME_SERIES, attrs(*RETAIL_TARGET[:2]))
    assert message == (
        "The RETAIL domain's TARGET_TIME_SERIES dataset requires attribute demand "
        "(float or integer); the schema lacks it"
    )


def test_targets_are_integer_or_float():
    schema_rules.check_schema(
        "RETAIL", TARGET_TIME_SERIES, attrs(*RETAIL_TARGET[:2], ("demand", "integer"))
    )
    schema_rules.check_schema(
        "EC2_CAPACITY",
        TARGET_TIME_SERIES,
        attrs(
            ("instance_type", "string"),
            ("timestamp", "timestamp"),
            ("number_of_instances", "float"),
        ),
    )
    message = rejects("RETAIL", TARGET_TIME_SERIES, attrs(*RETAIL_TARGET[:2], ("demand", "string")))
    assert "requires attribute demand to be float or integer; the schema declares it string" in (
        message
    )


def test_required_attribute_of_the_wrong_type():
    message = rejects(
        "METRICS",
        RELATED_TIME_SERIES,
        attrs(("metric_name", "integer"), ("timestamp", "timestamp"), ("price", "float")),
    )
    assert "requires attribute metric_name to be string; the schema declares it integer" in message


def test_a_case_variant_of_a_required_name_is_pointed_out():
    message = rejects(
        "RETAIL", TARGET_TIME_SERIES, attrs(("Item_Id", "string"), *RETAIL_TARGET[1:])
    )
    assert "requires attribute item_id (string)" in message
    assert "it has Item_Id" in message


def test_web_traffic_has_no_item_metadata():
    message = rejects("WEB_TRAFFIC", ITEM_METADATA, attrs(("item_id", "string")))
    assert "WEB_TRAFFIC domain has no ITEM_METADATA dataset type" in message


def test_an_empty_schema_is_refused():
    assert "no attributes" in rejects("CUSTOM", TARGET_TIME_SERIES, [])


def test_attributes_need_a_name_and_a_type():
    message = rejects("CUSTOM", ITEM_METADATA, [{"AttributeType": "string"}])
    assert "Schema attribute 1 has no AttributeName" in message
    message = rejects("CUSTOM", ITEM_METADATA, [{"AttributeName": "item_id"}])
    assert "Schema attribute item_id has no AttributeType" in message
    message = rejects("CUSTOM", ITEM_METADATA, attrs(("item_id", "text")))
    assert "Schema attribute item_id has type text" in message


def test_names_are_unique_ignoring_case():
    message = rejects(
        "RETAIL",
        TARGET_TIME_SERIES,
        attrs(*RETAIL_TARGET, ("store", "string"), ("Store", "string")),
    )
    assert message == "Attribute names must be unique ignoring case: store and Store collide"


@pytest.mark.parametrize("name", ["case", "Attribute", "BY"])
def test_reserved_names_are_refused_ignoring_case(name):
    message = rejects("RETAIL", TARGET_TIME_SERIES, attrs(*RETAIL_TARGET, (name, "string")))
    assert message == f"Attribute name {name} is reserved by Amazon Forecast; choose another name"


def test_target_series_holds_at_most_ten_dimensions():
    dimensions = [(f"dim{i}", "string") for i in range(10)]
    schema_rules.check_schema("RETAIL", TARGET_TIME_SERIES, attrs(*RETAIL_TARGET, *dimensions))
    message = rejects(
        "RETAIL", TARGET_TIME_SERIES, attrs(*RETAIL_TARGET, *dimensions, ("dim10", "string"))
    )
    assert "at most 10 forecast dimensions; attribute dim10 is number 11" in message


def test_target_series_takes_no_features():
    message = rejects("RETAIL", TARGET_TIME_SERIES, attrs(*RETAIL_TARGET, ("price", "float")))
    assert message.startswith("Attribute price (float) cannot be in a TARGET_TIME_SERIES dataset")
    assert "RELATED_TIME_SERIES" in message


def test_a_dataset_has_one_geolocation():
    schema_rules.check_schema(
        "RETAIL", TARGET_TIME_SERIES, attrs(*RETAIL_TARGET, ("location", "geolocation"))
    )
    message = rejects(
        "RETAIL",
        TARGET_TIME_SERIES,
        attrs(*RETAIL_TARGET, ("store", "geolocation"), ("depot", "geolocation")),
    )
    assert "Attributes store and depot are both geolocation" in message


def test_related_series_must_not_hold_the_target():
    message = rejects("RETAIL", RELATED_TIME_SERIES, attrs(*RETAIL_RELATED, ("demand", "float")))
    assert "must not hold attribute demand" in message
    assert "RETAIL domain's target field" in message


def test_related_features_are_numeric():
    message = rejects(
        "RETAIL", RELATED_TIME_SERIES, attrs(*RETAIL_RELATED, ("launch", "timestamp"))
    )
    assert message.startswith("Attribute launch (timestamp) cannot be in a RELATED_TIME_SERIES")
    schema_rules.check_schema(
        "RETAIL", RELATED_TIME_SERIES, attrs(*RETAIL_RELATED, ("store", "string"))
    )


def test_related_series_needs_a_feature():
    message = rejects(
        "RETAIL", RELATED_TIME_SERIES, attrs(*RETAIL_RELATED[:2], ("store", "string"))
    )
    assert "needs at least one related feature" in message
    assert "besides item_id and timestamp" in message


def test_related_series_holds_at_most_thirteen_features():
    features = [(f"f{i}", "float") for i in range(12)]
    schema_rules.check_schema("RETAIL", RELATED_TIME_SERIES, attrs(*RETAIL_RELATED, *features))
    message = rejects(
        "RETAIL", RELATED_TIME_SERIES, attrs(*RETAIL_RELATED, *features, ("f12", "integer"))
    )
    assert "at most 13 related features; attribute f12 is number 14" in message


def test_related_series_holds_at_most_ten_dimensions():
    dimensions = [(f"dim{i}", "string") for i in range(11)]
    message = rejects("RETAIL", RELATED_TIME_SERIES, attrs(*RETAIL_RELATED, *dimensions))
    assert "RELATED_TIME_SERIES dataset has at most 10 forecast dimensions" in message
    assert "attribute dim10" in message


@pytest.mark.parametrize("kind", ["timestamp", "integer", "geolocation"])
def test_item_metadata_is_string_or_float(kind):
    message = rejects("RETAIL", ITEM_METADATA, attrs(("item_id", "string"), ("launched", kind)))
    assert message.startswith(f"Attribute launched ({kind}) cannot be in an ITEM_METADATA dataset")


def test_item_metadata_holds_at_most_ten_attributes():
    fields = [(f"f{i}", "string") for i in range(9)]
    schema_rules.check_schema("RETAIL", ITEM_METADATA, attrs(("item_id", "string"), *fields))
    message = rejects(
        "RETAIL", ITEM_METADATA, attrs(("item_id", "string"), *fields, ("f9", "float"))
    )
    assert "at most 10 attributes including the identifier; attribute f9 is number 11" in message


@pytest.mark.parametrize(
    "frequency",
    ["Y", "1Y", "M", "11M", "W", "4W", "D", "6D", "H", "23H", "1min", "5min", "59min", "30min"],
)
@pytest.mark.parametrize("dataset_type", [TARGET_TIME_SERIES, RELATED_TIME_SERIES])
def test_valid_frequencies(frequency, dataset_type):
    schema_rules.check_frequency(dataset_type, frequency)


@pytest.mark.parametrize(
    ("frequency", "rule"),
    [
        ("60min", "a minute frequency is 1 to 59min; use 1H for longer"),
        ("24H", "an hourly frequency is 1 to 23H; use 1D for longer"),
        ("7D", "a daily frequency is 1 to 6D; use 1W for longer"),
        ("5W", "a weekly frequency is 1 to 4W; use 1M for longer"),
        ("12M", "a monthly frequency is 1 to 11M; use 1Y for longer"),
        ("2Y", "a yearly frequency is 1Y (or Y)"),
        ("0D", "use an optional integer followed by"),
        ("15m", "use an optional integer followed by"),
        ("1d", "use an optional integer followed by"),
        ("min", "needs a number of minutes"),
    ],
)
def test_invalid_frequencies_say_why(frequency, rule):
    with pytest.raises(InvalidInput) as error:
        schema_rules.check_frequency(TARGET_TIME_SERIES, frequency)
    assert f"DataFrequency {frequency}" in error.value.message
    assert rule in error.value.message


def test_frequency_is_required_for_related_series_only():
    schema_rules.check_frequency(TARGET_TIME_SERIES, None)
    schema_rules.check_frequency(ITEM_METADATA, None)
    with pytest.raises(InvalidInput, match="RELATED_TIME_SERIES dataset requires DataFrequency"):
        schema_rules.check_frequency(RELATED_TIME_SERIES, None)


def test_item_metadata_takes_no_frequency():
    with pytest.raises(InvalidInput, match="does not apply to an ITEM_METADATA dataset"):
        schema_rules.check_frequency(ITEM_METADATA, "D")


def test_dataset_types_cover_the_model():
    model = botocore.session.get_session().get_service_model("forecast")
    assert set(DATASET_TYPES) == set(model.shape_for("DatasetType").enum)
    assert set(DOMAINS) == set(model.shape_for("Domain").enum)
