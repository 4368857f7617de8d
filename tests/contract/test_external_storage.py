"""The ExternalStorage contract, run against the data directory and Amazon S3 (moto)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from augury.aws.external_s3 import S3ExternalStorage
from augury.bootstrap import _external_storage
from augury.local.external_files import LocalExternalFiles
from augury.ports import ExternalDataError
from augury.settings import Settings

REGION = "us-east-1"
BUCKET = "user-data"


class Storage:
    """An adapter under test and a way to place objects in it from outside."""

    def __init__(self, kind: str, adapter: Any, put: Callable[[str, bytes], None]) -> None:
        self.kind, self.adapter, self.put = kind, adapter, put


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        data = tmp_path / "data"

        def put_file(key: str, body: bytes) -> None:
            path = data / "s3" / BUCKET / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)

        adapter = LocalExternalFiles(data, private=[data / "blobs", data / "augury.db"])
        yield Storage("local", adapter, put_file)
        return
    request.getfixturevalue("aws")
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)

    def put_object(key: str, body: bytes) -> None:
        client.put_object(Bucket=BUCKET, Key=key, Body=body)

    yield Storage("s3", S3ExternalStorage(REGION, client=client, own_credentials=True), put_object)


def uri(key: str = "") -> str:
    return f"s3://{BUCKET}/{key}"


def test_an_object_lists_itself(storage: Storage) -> None:
    storage.put("sales/2019.csv", b"a")
    storage.put("sales/2019.csv.bak/x", b"b")
    assert storage.adapter.list_objects(uri("sales/2019.csv")) == [uri("sales/2019.csv")]


def test_a_folder_lists_everything_under_it_sorted(storage: Storage) -> None:
    for key in ("sales/b.csv", "sales/a.csv", "sales/deep/c.csv", "salesman.csv", "other/d.csv"):
        storage.put(key, b"x")
    expected = [uri("sales/a.csv"), uri("sales/b.csv"), uri("sales/deep/c.csv")]
    assert storage.adapter.list_objects(uri("sales")) == expected
    assert storage.adapter.list_objects(uri("sales/")) == expected
    everything = storage.adapter.list_objects(f"s3://{BUCKET}")
    assert everything == sorted([*expected, uri("salesman.csv"), uri("other/d.csv")])


def test_sizes_come_with_the_listing_in_its_order(storage: Storage) -> None:
    storage.put("sales/b.csv", b"12345")
    storage.put("sales/a.csv", b"")
    storage.put("sales/deep/c.csv", b"123")
    assert list(storage.adapter.list_sizes(uri("sales/")).items()) == [
        (uri("sales/a.csv"), 0),
        (uri("sales/b.csv"), 5),
        (uri("sales/deep/c.csv"), 3),
    ]
    assert storage.adapter.list_sizes(uri("sales/b.csv")) == {uri("sales/b.csv"): 5}
    assert storage.adapter.list_sizes(uri("missing.csv")) == {}


def test_nothing_there_is_an_empty_list(storage: Storage) -> None:
    storage.put("sales/a.csv", b"x")
    assert storage.adapter.list_objects(uri("missing.csv")) == []
    assert storage.adapter.list_objects(uri("sal")) == []


def test_download_copies_the_bytes(storage: Storage, tmp_path: Path) -> None:
    body = bytes(range(256)) * 1000
    storage.put("in/data.parquet", body)
    target = tmp_path / "copies" / "one"
    storage.adapter.download(uri("in/data.parquet"), target)
    assert target.read_bytes() == body


def test_download_of_a_missing_object_names_it(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(ExternalDataError, match=r"missing\.csv"):
        storage.adapter.download(uri("missing.csv"), tmp_path / "x")


def test_upload_then_read_back(storage: Storage, tmp_path: Path) -> None:
    local = tmp_path / "export.csv"
    local.write_bytes(b"item,p50\nsocks,3\n")
    storage.adapter.upload(local, uri("exports/run1/part0.csv"))
    storage.adapter.upload(local, uri("exports/run1/part0.csv"))  # overwriting is fine
    assert storage.adapter.list_objects(uri("exports")) == [uri("exports/run1/part0.csv")]
    storage.adapter.download(uri("exports/run1/part0.csv"), tmp_path / "back.csv")
    assert (tmp_path / "back.csv").read_bytes() == local.read_bytes()


def test_upload_to_a_folder_is_refused(storage: Storage, tmp_path: Path) -> None:
    local = tmp_path / "export.csv"
    local.write_bytes(b"x")
    with pytest.raises(ExternalDataError, match="folder"):
        storage.adapter.upload(local, uri("exports/"))


def test_uris_it_cannot_serve_are_refused_up_front(storage: Storage) -> None:
    storage.adapter.check_uri(uri("sales.csv"))
    for bad in ("ftp://host/file.csv", "s3:///no-bucket.csv", "relative/path.csv"):
        with pytest.raises(ExternalDataError):
            storage.adapter.check_uri(bad)


# -- embedded only: nothing outside the data directory, nothing of Augury's own ------------


@pytest.fixture
def local(tmp_path: Path) -> LocalExternalFiles:
    data = tmp_path / "data"
    (data / "s3" / BUCKET).mkdir(parents=True)
    (data / "blobs").mkdir()
    (data / "augury.db").write_bytes(b"sqlite")
    return LocalExternalFiles(data, private=[data / "blobs", data / "augury.db"])


def test_parent_segments_are_refused(local: LocalExternalFiles, tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("x")
    for bad in (
        f"s3://{BUCKET}/../../../secret.csv",
        f"s3://{BUCKET}/a/../../x",
        f"file://{local.root}/../secret.csv",
    ):
        with pytest.raises(ExternalDataError, match=r"'\.\.'"):
            local.check_uri(bad)
        with pytest.raises(ExternalDataError):
            local.download(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_symbolic_links_out_of_the_data_directory_are_refused(
    local: LocalExternalFiles, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("x")
    bucket = local.root / "s3" / BUCKET
    os.symlink(outside / "secret.csv", bucket / "link.csv")
    os.symlink(outside, bucket / "linked-folder")
    with pytest.raises(ExternalDataError, match="outside"):
        local.download(f"s3://{BUCKET}/link.csv", tmp_path / "out")
    with pytest.raises(ExternalDataError, match="outside"):
        local.list_objects(f"s3://{BUCKET}/link.csv")
    with pytest.raises(ExternalDataError, match="outside"):
        local.list_objects(f"s3://{BUCKET}")
    with pytest.raises(ExternalDataError, match="outside"):
        local.list_objects(f"s3://{BUCKET}/linked-folder/secret.csv")
    source = tmp_path / "export.csv"
    source.write_text("y")
    with pytest.raises(ExternalDataError, match="outside"):
        local.upload(source, f"s3://{BUCKET}/linked-folder/new.csv")
    assert not (outside / "new.csv").exists()


def test_paths_inside_the_data_directory_are_accepted(local: LocalExternalFiles) -> None:
    inbox = local.root / "inbox"
    inbox.mkdir()
    (inbox / "sales.csv").write_text("x")
    assert local.list_objects(f"file://{inbox}") == [f"file://{inbox}/sales.csv"]
    assert local.list_objects(str(inbox / "sales.csv")) == [str(inbox / "sales.csv")]


def test_paths_outside_or_into_augurys_own_state_are_refused(
    local: LocalExternalFiles, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere.csv").write_text("x")
    with pytest.raises(ExternalDataError, match="outside Augury's data directory"):
        local.list_objects(f"file://{tmp_path / 'elsewhere.csv'}")
    with pytest.raises(ExternalDataError, match="outside Augury's data directory"):
        local.check_uri("/etc/passwd")
    for own in (local.root / "blobs" / "x", local.root / "augury.db", local.root / "augury.db-wal"):
        with pytest.raises(ExternalDataError, match="Augury's own state"):
            local.check_uri(f"file://{own}")


# -- AWS only: the request's role is assumed -----------------------------------------------


class RecordingSts:
    """Delegates to moto's STS and remembers which roles were assumed."""

    def __init__(self) -> None:
        self.client = boto3.client("sts", region_name=REGION)
        self.assumed: list[str] = []

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.assumed.append(kwargs["RoleArn"])
        return self.client.assume_role(**kwargs)


@pytest.fixture
def role_arn(aws: None) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="ForecastData", AssumeRolePolicyDocument=json.dumps(trust))
    return role["Role"]["Arn"]


def test_the_requests_role_is_assumed_and_reused(role_arn: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="sales.csv", Body=b"2019-01-01,socks,1\n")
    sts = RecordingSts()
    storage = S3ExternalStorage(REGION, client=s3, sts_client=sts)
    assert storage.list_objects(uri("sales.csv"), role_arn=role_arn) == [uri("sales.csv")]
    storage.download(uri("sales.csv"), tmp_path / "sales.csv", role_arn=role_arn)
    assert (tmp_path / "sales.csv").read_bytes() == b"2019-01-01,socks,1\n"
    assert sts.assumed == [role_arn]  # one AssumeRole, credentials cached
    # no role: refused, not read with the function's own credentials
    with pytest.raises(ExternalDataError, match="No role was named to reach s3://"):
        storage.list_objects(uri("sales.csv"))
    with pytest.raises(ExternalDataError, match="No role was named"):
        storage.upload(tmp_path / "sales.csv", uri("copy.csv"))
    assert sts.assumed == [role_arn]


def test_uploads_are_encrypted_with_the_requests_key(aws: None, tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    local = tmp_path / "forecast.csv"
    local.write_text("x")
    S3ExternalStorage(REGION, client=s3, own_credentials=True).upload(
        local, uri("out/forecast.csv"), kms_key_arn=key
    )
    head = s3.head_object(Bucket=BUCKET, Key="out/forecast.csv")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key


def test_a_missing_bucket_is_named(aws: None, tmp_path: Path) -> None:
    storage = S3ExternalStorage(
        REGION, client=boto3.client("s3", region_name=REGION), own_credentials=True
    )
    with pytest.raises(ExternalDataError, match="does not exist"):
        storage.list_objects("s3://no-such-bucket/sales.csv")


def test_augurys_own_bucket_is_out_of_every_requests_reach(aws: None, tmp_path: Path) -> None:
    """Without a RoleArn (optional in Personalize) requests use the function's own
    credentials, which reach the data bucket; the bucket itself is refused, as embedded
    mode refuses the data directory's own state."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="augury-data-1234")
    s3.put_object(Bucket="augury-data-1234", Key="resources/x/model.tar.gz", Body=b"secret")
    storage = S3ExternalStorage(REGION, client=s3, private_buckets=("augury-data-1234",))
    own = "s3://augury-data-1234/resources/x/model.tar.gz"
    for attempt in (
        lambda: storage.check_uri(own),
        lambda: storage.list_objects("s3://augury-data-1234/"),
        lambda: storage.download(own, tmp_path / "stolen"),
        lambda: storage.upload(tmp_path / "stolen", own),
    ):
        with pytest.raises(ExternalDataError, match="Augury's own bucket"):
            attempt()
    assert not (tmp_path / "stolen").exists()


def test_the_deployment_keeps_its_own_buckets_private() -> None:
    settings = Settings(
        metadata_uri="dynamodb://augury-resources",
        blobs_uri="s3://augury-data-1234/resources",
        external_uri="s3://",
        region=REGION,
    )
    adapter = _external_storage(settings)
    assert isinstance(adapter, S3ExternalStorage)
    assert adapter.private_buckets == {"augury-data-1234"}
