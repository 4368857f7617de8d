"""Fixtures every test layer shares: an embedded Augury and stock boto3 clients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from augury.embedded.server import EmbeddedServer, create_server

CLIENT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})


DUMMY_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials: nothing in the tests can reach a real AWS account."""
    for name, value in DUMMY_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@contextlib.contextmanager
def dummy_aws_credentials() -> Iterator[None]:
    """The same dummy credentials for module-scoped fixtures, which start before the
    function-scoped ``_no_real_aws`` and outlive it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in DUMMY_AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        yield


@pytest.fixture
def server(tmp_path) -> Iterator[EmbeddedServer]:
    """An embedded Augury on a free port with its own data directory."""
    running = create_server(tmp_path / "data", port=0).start_in_background()
    yield running
    running.stop()


@pytest.fixture
def client(server: EmbeddedServer) -> Callable[[str], Any]:
    """``client("forecast")``: a stock boto3 client pointed at the embedded server."""

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.endpoint(service),
            region_name="us-east-1",
            config=CLIENT_CONFIG,
        )

    return make


@pytest.fixture
def wait_for_workflows(server: EmbeddedServer) -> Callable[[], None]:
    """Block until the embedded workflow runner is idle."""

    def wait() -> None:
        assert server.runtime.workflows.wait_idle(timeout=30), "workflows still running"

    return wait
