"""The main job: start embedded Augury and walk stock boto3 clients through it.

Runs ``augury serve`` as a separate process (exactly as a user would), then
uses the unmodified ``forecast`` and ``personalize`` boto3 clients with
``endpoint_url`` to create and describe dataset groups, schemas and datasets,
printing each call. Later issues grow this into the full forecasting and
recommendation workflows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"augury serve exited with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("augury serve did not start listening in time")


def show(label: str, response: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    print(f"\n> {label}")
    print(json.dumps(body, indent=2, default=str))
    return body


def wait_status(describe, key: str, status_member: str, wanted: set[str]) -> dict[str, Any]:
    for _ in range(200):
        body = describe()
        resource = body[key] if key else body
        if resource[status_member] in wanted:
            return body
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {wanted}")


def forecast_walkthrough(endpoint: str) -> None:
    forecast = boto3.client("forecast", endpoint_url=endpoint, **CLIENT_ARGS)
    print("\n=== Amazon Forecast API (boto3 'forecast' client) ===")
    dataset = show(
        "create_dataset (RETAIL target time series, daily)",
        forecast.create_dataset(
            DatasetName="retail_demand",
            Domain="RETAIL",
            DatasetType="TARGET_TIME_SERIES",
            DataFrequency="D",
            Schema={
                "Attributes": [
                    {"AttributeName": "item_id", "AttributeType": "string"},
                    {"AttributeName": "timestamp", "AttributeType": "timestamp"},
                    {"AttributeName": "demand", "AttributeType": "float"},
                    {"AttributeName": "location", "AttributeType": "string"},
                ]
            },
        ),
    )
    group = show(
        "create_dataset_group (RETAIL, with the dataset)",
        forecast.create_dataset_group(
            DatasetGroupName="retail_demo",
            Domain="RETAIL",
            DatasetArns=[dataset["DatasetArn"]],
            Tags=[{"Key": "team", "Value": "demand-planning"}],
        ),
    )
    show("describe_dataset_group", forecast.describe_dataset_group(**group))
    show("describe_dataset", forecast.describe_dataset(**dataset))
    show("list_datasets", forecast.list_datasets())
    try:
        forecast.create_dataset_group(DatasetGroupName="retail_demo", Domain="RETAIL")
    except forecast.exceptions.ResourceAlreadyExistsException as error:
        print(f"\n> create_dataset_group again -> ResourceAlreadyExistsException: {error}")


def personalize_walkthrough(endpoint: str) -> None:
    personalize = boto3.client("personalize", endpoint_url=endpoint, **CLIENT_ARGS)
    print("\n=== Amazon Personalize API (boto3 'personalize' client) ===")
    group = show("create_dataset_group", personalize.create_dataset_group(name="shop-demo"))
    wait_status(
        lambda: personalize.describe_dataset_group(**group), "datasetGroup", "status", {"ACTIVE"}
    )
    schema = show(
        "create_schema (Interactions)",
        personalize.create_schema(
            name="shop-interactions",
            schema=json.dumps(
                {
                    "type": "record",
                    "name": "Interactions",
                    "namespace": "com.amazonaws.personalize.schema",
                    "fields": [
                        {"name": "USER_ID", "type": "string"},
                        {"name": "ITEM_ID", "type": "string"},
                        {"name": "TIMESTAMP", "type": "long"},
                        {"name": "EVENT_TYPE", "type": "string"},
                    ],
                    "version": "1.0",
                }
            ),
        ),
    )
    dataset = show(
        "create_dataset (Interactions)",
        personalize.create_dataset(
            name="shop-interactions",
            schemaArn=schema["schemaArn"],
            datasetGroupArn=group["datasetGroupArn"],
            datasetType="Interactions",
        ),
    )
    show(
        "describe_dataset (after activation)",
        wait_status(
            lambda: personalize.describe_dataset(**dataset), "dataset", "status", {"ACTIVE"}
        ),
    )
    show("describe_dataset_group", personalize.describe_dataset_group(**group))
    show("list_datasets", personalize.list_datasets(datasetGroupArn=group["datasetGroupArn"]))
    try:
        personalize.delete_dataset_group(**group)
    except personalize.exceptions.ResourceInUseException as error:
        print(f"\n> delete_dataset_group while it has datasets -> ResourceInUseException: {error}")


CLIENT_ARGS: dict[str, Any] = {
    "region_name": "us-east-1",
    "aws_access_key_id": "embedded",
    "aws_secret_access_key": "embedded",
    "config": Config(retries={"max_attempts": 2, "mode": "standard"}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT / "augury-data" / "demo"))
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)  # the demo's own directory: start clean
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "augury.embedded.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "WARNING",
    ]
    print("$", " ".join(command[2:]))
    process = subprocess.Popen(command)
    try:
        wait_for_port(port, process)
        base = f"http://127.0.0.1:{port}"
        forecast_walkthrough(f"{base}/forecast")
        personalize_walkthrough(f"{base}/personalize")
        print(
            f"\nDone. Data is in {data_dir}; run `augury serve --data-dir {data_dir}` to explore."
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
