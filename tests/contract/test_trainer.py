"""The Trainer adapters: local subprocesses under the SageMaker contract, and SageMaker (moto)."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from augury.aws.sagemaker_trainer import SageMakerTrainer
from augury.local.file_blobs import FileBlobStore
from augury.local.process_trainer import INTERRUPTED, ProcessTrainer
from augury.ports import (
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_IN_PROGRESS,
    TRAINING_STOPPED,
    AlreadyExists,
    NotFound,
    TrainingJobSpec,
)
from augury_training.contract import TrainPaths

ECHO = [sys.executable, str(Path(__file__).parents[1] / "fixtures" / "echo_container.py")]


def spec(name: str, **changes) -> TrainingJobSpec:
    values = {
        "name": name,
        "container": "echo",
        "hyperparameters": {"message": "hello", "epochs": 3},
        "channels": {"train": "datasets/d1/train"},
        "output_prefix": f"models/{name}",
        **changes,
    }
    return TrainingJobSpec(**values)


@pytest.fixture
def blobs(tmp_path) -> FileBlobStore:
    store = FileBlobStore(tmp_path / "blobs")
    store.put_bytes("datasets/d1/train/data.csv", b"a,b")
    store.put_bytes("datasets/d1/train/sub/more.csv", b"c,d")
    store.put_bytes("datasets/d1/trainx/not-mine.csv", b"no")
    return store


@pytest.fixture
def trainer(blobs, tmp_path) -> ProcessTrainer:
    return ProcessTrainer(blobs, tmp_path / "work", {"echo": ECHO}, stop_grace_seconds=1)


def model_files(blobs: FileBlobStore, key: str) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(blobs.get_bytes(key)), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_completed_job_ships_the_model(trainer, blobs, tmp_path):
    trainer.start(spec("job-1"))
    state = trainer.wait("job-1", timeout=20)
    assert state.status == TRAINING_COMPLETED, state
    assert state.model_key == "models/job-1/model.tar.gz"
    files = model_files(blobs, state.model_key)
    assert files["model.txt"] == b"hello\ndata.csv: a,b\nsub/more.csv: c,d"
    assert files["nested/weights.bin"] == b"\x00\x01"
    env = json.loads(files["env.json"])
    root = tmp_path / "work" / "job-1"
    assert env["AUGURY_SM_ROOT"] == env["SM_ROOT"] == str(root)
    assert env["SM_MODEL_DIR"] == str(root / "model")
    assert env["SM_CHANNEL_TRAIN"] == str(root / "input" / "data" / "train")
    assert b"trained on 2 files" in blobs.get_bytes("models/job-1/job.log")


def test_job_directory_is_laid_out_like_opt_ml(trainer):
    trainer.start(spec("job-1"))
    trainer.wait("job-1", timeout=20)
    paths = TrainPaths(trainer.job_dir("job-1"))
    assert json.loads(paths.hyperparameters_file.read_text()) == {"message": "hello", "epochs": "3"}
    assert paths.read_hyperparameters() == {"message": "hello", "epochs": "3"}
    assert paths.read_input_data_config()["train"]["TrainingInputMode"] == "File"
    assert (paths.channel("train") / "sub" / "more.csv").read_bytes() == b"c,d"
    assert not (paths.input_data_dir / "trainx").exists()
    assert (paths.model_dir / "model.txt").exists()
    assert (paths.output_dir / "job.log").exists()


def test_exception_in_container_becomes_the_failure_reason(trainer):
    trainer.start(spec("job-f", hyperparameters={"mode": "fail", "message": "bad data"}))
    state = trainer.wait("job-f", timeout=20)
    assert state.status == TRAINING_FAILED
    assert state.failure_reason == "RuntimeError: boom: bad data"
    assert state.model_key is None


def test_failure_reason_is_truncated_to_1024(trainer):
    trainer.start(spec("job-long", hyperparameters={"mode": "fail", "message": "x" * 5000}))
    state = trainer.wait("job-long", timeout=20)
    assert len(state.failure_reason) == 1024


def test_crash_without_failure_file_reports_exit_code_and_log(trainer):
    trainer.start(spec("job-c", hyperparameters={"mode": "crash"}))
    state = trainer.wait("job-c", timeout=20)
    assert state.status == TRAINING_FAILED
    assert "exited with status 3" in state.failure_reason
    assert "dying loudly" in state.failure_reason


def test_max_runtime_is_enforced(trainer):
    started = time.monotonic()
    trainer.start(spec("job-t", hyperparameters={"mode": "sleep"}, max_runtime_seconds=1))
    state = trainer.wait("job-t", timeout=20)
    assert state.status == TRAINING_FAILED
    assert state.failure_reason.startswith("MaxRuntimeExceeded")
    assert time.monotonic() - started < 10


def test_stop_terminates_the_process(trainer):
    trainer.start(spec("job-s", hyperparameters={"mode": "sleep"}))
    log = trainer.job_dir("job-s") / "output" / "job.log"
    deadline = time.monotonic() + 10
    while b"sleeping" not in (log.read_bytes() if log.exists() else b""):
        assert time.monotonic() < deadline, "container never started"
        time.sleep(0.02)
    assert trainer.describe("job-s").status == TRAINING_IN_PROGRESS
    trainer.stop("job-s")
    state = trainer.wait("job-s", timeout=20)
    assert state.status == TRAINING_STOPPED
    trainer.stop("job-s")  # a finished job is left as it is
    assert trainer.describe("job-s").status == TRAINING_STOPPED


def test_duplicate_unknown_and_invalid(trainer):
    trainer.start(spec("job-d", hyperparameters={"mode": "sleep", "seconds": "0"}))
    with pytest.raises(AlreadyExists):
        trainer.start(spec("job-d"))
    with pytest.raises(ValueError, match="unknown training container 'nope'"):
        trainer.start(spec("job-x", container="nope"))
    with pytest.raises(ValueError):
        trainer.start(spec("../escape"))
    with pytest.raises(NotFound):
        trainer.describe("never-started")
    with pytest.raises(NotFound):
        trainer.stop("never-started")
    assert trainer.wait("job-d", timeout=20).status == TRAINING_COMPLETED


def test_state_survives_a_new_trainer(trainer, blobs, tmp_path):
    trainer.start(spec("job-1"))
    trainer.wait("job-1", timeout=20)
    again = ProcessTrainer(blobs, tmp_path / "work", {"echo": ECHO})
    state = again.describe("job-1")
    assert state.status == TRAINING_COMPLETED
    assert state.model_key == "models/job-1/model.tar.gz"
    with pytest.raises(AlreadyExists):
        again.start(spec("job-1"))


def test_job_in_progress_on_disk_but_not_ours_is_interrupted(blobs, tmp_path):
    orphan = tmp_path / "work" / "orphan"
    orphan.mkdir(parents=True)
    (orphan / "state.json").write_text(json.dumps({"name": "orphan", "status": "InProgress"}))
    trainer = ProcessTrainer(blobs, tmp_path / "work", {"echo": ECHO})
    state = trainer.describe("orphan")
    assert (state.status, state.failure_reason) == (TRAINING_FAILED, INTERRUPTED)
    assert json.loads((orphan / "state.json").read_text())["status"] == TRAINING_FAILED
    (tmp_path / "work" / "half-made").mkdir()  # crashed before its first state.json
    assert trainer.describe("half-made").failure_reason == INTERRUPTED


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc to tell")
def test_a_job_a_crash_left_running_is_killed_and_failed_but_nothing_else(blobs, tmp_path):
    """A crashed server's training processes run on in their own session; the next
    server kills them. A recorded pid that now works elsewhere is not the job's."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    orphans = {}
    for name, cwd in (("left-running", None), ("pid-reused", tmp_path)):
        job_dir = tmp_path / "work" / name
        job_dir.mkdir(parents=True)
        process = subprocess.Popen(sleeper, cwd=cwd or job_dir, start_new_session=True)
        state = {"name": name, "status": "InProgress", "process_pid": process.pid}
        (job_dir / "state.json").write_text(json.dumps(state))
        orphans[name] = process
    try:
        trainer = ProcessTrainer(blobs, tmp_path / "work", {"echo": ECHO})
        assert trainer.reap_orphans() == 1
        assert orphans["left-running"].wait(timeout=10) == -signal.SIGKILL
        assert orphans["pid-reused"].poll() is None  # not the job's any more: left alone
        for name in orphans:
            state = trainer.describe(name)
            assert (state.status, state.failure_reason) == (TRAINING_FAILED, INTERRUPTED)
        assert trainer.reap_orphans() == 0
    finally:
        for process in orphans.values():
            process.kill()
            process.wait()


def test_close_kills_running_jobs(trainer):
    trainer.start(spec("job-k", hyperparameters={"mode": "sleep"}))
    trainer.close()
    assert trainer.wait("job-k", timeout=20).status == TRAINING_STOPPED


# -- SageMaker ---------------------------------------------------------------------------

ROLE = "arn:aws:iam::123456789012:role/augury-training"


@pytest.fixture
def sagemaker(aws) -> SageMakerTrainer:
    client = boto3.client("sagemaker", region_name="us-east-1")
    images = {"echo": "123456789012.dkr.ecr.us-east-1.amazonaws.com/augury-echo:1"}
    return SageMakerTrainer(ROLE, images, bucket="augury-data", prefix="tenant", client=client)


def test_sagemaker_request_maps_the_spec(sagemaker):
    request = sagemaker.request(spec("job-1", instance_type="ml.g5.xlarge"))
    assert request["AlgorithmSpecification"] == {
        "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/augury-echo:1",
        "TrainingInputMode": "File",
    }
    assert request["HyperParameters"] == {"message": "hello", "epochs": "3"}
    [channel] = request["InputDataConfig"]
    assert channel["ChannelName"] == "train"
    source = channel["DataSource"]["S3DataSource"]
    assert source["S3Uri"] == "s3://augury-data/tenant/datasets/d1/train/"
    assert source["S3DataType"] == "S3Prefix"
    assert request["OutputDataConfig"] == {"S3OutputPath": "s3://augury-data/tenant/models/job-1"}
    assert request["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86_400}
    assert request["EnableNetworkIsolation"] is True  # the containers need no network
    with pytest.raises(ValueError, match="unknown training container"):
        sagemaker.request(spec("job-2", container="nope"))


def test_the_deployment_chooses_instances_and_spot_per_container(aws):
    trainer = SageMakerTrainer(
        ROLE,
        {"echo": "123456789012.dkr.ecr.us-east-1.amazonaws.com/augury-echo:1"},
        bucket="augury-data",
        client=boto3.client("sagemaker", region_name="us-east-1"),
        instance_types={"echo": "ml.c5.2xlarge"},
        gpu_instance_types={"echo": "ml.g5.2xlarge"},
        spot={"echo": True},
    )
    cpu = trainer.request(spec("cpu", max_runtime_seconds=3600))
    assert cpu["ResourceConfig"]["InstanceType"] == "ml.c5.2xlarge"
    assert cpu["EnableManagedSpotTraining"] is True
    assert cpu["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    gpu = trainer.request(spec("gpu", accelerator=True))
    assert gpu["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert "EnableManagedSpotTraining" not in gpu  # GPU jobs run on demand
    assert gpu["StoppingCondition"] == {"MaxRuntimeInSeconds": 86_400}


def test_gpu_jobs_run_the_containers_gpu_image_when_the_deployment_has_one(aws):
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/augury-{}:1"
    trainer = SageMakerTrainer(
        ROLE,
        {"echo": image.format("echo"), "other": image.format("other")},
        bucket="augury-data",
        client=boto3.client("sagemaker", region_name="us-east-1"),
        gpu_images={"echo": image.format("echo-gpu")},
    )

    def image_of(job: TrainingJobSpec) -> str:
        return trainer.request(job)["AlgorithmSpecification"]["TrainingImage"]

    assert image_of(spec("gpu", accelerator=True)) == image.format("echo-gpu")
    assert image_of(spec("cpu")) == image.format("echo")
    # A container without a GPU image runs its own image on the GPU instance.
    assert image_of(spec("other-gpu", container="other", accelerator=True)) == image.format("other")
    with pytest.raises(ValueError, match="unknown training container 'gpu-only'"):
        SageMakerTrainer(
            ROLE, {}, bucket="b", client=trainer.client, gpu_images={"gpu-only": "x"}
        ).request(spec("g", container="gpu-only", accelerator=True))


def test_a_deep_forecasting_job_runs_the_cuda_image_on_the_gpu_instance_on_demand(aws):
    from augury.bootstrap import _trainer
    from augury.settings import Settings

    # AUGURY_TRAINER as the CDK app writes it with its defaults (cdk/augury_cdk/trainers.py).
    uri = (
        f"sagemaker://?role_arn={ROLE}&image.forecasting=repo/f:1&image.personalization=repo/p:1"
        "&gpu_image.forecasting=repo/f-gpu:1&gpu_image.personalization=repo/p-gpu:1"
        "&instance.forecasting=ml.m5.xlarge&gpu_instance.forecasting=ml.g5.xlarge"
        "&instance.personalization=ml.m5.xlarge&gpu_instance.personalization=ml.g5.xlarge"
        "&spot.forecasting=true&spot.personalization=true"
    )
    settings = Settings(
        metadata_uri="dynamodb://t", trainer_uri=uri, blobs_uri="s3://augury-data/root"
    )
    trainer = _trainer(settings, blobs=None, containers={})

    # A predictor training DeepAR+ or CNN-QR (TrainingJobSpec.accelerator, set by the workflow).
    deep = trainer.request(spec("deep", container="forecasting", accelerator=True))
    assert deep["AlgorithmSpecification"]["TrainingImage"] == "repo/f-gpu:1"
    assert deep["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert "EnableManagedSpotTraining" not in deep  # GPU jobs never run on spot
    assert deep["StoppingCondition"] == {"MaxRuntimeInSeconds": 86_400}
    # The statistical models: the CPU image, the CPU instance, managed spot.
    cpu = trainer.request(spec("cpu", container="forecasting"))
    assert cpu["AlgorithmSpecification"]["TrainingImage"] == "repo/f:1"
    assert cpu["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert cpu["EnableManagedSpotTraining"] is True


def test_sagemaker_create_describe_duplicate_unknown(sagemaker):
    sagemaker.start(spec("job-1"))
    state = sagemaker.describe("job-1")
    assert state.status == TRAINING_COMPLETED
    assert state.model_key == "models/job-1/job-1/output/model.tar.gz"
    with pytest.raises(AlreadyExists):
        sagemaker.start(spec("job-1"))
    with pytest.raises(NotFound):
        sagemaker.describe("unknown-job")


def stubbed(response_or_error: dict | str, method: str = "describe_training_job"):
    client = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(client)
    if isinstance(response_or_error, str):
        stubber.add_client_error(method, service_error_code=response_or_error, service_message="x")
    else:
        stubber.add_response(method, response_or_error)
    stubber.activate()
    return SageMakerTrainer(ROLE, {"echo": "img"}, bucket="b", client=client), stubber


def describe_response(status: str, **extra) -> dict:
    now = "2024-01-01T00:00:00Z"
    return {
        "TrainingJobName": "j",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/j",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/models/j/j/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": extra.pop("SecondaryStatus", status),
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "img"},
        "ResourceConfig": {"VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "CreationTime": now,
        **extra,
    }


@pytest.mark.parametrize(
    ("raw", "extra", "expected"),
    [
        ("InProgress", {}, (TRAINING_IN_PROGRESS, None, None)),
        ("Stopping", {}, (TRAINING_IN_PROGRESS, None, None)),
        ("Completed", {}, (TRAINING_COMPLETED, None, "models/j/j/output/model.tar.gz")),
        (
            "Failed",
            {"FailureReason": "AlgorithmError: boom"},
            (TRAINING_FAILED, "AlgorithmError: boom", None),
        ),
        ("Stopped", {}, (TRAINING_STOPPED, None, None)),
        (
            "Stopped",
            {"SecondaryStatus": "MaxRuntimeExceeded"},
            (TRAINING_FAILED, "MaxRuntimeExceeded: training job timed out", None),
        ),
    ],
)
def test_sagemaker_status_mapping(aws_credentials, raw, extra, expected):
    trainer, _ = stubbed(describe_response(raw, **extra))
    state = trainer.describe("j")
    assert (state.status, state.failure_reason, state.model_key) == expected


def test_sagemaker_resource_in_use_is_already_exists(aws_credentials):
    client = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error(
        "describe_training_job", "ValidationException", "Requested resource not found."
    )
    stubber.add_client_error("create_training_job", "ResourceInUse", "job already exists")
    stubber.activate()
    trainer = SageMakerTrainer(ROLE, {"echo": "img"}, bucket="b", client=client)
    with pytest.raises(AlreadyExists):
        trainer.start(spec("j"))


def test_sagemaker_stop(aws_credentials):
    client = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": "j"})
    stubber.add_client_error(
        "stop_training_job", "ValidationException", "The job status is Completed."
    )
    stubber.add_client_error(
        "stop_training_job", "ValidationException", "Requested resource not found."
    )
    stubber.activate()
    trainer = SageMakerTrainer(ROLE, {"echo": "img"}, bucket="b", client=client)
    trainer.stop("j")
    trainer.stop("j")  # finished already: left as it is
    with pytest.raises(NotFound):
        trainer.stop("j")
    stubber.assert_no_pending_responses()


def test_the_trainer_uri_carries_the_deployments_choices(aws):
    from augury.bootstrap import _trainer
    from augury.settings import Settings

    uri = (
        f"sagemaker://?role_arn={ROLE}&image.personalization=repo/p:1&image.forecasting=repo/f:1"
        "&gpu_image.personalization=repo/p-gpu:1"
        "&instance.personalization=ml.c5.xlarge&gpu_instance.personalization=ml.g5.2xlarge"
        "&spot.personalization=true&spot.forecasting=false"
    )
    settings = Settings(
        metadata_uri="dynamodb://t", trainer_uri=uri, blobs_uri="s3://augury-data/root"
    )
    trainer = _trainer(settings, blobs=None, containers={})
    assert trainer.images == {"personalization": "repo/p:1", "forecasting": "repo/f:1"}
    assert trainer.gpu_images == {"personalization": "repo/p-gpu:1"}
    assert trainer.instance_types == {"personalization": "ml.c5.xlarge"}
    assert trainer.gpu_instance_types == {"personalization": "ml.g5.2xlarge"}
    assert trainer.spot == {"personalization": True, "forecasting": False}
    assert (trainer.bucket, trainer.prefix) == ("augury-data", "root")
