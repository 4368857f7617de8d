"""moto's Lambda functions run their handlers in this process instead of in Docker.

moto executes a function by starting its runtime image in Docker, which CI
does not have. ``LambdaFunction.invoke`` is the one place every invocation goes
through (``lambda.invoke`` calls, Step Functions Lambda tasks, event sources),
so replacing it covers all of them. The replacement imports the function's
``Handler`` (``augury.handlers.workflow_step``, ``augury.handlers.events``, ...)
and answers as the Lambda service does: the handler's JSON result as the
payload, or, when it raises, an ``{"errorType", "errorMessage", "stackTrace"}``
payload with the ``X-Amz-Function-Error: Unhandled`` header. Step Functions
then matches ``ResourcePending`` and ``ResourceFailed`` by name in its Retry and
Catch exactly as on AWS.
"""

from __future__ import annotations

import importlib
import io
import json
import traceback
import uuid
import zipfile
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction

Handler = Callable[[dict[str, Any], Any], Any]


def resolve_handler(spec: str) -> Handler:
    """``package.module.function`` (Lambda's ``Handler`` setting) as a callable."""
    module, _, name = spec.rpartition(".")
    if not module:
        raise ValueError(f"handler {spec!r} is not module.function")
    return getattr(importlib.import_module(module), name)


def lambda_context(function: LambdaFunction) -> SimpleNamespace:
    """What powertools reads from a Lambda context object."""
    return SimpleNamespace(
        function_name=function.function_name,
        function_version="$LATEST",
        invoked_function_arn=function.function_arn,
        memory_limit_in_mb=int(function.memory_size or 128),
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{function.function_name}",
        log_stream_name="in-process",
        get_remaining_time_in_millis=lambda: 60_000,
    )


def _invoke_in_process(
    self: LambdaFunction, body: str, request_headers: Any, response_headers: Any
) -> bytes:
    event = json.loads(body) if body else {}
    try:
        result = resolve_handler(self.handler)(event, lambda_context(self))
    except Exception as error:
        response_headers["x-amz-function-error"] = "Unhandled"
        result = {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
    return json.dumps(result).encode()


def run_lambdas_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route every moto Lambda invocation to its handler in this process."""
    monkeypatch.setattr(LambdaFunction, "invoke", _invoke_in_process)


def placeholder_zip() -> bytes:
    """A deployment package for ``create_function``: the code itself is never run from it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the handler runs in-process\n")
    return buffer.getvalue()
