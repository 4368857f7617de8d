"""The ASL compiler: one Task per step, Retry on ResourcePending, Catch to the failure handler.

The end-to-end proof that the compiled machine runs the same steps is
``tests/aws/test_workflow_state_machine.py``; these tests pin the shape.
"""

from __future__ import annotations

import json

import pytest

from augury.workflows.asl import (
    FAILED_STATE,
    FAILURE_STATE,
    LAMBDA_INVOKE,
    SUCCEEDED_STATE,
    THROTTLE_ERRORS,
    TRANSIENT_LAMBDA_ERRORS,
    compile_workflow,
    state_machine_name,
)
from augury.workflows.catalog import WORKFLOWS
from augury.workflows.definition import FAILURE_STEP, Retry, Step, Workflow

ARN = "arn:aws:lambda:us-east-1:123456789012:function:augury-workflow-step"


def _noop(runtime, state):
    return None


def _noop_failure(runtime, state, reason):
    return None


TWO_STEPS = Workflow(
    name="two-steps",
    steps=(
        Step(
            "first",
            _noop,
            Retry(interval_seconds=0.2, backoff_rate=1.5, max_interval_seconds=30, max_attempts=10),
        ),
        Step("second", _noop),
    ),
    on_failure=_noop_failure,
)


def test_steps_are_chained_in_order_and_end_in_succeed() -> None:
    asl = compile_workflow(TWO_STEPS, ARN)
    states = asl["States"]
    assert asl["StartAt"] == "first"
    assert states["first"]["Next"] == "second"
    assert states["second"]["Next"] == SUCCEEDED_STATE
    assert states[SUCCEEDED_STATE] == {"Type": "Succeed"}


def test_each_step_invokes_the_workflow_step_lambda_with_its_name_and_the_state() -> None:
    state = compile_workflow(TWO_STEPS, ARN)["States"]["second"]
    assert state["Type"] == "Task"
    assert state["Resource"] == LAMBDA_INVOKE
    assert state["Parameters"] == {
        "FunctionName": ARN,
        "Payload": {"workflow": "two-steps", "step": "second", "state.$": "$"},
    }
    assert state["OutputPath"] == "$.Payload"


def test_resource_pending_is_retried_with_the_steps_retry_in_whole_seconds() -> None:
    pending, transient, throttle = compile_workflow(TWO_STEPS, ARN)["States"]["first"]["Retry"]
    assert pending == {
        "ErrorEquals": ["ResourcePending"],
        "IntervalSeconds": 1,  # Step Functions' minimum; 0.2 s rounds up
        "BackoffRate": 1.5,
        "MaxAttempts": 9,  # retries after the first call: 10 calls in all, as locally
        "MaxDelaySeconds": 30,
    }
    assert transient["ErrorEquals"] == list(TRANSIENT_LAMBDA_ERRORS)
    assert "Lambda.TooManyRequestsException" not in transient["ErrorEquals"]
    # a busy account's throttle is waited out for longer: up to about 16 minutes
    assert throttle["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    delays = [
        min(throttle["IntervalSeconds"] * throttle["BackoffRate"] ** k, throttle["MaxDelaySeconds"])
        for k in range(throttle["MaxAttempts"])
    ]
    assert 900 <= sum(delays) <= 1200


def test_any_error_is_caught_into_the_failure_handler_then_fails() -> None:
    states = compile_workflow(TWO_STEPS, ARN)["States"]
    for name in ("first", "second"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILURE_STATE}
        ]
    failure = states[FAILURE_STATE]
    assert failure["Parameters"]["Payload"]["step"] == FAILURE_STEP
    assert failure["ResultPath"] is None  # keeps $.error for the Fail state
    assert "OutputPath" not in failure
    assert "Catch" not in failure  # a handler that cannot mark the resource fails the run
    transient, throttle, anything = failure["Retry"]
    assert transient["ErrorEquals"] == list(TRANSIENT_LAMBDA_ERRORS)
    assert throttle["ErrorEquals"] == list(THROTTLE_ERRORS)
    assert anything["ErrorEquals"] == ["States.ALL"]  # idempotent: retried on any error
    assert anything["MaxAttempts"] >= 2
    assert failure["Next"] == FAILED_STATE
    assert states[FAILED_STATE] == {
        "Type": "Fail",
        "Comment": states[FAILED_STATE]["Comment"],
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }


def test_every_catalog_workflow_compiles_to_json() -> None:
    for workflow in WORKFLOWS.values():
        asl = compile_workflow(workflow, ARN)
        assert json.loads(json.dumps(asl)) == asl
        assert workflow.steps[0].name == asl["StartAt"]
        for step in workflow.steps:
            assert asl["States"][step.name]["Parameters"]["Payload"]["workflow"] == workflow.name


def test_retry_limits_are_clamped_to_what_step_functions_accepts() -> None:
    huge = Workflow(
        name="huge",
        steps=(
            Step(
                "wait",
                _noop,
                Retry(
                    interval_seconds=0,
                    backoff_rate=0.5,
                    max_interval_seconds=10**9,
                    max_attempts=10**9,
                ),
            ),
        ),
        on_failure=_noop_failure,
    )
    pending = compile_workflow(huge, ARN)["States"]["wait"]["Retry"][0]
    assert pending["IntervalSeconds"] == 1
    assert pending["BackoffRate"] == 1.0
    assert pending["MaxAttempts"] == 99_999_999
    assert pending["MaxDelaySeconds"] == 31_622_400


@pytest.mark.parametrize("name", [FAILURE_STATE, FAILED_STATE, SUCCEEDED_STATE])
def test_reserved_state_names_are_refused(name: str) -> None:
    clash = Workflow(name="clash", steps=(Step(name, _noop),), on_failure=_noop_failure)
    with pytest.raises(ValueError, match="reserved"):
        compile_workflow(clash, ARN)


def test_duplicate_and_missing_steps_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        compile_workflow(Workflow("dup", (Step("a", _noop), Step("a", _noop)), _noop_failure), ARN)
    with pytest.raises(ValueError, match="no steps"):
        compile_workflow(Workflow("empty", (), _noop_failure), ARN)


def test_state_machine_name_is_prefix_plus_workflow() -> None:
    assert state_machine_name("augury-", "activate-resource") == "augury-activate-resource"
    with pytest.raises(ValueError):
        state_machine_name("x" * 80, "activate-resource")
