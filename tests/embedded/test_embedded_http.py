"""The embedded server's HTTP edges: framing, limits, stopping, one server per data dir."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from augury.embedded.data_lock import DataDirectoryInUse
from augury.embedded.server import MAX_BODY_BYTES, EmbeddedServer, create_server
from augury.forecast.resource_types import DATASET_GROUP

LIST_GROUPS = {
    "X-Amz-Target": "AmazonForecast.ListDatasetGroups",
    "Content-Type": "application/x-amz-json-1.1",
}


def _connection(server: EmbeddedServer) -> http.client.HTTPConnection:
    address = urlsplit(server.url)
    return http.client.HTTPConnection(address.hostname, address.port, timeout=10)


def _answer(connection: http.client.HTTPConnection) -> tuple[int, dict, dict]:
    response = connection.getresponse()
    body = response.read()
    return response.status, dict(response.getheaders()), json.loads(body) if body else {}


def test_a_content_length_that_is_not_a_count_of_bytes_is_a_serialization_error(server):
    for length in ("abc", "-1", "+2"):
        connection = _connection(server)
        connection.putrequest("POST", "/forecast")
        for key, value in {**LIST_GROUPS, "Content-Length": length}.items():
            connection.putheader(key, value)
        connection.endheaders()
        status, headers, body = _answer(connection)
        assert status == 400
        assert body["__type"] == "SerializationException"
        assert f"Content-Length '{length}' is not a number of bytes" in body["message"]
        assert headers["Connection"] == "close"


def test_two_different_content_lengths_are_refused(server):
    """Which one would frame the body? A smuggling attempt or a broken client: neither
    is served."""
    connection = _connection(server)
    connection.putrequest("POST", "/forecast", skip_accept_encoding=True)
    for key, value in LIST_GROUPS.items():
        connection.putheader(key, value)
    connection.putheader("Content-Length", "2")
    connection.putheader("Content-Length", "5")
    connection.endheaders(b"{}")
    status, headers, body = _answer(connection)
    assert status == 400 and body["__type"] == "SerializationException"
    assert "different Content-Length" in body["message"]
    assert headers["Connection"] == "close"


def test_a_body_over_api_gateways_limit_is_refused_in_amazons_error_shape(server):
    connection = _connection(server)
    connection.putrequest("POST", "/forecast")
    for key, value in {**LIST_GROUPS, "Content-Length": str(MAX_BODY_BYTES + 1)}.items():
        connection.putheader(key, value)
    connection.endheaders()  # the body is never sent: the answer comes first
    status, headers, body = _answer(connection)
    assert status == 413
    assert headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert "send the data through S3" in body["message"]


def test_a_chunked_body_is_read(server):
    connection = _connection(server)
    connection.request(
        "POST",
        "/forecast",
        body=iter([b'{"MaxRes', b'ults": 5}']),
        headers={**LIST_GROUPS, "X-Amz-Target": "AmazonForecast.ListDatasetGroups"},
        encode_chunked=True,
    )
    status, _, body = _answer(connection)
    assert status == 200 and body == {"DatasetGroups": []}
    connection.request("POST", "/forecast", body=b"{}", headers=LIST_GROUPS)  # still in step
    assert _answer(connection)[0] == 200


def test_head_is_answered_without_a_body(server):
    connection = _connection(server)
    connection.request("HEAD", "/forecast")
    response = connection.getresponse()
    assert response.status == 400 and response.read() == b""
    connection.request("POST", "/forecast", body=b"{}", headers=LIST_GROUPS)  # framing intact
    assert _answer(connection)[0] == 200


def test_once_stopping_every_request_gets_a_503_and_changes_nothing(server):
    connection = _connection(server)
    connection.request("POST", "/forecast", body=b"{}", headers=LIST_GROUPS)
    assert _answer(connection)[0] == 200
    assert server.in_flight.drain(timeout=5)  # what stop() does first
    create = {
        "X-Amz-Target": "AmazonForecast.CreateDatasetGroup",
        "Content-Type": "application/x-amz-json-1.1",
    }
    body = json.dumps({"DatasetGroupName": "late", "Domain": "RETAIL"}).encode()
    connection.request("POST", "/forecast", body=body, headers=create)  # a kept-alive connection
    status, headers, answer = _answer(connection)
    assert status == 503 and answer["__type"] == "ServiceUnavailableException"
    assert headers["Connection"] == "close"
    assert server.runtime.metadata.list(kind=DATASET_GROUP.kind).items == []


def test_a_second_server_on_one_data_directory_refuses_to_start(tmp_path):
    first = create_server(tmp_path / "data", port=0).start_in_background()
    try:
        with pytest.raises(DataDirectoryInUse, match="in use by another Augury server"):
            create_server(tmp_path / "data", port=0)
    finally:
        first.stop()
    second = create_server(tmp_path / "data", port=0).start_in_background()  # free again
    second.stop()


def test_a_start_clears_the_scratch_space_a_crash_left(tmp_path):
    """Steps stage files under <data>/scratch; what a killed process left there goes."""
    leftover = tmp_path / "data" / "scratch" / "augury-import-crashed" / "big.csv"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"x" * 1024)
    server = create_server(tmp_path / "data", port=0).start_in_background()
    try:
        assert not leftover.parent.exists()
    finally:
        server.stop()
