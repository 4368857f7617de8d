"""The AWS BlobStore: keys under an optional prefix in one S3 bucket.

Keys obey the same rules as the embedded file store (``check_key``), so a key
that works on one works on the other. S3 writes are atomic per object already;
files go through the client's managed transfer (multipart for large files).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from augury.local.file_blobs import check_key, check_prefix
from augury.ports import BlobNotFound

_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3BlobStore:
    """``BlobStore`` on ``s3://bucket/prefix/``."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        self.client = client

    def object_key(self, key: str) -> str:
        """The S3 object key that holds ``key``."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)

    def get_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(key) from exc
            raise
        return response["Body"].read()

    def upload_file(self, path: Path, key: str) -> None:
        self.client.upload_file(str(path), self.bucket, self.object_key(key))

    def download_file(self, key: str, path: Path) -> None:
        object_key = self.object_key(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, object_key, str(path))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(key) from exc
            raise

    def copy(self, source: str, target: str) -> None:
        """The managed copy: CopyObject, or a multipart copy above its 5 GB limit."""
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": self.object_key(source)},
                self.bucket,
                self.object_key(target),
            )
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(source) from exc
            raise

    def list_keys(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        return self._list(self._full_prefix(prefix))

    def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        deleted = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full_prefix(prefix)):
            deleted += self._delete_objects([obj["Key"] for obj in page.get("Contents", [])])
        return deleted

    def delete_keys(self, keys: Sequence[str]) -> int:
        """DeleteObjects, 1,000 keys a call (its limit); S3 counts an absent key as deleted,
        so the count is of keys asked for."""
        names = [self.object_key(key) for key in keys]
        return sum(
            self._delete_objects(names[start : start + 1000])
            for start in range(0, len(names), 1000)
        )

    def _delete_objects(self, object_keys: Sequence[str]) -> int:
        if not object_keys:
            return 0
        response = self.client.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": key} for key in object_keys], "Quiet": True},
        )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise OSError(
                f"could not delete {len(errors)} objects under s3://{self.bucket}/; "
                f"first: {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
        return len(object_keys)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def _full_prefix(self, prefix: str) -> str:
        return f"{self.prefix}/{prefix}" if self.prefix else prefix

    def _list(self, full_prefix: str) -> Iterator[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
