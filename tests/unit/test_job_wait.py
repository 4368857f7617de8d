"""Workflows poll a training job for as long as SageMaker may keep it, and no longer
than a Step Functions execution can record.

A job on spot capacity may live twice its MaxRuntimeInSeconds (waiting for
capacity included). A workflow that stopped polling sooner failed such a job
("Timed out waiting") while it could still finish.
"""

from __future__ import annotations

import math

import pytest

from augury.ports import longest_job_life
from augury.workflows import forecast_generation, forecast_training, personalize_training
from augury.workflows.asl import compile_workflow
from augury.workflows.catalog import WORKFLOWS
from augury.workflows.definition import Retry

HISTORY_EVENT_LIMIT = 25_000
"""Step Functions (standard) fails an execution whose history passes this many events."""
EVENTS_PER_ATTEMPT = 3
"""A Lambda Task attempt records TaskScheduled, TaskStarted and TaskFailed/Succeeded."""


@pytest.mark.parametrize(
    ("workflow", "max_runtime_seconds"),
    [
        ("train-predictor", forecast_training.MAX_RUNTIME_SECONDS),
        ("create-forecast", forecast_generation.MAX_RUNTIME_SECONDS),
        ("train-solution-version", personalize_training.MAX_RUNTIME_SECONDS),
    ],
)
def test_the_wait_outlasts_the_jobs_longest_life(workflow: str, max_runtime_seconds: int) -> None:
    wait = WORKFLOWS[workflow].step("wait").retry
    assert wait.total_seconds() >= longest_job_life(max_runtime_seconds)
    assert longest_job_life(max_runtime_seconds) == 2 * max_runtime_seconds  # spot MaxWait


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_execution_fits_the_step_functions_history(name: str) -> None:
    states = compile_workflow(WORKFLOWS[name], "arn:aws:lambda:us-east-1:1:function:f")["States"]
    attempts = sum(
        retry["MaxAttempts"] + 1
        for state in states.values()
        for retry in state.get("Retry", [])
        if retry["ErrorEquals"] == ["ResourcePending"]
    )
    entered_and_exited = 2 * len(states)
    assert EVENTS_PER_ATTEMPT * attempts + entered_and_exited < HISTORY_EVENT_LIMIT


def test_lasting_takes_just_enough_attempts() -> None:
    retry = Retry.lasting(100, interval_seconds=1, backoff_rate=2, max_interval_seconds=10)
    # 1 + 2 + 4 + 8 = 15, then 10 a time: 15 + 9 * 10 = 105 >= 100, and 95 < 100 before it.
    assert retry.max_attempts == 13
    assert retry.total_seconds() == 105
    nothing_to_wait = Retry.lasting(0, interval_seconds=1, backoff_rate=2, max_interval_seconds=10)
    assert nothing_to_wait.max_attempts == 1


def test_delays_stay_at_the_cap_however_many_attempts() -> None:
    retry = Retry(interval_seconds=0.2, backoff_rate=1.25, max_interval_seconds=60)
    assert retry.delay(10_000) == 60
    assert math.isclose(retry.delay(2), 0.25)
