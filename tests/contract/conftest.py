"""Fixtures for the port contract suites: every adapter of a port, one parameter each.

AWS adapters run under ``moto.mock_aws`` with fake credentials; local adapters
on ``tmp_path``. A test written against ``metadata_store`` or ``blob_store``
runs once per adapter, so both keep the same contract.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from augury.aws.dynamodb_store import DynamoDBMetadataStore, table_definition
from augury.aws.s3_blobs import S3BlobStore
from augury.local.file_blobs import FileBlobStore
from augury.local.sqlite_store import SqliteMetadataStore

REGION = "us-east-1"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so no test can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture(params=["sqlite", "dynamodb"])
def metadata_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[object]:
    if request.param == "sqlite":
        store = SqliteMetadataStore(tmp_path / "db" / "augury.db")
        yield store
        store.close()
        return
    request.getfixturevalue("aws")
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(**table_definition("augury-resources"))
    yield DynamoDBMetadataStore("augury-resources", client=client)


@pytest.fixture(params=["file", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[object]:
    if request.param == "file":
        yield FileBlobStore(tmp_path / "blobs")
        return
    request.getfixturevalue("aws")
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket="augury-blobs")
    yield S3BlobStore("augury-blobs", prefix="augury", client=client)
