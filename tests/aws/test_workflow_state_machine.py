"""A workflow is defined once: the compiled state machine runs the same Python steps.

Each test runs real executions in moto's Step Functions engine
(``execute_state_machine``) of the ASL that ``augury.workflows.asl`` compiles
from ``augury.workflows.catalog``, the same definitions the local runner uses,
with the runtime configured as it is on AWS (DynamoDB, S3, Step Functions).
Executions are started through the runtime's own ``StepFunctionsEngine``, so
the state machine names the CDK app gives and the ARNs the engine builds are
checked against each other too.

The one workaround: moto runs a Lambda function in Docker. Its
``LambdaFunction.invoke`` is patched to call ``augury.handlers.workflow_step``
in-process instead, answering as Lambda does: the handler's result as the
payload, or, when it raises, an ``{"errorType", "errorMessage"}`` payload with
``FunctionError: Unhandled``, so the state machine's Retry and Catch match
``ResourcePending`` and ``ResourceFailed`` by name exactly as on AWS.
Everything the handler does (DynamoDB, S3) goes to moto as well.
"""

from __future__ import annotations

import io
import json
import time
import traceback
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from augury import handlers
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.workflows import catalog
from augury.workflows.asl import compile_workflow, state_machine_name
from augury.workflows.definition import ResourceFailed, ResourcePending, Retry, Step, Workflow
from augury.workflows.lifecycle import blob_prefix

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
TABLE = "augury-resources"
BUCKET = "augury-data"
PREFIX = "augury-"
FUNCTION = "augury-workflow-step"
EXECUTION_TIMEOUT = 20.0

pytestmark = pytest.mark.timeout(60)


@dataclass
class Deployment:
    """What the CDK stack would have created, in moto."""

    sfn: Any
    s3: Any
    function_arn: str
    role_arn: str

    def deploy(self, workflow: Workflow) -> str:
        """Create the state machine for ``workflow`` exactly as the CDK app compiles it."""
        response = self.sfn.create_state_machine(
            name=state_machine_name(PREFIX, workflow.name),
            definition=json.dumps(compile_workflow(workflow, self.function_arn)),
            roleArn=self.role_arn,
        )
        return response["stateMachineArn"]

    def run(self, workflow: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Start ``workflow`` through the runtime's engine and wait for it to end."""
        execution_arn = handlers.runtime().workflows.start(workflow, payload)
        deadline = time.monotonic() + EXECUTION_TIMEOUT
        while time.monotonic() < deadline:
            execution = self.sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                return execution
            time.sleep(0.05)
        raise AssertionError(f"{workflow} still running after {EXECUTION_TIMEOUT} s")


def _invoke_in_process(
    self: LambdaFunction, body: str, request_headers: Any, response_headers: Any
) -> bytes:
    """Stands in for moto's Docker-based ``LambdaFunction.invoke``: see the module docstring."""
    event = json.loads(body) if body else {}
    context = SimpleNamespace(
        function_name=self.function_name,
        function_version="$LATEST",
        invoked_function_arn=self.function_arn,
        memory_limit_in_mb=int(self.memory_size or 128),
        aws_request_id="00000000-0000-0000-0000-000000000000",
        log_group_name=f"/aws/lambda/{self.function_name}",
        log_stream_name="in-process",
        get_remaining_time_in_millis=lambda: 60_000,
    )
    try:
        result = handlers.workflow_step(event, context)
    except Exception as error:
        response_headers["x-amz-function-error"] = "Unhandled"
        result = {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
    return json.dumps(result).encode()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the handler runs in-process\n")
    return buffer.getvalue()


def _table_definition() -> dict[str, Any]:
    from augury.aws.dynamodb_store import table_definition

    return table_definition(TABLE)


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Deployment]:
    for name, value in {
        "AUGURY_METADATA": f"dynamodb://{TABLE}",
        "AUGURY_BLOBS": f"s3://{BUCKET}",
        "AUGURY_WORKFLOWS": f"stepfunctions://{PREFIX}",
        "AUGURY_TRAINER": "local://",
        "AUGURY_EVENTS": "local://",
        "AUGURY_REGION": REGION,
        "AUGURY_ACCOUNT": ACCOUNT,
        "AUGURY_DATA_DIR": str(tmp_path / "data"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "AuguryTests",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(LambdaFunction, "invoke", _invoke_in_process)
    handlers.runtime.cache_clear()
    handlers.dispatcher.cache_clear()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.client("dynamodb", region_name=REGION).create_table(**_table_definition())
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        role_arn = boto3.client("iam", region_name=REGION).create_role(
            RoleName="augury-workflows",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {
                                "Service": ["lambda.amazonaws.com", "states.amazonaws.com"]
                            },
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        function_arn = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=role_arn,
            Handler="augury.handlers.workflow_step",
            Code={"ZipFile": _zip()},
        )["FunctionArn"]
        deployment = Deployment(
            sfn=boto3.client("stepfunctions", region_name=REGION),
            s3=s3,
            function_arn=function_arn,
            role_arn=role_arn,
        )
        for workflow in catalog.WORKFLOWS.values():
            deployment.deploy(workflow)
        yield deployment
    handlers.runtime.cache_clear()
    handlers.dispatcher.cache_clear()


def _dataset_group(name: str, **attributes: Any) -> Resource:
    record = Resource(
        arn=f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/{name}",
        kind="personalize:dataset-group",
        name=name,
        status=Status.CREATE_PENDING.value,
        attributes=dict(attributes),
    )
    handlers.runtime().metadata.create(record)
    return record


def test_activate_resource_makes_a_pending_record_active(deployment: Deployment) -> None:
    record = _dataset_group("shop", roleArn=f"arn:aws:iam::{ACCOUNT}:role/personalize")

    execution = deployment.run("activate-resource", {"arn": record.arn})

    assert execution["status"] == "SUCCEEDED", execution
    stored = handlers.runtime().metadata.get(record.arn)
    assert stored is not None
    assert stored.status == Status.ACTIVE.value
    assert "failureReason" not in stored.attributes


def test_activate_resource_fails_the_record_with_the_validators_reason(
    deployment: Deployment,
) -> None:
    record = _dataset_group("broken", roleArn="not-a-role")

    execution = deployment.run("activate-resource", {"arn": record.arn})

    assert execution["status"] == "FAILED", execution
    assert execution["error"] == "ResourceFailed"  # the Fail state reports the caught error
    stored = handlers.runtime().metadata.get(record.arn)
    assert stored is not None
    assert stored.status == Status.CREATE_FAILED.value
    reason = "roleArn not-a-role is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
    assert stored.attributes["failureReason"] == reason


def test_delete_resource_removes_the_record_and_its_blobs(deployment: Deployment) -> None:
    record = _dataset_group("doomed")
    prefix = blob_prefix(record.arn)
    blobs = handlers.runtime().blobs
    blobs.put_bytes(f"{prefix}data/part-0.parquet", b"rows")
    blobs.put_bytes(f"{prefix}model/model.tar.gz", b"model")
    blobs.put_bytes("resources/elsewhere/keep.txt", b"not this one")

    execution = deployment.run("delete-resource", {"arn": record.arn})

    assert execution["status"] == "SUCCEEDED", execution
    assert handlers.runtime().metadata.get(record.arn) is None
    assert list(blobs.list_keys(prefix)) == []
    assert list(blobs.list_keys("resources/elsewhere/")) == ["resources/elsewhere/keep.txt"]


def test_a_step_that_raises_resource_pending_is_called_again(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retry matches ``ResourcePending`` by name (one retry: moto really sleeps 1 s)."""
    calls: list[dict[str, Any]] = []

    def wait_once(runtime: Any, state: dict[str, Any]) -> dict[str, Any]:
        calls.append(dict(state))
        if len(calls) == 1:
            raise ResourcePending("training job still running")
        return {"waited": len(calls)}

    def never_fails(runtime: Any, state: dict[str, Any], reason: str) -> None:
        raise AssertionError(f"unexpected failure: {reason}")

    waiting = Workflow(
        name="test-wait-once",
        steps=(Step("wait", wait_once, Retry(interval_seconds=1, max_attempts=3)),),
        on_failure=never_fails,
    )
    monkeypatch.setitem(catalog.WORKFLOWS, waiting.name, waiting)
    deployment.deploy(waiting)

    execution = deployment.run(waiting.name, {"arn": "arn:aws:personalize:::x/y"})

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {"arn": "arn:aws:personalize:::x/y", "waited": 2}
    assert len(calls) == 2


def test_a_failure_handler_that_errs_once_is_retried_and_the_original_error_reported(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler only sets a status, so an error in it (a throttled table) is retried."""
    handled: list[str] = []

    def broken_step(runtime: Any, state: dict[str, Any]) -> dict[str, Any]:
        raise ResourceFailed("the file has no header")

    def flaky_handler(runtime: Any, state: dict[str, Any], reason: str) -> None:
        handled.append(reason)
        if len(handled) == 1:
            raise RuntimeError("table throttled")

    flaky = Workflow(
        name="test-flaky-failure", steps=(Step("import", broken_step),), on_failure=flaky_handler
    )
    monkeypatch.setitem(catalog.WORKFLOWS, flaky.name, flaky)
    deployment.deploy(flaky)

    execution = deployment.run(flaky.name, {"arn": "arn:aws:personalize:::x/y"})

    assert execution["status"] == "FAILED", execution
    assert execution["error"] == "ResourceFailed"
    assert handled == ["the file has no header"] * 2
