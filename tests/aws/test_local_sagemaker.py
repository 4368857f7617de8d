"""Augury's SageMaker trainer against moto, with jobs served by a local entry point.

Checks the test double ``local_sagemaker`` keeps SageMaker's contract, as the
full-workflow tests rely on it: channels come from S3 prefixes (and only
those), the model lands where DescribeTrainingJob says, a failure's reason is
``output/failure``, and a job past its MaxRuntimeInSeconds is reported as
SageMaker reports it (Stopped, MaxRuntimeExceeded), which the trainer turns
into Failed.
"""

from __future__ import annotations

import io
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from augury.aws.sagemaker_trainer import SageMakerTrainer
from augury.ports import TRAINING_COMPLETED, TRAINING_FAILED, TrainingJobSpec, TrainingJobState
from tests.aws.local_sagemaker import LocalSageMaker

REGION, BUCKET, IMAGE = "us-east-1", "augury-data", "echo-image:latest"
ECHO = [sys.executable, str(Path(__file__).parents[1] / "fixtures" / "echo_container.py")]


@pytest.fixture
def trainer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SageMakerTrainer]:
    sagemaker = LocalSageMaker({IMAGE: ECHO}, tmp_path, REGION)
    sagemaker.install(monkeypatch)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for key, body in {
            "data/d1/train/data.csv": b"a,b",
            "data/d1/train/sub/more.csv": b"c,d",
            "data/d1/trainx/not-mine.csv": b"no",
        }.items():
            s3.put_object(Bucket=BUCKET, Key=f"augury/{key}", Body=body)
        yield SageMakerTrainer(
            role_arn="arn:aws:iam::123456789012:role/training",
            images={"echo": IMAGE},
            bucket=BUCKET,
            prefix="augury",
            client=boto3.client("sagemaker", region_name=REGION),
        )
        sagemaker.join()


def run(trainer: SageMakerTrainer, name: str, **hyperparameters: str) -> TrainingJobState:
    seconds = int(hyperparameters.pop("max_runtime", "60"))
    trainer.start(
        TrainingJobSpec(
            name=name,
            container="echo",
            hyperparameters={"message": "hello", **hyperparameters},
            channels={"train": "data/d1/train"},
            output_prefix=f"models/{name}",
            max_runtime_seconds=seconds,
        )
    )
    deadline = time.monotonic() + 30
    while (state := trainer.describe(name)).status == "InProgress":
        assert time.monotonic() < deadline, f"{name} still running"
        time.sleep(0.05)
    return state


def test_a_completed_job_leaves_its_model_where_describe_says(trainer: SageMakerTrainer) -> None:
    state = run(trainer, "job-ok")
    assert state.status == TRAINING_COMPLETED, state
    assert state.model_key == "models/job-ok/job-ok/output/model.tar.gz"
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket=BUCKET, Key=f"augury/{state.model_key}"
    )["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as archive:
        model = archive.extractfile("model.txt").read()
    assert model == b"hello\ndata.csv: a,b\nsub/more.csv: c,d"


def test_failures_and_timeouts_read_as_on_sagemaker(trainer: SageMakerTrainer) -> None:
    failed = run(trainer, "job-fail", mode="fail", message="bad data")
    assert (failed.status, failed.failure_reason) == (
        TRAINING_FAILED,
        "RuntimeError: boom: bad data",
    )
    assert failed.model_key is None
    timed_out = run(trainer, "job-slow", mode="sleep", seconds="30", max_runtime="1")
    assert timed_out.status == TRAINING_FAILED
    assert timed_out.failure_reason.startswith("MaxRuntimeExceeded")


def test_a_value_past_sagemakers_2500_characters_travels_in_parts(
    trainer: SageMakerTrainer,
) -> None:
    """A job's configuration is one hyperparameter, which many related or metadata fields
    make longer than SageMaker takes: the trainer cuts it into parts, the container's
    contract joins them back, and the fake refuses what SageMaker would refuse."""
    message = "".join(f"{n:05d}," for n in range(1200))  # 7,200 characters
    state = run(trainer, "job-long-config", message=message)
    assert state.status == TRAINING_COMPLETED, state
    spec = TrainingJobSpec(
        name="x",
        container="echo",
        hyperparameters={"message": message},
        channels={"train": "data/d1/train"},
        output_prefix="models/x",
    )
    request = trainer.request(spec)
    assert sorted(request["HyperParameters"]) == [
        "message",
        "message__part1",
        "message__part2",
    ]
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket=BUCKET, Key=f"augury/{state.model_key}"
    )["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as archive:
        assert archive.extractfile("model.txt").read().decode().startswith(message + "\n")
    with pytest.raises(ClientError, match="2500"):
        trainer.client.create_training_job(**{**request, "HyperParameters": {"message": message}})
