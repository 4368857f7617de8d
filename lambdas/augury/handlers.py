"""Lambda entry points, thin: everything real happens in the dispatch path.

``api`` serves API Gateway proxy events through the same ``Dispatcher`` as the
embedded server; ``workflow_step`` is the one Lambda every compiled Step
Functions state machine invokes, once per step; ``events`` consumes the
Kinesis stream PutEvents, PutUsers and PutItems publish to, ``compact_events``
merges the files it leaves, on a schedule, and ``retrain_recommenders`` starts the
weekly retraining of recommenders, on another. The runtime is built on the
first invocation and reused while the container lives.
"""

from __future__ import annotations

import base64
import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from augury.api.dispatch import Dispatcher
from augury.api.http import HttpRequest
from augury.api.operations import default_registry
from augury.bootstrap import bootstrap
from augury.ports import Caller
from augury.runtime import Runtime
from augury.settings import Settings
from augury.workflows.definition import FAILURE_STEP
from augury.workflows.execution import reason_from_step_functions_error, run_failure, run_step

logger = Logger(service="augury")
tracer = Tracer(service="augury")
metrics = Metrics(namespace="Augury", service="augury")
app = APIGatewayRestResolver()


@cache
def runtime() -> Runtime:
    return bootstrap(Settings.from_env())


@cache
def dispatcher() -> Dispatcher:
    return Dispatcher(runtime(), default_registry())


@app.route(".+", method=["GET", "POST", "PUT", "DELETE", "PATCH"])
def dispatch_any() -> Response:
    event = app.current_event
    body = event.body or ""
    raw = base64.b64decode(body) if event.is_base64_encoded else body.encode()
    request = HttpRequest(
        method=event.http_method,
        path=event.path,
        headers=dict(event.headers or {}),
        query={k: list(v) for k, v in (event.multi_value_query_string_parameters or {}).items()},
        body=raw,
        caller=_caller(event.raw_event),
    )
    response = dispatcher().handle(request)
    metrics.add_metric(name=f"Status{response.status // 100}xx", unit=MetricUnit.Count, value=1)
    return Response(
        status_code=response.status,
        content_type=response.headers.get("Content-Type", "application/json"),
        body=response.body.decode(),
        headers={k: v for k, v in response.headers.items() if k != "Content-Type"},
    )


def _caller(event: dict[str, Any]) -> Caller | None:
    """Who API Gateway's AWS_IAM authorization found behind the request's signature."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    arn = identity.get("userArn")
    return Caller(arn=arn, source_ip=identity.get("sourceIp")) if arn else None


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def api(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def workflow_step(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one workflow step: ``{"workflow", "step", "state"}`` in, the new state out.

    ``ResourcePending`` and ``ResourceFailed`` propagate as the Lambda's error
    type, which the state machine's Retry and Catch match by name. The step learns
    when the invocation times out, so work too long for one invocation can go on in
    the next (``execution.seconds_left``).
    """
    name, step, state = event["workflow"], event["step"], event.get("state") or {}
    if step == FAILURE_STEP:
        reason = reason_from_step_functions_error(state.get("error"))
        run_failure(runtime(), name, state, reason)
        return state
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    return run_step(runtime(), name, step, state, deadline=deadline)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def events(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Apply a Kinesis batch of Personalize events; failures are reported per batch item."""
    from augury.personalize.event_consumer import handle_kinesis_event

    return handle_kinesis_event(
        runtime(), event, seconds_left=lambda: context.get_remaining_time_in_millis() / 1000
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def retrain_recommenders(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start retraining the recommenders whose model is 7 days old (an hourly schedule)."""
    from augury.personalize.recommender_retraining import retrain_due

    started = retrain_due(runtime(), release_stale=True)
    logger.info("retraining recommenders", extra={"started": started})
    return {"started": started}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def compact_events(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Merge every dataset group's settled event files (an EventBridge schedule invokes it)."""
    from augury.personalize.event_compaction import compact_all

    # A minute to spare: a merge under way when the deadline passes still has to finish.
    seconds = context.get_remaining_time_in_millis() / 1000 - 60
    merges = compact_all(runtime(), deadline=time.monotonic() + seconds)
    summary = {
        "merges": len(merges),
        "filesMerged": sum(merge.sources for merge in merges),
        "rowsKept": sum(merge.rows_out for merge in merges),
    }
    logger.info("compacted recorded events", extra=summary)
    return summary
