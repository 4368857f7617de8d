"""The wire layer as clients see it: routing, unknown and unimplemented operations."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError


def json_headers(operation: str) -> dict[str, str]:
    """The headers boto3 sends for one Forecast operation (JSON 1.1)."""
    return {
        "X-Amz-Target": f"AmazonForecast.{operation}",
        "Content-Type": "application/x-amz-json-1.1",
    }


def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_unimplemented_operations_answer_cleanly_not_500(client):
    forecast = client("forecast")
    with pytest.raises(ClientError) as error:
        forecast.create_what_if_analysis(
            WhatIfAnalysisName="w", ForecastArn="arn:aws:forecast:us-east-1:000000000000:forecast/f"
        )
    response = error.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["Error"]["Code"] == "NotImplementedException"
    assert "forecast:CreateWhatIfAnalysis" in response["Error"]["Message"]


@pytest.mark.parametrize(
    ("service", "call", "kwargs", "code", "status"),
    [
        (
            "personalize-runtime",
            "get_action_recommendations",
            {"campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/c", "userId": "u"},
            "ResourceNotFoundException",
            404,
        ),
        (
            "personalize-events",
            "put_action_interactions",
            {
                "trackingId": "t",
                "actionInteractions": [
                    {
                        "actionId": "a",
                        "sessionId": "s",
                        "timestamp": 1_700_000_000,
                        "eventType": "Taken",
                    }
                ],
            },
            "ResourceNotFoundException",
            404,
        ),
        (
            "forecastquery",
            "query_what_if_forecast",
            {"WhatIfForecastArn": "arn:x", "Filters": {"item_id": "1"}},
            "NotImplementedException",
            501,
        ),
    ],
)
def test_every_service_is_routed_on_its_base_path(client, service, call, kwargs, code, status):
    """Each call reaches its own operation: one that is there answers for the unknown
    campaign or tracker, one that is not answers 501."""
    with pytest.raises(ClientError) as error:
        getattr(client(service), call)(**kwargs)
    assert error.value.response["Error"]["Code"] == code
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_unknown_target_is_unknown_operation(server):
    status, body = raw_post(
        server.endpoint("forecast"),
        b"{}",
        {"X-Amz-Target": "AmazonForecast.MakeCoffee", "Content-Type": "application/x-amz-json-1.1"},
    )
    assert status == 400
    assert body["__type"] == "UnknownOperationException"
    assert "MakeCoffee" in body["message"]


def test_malformed_json_is_a_serialization_error(server):
    status, body = raw_post(
        server.endpoint("forecast"),
        b"{not json",
        json_headers("ListDatasetGroups"),
    )
    assert status == 400
    assert body["__type"] == "SerializationException"


def test_json_nested_past_any_request_is_a_serialization_error_not_a_crash(server):
    status, body = raw_post(
        server.endpoint("forecast"),
        b"[" * 100_000 + b"]" * 100_000,
        json_headers("ListDatasetGroups"),
    )
    assert status == 400
    assert body["__type"] == "SerializationException"
    assert "nested too deeply" in body["message"]


def test_a_lone_surrogate_is_a_serialization_error_and_a_pair_is_a_character(server):
    headers = json_headers("DescribeDatasetGroup")
    lone = b'{"DatasetGroupArn": "arn:aws:forecast:us-east-1:000000000000:dataset-group/x\\ud800"}'
    status, body = raw_post(server.endpoint("forecast"), lone, headers)
    assert (status, body["__type"]) == (400, "SerializationException")
    assert "lone UTF-16 surrogate" in body["message"]
    pair = lone.replace(b"\\ud800", b"\\ud83d\\ude00")
    status, body = raw_post(server.endpoint("forecast"), pair, headers)
    assert (status, body["__type"]) == (400, "ResourceNotFoundException")


def test_json_operations_are_posts(server):
    request = urllib.request.Request(
        server.endpoint("forecast"),
        headers={"X-Amz-Target": "AmazonForecast.ListDatasetGroups"},
        method="GET",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    body = json.loads(raised.value.read())
    assert raised.value.code == 400 and body["__type"] == "UnknownOperationException"
    assert "takes its operations as POST requests; got GET" in body["message"]


def test_a_json_boolean_is_not_taken_for_a_number(server):
    status, body = raw_post(
        server.endpoint("forecast"),
        json.dumps({"MaxResults": True}).encode(),
        json_headers("ListDatasetGroups"),
    )
    assert status == 400
    assert body["__type"] == "ValidationException"
    assert "Value 'true' at 'maxResults'" in body["message"]
    assert "must be an integer, not a boolean" in body["message"]


@pytest.mark.parametrize("sent_at", ["1e12", "1e20", "-1e15", "NaN", "Infinity", '"1e400"'])
def test_a_timestamp_no_clock_can_show_is_a_serialization_error(server, sent_at):
    """Milliseconds sent as seconds (1e12) and non-numbers reach past what a datetime
    holds: the client's mistake, answered 400, never a crash."""
    body = (
        '{"trackingId": "t", "sessionId": "s", "eventList": '
        f'[{{"eventType": "click", "sentAt": {sent_at}}}]}}'
    )
    status, answer = raw_post(
        f"{server.url}/personalize-events/events",
        body.encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 400
    assert answer["__type"] == "SerializationException"
    assert "seconds since the epoch" in answer["message"]


def test_unknown_base_path_is_404_with_a_hint(server):
    status, body = raw_post(f"{server.url}/nothing-here", b"{}", {})
    assert status == 404
    assert "/forecast" in body["message"]


def test_unknown_rest_route(server):
    status, body = raw_post(f"{server.url}/personalize-runtime/no-such-route", b"{}", {})
    assert status == 400
    assert body["__type"] == "UnknownOperationException"


def test_missing_required_member_is_a_validation_error(server):
    status, body = raw_post(
        server.endpoint("forecast"),
        b"{}",
        {
            "X-Amz-Target": "AmazonForecast.DescribeDatasetGroup",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert status == 400
    assert body["__type"] == "ValidationException"
    assert "DatasetGroupArn" in body["message"]


def test_enum_violation_is_a_validation_error(server):
    status, body = raw_post(
        server.endpoint("forecast"),
        json.dumps({"DatasetGroupName": "g", "Domain": "GROCERIES"}).encode(),
        {
            "X-Amz-Target": "AmazonForecast.CreateDatasetGroup",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert status == 400
    assert body["__type"] == "ValidationException"
    assert "enum value set" in body["message"]
    assert "RETAIL" in body["message"]
