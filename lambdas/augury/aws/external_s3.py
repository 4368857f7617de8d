"""AWS ExternalStorage: users' data in their own Amazon S3 buckets.

Amazon Forecast and Personalize read a user's bucket as the IAM role the
request names (``DataSource.S3Config.RoleArn``), never with the service's own
permissions; this adapter does the same: with ``role_arn`` it assumes the role
through STS and uses those temporary credentials, cached per role until shortly
before they expire. A request that names no role (Personalize makes ``roleArn``
optional, for buckets whose policy admits Personalize's service principal) is
refused: the function's own credentials would reach any bucket whose policy
admits the whole account or organisation, whoever sent the request. Only a
storage built with ``own_credentials=True`` (tests of the S3 mechanics) uses
them.

Errors that mean "the user's data is not reachable" (a missing bucket or
object, access denied, a role that cannot be assumed) become
``ExternalDataError`` with a message naming the URI and the role.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

from augury.ports import ExternalDataError

ROLE_SESSION_NAME = "augury-data-access"
REFRESH_BEFORE_EXPIRY = timedelta(minutes=5)
_MISSING = {"404", "NoSuchKey", "NotFound"}
_DENIED = {"403", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId"}


class S3ExternalStorage:
    """``ExternalStorage`` on Amazon S3."""

    def __init__(
        self,
        region: str | None = None,
        *,
        client: Any = None,
        sts_client: Any = None,
        private_buckets: tuple[str, ...] = (),
        own_credentials: bool = False,
    ) -> None:
        self.region = region
        self.own_credentials = own_credentials
        self.private_buckets = frozenset(private_buckets)
        """Augury's own buckets: no request may read or write them (see :meth:`_locate`)."""
        self._client = client or boto3.client("s3", region_name=region)
        self._sts = sts_client
        self._role_clients: dict[str, tuple[Any, datetime]] = {}
        self._lock = threading.Lock()

    def check_uri(self, uri: str) -> None:
        self._locate(uri)

    def list_objects(self, uri: str, *, role_arn: str | None = None) -> list[str]:
        return list(self.list_sizes(uri, role_arn=role_arn))

    def list_sizes(self, uri: str, *, role_arn: str | None = None) -> dict[str, int]:
        bucket, key = self._locate(uri)
        s3 = self._s3(role_arn, uri)
        if key and not key.endswith("/"):
            size = self._size(s3, uri, bucket, key, role_arn)
            if size is not None:
                return {uri: size}
        prefix = f"{key.rstrip('/')}/" if key else ""
        found: dict[str, int] = {}
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                found.update(
                    (f"s3://{bucket}/{obj['Key']}", int(obj.get("Size", 0)))
                    for obj in page.get("Contents", [])
                    if not obj["Key"].endswith("/")
                )
        except ClientError as error:
            raise _external_error(error, uri, role_arn, "list") from None
        return dict(sorted(found.items()))

    def download(self, uri: str, path: Path, *, role_arn: str | None = None) -> None:
        bucket, key = self._locate(uri)
        destination = Path(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._s3(role_arn, uri).download_file(bucket, key, str(destination))
        except ClientError as error:
            raise _external_error(error, uri, role_arn, "read") from None

    def upload(
        self,
        path: Path,
        uri: str,
        *,
        role_arn: str | None = None,
        kms_key_arn: str | None = None,
    ) -> None:
        bucket, key = self._locate(uri)
        if not key or key.endswith("/"):
            raise ExternalDataError(f"{uri} names a folder; give the object key to write")
        extra = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn} if kms_key_arn else {}
        )
        try:
            self._s3(role_arn, uri).upload_file(str(path), bucket, key, ExtraArgs=extra or None)
        except ClientError as error:
            raise _external_error(error, uri, role_arn, "write") from None

    def _size(self, s3: Any, uri: str, bucket: str, key: str, role_arn: str | None) -> int | None:
        """The object's size; ``None`` when there is no such object."""
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            code = _code(error)
            if code in _MISSING or code in _DENIED:
                return None  # a folder, or unreadable: the listing says which
            raise _external_error(error, uri, role_arn, "read") from None
        return int(head.get("ContentLength", 0))

    def _locate(self, uri: str) -> tuple[str, str]:
        """The bucket and key of ``uri``, refused when the bucket is Augury's own.

        A role a request names may reach Augury's data bucket too (every dataset group's
        data, models and forecasts) if its owner granted it so. As in embedded mode,
        where the data directory's own state is out of reach, no request may name that
        bucket.
        """
        bucket, key = _split(uri)
        if bucket in self.private_buckets:
            raise ExternalDataError(
                f"{uri} is in Augury's own bucket, which requests cannot read or write; "
                "name a bucket of yours"
            )
        return bucket, key

    def _s3(self, role_arn: str | None, uri: str) -> Any:
        """The client with the role's temporary credentials (our own only where allowed)."""
        if not role_arn:
            if self.own_credentials:
                return self._client
            raise ExternalDataError(
                f"No role was named to reach {uri}: on AWS, Augury reads and writes your "
                "buckets only as an IAM role the request names (roleArn), one tagged "
                "augury:data-access=<the stack's prefix> whose trust policy lets Augury "
                "assume it (docs/deploy.md)"
            )
        with self._lock:
            cached = self._role_clients.get(role_arn)
            if cached and cached[1] - datetime.now(UTC) > REFRESH_BEFORE_EXPIRY:
                return cached[0]
            credentials = self._assume(role_arn)
            client = boto3.client(
                "s3",
                region_name=self.region,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
            )
            expiry = credentials["Expiration"]
            if expiry.tzinfo is None:
                expiry = expiry.replace(tzinfo=UTC)
            self._role_clients[role_arn] = (client, expiry)
            return client

    def _assume(self, role_arn: str) -> dict[str, Any]:
        if self._sts is None:
            self._sts = boto3.client("sts", region_name=self.region)
        try:
            response = self._sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME)
        except ClientError as error:
            raise ExternalDataError(
                f"Augury could not assume the role {role_arn}: {_message(error)}. The role's "
                "trust policy must allow Augury's functions to assume it"
            ) from None
        return response["Credentials"]


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ExternalDataError(f"{uri} is not an Amazon S3 URI (s3://<bucket>/<key>)")
    return parsed.netloc, parsed.path.lstrip("/")


def _external_error(
    error: ClientError, uri: str, role_arn: str | None, action: str
) -> ExternalDataError:
    code = _code(error)
    who = f"the role {role_arn}" if role_arn else "Augury"
    if code == "NoSuchBucket":
        return ExternalDataError(f"The bucket of {uri} does not exist")
    if code in _MISSING:
        return ExternalDataError(f"There is no object at {uri}")
    if code in _DENIED:
        needed = {"list": "s3:ListBucket", "read": "s3:GetObject", "write": "s3:PutObject"}[action]
        return ExternalDataError(
            f"Access denied to {uri} for {who}; it needs {needed} on the bucket "
            "(and kms:Decrypt or kms:GenerateDataKey on its KMS key, if it has one)"
        )
    return ExternalDataError(f"Could not {action} {uri}: {code}: {_message(error)}")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")) or str(error)
