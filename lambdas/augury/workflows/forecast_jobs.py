"""What the Forecast workflows share: a resource's record, its stop requests, its job.

Training a predictor and generating a forecast both run the forecasting
container through the Trainer port and wait for it; export jobs do not, but
honour StopResource the same way. The rules written once here:

- a step re-reads the record each time (steps run again after retries, and the
  user may have asked to stop meanwhile);
- StopResource moves a resource to CREATE_STOPPING; the workflow ends it
  CREATE_STOPPED, stopping the container if one runs, and never turns it
  ACTIVE afterwards;
- a finished container's ``model.tar.gz`` is unpacked into a blob prefix, so
  later work (forecasts, exports, queries) reads plain files.
"""

from __future__ import annotations

import contextlib
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augury.ports import (
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_IN_PROGRESS,
    TRAINING_STOPPED,
    AlreadyExists,
    NotFound,
    TrainingJobSpec,
    TrainingJobState,
    longest_job_life,
)
from augury.resources import crud
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows.definition import ResourceFailed, ResourcePending, Retry, State
from augury_training.contract import user_reason
from augury_training.forecast_contract import CONFIG_HYPERPARAMETER

if TYPE_CHECKING:
    from augury.runtime import Runtime

JOB_ATTRIBUTE = "_training_job"
ACCELERATOR = "_accelerator"
"""Whether the container job runs on a GPU instance (a deep model trains)."""
STOPPED = "stopped"
"""State key set once a workflow has ended its resource CREATE_STOPPED."""

START_MARGIN_SECONDS = 3_600
"""Polling outlasts a job's longest life by this much: creating it and reading its end
take time that its own clock does not count."""


def job_wait(max_runtime_seconds: int) -> Retry:
    """Polling a container: quick at first (small jobs finish in seconds), then once a
    minute, until the job's longest life (spot waits included) is surely over, so the
    workflow never fails a job that SageMaker would still have finished."""
    return Retry.lasting(
        longest_job_life(max_runtime_seconds) + START_MARGIN_SECONDS,
        interval_seconds=0.5,
        backoff_rate=1.5,
        max_interval_seconds=60,
    )


def current(runtime: Runtime, arn: str) -> Resource:
    """The resource's record now; gone means the workflow cannot go on."""
    record = runtime.metadata.get(arn)
    if record is None:
        raise ResourceFailed(f"{arn} was deleted while it was being created")
    return record


def stop_requested(record: Resource) -> bool:
    return Status(record.status) in (Status.CREATE_STOPPING, Status.CREATE_STOPPED)


def begin(runtime: Runtime, arn: str) -> Resource:
    """CREATE_PENDING → CREATE_IN_PROGRESS, leaving a stop request in place."""

    def change(record: Resource) -> Resource:
        if Status(record.status) == Status.CREATE_PENDING:
            return record.evolve(status=Status.CREATE_IN_PROGRESS.value)
        return record

    return crud.update(runtime, arn, change)


def finish(runtime: Runtime, arn: str, **attributes: Any) -> Status:
    """Make the resource ACTIVE with ``attributes``, or CREATE_STOPPED if a stop came first."""

    def change(record: Resource) -> Resource:
        status = Status.CREATE_STOPPED if stop_requested(record) else Status.ACTIVE
        merged = {**record.attributes, **attributes}
        merged.pop("Message", None)
        return record.evolve(status=status.value, attributes=merged)

    return Status(crud.update(runtime, arn, change).status)


def end_stopped(runtime: Runtime, arn: str) -> dict[str, Any]:
    crud.set_status(runtime, arn, Status.CREATE_STOPPED)
    return {STOPPED: True}


def start_job(runtime: Runtime, spec: TrainingJobSpec) -> None:
    """Start the container job; a job already started under this name is fine (a retry)."""
    with contextlib.suppress(AlreadyExists):
        runtime.trainer.start(spec)


def wait_for_job(runtime: Runtime, arn: str, name: str) -> TrainingJobState | None:
    """The job's final state once Completed; ``None`` if it was stopped (resource stopped).

    While it runs: ``ResourcePending`` (and, if the user asked to stop, the job
    is asked to stop). A failed job fails the workflow with the job's reason.
    """
    try:
        job = runtime.trainer.describe(name)
    except NotFound:
        raise ResourceFailed(f"The job {name} that was creating {arn} no longer exists") from None
    record = current(runtime, arn)
    if job.status == TRAINING_IN_PROGRESS:
        if stop_requested(record):
            runtime.trainer.stop(name)
        raise ResourcePending(f"job {name} is still running")
    if job.status == TRAINING_STOPPED or (stop_requested(record) and job.status != TRAINING_FAILED):
        end_stopped(runtime, arn)
        return None
    if job.status == TRAINING_FAILED:
        reason = user_reason(job.failure_reason) if job.failure_reason else None
        raise ResourceFailed(reason or f"The job {name} failed without a reason")
    if job.status != TRAINING_COMPLETED or not job.model_key:
        raise ResourceFailed(f"The job {name} ended as {job.status} without output")
    return job


def stop_job_quietly(runtime: Runtime, name: str | None) -> None:
    """On failure, leave no container running (best effort: the failure is reported anyway)."""
    if name:
        with contextlib.suppress(Exception):
            runtime.trainer.stop(name)


def fail(runtime: Runtime, state: State, reason: str) -> None:
    """The failure handler the Forecast workflows share: CREATE_FAILED with the reason."""
    record = runtime.metadata.get(state["arn"])
    if record is None:
        return
    stop_job_quietly(runtime, record.attributes.get(JOB_ATTRIBUTE))
    crud.set_status(runtime, state["arn"], Status.CREATE_FAILED, reason)


def unpack(
    runtime: Runtime,
    archive_key: str,
    prefix: str,
    rename: Callable[[str], str | None] = lambda name: name,
) -> list[str]:
    """Unpack a ``model.tar.gz`` blob under ``prefix``; return the keys written.

    ``rename`` maps a member's name to its key below ``prefix``, or ``None`` to
    skip it. Only regular files are copied, and every name goes through the
    blob store's key checks, so an archive cannot write outside ``prefix``.
    """
    written = []
    runtime.blobs.delete_prefix(prefix)  # a retried step starts clean
    with scratch_directory(runtime, "augury-unpack-") as scratch:
        local = Path(scratch) / "model.tar.gz"
        runtime.blobs.download_file(archive_key, local)
        with tarfile.open(local, "r:gz") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                name = rename(member.name.removeprefix("./"))
                source = archive.extractfile(member) if name else None
                if source is None:
                    continue
                target = Path(scratch) / "member"
                with source, open(target, "wb") as sink:
                    while chunk := source.read(1 << 20):
                        sink.write(chunk)
                key = prefix + name
                runtime.blobs.upload_file(target, key)
                written.append(key)
    return written


CONTAINER = "forecasting"
CHANNELS = "_channels"
"""Record attribute holding the job's channels (name → blob prefix)."""


def start_container_job(
    runtime: Runtime, state: dict[str, Any], *, output_name: str, max_runtime_seconds: int
) -> dict[str, Any] | None:
    """The start step predictors and forecasts share: launch the forecasting container.

    Idempotent (``start_job`` accepts a job that already runs), and honours a
    StopResource that arrived before the job started.
    """
    from augury.forecast.job_config import CONFIG_ATTRIBUTE
    from augury.forecast.predictor_records import STARTED_AT
    from augury.workflows.lifecycle import blob_prefix

    if state.get(STOPPED):
        return None
    arn = state["arn"]
    record = current(runtime, arn)
    if stop_requested(record):
        return end_stopped(runtime, arn)
    job = TrainingJobSpec(
        name=state["job"],
        container=CONTAINER,
        hyperparameters={CONFIG_HYPERPARAMETER: record.attributes[CONFIG_ATTRIBUTE]},
        channels=dict(record.attributes[CHANNELS]),
        output_prefix=blob_prefix(arn) + output_name,
        max_runtime_seconds=max_runtime_seconds,
        accelerator=bool(record.attributes.get(ACCELERATOR)),
    )
    start_job(runtime, job)
    if record.attributes.get(STARTED_AT) is None:
        crud.update(
            runtime, arn, lambda latest: latest.with_attributes(**{STARTED_AT: time.time()})
        )
    return None
