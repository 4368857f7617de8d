"""The BlobStore contract, run against a directory and S3 (moto)."""

from __future__ import annotations

import os

import boto3
import pytest

from augury.aws.s3_blobs import S3BlobStore
from augury.local.file_blobs import TEMP_MARKER, FileBlobStore
from augury.ports import BlobNotFound

INVALID_KEYS = ["../x", "/abs", "a//b", "a\\b", "", "a/", "a/./b", "a/../b", "..", "a/.."]


def test_put_get_and_overwrite(blob_store):
    blob_store.put_bytes("models/m1/model.tar.gz", b"\x00first\xff")
    assert blob_store.get_bytes("models/m1/model.tar.gz") == b"\x00first\xff"
    blob_store.put_bytes("models/m1/model.tar.gz", b"second")
    assert blob_store.get_bytes("models/m1/model.tar.gz") == b"second"
    blob_store.put_bytes("empty", b"")
    assert blob_store.get_bytes("empty") == b""


def test_unicode_keys(blob_store):
    blob_store.put_bytes("datasets/ünï/cødé ✓.csv", b"x")
    assert blob_store.get_bytes("datasets/ünï/cødé ✓.csv") == b"x"
    assert list(blob_store.list_keys("datasets/")) == ["datasets/ünï/cødé ✓.csv"]


def test_missing_blob_raises(blob_store, tmp_path):
    with pytest.raises(BlobNotFound):
        blob_store.get_bytes("nope/missing")
    with pytest.raises(BlobNotFound):
        blob_store.download_file("nope/missing", tmp_path / "out")
    blob_store.put_bytes("dir/file", b"x")
    with pytest.raises(BlobNotFound):
        blob_store.get_bytes("dir")  # a "directory" is not a blob


def test_list_keys_sorted_and_under_the_prefix_only(blob_store):
    keys = ["a/z", "a/b/c", "a/b/a", "ab/x", "a.txt", "b/a", "a/0"]
    for key in keys:
        blob_store.put_bytes(key, key.encode())
    assert list(blob_store.list_keys("a/")) == ["a/0", "a/b/a", "a/b/c", "a/z"]
    assert list(blob_store.list_keys("a/b/")) == ["a/b/a", "a/b/c"]
    assert list(blob_store.list_keys("a")) == sorted(k for k in keys if k.startswith("a"))
    assert list(blob_store.list_keys("")) == sorted(keys)
    assert list(blob_store.list_keys("zzz/")) == []
    assert list(blob_store.list_keys("a/b/a")) == ["a/b/a"]


def test_delete_prefix_counts_and_removes_only_the_prefix(blob_store):
    for key in ["job/1/a", "job/1/sub/b", "job/10/c", "other/d"]:
        blob_store.put_bytes(key, b"x")
    assert blob_store.delete_prefix("job/1/") == 2
    assert list(blob_store.list_keys("")) == ["job/10/c", "other/d"]
    assert blob_store.delete_prefix("job/1/") == 0
    assert blob_store.delete_prefix("") == 2
    assert list(blob_store.list_keys("")) == []


def test_delete_prefix_pages_through_many_keys(blob_store):
    for i in range(1005):
        blob_store.put_bytes(f"many/{i:04d}", b"")
    assert blob_store.delete_prefix("many/") == 1005
    assert list(blob_store.list_keys("many/")) == []


def test_delete_keys_removes_exactly_those_keys(blob_store):
    keys = [f"merged/{i:04d}" for i in range(1003)]  # more than one S3 DeleteObjects call
    for key in [*keys, "merged/10", "merged/keep"]:
        blob_store.put_bytes(key, b"x")
    assert blob_store.delete_keys(keys) == 1003
    assert list(blob_store.list_keys("merged/")) == ["merged/10", "merged/keep"]
    blob_store.delete_keys(["merged/0001", "never/was"])  # absent keys: no error
    assert blob_store.delete_keys([]) == 0
    assert list(blob_store.list_keys("")) == ["merged/10", "merged/keep"]


def test_upload_and_download_a_file(blob_store, tmp_path):
    source = tmp_path / "in.bin"
    payload = os.urandom(300_000)
    source.write_bytes(payload)
    blob_store.upload_file(source, "uploads/in.bin")
    assert blob_store.get_bytes("uploads/in.bin") == payload
    target = tmp_path / "deep" / "er" / "out.bin"
    blob_store.download_file("uploads/in.bin", target)
    assert target.read_bytes() == payload
    source.write_bytes(b"replaced")
    blob_store.upload_file(source, "uploads/in.bin")
    blob_store.download_file("uploads/in.bin", target)
    assert target.read_bytes() == b"replaced"


def test_copy_duplicates_a_blob_and_leaves_the_source(blob_store):
    payload = os.urandom(70_000)
    blob_store.put_bytes("data/v1/part-0.parquet", payload)
    blob_store.put_bytes("data/v2/part-0.parquet", b"old")
    blob_store.copy("data/v1/part-0.parquet", "data/v2/part-0.parquet")
    blob_store.copy("data/v1/part-0.parquet", "data/v3/deeper/part-0.parquet")
    assert blob_store.get_bytes("data/v2/part-0.parquet") == payload
    assert blob_store.get_bytes("data/v3/deeper/part-0.parquet") == payload
    assert blob_store.get_bytes("data/v1/part-0.parquet") == payload
    with pytest.raises(BlobNotFound):
        blob_store.copy("data/none", "data/v4/x")
    assert list(blob_store.list_keys("data/v4/")) == []


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_rejected(blob_store, tmp_path, key):
    with pytest.raises(ValueError):
        blob_store.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        blob_store.get_bytes(key)
    with pytest.raises(ValueError):
        blob_store.uri(key)
    with pytest.raises(ValueError):
        blob_store.download_file(key, tmp_path / "x")


@pytest.mark.parametrize("prefix", ["../", "/abs/", "a//", "a/../"])
def test_invalid_prefixes_are_rejected(blob_store, prefix):
    with pytest.raises(ValueError):
        blob_store.list_keys(prefix)
    with pytest.raises(ValueError):
        blob_store.delete_prefix(prefix)


def test_uri_names_the_blob(blob_store):
    uri = blob_store.uri("models/m1/model.tar.gz")
    assert uri.endswith("models/m1/model.tar.gz")
    assert uri.startswith(("s3://augury-blobs/augury/", "/"))


# -- adapter specifics --------------------------------------------------------------


def test_file_store_layout_and_cleanup(tmp_path):
    store = FileBlobStore(tmp_path / "blobs")
    store.put_bytes("a/b/c/file", b"x")
    assert store.uri("a/b/c/file") == str((tmp_path / "blobs" / "a/b/c/file").resolve())
    (tmp_path / "blobs" / "a" / f"{TEMP_MARKER}half-written").write_bytes(b"partial")
    assert list(store.list_keys("")) == ["a/b/c/file"]
    assert store.delete_prefix("a/b/") == 1
    assert not (tmp_path / "blobs" / "a" / "b").exists()  # empty directories removed
    assert (tmp_path / "blobs").is_dir()  # never the root
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file() and "tmp" not in p.name]


def test_file_store_leaves_no_temp_files(tmp_path):
    store = FileBlobStore(tmp_path / "blobs")
    store.put_bytes("k", b"1")
    store.upload_file(store.path("k"), "k2")
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == ["k", "k2"]


def test_file_store_keys_cannot_be_temp_names(tmp_path):
    store = FileBlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError):
        store.put_bytes(f"a/{TEMP_MARKER}x", b"")


def test_s3_store_without_prefix_and_isolation(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="bare-bucket")
    bare = S3BlobStore("bare-bucket", client=client)
    scoped = S3BlobStore("bare-bucket", prefix="/tenant/", client=client)
    bare.put_bytes("outside", b"1")
    scoped.put_bytes("inside", b"2")
    assert bare.uri("outside") == "s3://bare-bucket/outside"
    assert scoped.uri("inside") == "s3://bare-bucket/tenant/inside"
    assert list(scoped.list_keys("")) == ["inside"]
    assert list(bare.list_keys("")) == ["outside", "tenant/inside"]
    assert scoped.delete_prefix("") == 1
    assert list(bare.list_keys("")) == ["outside"]
