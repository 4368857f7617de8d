"""AWS ``RolePassing``: the caller must be allowed ``iam:PassRole`` on the role it names.

Amazon Forecast and Personalize check this before they accept a role, so that a
user cannot reach data through a role they could not use themselves. Behind API
Gateway's AWS_IAM authorization Augury knows the caller's ARN; it asks IAM's
policy simulator whether that principal's policies (and permissions boundary)
allow ``iam:PassRole`` on the role, with ``iam:PassedToService`` set to the
service's principal (``forecast.amazonaws.com``, ``personalize.amazonaws.com``),
so a policy written for Amazon's services works unchanged. Service control
policies are not simulated; the data-access tag on the role
(``augury:data-access``) still bounds what Augury can assume at all.

Answers are cached for a few minutes per caller, role and service: a burst of
requests costs one IAM call, and a revoked permission takes effect within
:data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

from augury.resources.errors import AccessDenied

CACHE_SECONDS = 300.0
_ALLOWED = "allowed"


class IamRolePassing:
    """``RolePassing`` answered by ``iam:SimulatePrincipalPolicy``."""

    def __init__(self, region: str | None = None, *, client: Any = None) -> None:
        self._region = region
        self._client = client
        self._answers: dict[tuple[str, str, str], tuple[bool, str, float]] = {}
        self._lock = threading.Lock()

    def check(self, caller: str | None, role_arn: str, service: str) -> None:
        if not caller:
            raise AccessDenied(
                f"The request names the role {role_arn}, but it came with no caller identity; "
                "Augury's API takes roles only from callers signed with AWS_IAM authorization"
            )
        key = (caller, role_arn, service)
        with self._lock:
            cached = self._answers.get(key)
        if cached is None or time.monotonic() - cached[2] > CACHE_SECONDS:
            allowed, why = self._decide(caller, role_arn, service)
            cached = (allowed, why, time.monotonic())
            with self._lock:
                self._answers[key] = cached
        if not cached[0]:
            raise AccessDenied(
                f"User: {caller} is not authorized to perform: iam:PassRole on resource: "
                f"{role_arn} ({cached[1]})"
            )

    def _decide(self, caller: str, role_arn: str, service: str) -> tuple[bool, str]:
        """Whether ``caller`` may pass the role, and what IAM said."""
        principal = self._principal(caller)
        if principal is None:
            return True, "the account's root user"
        try:
            answer = self._iam().simulate_principal_policy(
                PolicySourceArn=principal,
                ActionNames=["iam:PassRole"],
                ResourceArns=[role_arn],
                ContextEntries=[
                    {
                        "ContextKeyName": "iam:PassedToService",
                        "ContextKeyValues": [f"{service}.amazonaws.com"],
                        "ContextKeyType": "string",
                    }
                ],
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            return False, f"IAM could not evaluate {principal}'s policies: {code}"
        decisions = [result["EvalDecision"] for result in answer.get("EvaluationResults", [])]
        if decisions and all(decision == _ALLOWED for decision in decisions):
            return True, _ALLOWED
        return False, f"IAM's decision for {principal}: {', '.join(decisions) or 'none'}"

    def _principal(self, caller: str) -> str | None:
        """The IAM principal whose policies govern ``caller``; ``None`` for the root user.

        An assumed-role session (``arn:aws:sts::<account>:assumed-role/<name>/<session>``)
        is governed by its role, whose ARN (path included) IAM gives by name."""
        parts = caller.split(":", 5)
        if len(parts) != 6:
            raise AccessDenied(f"The caller {caller} is not an IAM or STS ARN")
        service, resource = parts[2], parts[5]
        if service == "iam" and resource == "root":
            return None
        if service == "iam" and resource.startswith(("user/", "role/")):
            return caller
        if service == "sts" and resource.startswith("assumed-role/"):
            role_name = resource.split("/")[1]
            try:
                return str(self._iam().get_role(RoleName=role_name)["Role"]["Arn"])
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                raise AccessDenied(
                    f"Augury could not look up the role {role_name} of the caller {caller}: {code}"
                ) from None
        raise AccessDenied(
            f"The caller {caller} is neither an IAM user nor a role session; Augury cannot tell "
            "whether it may pass roles, so its requests may not name one"
        )

    def _iam(self) -> Any:
        if self._client is None:
            self._client = boto3.client("iam", region_name=self._region)
        return self._client
