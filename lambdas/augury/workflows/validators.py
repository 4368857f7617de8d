"""Checks a resource must pass before it becomes ACTIVE, by kind.

Amazon accepts a create call at once and reports problems it finds later as
CREATE_FAILED with a reason; these are those later checks.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from augury.resources.record import Resource

if TYPE_CHECKING:
    from augury.runtime import Runtime

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$")


def validate_for_activation(runtime: Runtime, record: Resource) -> str | None:
    """A failure reason for the user, or ``None`` when the resource may become ACTIVE."""
    role = record.attributes.get("roleArn")
    if role and not _ROLE_ARN.match(role):
        return f"roleArn {role} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
    key = record.attributes.get("kmsKeyArn")
    if key and not _KMS_ARN.match(key):
        return f"kmsKeyArn {key} is not a KMS key ARN"
    if key and not role:
        return "A kmsKeyArn needs a roleArn that Personalize can assume to use the key"
    schema_arn = record.attributes.get("schemaArn")
    if schema_arn and runtime.metadata.get(schema_arn) is None:
        return f"Schema {schema_arn} no longer exists"
    return None
