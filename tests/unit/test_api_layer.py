"""Parsing, validation and serialization driven by botocore's models."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from augury.api.http import HttpRequest
from augury.api.operations import OperationSet, default_registry
from augury.api.parsing import parse_rest_request, rest_operation
from augury.api.serialization import error_response, success_response, to_wire
from augury.api.service_models import operation_model, service_for_path
from augury.api.validation import validate
from augury.resources.errors import ResourceNotFound, ValidationError


def test_service_for_path_strips_the_base_path():
    spec, rest = service_for_path("/personalize-runtime/recommendations")
    assert spec.name == "personalize-runtime"
    assert rest == "/recommendations"
    assert service_for_path("/forecast/")[0].name == "forecast"
    assert service_for_path("/elsewhere") is None


def test_rest_json_request_parsing_converts_timestamps():
    request = HttpRequest(
        "POST",
        "/events",
        body=json.dumps(
            {
                "trackingId": "t",
                "sessionId": "s",
                "eventList": [{"eventType": "click", "sentAt": 1_700_000_000.5}],
                "unknownMember": 1,
            }
        ).encode(),
    )
    name, labels = rest_operation(request, "personalize-events", "/events")
    assert name == "PutEvents"
    params = parse_rest_request(request, operation_model("personalize-events", name), labels)
    assert "unknownMember" not in params
    sent = params["eventList"][0]["sentAt"]
    assert sent == datetime.fromtimestamp(1_700_000_000.5, UTC)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"DatasetGroupName": "1starts_with_digit", "Domain": "RETAIL"}, "regular expression"),
        ({"DatasetGroupName": "g", "Domain": "FOOD"}, "enum value set"),
        ({"DatasetGroupName": "g" * 64, "Domain": "RETAIL"}, "less than or equal to 63"),
        ({"Domain": "RETAIL"}, "DatasetGroupName"),
        ({"DatasetGroupName": 5, "Domain": "RETAIL"}, "DatasetGroupName"),
    ],
)
def test_validation_reports_like_amazon(params, fragment):
    shape = operation_model("forecast", "CreateDatasetGroup").input_shape
    with pytest.raises(ValidationError) as error:
        validate(params, shape)
    assert fragment in error.value.message
    assert error.value.message.startswith("1 validation error detected")


def test_validation_counts_every_problem_and_checks_nested_members():
    shape = operation_model("forecast", "CreateDatasetGroup").input_shape
    params = {
        "DatasetGroupName": "bad-name",
        "Domain": "FOOD",
        "Tags": [{"Key": "k" * 129, "Value": "v"}],
    }
    with pytest.raises(ValidationError) as error:
        validate(params, shape)
    assert error.value.message.startswith("3 validation errors detected")
    assert "tags.1.member.key" in error.value.message


@pytest.mark.parametrize(
    ("service", "operation", "params", "fragment"),
    [
        ("forecast", "ListDatasetGroups", {"MaxResults": True}, "be an integer, not a boolean"),
        (
            "forecast",
            "CreatePredictor",
            {
                "PredictorName": "p",
                "ForecastHorizon": True,
                "InputDataConfig": {"DatasetGroupArn": "arn:aws:forecast:::dataset-group/g"},
                "FeaturizationConfig": {"ForecastFrequency": "D"},
            },
            "Value 'true' at 'forecastHorizon'",
        ),
        (
            "personalize",
            "CreateCampaign",
            {
                "name": "c",
                "solutionVersionArn": "arn:aws:personalize:::solution/s/1",
                "campaignConfig": {"itemExplorationConfig": {}},
                "minProvisionedTPS": True,
            },
            "Value 'true' at 'minProvisionedTPS'",
        ),
    ],
)
def test_a_boolean_is_not_a_number(service, operation, params, fragment):
    """botocore's validator takes JSON true for 1; the service, like Amazon's, does not."""
    with pytest.raises(ValidationError) as error:
        validate(params, operation_model(service, operation).input_shape)
    assert fragment in error.value.message


def test_valid_input_passes():
    shape = operation_model("forecast", "CreateDatasetGroup").input_shape
    validate({"DatasetGroupName": "ok_name", "Domain": "RETAIL"}, shape)


def test_output_is_trimmed_to_the_shape_with_epoch_timestamps():
    operation = operation_model("forecast", "DescribeDatasetGroup")
    stamp = datetime(2024, 7, 29, 12, 0, tzinfo=UTC)
    response = success_response(
        {"DatasetGroupName": "g", "CreationTime": stamp, "InternalOnly": "secret"},
        operation,
        "rid",
    )
    body = json.loads(response.body)
    assert body == {"DatasetGroupName": "g", "CreationTime": stamp.timestamp()}
    assert response.headers["x-amzn-RequestId"] == "rid"


def test_blobs_are_base64_on_the_wire():
    shape = operation_model("personalize", "CreateSchema").input_shape
    assert to_wire({"name": "n"}, shape) == {"name": "n"}


def test_rest_json_errors_use_the_models_status_code():
    response = error_response(ResourceNotFound("gone"), "personalize-runtime", "rid")
    assert response.status == 404
    assert json.loads(response.body) == {"__type": "ResourceNotFoundException", "message": "gone"}
    assert error_response(ResourceNotFound("gone"), "forecast", "rid").status == 400


def test_operation_sets_refuse_names_not_in_the_model():
    operations = OperationSet("forecast")
    with pytest.raises(ValueError, match="no operation"):
        operations("MakeCoffee")


def test_every_registered_operation_exists_in_botocore():
    registry = default_registry()
    for service in ("forecast", "personalize"):
        for name in registry.implemented(service):
            assert operation_model(service, name).name == name
