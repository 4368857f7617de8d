"""Forecast datasets and their dataset groups, through a stock boto3 client."""

from __future__ import annotations

import contextlib

import pytest
from botocore.exceptions import ClientError

from augury.resources.record import Resource

ARN = "arn:aws:forecast:us-east-1:000000000000:{}/{}"
ROLE = "arn:aws:iam::000000000000:role/ForecastKms"
KEY = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def schema(*pairs: tuple[str, str]) -> dict:
    return {"Attributes": [{"AttributeName": n, "AttributeType": t} for n, t in pairs]}


RETAIL_TARGET_FIELDS = (
    ("timestamp", "timestamp"),
    ("item_id", "string"),
    ("store", "string"),
    ("demand", "float"),
)
RETAIL_TARGET = schema(*RETAIL_TARGET_FIELDS)
RETAIL_RELATED = schema(("timestamp", "timestamp"), ("item_id", "string"), ("price", "float"))
RETAIL_METADATA = schema(("item_id", "string"), ("brand", "string"))


def make(forecast, name: str, domain: str, kind: str, attributes: dict, **extra) -> str:
    return forecast.create_dataset(
        DatasetName=name, Domain=domain, DatasetType=kind, Schema=attributes, **extra
    )["DatasetArn"]


def code_and_message(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_datasets_of_several_domains_are_active_at_once(client):
    forecast = client("forecast")
    sales = make(
        forecast,
        "sales",
        "RETAIL",
        "TARGET_TIME_SERIES",
        RETAIL_TARGET,
        DataFrequency="D",
        Tags=[{"Key": "team", "Value": "demand"}],
    )
    assert sales == ARN.format("dataset", "sales")
    described = forecast.describe_dataset(DatasetArn=sales)
    described.pop("ResponseMetadata")
    created = described.pop("CreationTime")
    assert created.tzinfo is not None
    assert described.pop("LastModificationTime") >= created
    assert described == {
        "DatasetArn": sales,
        "DatasetName": "sales",
        "Domain": "RETAIL",
        "DatasetType": "TARGET_TIME_SERIES",
        "DataFrequency": "D",
        "Schema": RETAIL_TARGET,
        "Status": "ACTIVE",
    }
    assert forecast.list_tags_for_resource(ResourceArn=sales)["Tags"] == [
        {"Key": "team", "Value": "demand"}
    ]

    capacity = make(
        forecast,
        "capacity_traffic",
        "EC2_CAPACITY",
        "RELATED_TIME_SERIES",
        schema(
            ("instance_type", "string"),
            ("timestamp", "timestamp"),
            ("location", "geolocation"),
            ("traffic_to_service", "float"),
        ),
        DataFrequency="15min",
    )
    assert forecast.describe_dataset(DatasetArn=capacity)["DataFrequency"] == "15min"

    metrics = make(
        forecast,
        "metric_info",
        "METRICS",
        "ITEM_METADATA",
        schema(("metric_name", "string"), ("category", "string"), ("weight", "float")),
    )
    described = forecast.describe_dataset(DatasetArn=metrics)
    assert described["DatasetType"] == "ITEM_METADATA"
    assert "DataFrequency" not in described
    assert "EncryptionConfig" not in described


def test_target_series_frequency_is_optional(client):
    forecast = client("forecast")
    arn = make(
        forecast,
        "no_frequency",
        "CUSTOM",
        "TARGET_TIME_SERIES",
        schema(("item_id", "string"), ("timestamp", "timestamp"), ("target_value", "integer")),
    )
    assert "DataFrequency" not in forecast.describe_dataset(DatasetArn=arn)


def test_list_datasets_paginates_with_summaries(client):
    forecast = client("forecast")
    names = [f"ds_{i}" for i in range(5)]
    for name in names:
        make(forecast, name, "RETAIL", "ITEM_METADATA", RETAIL_METADATA)

    first = forecast.list_datasets(MaxResults=2)
    assert [d["DatasetName"] for d in first["Datasets"]] == names[:2]
    assert set(first["Datasets"][0]) == {
        "DatasetArn",
        "DatasetName",
        "DatasetType",
        "Domain",
        "CreationTime",
        "LastModificationTime",
    }
    second = forecast.list_datasets(MaxResults=2, NextToken=first["NextToken"])
    assert [d["DatasetName"] for d in second["Datasets"]] == names[2:4]

    pages = forecast.get_paginator("list_datasets").paginate(PaginationConfig={"PageSize": 2})
    assert [d["DatasetName"] for page in pages for d in page["Datasets"]] == names
    with pytest.raises(forecast.exceptions.InvalidNextTokenException):
        forecast.list_datasets(NextToken="garbage")


def test_names_are_unique_and_missing_datasets_are_named(client):
    forecast = client("forecast")
    make(forecast, "dup", "RETAIL", "ITEM_METADATA", RETAIL_METADATA)
    with pytest.raises(forecast.exceptions.ResourceAlreadyExistsException):
        make(forecast, "dup", "CUSTOM", "ITEM_METADATA", schema(("item_id", "string")))

    missing = ARN.format("dataset", "missing")
    with pytest.raises(forecast.exceptions.ResourceNotFoundException) as error:
        forecast.describe_dataset(DatasetArn=missing)
    assert missing in str(error.value)
    with pytest.raises(forecast.exceptions.ResourceNotFoundException) as error:
        forecast.delete_dataset(DatasetArn=missing)
    assert missing in str(error.value)
    group = ARN.format("dataset-group", "dup")  # a group's ARN is not a dataset's
    with pytest.raises(forecast.exceptions.ResourceNotFoundException):
        forecast.describe_dataset(DatasetArn=group)


@pytest.mark.parametrize(
    ("domain", "kind", "attributes", "expected"),
    [
        (
            "RETAIL",
            "TARGET_TIME_SERIES",
            schema(("item_id", "string"), ("timestamp", "timestamp")),
            "The RETAIL domain's TARGET_TIME_SERIES dataset requires attribute demand "
            "(float or integer); the schema lacks it",
        ),
        (
            "WORK_FORCE",
            "TARGET_TIME_SERIES",
            schema(("workforce_type", "integer"), ("timestamp", "timestamp"), ("x", "float")),
            "requires attribute workforce_type to be string",
        ),
        (
            "RETAIL",
            "RELATED_TIME_SERIES",
            schema(("item_id", "string"), ("timestamp", "timestamp"), ("demand", "float")),
            "must not hold attribute demand",
        ),
        (
            "RETAIL",
            "TARGET_TIME_SERIES",
            schema(*RETAIL_TARGET_FIELDS, ("Store", "string")),
            "store and Store collide",
        ),
        (
            "CUSTOM",
            "ITEM_METADATA",
            schema(("item_id", "string"), ("action", "string")),
            "Attribute name action is reserved",
        ),
        (
            "WEB_TRAFFIC",
            "ITEM_METADATA",
            schema(("item_id", "string")),
            "WEB_TRAFFIC domain has no ITEM_METADATA dataset type",
        ),
        (
            "CUSTOM",
            "ITEM_METADATA",
            schema(("item_id", "string"), ("launched", "timestamp")),
            "Attribute launched (timestamp) cannot be in an ITEM_METADATA dataset",
        ),
    ],
)
def test_bad_schemas_are_invalid_input_naming_the_attribute(
    client, domain, kind, attributes, expected
):
    forecast = client("forecast")
    frequency = {"DataFrequency": "D"} if kind == "RELATED_TIME_SERIES" else {}
    with pytest.raises(forecast.exceptions.InvalidInputException) as error:
        make(forecast, "bad", domain, kind, attributes, **frequency)
    assert expected in code_and_message(error)[1]
    assert forecast.list_datasets()["Datasets"] == []


def test_the_wire_layer_checks_the_models_constraints(client):
    forecast = client("forecast")
    with pytest.raises(ClientError) as error:
        make(forecast, "types", "CUSTOM", "ITEM_METADATA", schema(("item_id", "text")))
    code, message = code_and_message(error)
    assert code == "ValidationException"
    assert "string, integer, float, timestamp, geolocation" in message
    with pytest.raises(ClientError) as error:
        make(forecast, "bad-name", "CUSTOM", "ITEM_METADATA", schema(("item_id", "string")))
    assert code_and_message(error)[0] == "ValidationException"


def test_frequency_rules(client):
    forecast = client("forecast")
    with pytest.raises(forecast.exceptions.InvalidInputException) as error:
        make(forecast, "prices", "RETAIL", "RELATED_TIME_SERIES", RETAIL_RELATED)
    assert "requires DataFrequency" in code_and_message(error)[1]
    with pytest.raises(forecast.exceptions.InvalidInputException) as error:
        make(forecast, "items", "RETAIL", "ITEM_METADATA", RETAIL_METADATA, DataFrequency="W")
    assert "does not apply to an ITEM_METADATA dataset" in code_and_message(error)[1]
    for frequency, rule in [
        ("60min", "a minute frequency is 1 to 59min; use 1H for longer"),
        ("7D", "a daily frequency is 1 to 6D; use 1W for longer"),
        ("2Y", "a yearly frequency is 1Y (or Y)"),
        ("0D", "use an optional integer followed by"),
        ("15m", "use an optional integer followed by"),
    ]:
        with pytest.raises(forecast.exceptions.InvalidInputException) as error:
            make(
                forecast,
                "bad",
                "RETAIL",
                "TARGET_TIME_SERIES",
                RETAIL_TARGET,
                DataFrequency=frequency,
            )
        assert f"DataFrequency {frequency} is not valid: {rule}" in code_and_message(error)[1]

    accepted = ["Y", "M", "W", "D", "H", "30min", "15min", "10min", "5min", "1min"]
    accepted += ["1Y", "3M", "2W", "6D", "12H", "45min"]  # the multiples Amazon documents
    for frequency in accepted:
        arn = make(
            forecast,
            f"every_{frequency}",
            "RETAIL",
            "RELATED_TIME_SERIES",
            RETAIL_RELATED,
            DataFrequency=frequency,
        )
        assert forecast.describe_dataset(DatasetArn=arn)["DataFrequency"] == frequency
    assert len(forecast.list_datasets()["Datasets"]) == len(accepted)


def test_encryption_config_is_kept_and_described(client):
    forecast = client("forecast")
    arn = make(
        forecast,
        "secret",
        "RETAIL",
        "ITEM_METADATA",
        RETAIL_METADATA,
        EncryptionConfig={"RoleArn": ROLE, "KMSKeyArn": KEY},
    )
    described = forecast.describe_dataset(DatasetArn=arn)
    assert described["EncryptionConfig"] == {"RoleArn": ROLE, "KMSKeyArn": KEY}

    user = "arn:aws:iam::000000000000:user/me"
    with pytest.raises(forecast.exceptions.InvalidInputException) as error:
        make(
            forecast,
            "not_a_role",
            "RETAIL",
            "ITEM_METADATA",
            RETAIL_METADATA,
            EncryptionConfig={"RoleArn": user, "KMSKeyArn": KEY},
        )
    assert f"EncryptionConfig RoleArn {user} is not an IAM role ARN" in code_and_message(error)[1]


def test_delete_dataset_then_list(client, wait_for_workflows):
    forecast = client("forecast")
    keep = make(forecast, "keep", "RETAIL", "ITEM_METADATA", RETAIL_METADATA)
    gone = make(forecast, "gone", "RETAIL", "TARGET_TIME_SERIES", RETAIL_TARGET)
    forecast.delete_dataset(DatasetArn=gone)
    with contextlib.suppress(forecast.exceptions.ResourceNotFoundException):  # may be done
        assert forecast.describe_dataset(DatasetArn=gone)["Status"] in {
            "DELETE_PENDING",
            "DELETE_IN_PROGRESS",
        }
    wait_for_workflows()
    with pytest.raises(forecast.exceptions.ResourceNotFoundException):
        forecast.describe_dataset(DatasetArn=gone)
    assert [d["DatasetArn"] for d in forecast.list_datasets()["Datasets"]] == [keep]
    make(forecast, "gone", "RETAIL", "TARGET_TIME_SERIES", RETAIL_TARGET)  # the name is free again


def test_a_dataset_being_imported_cannot_be_deleted(server, client):
    arn = ARN.format("dataset", "importing")
    server.runtime.metadata.create(
        Resource(
            arn=arn,
            kind="forecast:dataset",
            name="importing",
            status="UPDATE_IN_PROGRESS",
            attributes={"Domain": "RETAIL", "DatasetType": "TARGET_TIME_SERIES"},
        )
    )
    forecast = client("forecast")
    with pytest.raises(forecast.exceptions.ResourceInUseException) as error:
        forecast.delete_dataset(DatasetArn=arn)
    assert "UPDATE_IN_PROGRESS" in str(error.value)


def test_dataset_groups_take_datasets_of_their_domain_one_per_type(client, wait_for_workflows):
    forecast = client("forecast")
    sales = make(
        forecast, "sales", "RETAIL", "TARGET_TIME_SERIES", RETAIL_TARGET, DataFrequency="D"
    )
    sales_v2 = make(forecast, "sales_v2", "RETAIL", "TARGET_TIME_SERIES", RETAIL_TARGET)
    prices = make(
        forecast, "prices", "RETAIL", "RELATED_TIME_SERIES", RETAIL_RELATED, DataFrequency="D"
    )
    traffic = make(
        forecast,
        "traffic",
        "WEB_TRAFFIC",
        "TARGET_TIME_SERIES",
        schema(("item_id", "string"), ("timestamp", "timestamp"), ("value", "float")),
    )

    group = forecast.create_dataset_group(
        DatasetGroupName="shop", Domain="RETAIL", DatasetArns=[sales]
    )["DatasetGroupArn"]
    assert forecast.describe_dataset_group(DatasetGroupArn=group)["DatasetArns"] == [sales]

    with pytest.raises(forecast.exceptions.InvalidInputException) as error:
        forecast.create_dataset_group(
            DatasetGroupName="mixed", Domain="RETAIL", DatasetArns=[traffic]
        )
    assert "WEB_TRAFFIC" in code_and_message(error)[1]
    with pytest.raises(forecast.exceptions.InvalidInputException) as error:
        forecast.create_dataset_group(
            DatasetGroupName="twice", Domain="RETAIL", DatasetArns=[sales, sales_v2]
        )
    assert "TARGET_TIME_SERIES" in code_and_message(error)[1]
    with pytest.raises(forecast.exceptions.InvalidInputException):
        forecast.update_dataset_group(DatasetGroupArn=group, DatasetArns=[sales, sales_v2])

    forecast.update_dataset_group(DatasetGroupArn=group, DatasetArns=[sales_v2, prices])
    assert forecast.describe_dataset_group(DatasetGroupArn=group)["DatasetArns"] == [
        sales_v2,
        prices,
    ]

    forecast.delete_dataset_group(DatasetGroupArn=group)
    wait_for_workflows()
    with pytest.raises(forecast.exceptions.ResourceNotFoundException):
        forecast.describe_dataset_group(DatasetGroupArn=group)
    for arn in (sales, sales_v2, prices, traffic):
        assert forecast.describe_dataset(DatasetArn=arn)["Status"] == "ACTIVE"
    assert len(forecast.list_datasets()["Datasets"]) == 4


def test_deleting_a_dataset_leaves_the_groups_that_list_it(client, wait_for_workflows):
    """Amazon does not update dataset groups when a dataset goes; UpdateDatasetGroup does."""
    forecast = client("forecast")
    sales = make(forecast, "sales", "RETAIL", "TARGET_TIME_SERIES", RETAIL_TARGET)
    group = forecast.create_dataset_group(
        DatasetGroupName="shop", Domain="RETAIL", DatasetArns=[sales]
    )["DatasetGroupArn"]
    forecast.delete_dataset(DatasetArn=sales)
    wait_for_workflows()
    assert forecast.describe_dataset_group(DatasetGroupArn=group)["DatasetArns"] == [sales]
    with pytest.raises(forecast.exceptions.ResourceNotFoundException):
        forecast.update_dataset_group(DatasetGroupArn=group, DatasetArns=[sales])
    forecast.update_dataset_group(DatasetGroupArn=group, DatasetArns=[])
    assert forecast.describe_dataset_group(DatasetGroupArn=group)["DatasetArns"] == []
