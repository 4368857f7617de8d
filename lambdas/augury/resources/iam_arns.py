"""IAM role and KMS key ARNs, in the forms Amazon's services accept in a request.

Forecast's model types its ``RoleArn`` members with the service's own ARN shape, whose
pattern no role ARN satisfies, so the request validator cannot check them; Personalize
checks its ``roleArn`` only when the resource is built. Embedded mode assumes no role and
uses no key, but a malformed ARN is refused here as AWS refuses it, so a request that
works on one machine also works against a deployed stack.
"""

from __future__ import annotations

import re

ROLE_ARN_FORM = "arn:aws:iam::<account>:role/<name>"
KMS_KEY_ARN_FORM = "arn:aws:kms:<region>:<account>:key/<id>"

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$")


def is_role_arn(value: str) -> bool:
    """Whether ``value`` names an IAM role (any partition, any path)."""
    return bool(_ROLE_ARN.match(value))


def is_kms_key_arn(value: str) -> bool:
    """Whether ``value`` names a KMS key or alias."""
    return bool(_KMS_KEY_ARN.match(value))
