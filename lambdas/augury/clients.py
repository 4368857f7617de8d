"""Stock boto3 clients for Augury's five services: embedded, or a stack deployed on AWS.

Existing Amazon Forecast and Amazon Personalize code runs unchanged against
Augury except for the line that creates the client::

    from augury.clients import deployed_client, embedded_client

    forecast = deployed_client("forecast")              # the "Augury" stack's API
    forecast = embedded_client("forecast")              # augury serve on 127.0.0.1:8080

Both return the plain ``botocore`` client boto3 would, with ``endpoint_url``
set to the service's base path (``<api>/forecast``, ``<api>/personalize-runtime``, …).

Why a deployed client needs more than ``endpoint_url``: the deployed REST API
uses API Gateway's AWS_IAM authorization, which checks a SigV4 signature whose
credential scope names the service ``execute-api``. A stock client signs for
its own service (``forecast``, ``personalize``…) and API Gateway answers 403.
The client therefore gets a ``before-sign`` handler that sets the signing name
to ``execute-api`` (and the signing region to the API's region); everything
else — the wire protocol, the operation, the credentials chain, retries — is
boto3's own. The same handler is offered to the AWS CLI as a plugin
(``awscli_initialize``), so ``aws forecast … --endpoint-url <api>/forecast``
works against a deployed stack too.

Embedded mode checks no signature, so its clients are unsigned and need no
credentials at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore
from botocore.client import BaseClient
from botocore.config import Config

SERVICES = (
    "forecast",
    "forecastquery",
    "personalize",
    "personalize-runtime",
    "personalize-events",
)
EXECUTE_API = "execute-api"
DEFAULT_STACK = "Augury"
API_URL_OUTPUT = "ApiUrl"
API_URL_ENV = "AUGURY_API_URL"
DEFAULT_EMBEDDED_URL = "http://127.0.0.1:8080"
EMBEDDED_REGION = "us-east-1"

# https://<api-id>.execute-api.<region>.amazonaws.com[.cn]/<stage>/
_EXECUTE_API_HOST = re.compile(
    r"^[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)


def deployed_client(
    service: str,
    *,
    api_url: str | None = None,
    stack_name: str = DEFAULT_STACK,
    region_name: str | None = None,
    session: boto3.Session | None = None,
    config: Config | None = None,
) -> BaseClient:
    """A stock client for ``service`` on a deployed Augury stack, signing for API Gateway.

    The API is, in order: ``api_url``; the ``AUGURY_API_URL`` environment
    variable; the ``ApiUrl`` output of CloudFormation stack ``stack_name``
    (read with ``session``'s credentials). The signing region is
    ``region_name``, else the one in an ``execute-api`` host name, else the
    session's region (a custom domain name carries no region).
    """
    _check_service(service)
    session = session or boto3.Session()
    url = (
        api_url
        or os.environ.get(API_URL_ENV)
        or api_url_from_stack(stack_name, session=session, region_name=region_name)
    )
    region = region_name or region_of(url) or session.region_name
    if not region:
        raise ValueError(
            f"cannot tell the region of {url!r}: pass region_name= (the stack's region)"
        )
    client = session.client(
        service, endpoint_url=service_endpoint(url, service), region_name=region, config=config
    )
    sign_for_execute_api(client, region)
    return client


def deployed_clients(
    services: Iterable[str] = SERVICES,
    *,
    api_url: str | None = None,
    stack_name: str = DEFAULT_STACK,
    region_name: str | None = None,
    session: boto3.Session | None = None,
    config: Config | None = None,
) -> dict[str, BaseClient]:
    """``{service: client}`` for a deployed stack, reading its outputs once."""
    session = session or boto3.Session()
    url = (
        api_url
        or os.environ.get(API_URL_ENV)
        or api_url_from_stack(stack_name, session=session, region_name=region_name)
    )
    return {
        service: deployed_client(
            service, api_url=url, region_name=region_name, session=session, config=config
        )
        for service in services
    }


def embedded_client(
    service: str,
    *,
    url: str = DEFAULT_EMBEDDED_URL,
    region_name: str = EMBEDDED_REGION,
    config: Config | None = None,
) -> BaseClient:
    """A stock, unsigned client for ``service`` on ``augury serve`` at ``url``.

    Embedded mode binds 127.0.0.1 and checks no signature, so the client sends
    none and works on a machine without AWS credentials.
    """
    _check_service(service)
    unsigned = Config(signature_version=botocore.UNSIGNED)
    return boto3.client(
        service,
        endpoint_url=service_endpoint(url, service),
        region_name=region_name,
        config=unsigned.merge(config) if config else unsigned,
    )


def api_url_from_stack(
    stack_name: str = DEFAULT_STACK,
    *,
    session: boto3.Session | None = None,
    region_name: str | None = None,
) -> str:
    """The ``ApiUrl`` output of the deployed stack (``cdk deploy`` prints it too)."""
    session = session or boto3.Session()
    cloudformation = session.client("cloudformation", region_name=region_name)
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if API_URL_OUTPUT not in outputs:
        raise LookupError(f"stack {stack_name!r} has no {API_URL_OUTPUT} output: is it Augury?")
    return outputs[API_URL_OUTPUT]


def service_endpoint(api_url: str, service: str) -> str:
    """``https://…/v1/`` + ``forecast`` → ``https://…/v1/forecast`` (each service's base path)."""
    return f"{api_url.rstrip('/')}/{service}"


def region_of(url: str) -> str | None:
    """The region in an ``execute-api`` URL's host name, or None for any other host."""
    match = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return match.group("region") if match else None


def sign_for_execute_api(client: BaseClient, region: str) -> BaseClient:
    """Make ``client`` sign each request for API Gateway (service ``execute-api``) in ``region``."""
    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-sign.{service_id}", _execute_api_signer(region))
    return client


def _execute_api_signer(region: str | None) -> Callable[..., None]:
    """A ``before-sign`` handler: botocore signs with the name and region in the context."""

    def before_sign(request: Any, **_: Any) -> None:
        signing = request.context.setdefault("signing", {})
        signing["signing_name"] = EXECUTE_API
        if region:
            signing["region"] = region

    return before_sign


def awscli_initialize(event_hooks: Any) -> None:
    """AWS CLI v1 plugin: sign for ``execute-api`` when a call goes to a deployed Augury API.

    Enable it once in ``~/.aws/config``::

        [plugins]
        augury = augury.clients

    It changes a request's signature only when the request goes to an
    ``*.execute-api.<region>.amazonaws.com`` host, or under ``AUGURY_API_URL``
    (a custom domain name); calls to Amazon's own services are left alone.
    """
    for service in SERVICES:
        event_hooks.register(f"before-sign.{service}", _cli_before_sign)


def _cli_before_sign(request: Any, **kwargs: Any) -> None:
    region = region_of(request.url)
    custom = os.environ.get(API_URL_ENV, "").rstrip("/")
    if region is None and not (custom and request.url.startswith(custom + "/")):
        return
    _execute_api_signer(region)(request, **kwargs)


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise ValueError(f"Augury serves {', '.join(SERVICES)}; not {service!r}")
