"""``augury.clients``: stock boto3 clients that a deployed API Gateway (AWS_IAM) accepts.

A local HTTP server stands in for API Gateway: it checks each request's SigV4
signature the way API Gateway's IAM authorization does — credential scope
``<date>/<region>/execute-api/aws4_request`` and a signature recomputed over
the method, the path with its stage, the signed headers and the body — and
answers 403 otherwise. The clients from ``deployed_client`` pass for all five
services; a stock client pointed at the same URL does not.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from moto import mock_aws

from augury.clients import (
    SERVICES,
    awscli_initialize,
    deployed_client,
    deployed_clients,
    embedded_client,
    region_of,
    service_endpoint,
)

KEY, SECRET, TOKEN = "AKIDEXAMPLE", "secret-example", "token-example"
REGION = "eu-west-1"
STAGE = "v1"
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
# One successful call per service, with the path API Gateway would see.
CALLS: dict[str, tuple[str, dict[str, Any], str]] = {
    "forecast": ("list_dataset_groups", {}, f"/{STAGE}/forecast"),
    "forecastquery": (
        "query_forecast",
        {"ForecastArn": "arn:aws:forecast:eu-west-1:1:forecast/f", "Filters": {"item_id": "a"}},
        f"/{STAGE}/forecastquery",
    ),
    "personalize": ("list_dataset_groups", {}, f"/{STAGE}/personalize"),
    "personalize-runtime": (
        "get_recommendations",
        {"campaignArn": "arn:aws:personalize:eu-west-1:1:campaign/c", "userId": "u1"},
        f"/{STAGE}/personalize-runtime/recommendations",
    ),
    "personalize-events": (
        "put_events",
        {
            "trackingId": "t",
            "sessionId": "s",
            "eventList": [{"eventType": "click", "sentAt": 1_700_000_000}],
        },
        f"/{STAGE}/personalize-events/events",
    ),
}


@dataclass
class Seen:
    """What the fake gateway received: path, credential scope, and whether it accepted it."""

    path: str
    scope: dict[str, str]
    accepted: bool


@dataclass
class FakeApiGateway:
    """A SigV4-checking HTTP server (API Gateway with AWS_IAM on every method)."""

    region: str
    http: ThreadingHTTPServer | None = None
    seen: list[Seen] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        assert self.http is not None
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}/{STAGE}/"

    def verify(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Seen:
        """Accept exactly what API Gateway's IAM check would (``headers`` keyed in lower case)."""
        match = AUTHORIZATION.fullmatch(headers.get("authorization", ""))
        if not match:
            return Seen(path, {}, False)
        scope = match.groupdict()
        signed = scope["signed"].split(";")
        request = AWSRequest(
            method=method,
            url=f"http://{headers['host']}{path}",
            data=body,
            headers={name: headers[name] for name in signed},
        )
        request.context["timestamp"] = headers["x-amz-date"]
        signer = SigV4Auth(Credentials(KEY, SECRET, TOKEN), "execute-api", self.region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        accepted = (
            scope["service"] == "execute-api"
            and scope["region"] == self.region
            and scope["key"] == KEY
            and headers.get("x-amz-security-token") == TOKEN
            and expected == scope["signature"]
        )
        return Seen(path, scope, accepted)

    def start(self) -> FakeApiGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                seen = gateway.verify("POST", self.path, headers, body)
                gateway.seen.append(seen)
                if seen.accepted:
                    status, payload = 200, b"{}"
                else:  # API Gateway's own answer to a bad signature
                    status = 403
                    payload = json.dumps(
                        {"message": "The request signature we calculated does not match"}
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 403:
                    self.send_header("x-amzn-ErrorType", "InvalidSignatureException")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.http:
            self.http.shutdown()
            self.http.server_close()


@pytest.fixture
def gateway() -> Iterator[FakeApiGateway]:
    running = FakeApiGateway(REGION).start()
    yield running
    running.stop()


@pytest.fixture
def session() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        aws_session_token=TOKEN,
        region_name="us-east-1",  # deliberately not the API's region
    )


@pytest.mark.parametrize("service", SERVICES)
def test_deployed_clients_sign_for_execute_api_in_the_apis_region(gateway, session, service):
    client = deployed_client(service, api_url=gateway.api_url, region_name=REGION, session=session)
    operation, params, path = CALLS[service]
    getattr(client, operation)(**params)

    [seen] = gateway.seen
    assert seen.accepted, seen.scope
    assert seen.path == path
    assert (seen.scope["service"], seen.scope["region"]) == ("execute-api", REGION)


def test_a_stock_client_is_refused_by_the_iam_authorized_api(gateway, session):
    stock = session.client(
        "forecast", endpoint_url=service_endpoint(gateway.api_url, "forecast"), region_name=REGION
    )
    with pytest.raises(ClientError) as raised:
        stock.list_dataset_groups()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert gateway.seen[0].scope["service"] == "forecast"


def test_the_region_comes_from_an_execute_api_host_name():
    url = "https://a1b2c3d4e5.execute-api.ap-southeast-2.amazonaws.com/v1/"
    assert region_of(url) == "ap-southeast-2"
    assert region_of("https://forecast.example.com/") is None
    client = deployed_client("personalize", api_url=url)
    assert client.meta.region_name == "ap-southeast-2"
    assert client.meta.endpoint_url == url + "personalize"


def test_the_api_url_is_read_from_the_stack_outputs(monkeypatch):
    monkeypatch.delenv("AUGURY_API_URL", raising=False)
    url = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/"
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ApiUrl": {"Value": url}},
    }
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("cloudformation").create_stack(
            StackName="Augury", TemplateBody=json.dumps(template)
        )
        clients = deployed_clients(session=session)
    assert sorted(clients) == sorted(SERVICES)
    assert clients["forecastquery"].meta.endpoint_url == url + "forecastquery"
    assert clients["personalize-events"].meta.region_name == REGION


def test_unknown_services_are_refused():
    with pytest.raises(ValueError, match="not 's3'"):
        embedded_client("s3")


def test_embedded_clients_need_no_credentials(server, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    forecast = embedded_client("forecast", url=server.url)
    arn = forecast.create_dataset_group(DatasetGroupName="embedded", Domain="RETAIL")[
        "DatasetGroupArn"
    ]
    assert forecast.describe_dataset_group(DatasetGroupArn=arn)["Status"] == "ACTIVE"


class _Hooks:
    """The part of the AWS CLI's event emitter a plugin uses."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def register(self, event: str, handler: Any) -> None:
        self.handlers[event] = handler


def test_the_awscli_plugin_only_touches_calls_to_an_augury_api(monkeypatch):
    monkeypatch.delenv("AUGURY_API_URL", raising=False)
    hooks = _Hooks()
    awscli_initialize(hooks)
    assert sorted(hooks.handlers) == sorted(f"before-sign.{service}" for service in SERVICES)
    handler = hooks.handlers["before-sign.forecast"]

    amazon = AWSRequest(method="POST", url="https://forecast.eu-west-1.amazonaws.com/")
    handler(request=amazon)
    assert "signing" not in amazon.context

    augury = AWSRequest(
        method="POST", url="https://abc123.execute-api.eu-west-1.amazonaws.com/v1/forecast"
    )
    handler(request=augury)
    assert augury.context["signing"] == {"signing_name": "execute-api", "region": "eu-west-1"}

    monkeypatch.setenv("AUGURY_API_URL", "https://augury.example.com/v1/")
    custom = AWSRequest(method="POST", url="https://augury.example.com/v1/forecast")
    handler(request=custom)
    assert custom.context["signing"] == {"signing_name": "execute-api"}


def test_the_aws_cli_calls_a_deployed_api_with_the_plugin(gateway, tmp_path):
    """``aws forecast … --endpoint-url`` passes the IAM check once the plugin is enabled."""
    config = tmp_path / "config"
    config.write_text("[plugins]\naugury = augury.clients\n")
    env = {
        **os.environ,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AUGURY_API_URL": gateway.api_url,
    }
    aws = Path(sys.executable).with_name("aws")
    result = subprocess.run(
        [
            str(aws),
            "forecast",
            "list-dataset-groups",
            "--region",
            REGION,
            "--endpoint-url",
            service_endpoint(gateway.api_url, "forecast"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [seen] = gateway.seen
    assert seen.accepted, seen.scope
