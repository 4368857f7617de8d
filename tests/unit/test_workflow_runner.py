"""The local workflow engine runs steps with Step Functions' semantics."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from augury.bootstrap import bootstrap
from augury.resources import crud
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.settings import Settings
from augury.workflows import catalog
from augury.workflows.definition import ResourceFailed, ResourcePending, Retry, Step, Workflow
from augury.workflows.execution import reason_from_step_functions_error

ARN = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


@pytest.fixture
def runtime(tmp_path):
    built = bootstrap(Settings.embedded(tmp_path))
    built.metadata.create(
        Resource(arn=ARN, kind="personalize:dataset-group", name="g", status="CREATE_PENDING")
    )
    yield built
    built.workflows.shutdown()


def _register(monkeypatch, *steps: Step) -> str:
    def failed(runtime, state, reason):
        crud.set_status(runtime, state["arn"], Status.CREATE_FAILED, reason)

    workflow = Workflow("test-flow", steps, failed)
    monkeypatch.setitem(catalog.WORKFLOWS, workflow.name, workflow)
    return workflow.name


def test_state_flows_from_step_to_step_and_pending_steps_are_retried(runtime, monkeypatch):
    calls = {"wait": 0}

    def first(rt, state):
        return {"from_first": 1}

    def wait(rt, state):
        assert state["from_first"] == 1
        calls["wait"] += 1
        if calls["wait"] < 3:
            raise ResourcePending("not yet")
        crud.set_status(rt, state["arn"], Status.ACTIVE)

    name = _register(
        monkeypatch, Step("first", first), Step("wait", wait, Retry(interval_seconds=0.01))
    )
    runtime.workflows.start(name, {"arn": ARN})
    assert runtime.workflows.wait_idle(5)
    assert calls["wait"] == 3
    assert runtime.metadata.get(ARN).status == "ACTIVE"
    assert runtime.metadata.list(kind="augury:workflow-execution").items == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ResourceFailed("the file has 3 columns, the schema 4"), "the file has 3 columns"),
        (KeyError("boom"), "Internal error (KeyError)"),
    ],
)
def test_a_failing_step_runs_the_failure_handler(runtime, monkeypatch, error, reason):
    def fail(rt, state):
        raise error

    name = _register(monkeypatch, Step("fail", fail))
    runtime.workflows.start(name, {"arn": ARN})
    assert runtime.workflows.wait_idle(5)
    record = runtime.metadata.get(ARN)
    assert record.status == "CREATE_FAILED"
    assert reason in record.attributes["failureReason"]


def test_waiting_too_long_fails(runtime, monkeypatch):
    def never(rt, state):
        raise ResourcePending("training job still running")

    retry = Retry(interval_seconds=0.001, max_attempts=3)
    name = _register(monkeypatch, Step("never", never, retry))
    runtime.workflows.start(name, {"arn": ARN})
    assert runtime.workflows.wait_idle(5)
    assert "Timed out waiting" in runtime.metadata.get(ARN).attributes["failureReason"]


def test_unknown_workflows_are_refused_at_once(runtime):
    with pytest.raises(KeyError, match="no workflow named"):
        runtime.workflows.start("no-such-flow", {})


def test_step_functions_errors_become_user_reasons():
    cause = json.dumps({"errorMessage": "bad column", "errorType": "ResourceFailed"})
    assert reason_from_step_functions_error({"Error": "ResourceFailed", "Cause": cause}) == (
        "bad column"
    )
    internal = {"Error": "ValueError", "Cause": json.dumps({"errorMessage": "x"})}
    assert reason_from_step_functions_error(internal) == "Internal error (ValueError): x"
    assert reason_from_step_functions_error(None) == "The workflow failed"


def test_checks_come_at_most_a_few_seconds_apart_but_wait_the_whole_schedule(runtime, monkeypatch):
    """Step Functions' schedule may space checks a minute apart; locally they come every
    ``max_poll_seconds`` at most, and the step still waits as long as the schedule does."""
    moments: list[float] = []

    def never(rt, state):
        moments.append(time.monotonic())
        raise ResourcePending("training job still running")

    runtime.workflows._max_poll_seconds = 0.05
    retry = Retry(interval_seconds=1, backoff_rate=1, max_interval_seconds=1, max_attempts=2)
    name = _register(monkeypatch, Step("never", never, retry))
    runtime.workflows.start(name, {"arn": ARN})
    assert runtime.workflows.wait_idle(5)
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert max(gaps) < 0.5, "checked at the local cap, not the schedule's 1 s"
    assert moments[-1] - moments[0] >= 1.9, "still waited the schedule's 2 s"
    assert "Timed out waiting" in runtime.metadata.get(ARN).attributes["failureReason"]
