"""Settings from the environment, and the training-job names a deployment's grants match."""

from __future__ import annotations

import re

import pytest

from augury.settings import MAX_JOB_NAME, Settings

SAGEMAKER_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
"""CreateTrainingJob's pattern for TrainingJobName."""


def test_from_env_reads_every_adapter_and_the_job_prefix(tmp_path) -> None:
    env = {
        "AUGURY_DATA_DIR": str(tmp_path),
        "AUGURY_TRAINER": "sagemaker://?role_arn=arn:aws:iam::1:role/r",
        "AUGURY_JOB_PREFIX": "dev-augury-",
        "AUGURY_REGION": "eu-west-1",
    }
    settings = Settings.from_env(env)
    assert settings.trainer_uri.startswith("sagemaker://")
    assert settings.region == "eu-west-1"
    assert settings.training_job_name("predictor", "ab12") == "dev-augury-predictor-ab12"
    assert settings.partition == "aws"  # unless the deployment says otherwise


def test_arns_and_state_machines_are_in_the_deployments_partition(tmp_path) -> None:
    """In aws-cn a state machine ARN that says ``arn:aws:`` is no ARN Step Functions knows."""
    from augury.aws.stepfunctions_engine import StepFunctionsEngine
    from augury.bootstrap import _workflow_engine
    from augury.runtime import Runtime

    env = {
        "AUGURY_DATA_DIR": str(tmp_path),
        "AUGURY_REGION": "cn-north-1",
        "AUGURY_ACCOUNT": "123456789012",
        "AUGURY_PARTITION": "aws-cn",
        "AUGURY_WORKFLOWS": "stepfunctions://augury-",
    }
    settings = Settings.from_env(env)
    runtime = Runtime(settings, *[None] * 7)  # type: ignore[arg-type]  # only ARNs asked
    group = runtime.arns.build("forecast", "dataset-group", "sales")
    assert group == "arn:aws-cn:forecast:cn-north-1:123456789012:dataset-group/sales"
    engine = _workflow_engine(settings, runtime)
    assert isinstance(engine, StepFunctionsEngine)
    assert engine.state_machine_arn("train") == (
        "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:augury-train"
    )


def test_embedded_jobs_keep_the_default_prefix(tmp_path) -> None:
    settings = Settings.from_env({"AUGURY_DATA_DIR": str(tmp_path)})
    assert settings.training_job_name("solution", "0123456789") == "augury-solution-0123456789"


def test_a_long_prefix_shortens_the_id_to_sagemakers_limit(tmp_path) -> None:
    prefix = "a" * 30 + "-"  # the longest the CDK app's `prefix` context allows
    settings = Settings.embedded(tmp_path, job_prefix=prefix)
    job_id = "f" * 24
    name = settings.training_job_name("predictor", job_id)
    assert len(name) == MAX_JOB_NAME
    assert name.startswith(f"{prefix}predictor-ff")
    assert SAGEMAKER_JOB_NAME.match(name)


def test_a_prefix_leaving_no_room_for_the_id_is_refused(tmp_path) -> None:
    settings = Settings.embedded(tmp_path, job_prefix="p" * 50 + "-")
    with pytest.raises(ValueError, match="no room"):
        settings.training_job_name("predictor", "f" * 24)


def test_the_trainer_uri_carries_the_deployments_training_choices(tmp_path) -> None:
    from augury.bootstrap import _trainer

    uri = (
        "sagemaker://?role_arn=arn:aws:iam::123456789012:role/t&image.forecasting=img"
        "&instance.forecasting=ml.c5.4xlarge&spot.forecasting=true&volume_gb=200"
    )
    settings = Settings.from_env(
        {"AUGURY_DATA_DIR": str(tmp_path), "AUGURY_TRAINER": uri, "AUGURY_BLOBS": "s3://b/p"}
    )
    trainer = _trainer(settings, None, {})
    assert trainer.volume_size_gb == 200  # datasets past a third of 30 GB need more
    assert trainer.instance_types == {"forecasting": "ml.c5.4xlarge"}
    assert trainer.spot == {"forecasting": True} and trainer.bucket == "b"
    default = Settings.from_env(
        {"AUGURY_DATA_DIR": str(tmp_path), "AUGURY_TRAINER": uri.replace("&volume_gb=200", "")}
    )
    assert _trainer(default, None, {}).volume_size_gb == 30
