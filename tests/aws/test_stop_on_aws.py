"""Stopping training in AWS mode: StopSolutionVersionCreation and StopResource.

The stop request only marks the resource (CREATE STOPPING); the state
machine's ``wait`` step, polling the SageMaker job, calls StopTrainingJob (the
``local_sagemaker`` stand-in ends the local process and reports the job
Stopped) and ends the resource CREATE STOPPED. So that the job is surely still
running when the stop arrives, the training image runs a process that only
sleeps: what is under test is the path from the API through Step Functions and
SageMaker, not training.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from augury import handlers
from augury.ports import NotFound
from tests.aws.moto_stack import IMAGES, REGION, Stack
from tests.aws.shop_data import forecast_group, personalize_group
from tests.aws.test_personalize_on_aws import RECIPES

SLEEPER = (sys.executable, "-c", "import time; time.sleep(30)")
"""A training process that outlives any test unless it is stopped."""

pytestmark = pytest.mark.timeout(60)


def until(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"not true after {timeout} s"
        time.sleep(0.05)
    return found


def running_job() -> str | None:
    """The name of the one SageMaker training job, once it is InProgress."""
    jobs = boto3.client("sagemaker", region_name=REGION).list_training_jobs()
    running = [
        job["TrainingJobName"]
        for job in jobs["TrainingJobSummaries"]
        if job["TrainingJobStatus"] == "InProgress"
    ]
    return running[0] if running else None


def assert_stopped(stack: Stack, name: str, workflow: str) -> None:
    """The job was stopped (not left to run out), and the workflow ended normally."""
    described = boto3.client("sagemaker", region_name=REGION).describe_training_job(
        TrainingJobName=name
    )
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == (
        "Stopped",
        "Stopped",
    )
    assert not described.get("FailureReason")
    assert stack.sagemaker.processes[name].poll() is not None
    assert stack.sagemaker.seconds[name] < 20, "the process was killed, not waited for"
    assert stack.executions()[workflow] == ["SUCCEEDED"]


def test_stopping_a_training_solution_version_ends_create_stopped(stack: Stack) -> None:
    personalize = stack.api.client("personalize")
    group, _ = personalize_group(stack, personalize, "stop")
    solution = personalize.create_solution(
        name="popular", datasetGroupArn=group, recipeArn=RECIPES + "aws-popularity-count"
    )["solutionArn"]
    until(
        lambda: (
            personalize.describe_solution(solutionArn=solution)["solution"]["status"] == "ACTIVE"
        )
    )
    stack.sagemaker.images[IMAGES["personalization"]] = list(SLEEPER)
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]

    def status() -> str:
        described = personalize.describe_solution_version(solutionVersionArn=version)
        return described["solutionVersion"]["status"]

    name = until(running_job)
    until(lambda: name in stack.sagemaker.processes)  # past the download: the process runs
    assert status() == "CREATE IN_PROGRESS"
    personalize.stop_solution_version_creation(solutionVersionArn=version)
    assert status() in ("CREATE STOPPING", "CREATE STOPPED")
    until(lambda: status() == "CREATE STOPPED")
    assert_stopped(stack, name, "train-solution-version")
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.stop_solution_version_creation(solutionVersionArn=version)

    # What the trainer makes of StopTrainingJob on a job that has ended, or never was.
    trainer = handlers.runtime().trainer
    trainer.stop(name)  # refused by SageMaker (ValidationException): already ended
    with pytest.raises(NotFound):
        trainer.stop("no-such-job")


def test_stop_resource_on_a_training_predictor_ends_create_stopped(stack: Stack) -> None:
    forecast = stack.api.client("forecast")
    group = forecast_group(stack, forecast, "stop")
    stack.sagemaker.images[IMAGES["forecasting"]] = list(SLEEPER)
    predictor = forecast.create_auto_predictor(
        PredictorName="auto",
        ForecastHorizon=7,
        ForecastFrequency="D",
        DataConfig={"DatasetGroupArn": group},
    )["PredictorArn"]

    def status() -> str:
        return forecast.describe_auto_predictor(PredictorArn=predictor)["Status"]

    name = until(running_job)
    until(lambda: name in stack.sagemaker.processes)  # past the download: the process runs
    forecast.stop_resource(ResourceArn=predictor)
    assert status() in ("CREATE_STOPPING", "CREATE_STOPPED")
    until(lambda: status() == "CREATE_STOPPED")
    assert_stopped(stack, name, "train-predictor")
