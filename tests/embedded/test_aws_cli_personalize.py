"""The AWS CLI, unmodified, against embedded Augury: personalize, -runtime and -events.

A user's session from a shell, one ``aws … --endpoint-url`` command per step:
create a dataset group, a schema (``file://``), a dataset, import a CSV from
``s3://`` (the data directory's ``s3/`` folder in embedded mode), deploy a
campaign and describe it, get recommendations, send an event. Training and the
event tracker go through boto3 (each CLI call starts a Python process, and what
is under test is the CLI's own parsing and wire format); the personalization
container is the test's fake one (a real popularity model, quickly). Waiting
uses the embedded runner's idle signal instead of polling through the CLI.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from augury.embedded.server import EmbeddedServer
from augury.personalize import event_data
from tests.embedded.personalize_helpers import (
    INTERACTIONS_SCHEMA,
    ROLE,
    interactions,
    start_server,
    train,
    wait_idle,
)
from tests.embedded.personalize_helpers import client_for as boto3_client

AWS_CLI = Path(sys.executable).with_name("aws")
BUCKET = "cli-bucket"


class Cli:
    """``aws <service> <command> …`` against one embedded server, output parsed as JSON."""

    def __init__(self, server: EmbeddedServer, tmp_path: Path) -> None:
        self.server = server
        # Dummy credentials and no config or credentials file of the machine's own.
        self.env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "embedded",
            "AWS_SECRET_ACCESS_KEY": "embedded",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        self.env.pop("AWS_SESSION_TOKEN", None)

    def run(self, service: str, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(AWS_CLI),
                service,
                command,
                *args,
                "--endpoint-url",
                self.server.endpoint(service),
                "--region",
                "us-east-1",
                "--output",
                "json",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def __call__(self, service: str, command: str, *args: str) -> dict[str, Any]:
        result = self.run(service, command, *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def aws(server: EmbeddedServer, tmp_path: Path) -> Cli:
    return Cli(server, tmp_path)


def write_interactions_csv(path: Path) -> None:
    rows = interactions()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_personalize_session_from_the_aws_cli(aws: Cli, server: EmbeddedServer, tmp_path):
    group = aws("personalize", "create-dataset-group", "--name", "cli-shop")["datasetGroupArn"]
    schema_file = tmp_path / "interactions.json"
    schema_file.write_text(json.dumps(INTERACTIONS_SCHEMA))
    schema = aws(
        "personalize",
        "create-schema",
        "--name",
        "cli-interactions",
        "--schema",
        f"file://{schema_file}",
    )["schemaArn"]
    wait_idle(server)
    dataset = aws(
        "personalize",
        "create-dataset",
        "--name",
        "cli-interactions",
        "--schema-arn",
        schema,
        "--dataset-group-arn",
        group,
        "--dataset-type",
        "Interactions",
    )["datasetArn"]
    wait_idle(server)

    data_dir = Path(server.runtime.settings.data_dir or "")
    write_interactions_csv(data_dir / "s3" / BUCKET / "interactions.csv")
    aws(
        "personalize",
        "create-dataset-import-job",
        "--job-name",
        "cli-import",
        "--dataset-arn",
        dataset,
        "--data-source",
        f"dataLocation=s3://{BUCKET}/interactions.csv",
        "--role-arn",
        ROLE,
    )
    wait_idle(server)

    # Training and deployment go through boto3, only to keep the test quick: what
    # the CLI adds (argument parsing, file://, shorthand) is exercised above.
    _, version = train(boto3_client(server), group, name="cli-popular")
    campaign = aws(
        "personalize",
        "create-campaign",
        "--name",
        "cli-campaign",
        "--solution-version-arn",
        version,
    )["campaignArn"]
    wait_idle(server)
    described = aws("personalize", "describe-campaign", "--campaign-arn", campaign)["campaign"]
    assert described["status"] == "ACTIVE", described

    answer = aws(
        "personalize-runtime",
        "get-recommendations",
        "--campaign-arn",
        campaign,
        "--user-id",
        "u01",
        "--num-results",
        "5",
    )
    items = [item["itemId"] for item in answer["itemList"]]
    assert len(items) == 5
    assert items[0] == "i000"  # the fake container's popularity model: i000 is the most popular

    tracking = boto3_client(server).create_event_tracker(name="cli-tracker", datasetGroupArn=group)[
        "trackingId"
    ]
    wait_idle(server)
    event = {"eventType": "click", "itemId": "i042", "sentAt": 1_700_100_000}
    aws(
        "personalize-events",
        "put-events",
        "--tracking-id",
        tracking,
        "--user-id",
        "u01",
        "--session-id",
        "cli-session",
        "--event-list",
        json.dumps([event]),
    )
    server.runtime.events.flush()
    recent = event_data.recent_events(server.runtime, group, "u01", limit=500)
    assert any(row.get("ITEM_ID") == "i042" for row in recent), recent


def test_errors_reach_the_aws_cli_as_amazons_exceptions(aws: Cli):
    missing = "arn:aws:personalize:us-east-1:000000000000:campaign/nope"
    result = aws.run(
        "personalize-runtime", "get-recommendations", "--campaign-arn", missing, "--user-id", "u1"
    )
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr

    result = aws.run("personalize", "describe-dataset-group", "--dataset-group-arn", "bad")
    assert result.returncode != 0
    assert "InvalidInputException" in result.stderr or "ValidationException" in result.stderr
