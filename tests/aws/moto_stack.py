"""Augury deployed into moto the way the CDK app deploys it into an account.

What the stack creates, created here through boto3 in moto: the resources and
user-history DynamoDB tables (from the adapters' own table definitions), the
data bucket, the Kinesis events stream, the workflow-step and events-consumer
Lambda functions, and one state machine per workflow, compiled by
``augury.workflows.asl`` exactly as ``cdk/`` compiles it. The functions are
configured by the same ``AUGURY_*`` variables, so ``bootstrap`` wires the AWS
adapters: DynamoDB, S3, Step Functions, SageMaker, Kinesis and the user's S3.

Test doubles, each at a boundary moto cannot cross, none inside Augury:

- Lambda handlers run in this process (``in_process_lambda``);
- SageMaker jobs run the training images' entry points locally
  (``local_sagemaker``);
- the Kinesis event source mapping is ``kinesis_source``;
- API Gateway is ``api_gateway``;
- IAM's policy simulator, which moto lacks, is ``simulate_role_passing``: the
  caller may pass every role but :data:`NOT_PASSABLE_ROLE`.

Two corrections to moto's executing Step Functions engine:

- it names an execution started without a ``name`` "None" instead of a fresh
  UUID, so a second StartExecution of a state machine with another input fails
  with ExecutionAlreadyExists (and one with the same input silently returns the
  first execution). Unnamed executions get a UUID here, as on AWS;
- it sleeps for real between retries, at least the 1 s Step Functions allows
  (``asl`` compiles every interval to a whole number of seconds, at least 1,
  as AWS requires, so a definition cannot ask for less). Each of those sleeps
  is capped at ``RETRY_SLEEP_CAP`` here, so a ``wait`` step polls a running
  training job a few times a second; the compiled definitions, production
  intervals included, are left as they are.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from augury import handlers
from augury.aws.dynamodb_history import history_table_definition
from augury.aws.dynamodb_store import table_definition
from augury.aws.iam_role_passing import IamRolePassing
from augury.workflows import catalog
from augury.workflows.asl import compile_workflow, state_machine_name
from tests.aws.api_gateway import ApiGateway
from tests.aws.in_process_lambda import placeholder_zip, run_lambdas_in_process
from tests.aws.kinesis_source import KinesisEventSource
from tests.aws.local_sagemaker import ENTRY_POINTS, LocalSageMaker

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
RESOURCES_TABLE = "augury-resources"
HISTORY_TABLE = "augury-history"
DATA_BUCKET = "augury-data"
USER_BUCKET = "customer-data"
STREAM = "augury-events"
PREFIX = "augury-"
STEP_FUNCTION = "augury-workflow-step"
EVENTS_FUNCTION = "augury-events"
USER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ForecastAndPersonalizeAccess"
NOT_PASSABLE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/SomebodyElsesAccess"
"""A role the API's caller may not pass (``simulate_role_passing``)."""
RETRY_SLEEP_CAP = 0.2
"""Seconds: the longest moto's engine sleeps between two attempts of a state."""

JOB_ENVIRONMENT = {"SM_NUM_CPUS": "1"}
"""One CPU per training job: on test-sized data a process pool costs more than it saves
(the forecasting container's forkserver imports its models again, seconds on CI)."""

IMAGES = {
    container: f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/augury-{container}:test"
    for container in ENTRY_POINTS
}
GPU_IMAGES = {
    container: f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/augury-{container}-gpu:test"
    for container in ("forecasting", "personalization")
}
"""The CUDA builds the deep models' GPU jobs run; here the same entry points as the CPU images."""


@dataclass
class Stack:
    """Handles on the deployed stack for a test."""

    api: ApiGateway
    sagemaker: LocalSageMaker
    events: KinesisEventSource
    state_machines: dict[str, str] = field(default_factory=dict)
    """Workflow name → state machine ARN."""

    def executions(self) -> dict[str, list[str]]:
        """Every execution's status, by workflow (only workflows that ran)."""
        sfn = boto3.client("stepfunctions", region_name=REGION)
        found: dict[str, list[str]] = {}
        for workflow, arn in self.state_machines.items():
            listed = sfn.list_executions(stateMachineArn=arn)["executions"]
            if listed:
                found[workflow] = [execution["status"] for execution in listed]
        return found

    def upload(self, key: str, body: bytes) -> str:
        """Put a file in the user's own bucket; its ``s3://`` URI."""
        boto3.client("s3", region_name=REGION).put_object(Bucket=USER_BUCKET, Key=key, Body=body)
        return f"s3://{USER_BUCKET}/{key}"

    def user_files(self, prefix: str, role_arn: str = USER_ROLE) -> dict[str, bytes]:
        """Every object under ``prefix`` in the user's bucket, by key, read as ``role_arn``.

        The role is assumed through STS, as ``S3ExternalStorage`` assumes the role a request
        names, so what a job wrote is read back with the user's own access.
        """
        credentials = boto3.client("sts", region_name=REGION).assume_role(
            RoleArn=role_arn, RoleSessionName="user"
        )["Credentials"]
        s3 = boto3.client(
            "s3",
            region_name=REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=USER_BUCKET, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        return {key: s3.get_object(Bucket=USER_BUCKET, Key=key)["Body"].read() for key in keys}


METRICS_NAMESPACE = "Augury/Personalize"
"""The stack's metric attribution namespace (``AuguryStack.metrics_namespace``)."""


def environment(work_dir: Path) -> dict[str, str]:
    """The Lambda functions' configuration, as the CDK app sets it (with its defaults)."""
    trainer = [("role_arn", f"arn:aws:iam::{ACCOUNT}:role/augury-training")]
    trainer += [(f"image.{container}", uri) for container, uri in IMAGES.items()]
    trainer += [(f"gpu_image.{container}", uri) for container, uri in GPU_IMAGES.items()]
    trainer += [
        ("instance.forecasting", "ml.m5.xlarge"),
        ("instance.personalization", "ml.m5.xlarge"),
        ("gpu_instance.personalization", "ml.g5.xlarge"),
        ("gpu_instance.forecasting", "ml.g5.xlarge"),
        ("spot.forecasting", "true"),
        ("spot.personalization", "true"),
    ]
    return {
        "AUGURY_METADATA": f"dynamodb://{RESOURCES_TABLE}",
        "AUGURY_BLOBS": f"s3://{DATA_BUCKET}",
        "AUGURY_WORKFLOWS": f"stepfunctions://{PREFIX}",
        "AUGURY_TRAINER": "sagemaker://?" + "&".join(f"{k}={v}" for k, v in trainer),
        "AUGURY_EVENTS": f"kinesis://{STREAM}",
        "AUGURY_EXTERNAL": "s3://",
        "AUGURY_METRICS": f"cloudwatch://{METRICS_NAMESPACE}",
        "AUGURY_HISTORY": f"dynamodb://{HISTORY_TABLE}?ttl_days=90&max_events=500",
        "AUGURY_REGION": REGION,
        "AUGURY_ACCOUNT": ACCOUNT,
        "AUGURY_DATA_DIR": str(work_dir / "unused-data-dir"),
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "AuguryTests",
    }


def cap_retry_sleeps(monkeypatch: pytest.MonkeyPatch, cap: float = RETRY_SLEEP_CAP) -> None:
    """See the module docstring: moto's Retry waits at most ``cap`` seconds."""
    monkeypatch.setattr(
        retrier_decl, "time", SimpleNamespace(sleep=lambda seconds: time.sleep(min(seconds, cap)))
    )


def name_executions(monkeypatch: pytest.MonkeyPatch) -> None:
    """See the module docstring: an unnamed execution gets a UUID for a name."""
    original = StepFunctionsParserBackend.start_execution

    def start_execution(backend: Any, state_machine_arn: str, name: Any = None, *args: Any):
        return original(backend, state_machine_arn, name or str(uuid.uuid4()), *args)

    monkeypatch.setattr(StepFunctionsParserBackend, "start_execution", start_execution)


def simulate_role_passing(monkeypatch: pytest.MonkeyPatch) -> None:
    """See the module docstring: IAM's answer to "may the caller pass this role?"."""

    def decide(passing: IamRolePassing, caller: str, role_arn: str, service: str):
        return role_arn != NOT_PASSABLE_ROLE, f"simulated for {caller} and {service}"

    monkeypatch.setattr(IamRolePassing, "_decide", decide)


def configure(monkeypatch: pytest.MonkeyPatch, work_dir: Path) -> LocalSageMaker:
    """Everything done before moto starts: variables and the test doubles' patches."""
    for name, value in environment(work_dir).items():
        monkeypatch.setenv(name, value)
    run_lambdas_in_process(monkeypatch)
    simulate_role_passing(monkeypatch)
    cap_retry_sleeps(monkeypatch)
    name_executions(monkeypatch)
    sagemaker = LocalSageMaker(
        {
            **{IMAGES[name]: argv for name, argv in ENTRY_POINTS.items()},
            **{GPU_IMAGES[name]: ENTRY_POINTS[name] for name in GPU_IMAGES},
        },
        work_dir / "sagemaker",
        REGION,
        environment=JOB_ENVIRONMENT,
    )
    sagemaker.install(monkeypatch)
    handlers.runtime.cache_clear()
    handlers.dispatcher.cache_clear()
    return sagemaker


def deploy(sagemaker: LocalSageMaker) -> Stack:
    """Create the stack's resources in moto (inside ``mock_aws``)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(**table_definition(RESOURCES_TABLE))
    dynamodb.create_table(**history_table_definition(HISTORY_TABLE))
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (DATA_BUCKET, USER_BUCKET):
        s3.create_bucket(Bucket=bucket)
    boto3.client("kinesis", region_name=REGION).create_stream(
        StreamName=STREAM, StreamModeDetails={"StreamMode": "ON_DEMAND"}
    )
    role = _role("augury-functions")
    functions = boto3.client("lambda", region_name=REGION)
    arns = {}
    for name, handler in (
        (STEP_FUNCTION, "augury.handlers.workflow_step"),
        (EVENTS_FUNCTION, "augury.handlers.events"),
    ):
        arns[name] = functions.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler=handler,
            Code={"ZipFile": placeholder_zip()},
            MemorySize=1024,
        )["FunctionArn"]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machines = {
        workflow.name: sfn.create_state_machine(
            name=state_machine_name(PREFIX, workflow.name),
            definition=json.dumps(compile_workflow(workflow, arns[STEP_FUNCTION])),
            roleArn=role,
        )["stateMachineArn"]
        for workflow in catalog.WORKFLOWS.values()
    }
    return Stack(
        api=ApiGateway(handlers.api, region=REGION, account=ACCOUNT),
        sagemaker=sagemaker,
        events=KinesisEventSource(STREAM, EVENTS_FUNCTION, REGION),
        state_machines=machines,
    )


def _role(name: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam = boto3.client("iam", region_name=REGION)
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
