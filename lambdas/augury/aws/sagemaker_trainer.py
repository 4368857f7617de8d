"""The AWS Trainer: SageMaker training jobs running Augury's container images.

Channels and outputs are blob-store keys under ``s3://bucket/prefix/``, the
same store the S3 BlobStore uses, so the model comes back as a key the services
can read. Per container, the deployment may choose the instance type of CPU
jobs, the image (CUDA torch; else the container's own image) and instance type
of GPU jobs (``TrainingJobSpec.accelerator``) and managed spot for CPU jobs: a
reclaimed spot job starts again from the beginning, which is safe because a job
writes its model only when it ends; GPU jobs, long and scarce on spot, always
run on demand. Jobs run with network isolation: the containers make no network
calls, SageMaker alone moves the channels and the model. SageMaker writes the model to
``<output_prefix>/<job name>/output/model.tar.gz``; ``describe`` returns that
key. A job stopped for exceeding MaxRuntimeInSeconds is reported Failed with a
``MaxRuntimeExceeded`` reason, as the embedded trainer does; Stopped means
someone asked for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

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
from augury_training.contract import split_long_values

_STATUSES = {
    "InProgress": TRAINING_IN_PROGRESS,
    "Stopping": TRAINING_IN_PROGRESS,
    "Completed": TRAINING_COMPLETED,
    "Failed": TRAINING_FAILED,
    "Stopped": TRAINING_STOPPED,
}
_TIMED_OUT = {"MaxRuntimeExceeded", "MaxWaitTimeExceeded"}


class SageMakerTrainer:
    """``Trainer`` on SageMaker CreateTrainingJob / DescribeTrainingJob / StopTrainingJob."""

    def __init__(
        self,
        role_arn: str,
        images: Mapping[str, str],
        bucket: str,
        prefix: str = "",
        client: Any = None,
        instance_count: int = 1,
        volume_size_gb: int = 30,
        instance_types: Mapping[str, str] | None = None,
        gpu_instance_types: Mapping[str, str] | None = None,
        spot: Mapping[str, bool] | None = None,
        gpu_images: Mapping[str, str] | None = None,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("sagemaker")
        self.role_arn = role_arn
        self.images = dict(images)
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.instance_count = instance_count
        self.volume_size_gb = volume_size_gb
        self.instance_types = dict(instance_types or {})
        self.gpu_instance_types = dict(gpu_instance_types or {})
        self.spot = dict(spot or {})
        self.gpu_images = dict(gpu_images or {})

    def s3_uri(self, key: str) -> str:
        key = key.lstrip("/")
        return (
            f"s3://{self.bucket}/{self.prefix}/{key}"
            if self.prefix
            else f"s3://{self.bucket}/{key}"
        )

    def key_of(self, uri: str) -> str | None:
        """The store key of ``s3://bucket/prefix/<key>``, or ``None`` if it is elsewhere."""
        root = self.s3_uri("")
        return uri[len(root) :] if uri.startswith(root) and len(uri) > len(root) else None

    def request(self, spec: TrainingJobSpec) -> dict[str, Any]:
        """The CreateTrainingJob parameters for ``spec``."""
        if spec.container not in self.images:
            known = ", ".join(sorted(self.images)) or "none"
            raise ValueError(f"unknown training container {spec.container!r} (configured: {known})")
        image = self.image(spec)
        on_spot = self.spot.get(spec.container, False) and not spec.accelerator
        stopping: dict[str, int] = {"MaxRuntimeInSeconds": spec.max_runtime_seconds}
        if on_spot:
            # SageMaker's own rule: the wait for spot capacity includes the run.
            stopping["MaxWaitTimeInSeconds"] = longest_job_life(spec.max_runtime_seconds)
        request = {
            "TrainingJobName": spec.name,
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "RoleArn": self.role_arn,
            # one value is at most 2500 characters: a long configuration travels in parts
            "HyperParameters": split_long_values(
                {k: str(v) for k, v in spec.hyperparameters.items()}
            ),
            "InputDataConfig": [
                {
                    "ChannelName": channel,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": self.s3_uri(_as_directory(prefix)),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "InputMode": "File",
                }
                for channel, prefix in spec.channels.items()
            ],
            "OutputDataConfig": {"S3OutputPath": self.s3_uri(spec.output_prefix.strip("/"))},
            "ResourceConfig": {
                "InstanceType": self.instance_type(spec),
                "InstanceCount": self.instance_count,
                "VolumeSizeInGB": self.volume_size_gb,
            },
            "StoppingCondition": stopping,
            # The containers read their channels and write model/ through SageMaker and
            # call nothing themselves: no network, so user data cannot leave the job.
            "EnableNetworkIsolation": True,
        }
        if on_spot:
            request["EnableManagedSpotTraining"] = True
        return request

    def image(self, spec: TrainingJobSpec) -> str:
        """The container's GPU image for a GPU job when the deployment has one, else its image."""
        gpu_image = self.gpu_images.get(spec.container) if spec.accelerator else None
        return gpu_image or self.images[spec.container]

    def instance_type(self, spec: TrainingJobSpec) -> str:
        """The deployment's choice for the container (GPU or CPU), else the spec's own."""
        chosen = self.gpu_instance_types if spec.accelerator else self.instance_types
        return chosen.get(spec.container) or spec.instance_type

    def start(self, spec: TrainingJobSpec) -> None:
        request = self.request(spec)
        # SageMaker refuses a duplicate name itself; asking first also makes
        # emulators that silently replace the job behave.
        if self._describe(spec.name) is not None:
            raise AlreadyExists(spec.name)
        try:
            self.client.create_training_job(**request)
        except ClientError as exc:
            code, message = _error(exc)
            if code == "ResourceInUse" or "already exists" in message.lower():
                raise AlreadyExists(spec.name) from exc
            raise

    def describe(self, name: str) -> TrainingJobState:
        job = self._describe(name)
        if job is None:
            raise NotFound(name)
        raw = job["TrainingJobStatus"]
        status = _STATUSES.get(raw, TRAINING_IN_PROGRESS)
        reason = job.get("FailureReason")
        secondary = job.get("SecondaryStatus")
        if status == TRAINING_STOPPED and secondary in _TIMED_OUT:
            status = TRAINING_FAILED
            reason = f"{secondary}: {reason}" if reason else f"{secondary}: training job timed out"
        model_key = None
        if status == TRAINING_COMPLETED:
            artifacts = job.get("ModelArtifacts", {}).get("S3ModelArtifacts")
            model_key = self.key_of(artifacts) if artifacts else None
        return TrainingJobState(
            name=name,
            status=status,
            failure_reason=reason if status == TRAINING_FAILED else None,
            model_key=model_key,
        )

    def stop(self, name: str) -> None:
        try:
            self.client.stop_training_job(TrainingJobName=name)
        except ClientError as exc:
            code, message = _error(exc)
            if _is_missing(code, message):
                raise NotFound(name) from exc
            if code == "ValidationException":
                return  # not in a stoppable state: finished already
            raise

    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            return self.client.describe_training_job(TrainingJobName=name)
        except ClientError as exc:
            code, message = _error(exc)
            if _is_missing(code, message):
                return None
            raise


def _as_directory(prefix: str) -> str:
    """Channel prefixes name a directory: ``data/x`` must not pick up ``data/xy/...``."""
    return prefix if prefix == "" or prefix.endswith("/") else prefix + "/"


def _error(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


def _is_missing(code: str, message: str) -> bool:
    if code == "ResourceNotFound":
        return True
    text = message.lower()
    return code == "ValidationException" and any(
        phrase in text for phrase in ("not found", "could not find", "does not exist")
    )
