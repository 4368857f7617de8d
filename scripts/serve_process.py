"""``augury serve`` in a subprocess, reachable by stock boto3 clients: what the HTTP
benchmarks drive, as a user would.

The server listens on a free port (``--port 0``) and prints its URL on its first
line; its output goes to ``<data dir>-serve.log`` beside the data directory.
``stop`` ends its whole process group (its training jobs included).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(
    retries={"max_attempts": 1, "mode": "standard"},
    max_pool_connections=4,
    connect_timeout=10,
    read_timeout=120,
)
CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "embedded",
    "aws_secret_access_key": "embedded",
}


class Server:
    """``augury serve --port 0`` on a data directory, its URL read from its first line."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{data_dir.name}-serve.log"
        command = [
            sys.executable,
            "-m",
            "augury.embedded.cli",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--log-level",
            "WARNING",
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.url = self._wait_for_url()
        self._drain = threading.Thread(target=self._copy_output, daemon=True)
        self._drain.start()

    def _wait_for_url(self) -> str:
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        reader = threading.Thread(
            target=lambda: lines.put(self.process.stdout.readline()), daemon=True
        )
        reader.start()
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            self.stop()
            raise RuntimeError("augury serve printed nothing within 60 s") from None
        match = re.search(r"listening on (http://\S+)", first)
        if not match:
            self.stop()
            raise RuntimeError(f"augury serve did not start: {first.strip()}")
        return match.group(1)

    def _copy_output(self) -> None:
        assert self.process.stdout is not None
        with self.log_path.open("w") as log:
            for line in self.process.stdout:
                log.write(line)

    def endpoint(self, service: str) -> str:
        return f"{self.url}/{service}"

    def client(self, service: str) -> Any:
        session = boto3.session.Session()
        return session.client(
            service, endpoint_url=self.endpoint(service), config=CLIENT_CONFIG, **CREDENTIALS
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
