"""Stock boto3 clients whose requests reach ``augury.handlers.api`` as API Gateway proxy events.

moto's API Gateway cannot call a Lambda function, so the test plays API
Gateway. Clients are made as users make them for a deployed stack,
``augury.clients.deployed_client`` on the stage URL
(``https://<api>.execute-api.<region>.amazonaws.com/<stage>``), and a
``before-send`` hook takes each signed HTTP request where API Gateway would:

- AWS_IAM authorization: a request without a SigV4 signature, or one whose
  credential scope is not ``<region>/execute-api``, is refused with 403 as API
  Gateway refuses it (the signature itself is not verified: moto's
  credentials are dummies);
- the request becomes the REST API proxy event (stage stripped from ``path``,
  headers and query string in single and multi-value forms, a binary body
  base64 encoded), the handler is called, and its ``{"statusCode", "headers",
  "body"}`` goes back to botocore as the HTTP response.

Serialisation, error parsing and the ``client.exceptions`` classes are
therefore botocore's own, as for a user of the deployed API.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config

from augury.clients import SERVICES, deployed_client

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")


class _Body:
    """The raw-response object botocore reads ``content`` from."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class ApiGateway:
    """One deployed REST API stage in front of the API Lambda handler."""

    def __init__(
        self,
        handler: Handler,
        *,
        region: str,
        account: str,
        api_id: str = "augury1234",
        stage: str = "prod",
    ) -> None:
        self.handler = handler
        self.region = region
        self.account = account
        self.api_id = api_id
        self.stage = stage
        self.host = f"{api_id}.execute-api.{region}.amazonaws.com"
        self.requests: list[dict[str, Any]] = []
        """Every proxy event sent, in order."""

    @property
    def url(self) -> str:
        """The stage URL: the stack's ``ApiUrl`` output."""
        return f"https://{self.host}/{self.stage}/"

    def client(self, service: str) -> Any:
        if service not in SERVICES:
            raise ValueError(f"the API has no base path for {service!r}")
        client = deployed_client(
            service,
            api_url=self.url,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        return self.attach(client)

    def attach(self, client: Any) -> Any:
        """Send ``client``'s requests through this API (any client, signed or not)."""
        client.meta.events.register_first("before-send", self._send)
        return client

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        refusal = self._authorize(request)
        if refusal is not None:
            return refusal
        event = self.proxy_event(request)
        self.requests.append(event)
        answer = self.handler(event, _context(self.region, self.account))
        headers = dict(answer.get("headers") or {})
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers.setdefault(name, ",".join(values))
        body = answer.get("body") or ""
        data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        return AWSResponse(request.url, int(answer["statusCode"]), headers, _Body(data))

    def _authorize(self, request: AWSPreparedRequest) -> AWSResponse | None:
        """AWS_IAM authorization's refusals (API Gateway's status, type and message)."""
        header = request.headers.get("Authorization")
        header = header.decode() if isinstance(header, bytes) else header
        if not header:
            return _refusal(
                request, "MissingAuthenticationTokenException", "Missing Authentication Token"
            )
        scope = _SCOPE.search(header)
        if scope is None or scope["service"] != "execute-api":
            message = "Credential should be scoped to correct service: 'execute-api'. "
            return _refusal(request, "InvalidSignatureException", message)
        if scope["region"] != self.region:
            message = f"Credential should be scoped to a valid region, not '{scope['region']}'. "
            return _refusal(request, "InvalidSignatureException", message)
        return None

    def proxy_event(self, request: AWSPreparedRequest) -> dict[str, Any]:
        """The REST API (v1) Lambda proxy integration event for ``request``."""
        url = urlsplit(request.url)
        stage_prefix = f"/{self.stage}"
        path = url.path[len(stage_prefix) :] if url.path.startswith(stage_prefix) else url.path
        headers = {
            name: value.decode() if isinstance(value, bytes) else str(value)
            for name, value in request.headers.items()
        }
        query = parse_qs(url.query, keep_blank_values=True)
        raw = request.body or b""
        raw = raw.encode() if isinstance(raw, str) else bytes(raw)
        try:
            body, encoded = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(raw).decode(), True
        base = path.split("/")[1] if path.count("/") else path
        request_id = str(uuid.uuid4())
        return {
            "resource": f"/{base}/{{proxy+}}",
            "path": path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": {"proxy": path.removeprefix(f"/{base}/")},
            "stageVariables": None,
            "requestContext": {
                "accountId": self.account,
                "apiId": self.api_id,
                "domainName": self.host,
                "httpMethod": request.method,
                "identity": {
                    "accessKey": "testing",
                    "caller": "AROATESTING:tester",
                    "sourceIp": "127.0.0.1",
                    "userAgent": headers.get("User-Agent", ""),
                    "userArn": f"arn:aws:sts::{self.account}:assumed-role/tester/tester",
                },
                "path": f"{stage_prefix}{path}",
                "protocol": "HTTP/1.1",
                "requestId": request_id,
                "resourcePath": f"/{base}/{{proxy+}}",
                "stage": self.stage,
            },
            "body": body or None,
            "isBase64Encoded": encoded,
        }


def _refusal(request: AWSPreparedRequest, error_type: str, message: str) -> AWSResponse:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}
    body = json.dumps({"message": message}).encode()
    return AWSResponse(request.url, 403, headers, _Body(body))


def _context(region: str, account: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name="augury-api",
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:augury-api",
        memory_limit_in_mb=1024,
        aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/augury-api",
        log_stream_name="in-process",
        get_remaining_time_in_millis=lambda: 29_000,
    )
