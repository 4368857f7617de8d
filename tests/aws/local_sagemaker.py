"""SageMaker training jobs served by running the training image's entry point locally.

moto records a CreateTrainingJob and reports it Completed at once, with no
model. Augury's ``SageMakerTrainer`` talks to SageMaker through boto3 exactly as
on AWS; this module only makes moto's side do the work SageMaker would:

- the job is reported ``InProgress`` while it runs, so the workflow's ``wait``
  step raises ``ResourcePending`` and the state machine's Retry polls it;
- each channel's ``S3Prefix`` is downloaded from moto's S3 into a temporary
  ``/opt/ml``-shaped root, with ``hyperparameters.json``,
  ``inputdataconfig.json`` and ``resourceconfig.json`` written as SageMaker
  writes them (and SageMaker's limits on hyperparameters checked, which moto
  skips: 100 of them, values of 2500 characters at most);
- the image's entry point (``python -m augury_training.<container> train``,
  what the Dockerfiles' ENTRYPOINT and CMD run) is started with
  ``AUGURY_SM_ROOT`` pointing at that root;
- exit 0: ``model/`` is packed as ``model.tar.gz`` and uploaded to the
  ``ModelArtifacts.S3ModelArtifacts`` key describe reports, status Completed;
  otherwise status Failed with ``output/failure`` (its first 1024 characters)
  as the FailureReason; past ``MaxRuntimeInSeconds`` the process is killed and
  the job Stopped with SecondaryStatus ``MaxRuntimeExceeded``, as SageMaker does;
- StopTrainingJob, which moto lacks, is added: an InProgress job becomes
  ``Stopping``, its process group gets SIGTERM (then SIGKILL, for what is left), and the
  job ends ``Stopped``; a job in any other status is refused with
  ValidationException, as SageMaker refuses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from moto.core.responses import EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeTrainingJob, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from augury_training.contract import (
    FAILURE_REASON_LIMIT,
    HYPERPARAMETER_COUNT_LIMIT,
    HYPERPARAMETER_VALUE_LIMIT,
    ROOT_ENV,
    TrainPaths,
)

ENTRY_POINTS: Mapping[str, Sequence[str]] = {
    "forecasting": (sys.executable, "-m", "augury_training.forecasting", "train"),
    "personalization": (sys.executable, "-m", "augury_training.personalization", "train"),
}
"""What each training image runs (ENTRYPOINT + CMD in training_containers/*.Dockerfile)."""


def check_hyperparameters(values: Mapping[str, str]) -> None:
    """SageMaker's limits on HyperParameters, which moto does not check: at most 100, names
    of at most 256 characters, values of at most 2500 (botocore's sagemaker model)."""
    if len(values) > HYPERPARAMETER_COUNT_LIMIT:
        raise ValidationError(message=f"{len(values)} hyperparameters; the limit is 100")
    for name, value in values.items():
        if len(name) > 256 or len(str(value)) > HYPERPARAMETER_VALUE_LIMIT:
            raise ValidationError(
                message=f"1 validation error detected: Value at 'hyperParameters' failed to "
                f"satisfy constraint: Map value of {name!r} must have length less than or "
                f"equal to {HYPERPARAMETER_VALUE_LIMIT}"
            )


class LocalSageMaker:
    """Runs moto's training jobs: ``images`` maps a TrainingImage URI to its entry point."""

    def __init__(
        self,
        images: Mapping[str, Sequence[str]],
        work_dir: Path,
        region: str,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.images = {uri: list(argv) for uri, argv in images.items()}
        self.work_dir = work_dir
        self.region = region
        self.environment = dict(environment or {})
        """Extra variables for the entry point (what the instance would set)."""
        self.threads: dict[str, threading.Thread] = {}
        self.seconds: dict[str, float] = {}
        """How long each job's process ran, by job name (for reports)."""
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.stop_requested: set[str] = set()
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = SageMakerModelBackend.create_training_job
        harness = self

        def create_training_job(backend: Any, *args: Any, **kwargs: Any) -> FakeTrainingJob:
            check_hyperparameters(kwargs.get("hyper_parameters") or {})
            job = original(backend, *args, **kwargs)
            harness.start(job)
            return job

        def stop_training_job(backend: Any, training_job_name: str) -> None:
            job = backend.training_jobs.get(training_job_name)
            if job is None:
                arn = FakeTrainingJob.arn_formatter(
                    training_job_name, backend.account_id, backend.region_name
                )
                raise ValidationError(message=f"Could not find training job '{arn}'.")
            if job.training_job_status != "InProgress":
                raise ValidationError(
                    message="The request was rejected because the training job is in status "
                    f"{job.training_job_status}."
                )
            job.training_job_status, job.secondary_status = "Stopping", "Stopping"
            harness.stop(training_job_name)

        def stop_training_job_action(response: SageMakerResponse) -> EmptyResult:
            name = response._get_param("TrainingJobName")
            response.sagemaker_backend.stop_training_job(name)
            return EmptyResult()

        monkeypatch.setattr(SageMakerModelBackend, "create_training_job", create_training_job)
        monkeypatch.setattr(
            SageMakerModelBackend, "stop_training_job", stop_training_job, raising=False
        )
        monkeypatch.setattr(
            SageMakerResponse, "stop_training_job", stop_training_job_action, raising=False
        )

    def stop(self, name: str) -> None:
        """Ask a running job's process to stop (before it starts: it never starts)."""
        with self._lock:
            self.stop_requested.add(name)
            process = self.processes.get(name)
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)

    def start(self, job: FakeTrainingJob) -> None:
        argv = self.images.get(job.algorithm_specification["TrainingImage"])
        # Every attribute describe reports is set before the thread starts: moto builds
        # the response from the object's __dict__, which must not grow meanwhile.
        job.failure_reason = None
        if argv is None:
            self._end(job, "Failed", "Failed", "ClientError: unknown training image")
            return
        job.training_job_status, job.secondary_status = "InProgress", "Training"
        thread = threading.Thread(
            target=self._run, args=(job, argv), name=f"sagemaker-{job.training_job_name}"
        )
        self.threads[job.training_job_name] = thread
        thread.start()

    def join(self, timeout: float = 60) -> None:
        """Wait for every job's thread (test teardown: no job outlives moto)."""
        for thread in self.threads.values():
            thread.join(timeout)

    def _run(self, job: FakeTrainingJob, argv: list[str]) -> None:
        """The job's thread: it always ends the job, so no workflow polls a job forever."""
        try:
            self._train(job, argv)
        except Exception as error:
            self._end(job, "Failed", "Failed", f"InternalServerError: {error!r}")

    def _train(self, job: FakeTrainingJob, argv: list[str]) -> None:
        paths = TrainPaths(self.work_dir / job.training_job_name)
        try:
            self._lay_out(job, paths)
        except Exception as error:  # SageMaker reports input problems as ClientError
            self._end(job, "Failed", "Failed", f"ClientError: could not download input: {error}")
            return
        limit = int(job.stopping_condition.get("MaxRuntimeInSeconds", 86_400))
        log_path = paths.output_dir / "job.log"
        name = job.training_job_name
        with open(log_path, "wb") as log_file:
            with self._lock:
                if name in self.stop_requested:
                    self._end(job, "Stopped", "Stopped", None)
                    return
                process = subprocess.Popen(
                    argv,
                    cwd=paths.root,
                    env={**os.environ, **self.environment, ROOT_ENV: str(paths.root)},
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a timeout kills the whole tree, workers included
                )
                self.processes[name] = process
            started = time.monotonic()
            try:
                code = process.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                self._end(job, "Stopped", "MaxRuntimeExceeded", "Training job timed out")
                return
            finally:
                self.seconds[name] = time.monotonic() - started
        if name in self.stop_requested:
            _kill_group(process.pid)  # SageMaker's SIGKILL after SIGTERM: no worker outlives it
            self._end(job, "Stopped", "Stopped", None)
            return
        if code != 0:
            self._end(job, "Failed", "Failed", _failure_reason(paths, code, log_path))
            return
        archive = paths.output_dir / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for child in sorted(paths.model_dir.iterdir()):
                tar.add(child, arcname=child.name)
        bucket, key = _split(job.model_artifacts["S3ModelArtifacts"])
        self._s3().upload_file(str(archive), bucket, key)
        self._end(job, "Completed", "Completed", None)

    def _lay_out(self, job: FakeTrainingJob, paths: TrainPaths) -> None:
        paths.make_dirs()
        channels = {c["ChannelName"]: c for c in job.input_data_config or []}
        _write_json(paths.hyperparameters_file, dict(job.hyper_parameters or {}))
        _write_json(
            paths.input_data_config_file,
            {
                name: {
                    "TrainingInputMode": channel.get("InputMode", "File"),
                    "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None",
                }
                for name, channel in channels.items()
            },
        )
        _write_json(
            paths.resource_config_file,
            {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"},
        )
        s3 = self._s3()
        for name, channel in channels.items():
            bucket, prefix = _split(channel["DataSource"]["S3DataSource"]["S3Uri"])
            destination = paths.channel(name)
            destination.mkdir(parents=True, exist_ok=True)
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    target = destination / item["Key"][len(prefix) :].lstrip("/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, item["Key"], str(target))

    def _end(self, job: FakeTrainingJob, status: str, secondary: str, reason: str | None) -> None:
        job.failure_reason = reason[:FAILURE_REASON_LIMIT] if reason else None
        job.secondary_status = secondary
        job.training_job_status = status

    def _s3(self) -> Any:
        return boto3.client("s3", region_name=self.region)


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _failure_reason(paths: TrainPaths, code: int, log_path: Path) -> str:
    if paths.failure_file.is_file():
        text = paths.failure_file.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text
    tail = log_path.read_bytes()[-600:].decode("utf-8", errors="replace").strip()
    return f"AlgorithmError: training process exited with status {code}; log tail: {tail}"


def _write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document), encoding="utf-8")
