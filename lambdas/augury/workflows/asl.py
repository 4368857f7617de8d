"""Compile a workflow definition into Amazon States Language.

This is how a workflow stays defined once: the CDK app (and the moto tests)
turn the same ``Workflow`` the local runner executes into a Step Functions
state machine. Every step becomes a Task state that invokes the workflow-step
Lambda (``augury.handlers.workflow_step``) with ``{"workflow", "step",
"state"}``; the Lambda runs that one step and returns the new state.

Invocation style: the optimised integration ``arn:<partition>:states:::lambda:invoke``
with ``Payload`` and ``OutputPath: $.Payload``. It is what AWS recommends for new
state machines (and what CDK's ``LambdaInvoke`` emits), its transient errors have
stable ``Lambda.*`` names to retry on, and moto's engine executes it through the
same ``lambda.invoke`` call as real Step Functions. A function error surfaces as
an error named after the Lambda's ``errorType``, so ``ResourcePending`` and
``ResourceFailed`` are matched by name in Retry and Catch.

Pure Python on purpose: the Lambda bundle must not need CDK.
"""

from __future__ import annotations

import math
from typing import Any

from augury.workflows.definition import FAILURE_STEP, Retry, Step, Workflow


def lambda_invoke(partition: str = "aws") -> str:
    """The optimised Lambda integration's ARN in ``partition`` (``aws``, ``aws-cn``,
    ``aws-us-gov``; in CDK the ``AWS::Partition`` token, so one template deploys in any)."""
    return f"arn:{partition}:states:::lambda:invoke"


LAMBDA_INVOKE = lambda_invoke()

TRANSIENT_LAMBDA_ERRORS = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)
"""The errors AWS documents as worth retrying for any Lambda task (Step Functions'
best practices: the service exceptions)."""
THROTTLE_ERRORS = ("Lambda.TooManyRequestsException",)
"""The throttle of a busy account, retried for longer (:func:`_throttle_retry`)."""
THROTTLE_MAX_DELAY_SECONDS = 60
THROTTLE_MAX_ATTEMPTS = 20
"""With the delay capped at a minute, about a quarter of an hour of retrying: the workflow
step shares the region's Lambda concurrency with every function in the account, and a
burst elsewhere must not fail a training that has run for hours."""

FAILURE_STATE = FAILURE_STEP
"""The Task state that runs the workflow's failure handler (``run_failure``)."""
FAILED_STATE = "Failed"
SUCCEEDED_STATE = "Succeeded"
ERROR_PATH = "$.error"
"""Where a Catch puts ``{"Error", "Cause"}``; the workflow-step Lambda reads it there."""

_MAX_INTEGER = 99_999_999
"""Step Functions' upper bound for IntervalSeconds and MaxAttempts."""
_MAX_DELAY_SECONDS = 31_622_400


def state_machine_name(prefix: str, workflow_name: str) -> str:
    """The state machine a workflow compiles to; ``StepFunctionsEngine`` builds its ARN."""
    name = f"{prefix}{workflow_name}"
    if not 1 <= len(name) <= 80:
        raise ValueError(f"state machine name {name!r} must be 1 to 80 characters")
    return name


def compile_workflow(
    workflow: Workflow, step_function_arn: str, *, partition: str = "aws"
) -> dict[str, Any]:
    """The state machine definition (ASL, as a dict) for ``workflow``.

    ``step_function_arn`` is the workflow-step Lambda's ARN and ``partition`` the
    partition of the integration ARN (:func:`lambda_invoke`); in CDK both are tokens
    that CloudFormation resolves, so they are only ever placed, never parsed.
    """
    if not workflow.steps:
        raise ValueError(f"workflow {workflow.name!r} has no steps")
    reserved = {FAILURE_STATE, FAILED_STATE, SUCCEEDED_STATE}
    names = [step.name for step in workflow.steps]
    clashes = reserved.intersection(names)
    if clashes:
        raise ValueError(f"workflow {workflow.name!r} uses reserved step names {sorted(clashes)}")
    if len(set(names)) != len(names):
        raise ValueError(f"workflow {workflow.name!r} has duplicate step names")

    states: dict[str, Any] = {}
    for index, step in enumerate(workflow.steps):
        following = names[index + 1] if index + 1 < len(names) else SUCCEEDED_STATE
        states[step.name] = _step_state(
            workflow.name, step, step_function_arn, following, partition
        )
    failure = _invoke(workflow.name, FAILURE_STEP, step_function_arn, partition)
    # The handler's output is discarded (ResultPath null, no OutputPath), so the
    # Fail state reads the original error from $.error whatever the handler returns.
    # Handlers are idempotent (they set a failed status), so any error is retried.
    # Past that there is deliberately no Catch: the execution then fails with the
    # handler's own error, which is what the operator must act on (the resource
    # could not be marked failed); the step's error stays in the execution history.
    del failure["OutputPath"]
    states[FAILURE_STATE] = {
        **failure,
        "Comment": "Marks the resource failed with the reason from $.error",
        "ResultPath": None,
        "Retry": [_transient_retry(), _throttle_retry(), _handler_retry()],
        "Next": FAILED_STATE,
    }
    states[FAILED_STATE] = {
        "Type": "Fail",
        "Comment": "The execution fails with the error that ended the workflow",
        "ErrorPath": f"{ERROR_PATH}.Error",
        "CausePath": f"{ERROR_PATH}.Cause",
    }
    states[SUCCEEDED_STATE] = {"Type": "Succeed"}
    return {
        "Comment": f"Augury workflow {workflow.name}, compiled by augury.workflows.asl",
        "StartAt": names[0],
        "States": states,
    }


def _invoke(
    workflow_name: str, step_name: str, function_arn: str, partition: str
) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": lambda_invoke(partition),
        "Parameters": {
            "FunctionName": function_arn,
            "Payload": {"workflow": workflow_name, "step": step_name, "state.$": "$"},
        },
        "OutputPath": "$.Payload",
    }


def _step_state(
    workflow_name: str, step: Step, function_arn: str, following: str, partition: str
) -> dict[str, Any]:
    state = _invoke(workflow_name, step.name, function_arn, partition)
    state["Retry"] = [_pending_retry(step.retry), _transient_retry(), _throttle_retry()]
    state["Catch"] = [
        {"ErrorEquals": ["States.ALL"], "ResultPath": ERROR_PATH, "Next": FAILURE_STATE}
    ]
    state["Next"] = following
    return state


def _pending_retry(retry: Retry) -> dict[str, Any]:
    """The step's ``Retry`` in Step Functions' terms.

    Step Functions counts retries after the first attempt and wants whole
    seconds of at least one; the local runner counts attempts including the
    first. Both give up after ``retry.max_attempts`` calls in total.
    """
    interval = min(max(1, math.ceil(retry.interval_seconds)), _MAX_INTEGER)
    max_delay = min(max(interval, math.ceil(retry.max_interval_seconds)), _MAX_DELAY_SECONDS)
    return {
        "ErrorEquals": ["ResourcePending"],
        "IntervalSeconds": interval,
        "BackoffRate": max(1.0, float(retry.backoff_rate)),
        "MaxAttempts": min(max(0, retry.max_attempts - 1), _MAX_INTEGER),
        "MaxDelaySeconds": max_delay,
    }


def _handler_retry() -> dict[str, Any]:
    """Any other error of the failure handler: a few spaced attempts (a throttled table,
    a store briefly out of reach), up to 14 s of waiting. ``States.ALL`` must come last."""
    return {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": 2,
        "BackoffRate": 2.0,
        "MaxAttempts": 3,
        "JitterStrategy": "FULL",
    }


def _throttle_retry() -> dict[str, Any]:
    return {
        "ErrorEquals": list(THROTTLE_ERRORS),
        "IntervalSeconds": 2,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": THROTTLE_MAX_DELAY_SECONDS,
        "MaxAttempts": THROTTLE_MAX_ATTEMPTS,
        "JitterStrategy": "FULL",
    }


def _transient_retry() -> dict[str, Any]:
    return {
        "ErrorEquals": list(TRANSIENT_LAMBDA_ERRORS),
        "IntervalSeconds": 1,
        "BackoffRate": 2.0,
        "MaxAttempts": 6,
        "JitterStrategy": "FULL",
    }
