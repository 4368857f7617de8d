"""Small helpers the demo walkthroughs share: printing calls and waiting on jobs."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from botocore.config import Config

CLIENT_ARGS: dict[str, Any] = {
    "region_name": "us-east-1",
    "aws_access_key_id": "embedded",
    "aws_secret_access_key": "embedded",
    "config": Config(retries={"max_attempts": 2, "mode": "standard"}),
}

FINISHED = {"ACTIVE", "CREATE_FAILED", "CREATE FAILED", "CREATE_STOPPED"}


def show(label: str, response: dict[str, Any]) -> dict[str, Any]:
    """Print one call's response as a user would see it from boto3."""
    body = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    print(f"\n> {label}")
    print(json.dumps(body, indent=2, default=str))
    return body


def wait_until_finished(
    label: str,
    describe: Callable[[], dict[str, Any]],
    *,
    status_of: Callable[[dict[str, Any]], str] = lambda body: body["Status"],
    timeout: float = 1800,
) -> dict[str, Any]:
    """Poll ``describe`` and print progress until the resource is ACTIVE or failed."""
    started, last = time.monotonic(), None
    while True:
        body = describe()
        status = status_of(body)
        remaining = body.get("EstimatedTimeRemainingInMinutes")
        line = f"  {label}: {status}"
        if remaining is not None and status not in FINISHED:
            line += f" (about {remaining} min left)"
        if line != last:
            print(f"{line}  [{time.monotonic() - started:5.1f} s]", flush=True)
            last = line
        if status in FINISHED:
            if status != "ACTIVE":
                reason = body.get("Message") or body.get("failureReason")
                sys.exit(f"{label} failed: {reason}")
            return body
        if time.monotonic() - started > timeout:
            sys.exit(f"{label} did not finish within {timeout:.0f} s")
        time.sleep(0.5)
