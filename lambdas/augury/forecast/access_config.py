"""The IAM role and KMS key a Forecast request names for its data, checked up front.

Every Forecast request that reads or writes S3 (``DataSource``, ``Destination``, a
``TimeSeriesSelector``) or encrypts a resource (``EncryptionConfig``) names the role
Forecast would assume. Each is refused with an ``InvalidInputException`` naming the
member, before any work starts, wherever it appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from augury.resources.errors import InvalidInput
from augury.resources.iam_arns import (
    KMS_KEY_ARN_FORM,
    ROLE_ARN_FORM,
    is_kms_key_arn,
    is_role_arn,
)


def check_role(role: str, where: str) -> None:
    """Refuse a ``RoleArn`` (found at ``where``) that is not an IAM role ARN."""
    if not is_role_arn(role):
        raise InvalidInput(
            f"{where} RoleArn {role} is not an IAM role ARN ({ROLE_ARN_FORM}); "
            "Forecast assumes this role to reach your data"
        )


def check_kms_key(key: str, where: str) -> None:
    """Refuse a ``KMSKeyArn`` (found at ``where``) that is not a KMS key ARN."""
    if not is_kms_key_arn(key):
        raise InvalidInput(f"{where} KMSKeyArn {key} is not a KMS key ARN ({KMS_KEY_ARN_FORM})")


def checked_encryption(config: Mapping[str, Any] | None) -> dict[str, str] | None:
    """An ``EncryptionConfig``'s key and role, both well formed; ``None`` when absent."""
    if not config:
        return None
    role, key = config["RoleArn"], config["KMSKeyArn"]
    check_role(role, "EncryptionConfig")
    check_kms_key(key, "EncryptionConfig")
    return {"RoleArn": role, "KMSKeyArn": key}
