"""Checks a resource must pass before it becomes ACTIVE, by kind.

Amazon accepts a create call at once and reports problems it finds later as
CREATE_FAILED with a reason; these are those later checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from augury.resources.iam_arns import ROLE_ARN_FORM, is_kms_key_arn, is_role_arn
from augury.resources.record import Resource

if TYPE_CHECKING:
    from augury.runtime import Runtime


def validate_for_activation(runtime: Runtime, record: Resource) -> str | None:
    """A failure reason for the user, or ``None`` when the resource may become ACTIVE."""
    role = record.attributes.get("roleArn")
    if role and not is_role_arn(role):
        return f"roleArn {role} is not an IAM role ARN ({ROLE_ARN_FORM})"
    key = record.attributes.get("kmsKeyArn")
    if key and not is_kms_key_arn(key):
        return f"kmsKeyArn {key} is not a KMS key ARN"
    if key and not role:
        return "A kmsKeyArn needs a roleArn that Personalize can assume to use the key"
    schema_arn = record.attributes.get("schemaArn")
    if schema_arn and runtime.metadata.get(schema_arn) is None:
        return f"Schema {schema_arn} no longer exists"
    return None
