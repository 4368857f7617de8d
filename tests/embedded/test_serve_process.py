"""`augury serve` as a user runs it: a real process, the AWS CLI, kill -9 and restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from augury.local.sqlite_store import SqliteMetadataStore
from augury.local.workflow_runner import EXECUTION_KIND, RESTART_REASON
from augury.resources.record import Resource

AWS_CLI = Path(sys.executable).with_name("aws")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(port: int, data_dir: Path) -> list[str]:
    """``augury serve`` as a user types it, from this interpreter."""
    return [
        sys.executable,
        *("-m", "augury.embedded.cli", "serve"),
        *("--port", str(port), "--data-dir", str(data_dir)),
    ]


def leave_running(store: SqliteMetadataStore, arn: str, execution: str) -> None:
    """What a server leaves while it activates a dataset group: the resource working and
    its execution recorded as running."""
    kind, name = "personalize:dataset-group", arn.rsplit("/", 1)[-1]
    store.create(Resource(arn=arn, kind=kind, name=name, status="CREATE_IN_PROGRESS"))
    store.create(
        Resource(
            arn=f"arn:augury:local:000000000000:execution/{execution}",
            kind=EXECUTION_KIND,
            name="activate-resource",
            status="CREATE_IN_PROGRESS",
            attributes={"input": {"arn": arn}},
        )
    )


class ServeProcess:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        command = [*serve_command(self.port, self.data_dir), "--log-level", "WARNING"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read().decode()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise AssertionError("augury serve did not listen")

    def kill_hard(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def client(self, service: str):
        return boto3.client(service, endpoint_url=f"{self.url}/{service}", region_name="us-east-1")


@pytest.fixture
def serve(tmp_path) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path / "data").start()
    yield process
    process.stop()


def test_the_aws_cli_works_with_endpoint_url(serve):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    base = [str(AWS_CLI), "--region", "us-east-1", "--output", "json"]
    subprocess.run(
        [
            *base,
            "forecast",
            "create-dataset-group",
            "--dataset-group-name",
            "cli_group",
            "--domain",
            "CUSTOM",
            "--endpoint-url",
            f"{serve.url}/forecast",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    listed = subprocess.run(
        [*base, "forecast", "list-dataset-groups", "--endpoint-url", f"{serve.url}/forecast"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    groups = json.loads(listed.stdout)["DatasetGroups"]
    assert [group["DatasetGroupName"] for group in groups] == ["cli_group"]


def test_kill_minus_nine_keeps_active_resources_and_fails_interrupted_work(serve):
    forecast, personalize = serve.client("forecast"), serve.client("personalize")
    kept = forecast.create_dataset_group(DatasetGroupName="kept", Domain="RETAIL")[
        "DatasetGroupArn"
    ]
    personalize_arn = personalize.create_dataset_group(name="kept")["datasetGroupArn"]
    deadline = time.monotonic() + 10
    while (
        personalize.describe_dataset_group(datasetGroupArn=personalize_arn)["datasetGroup"][
            "status"
        ]
        != "ACTIVE"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)

    serve.kill_hard()
    # What a crash in the middle of an activation leaves behind: the resource is
    # CREATE_IN_PROGRESS and its execution is still recorded as running.
    store = SqliteMetadataStore(serve.data_dir / "augury.db")
    stuck = "arn:aws:personalize:us-east-1:000000000000:dataset-group/interrupted"
    leave_running(store, stuck, "x")

    stopping = "arn:aws:forecast:us-east-1:000000000000:predictor/asked_to_stop"
    store.create(
        Resource(
            arn=stopping, kind="forecast:predictor", name="asked_to_stop", status="CREATE_STOPPING"
        )
    )

    serve.start()
    assert forecast.describe_dataset_group(DatasetGroupArn=kept)["Status"] == "ACTIVE"
    stopped = forecast.describe_predictor(PredictorArn=stopping)
    assert stopped["Status"] == "CREATE_STOPPED" and "Message" not in stopped
    group = personalize.describe_dataset_group(datasetGroupArn=personalize_arn)["datasetGroup"]
    assert group["status"] == "ACTIVE"
    interrupted = personalize.describe_dataset_group(datasetGroupArn=stuck)["datasetGroup"]
    assert interrupted["status"] == "CREATE FAILED"
    assert interrupted["failureReason"] == RESTART_REASON


def test_a_second_serve_on_the_same_data_directory_refuses_and_fails_nothing(serve, tmp_path):
    """A second ``augury serve`` would have failed the first one's running work as if a
    crash had interrupted it; it now stops before reading the directory."""
    forecast = serve.client("forecast")
    kept = forecast.create_dataset_group(DatasetGroupName="kept", Domain="RETAIL")
    store = SqliteMetadataStore(serve.data_dir / "augury.db")
    running = "arn:aws:personalize:us-east-1:000000000000:dataset-group/running"
    leave_running(store, running, "live")
    for port in (serve.port, free_port()):
        second = subprocess.run(
            serve_command(port, serve.data_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "is in use by another Augury server" in second.stderr
        assert "Traceback" not in second.stderr
    assert store.get(running).status == "CREATE_IN_PROGRESS"
    arn = kept["DatasetGroupArn"]
    assert forecast.describe_dataset_group(DatasetGroupArn=arn)["Status"] == "ACTIVE"
