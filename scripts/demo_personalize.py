"""The Personalize part of the main job: dataset groups, schemas and datasets.

Later work grows it into imports, training, campaigns and recommendations.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from demo_support import CLIENT_ARGS, show


def wait_status(describe, key: str, wanted: set[str]) -> dict[str, Any]:
    for _ in range(400):
        body = describe()
        if body[key]["status"] in wanted:
            return body
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {wanted}")


def run(base_url: str) -> None:
    personalize_walkthrough(f"{base_url}/personalize")


def personalize_walkthrough(endpoint: str) -> None:
    personalize = boto3.client("personalize", endpoint_url=endpoint, **CLIENT_ARGS)
    print("\n=== Amazon Personalize API (boto3 'personalize' client) ===")
    group = show("create_dataset_group", personalize.create_dataset_group(name="shop-demo"))
    wait_status(lambda: personalize.describe_dataset_group(**group), "datasetGroup", {"ACTIVE"})
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
        wait_status(lambda: personalize.describe_dataset(**dataset), "dataset", {"ACTIVE"}),
    )
    show("describe_dataset_group", personalize.describe_dataset_group(**group))
    show("list_datasets", personalize.list_datasets(datasetGroupArn=group["datasetGroupArn"]))
    try:
        personalize.delete_dataset_group(**group)
    except personalize.exceptions.ResourceInUseException as error:
        print(f"\n> delete_dataset_group while it has datasets -> ResourceInUseException: {error}")
