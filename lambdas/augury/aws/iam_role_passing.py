"""AWS ``RolePassing``: the caller must be allowed ``iam:PassRole`` on the role it names.

Amazon Forecast and Personalize check this before they accept a role, so that a
user cannot reach data through a role they could not use themselves. Behind API
Gateway's AWS_IAM authorization Augury knows the caller; it asks IAM's policy
simulator whether that principal's policies (and permissions boundary) allow
``iam:PassRole`` on the role, with the request's context as IAM would see it:
``iam:PassedToService`` (``forecast.amazonaws.com``, ``personalize.amazonaws.com``,
so a policy written for Amazon's services works unchanged), ``aws:PrincipalArn``,
``aws:PrincipalAccount``, ``aws:SourceIp``, ``aws:RequestedRegion`` and
``aws:SecureTransport``.

What the simulator cannot see fails closed:

- an answer that depends on a context key Augury cannot supply (a Deny on
  ``aws:MultiFactorAuthPresent``, say, would not apply in the simulation) is a
  refusal naming the keys;
- a caller from another account, or one that is neither an IAM user nor a role
  session, is refused;
- session policies (which only narrow a role session) and service control policies
  are not simulated; the data-access tag on the role (``augury:data-access``) still
  bounds what Augury can assume at all.

Decisions are cached for a few minutes per caller, source address, role and
service: a burst of requests costs one IAM call, and a revoked permission takes
effect within :data:`CACHE_SECONDS`. IAM's own errors are not cached; its
throttling is answered with ``ThrottlingException``, which clients retry.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

from augury.ports import Caller
from augury.resources.errors import AccessDenied, Throttling

CACHE_SECONDS = 300.0
CACHE_ENTRIES = 4_096
"""At most this many decisions are kept; the oldest go first."""
_ALLOWED = "allowed"
_THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}


class IamRolePassing:
    """``RolePassing`` answered by ``iam:SimulatePrincipalPolicy``."""

    def __init__(
        self, region: str | None = None, *, account: str | None = None, client: Any = None
    ) -> None:
        self._region = region
        self._account = account
        self._client = client
        self._answers: dict[tuple[str, str | None, str, str], tuple[bool, str, float]] = {}
        self._lock = threading.Lock()

    def check(self, caller: Caller | None, role_arn: str, service: str) -> None:
        if caller is None:
            raise AccessDenied(
                f"The request names the role {role_arn}, but it came with no caller identity; "
                "Augury's API takes roles only from callers signed with AWS_IAM authorization"
            )
        key = (caller.arn, caller.source_ip, role_arn, service)
        with self._lock:
            cached = self._answers.get(key)
        if cached is None or time.monotonic() - cached[2] > CACHE_SECONDS:
            allowed, why = self._decide(caller, role_arn, service)
            cached = (allowed, why, time.monotonic())
            with self._lock:
                if len(self._answers) >= CACHE_ENTRIES:
                    self._answers.pop(next(iter(self._answers)))
                self._answers[key] = cached
        if not cached[0]:
            raise AccessDenied(
                f"User: {caller.arn} is not authorized to perform: iam:PassRole on resource: "
                f"{role_arn} ({cached[1]})"
            )

    def _decide(self, caller: Caller, role_arn: str, service: str) -> tuple[bool, str]:
        """Whether ``caller`` may pass the role, and why; IAM's errors are raised, not
        decided, so they are never cached."""
        principal = self._principal(caller.arn)
        if principal is None:
            return True, "the account's root user"
        try:
            answer = self._iam().simulate_principal_policy(
                PolicySourceArn=principal,
                ActionNames=["iam:PassRole"],
                ResourceArns=[role_arn],
                ContextEntries=self._context(caller, principal, service),
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _THROTTLED:
                raise _throttled() from None
            raise AccessDenied(
                f"User: {caller.arn} is not authorized to perform: iam:PassRole on resource: "
                f"{role_arn} (IAM could not evaluate {principal}'s policies: {code})"
            ) from None
        results = answer.get("EvaluationResults", [])
        decisions = [result["EvalDecision"] for result in results]
        if not decisions or any(decision != _ALLOWED for decision in decisions):
            return False, f"IAM's decision for {principal}: {', '.join(decisions) or 'none'}"
        missing = sorted({key for r in results for key in r.get("MissingContextValues", [])})
        if missing:
            return False, (
                f"{principal}'s policies depend on {', '.join(missing)}, which Augury cannot "
                "know for the request"
            )
        return True, _ALLOWED

    def _context(self, caller: Caller, principal: str, service: str) -> list[dict[str, Any]]:
        """The request's context keys, as IAM would have them for the caller's own call."""
        values: list[tuple[str, str, str]] = [
            ("iam:PassedToService", f"{service}.amazonaws.com", "string"),
            ("aws:PrincipalArn", principal, "string"),
            ("aws:PrincipalAccount", principal.split(":")[4], "string"),
            ("aws:SecureTransport", "true", "boolean"),
        ]
        if self._region:
            values.append(("aws:RequestedRegion", self._region, "string"))
        if caller.source_ip:
            values.append(("aws:SourceIp", caller.source_ip, "ip"))
        return [
            {"ContextKeyName": name, "ContextKeyValues": [value], "ContextKeyType": kind}
            for name, value, kind in values
        ]

    def _principal(self, caller: str) -> str | None:
        """The IAM principal whose policies govern ``caller``; ``None`` for the root user.

        An assumed-role session (``arn:aws:sts::<account>:assumed-role/<name>/<session>``)
        is governed by its role, whose ARN (path included) IAM gives by name. Only this
        account's principals are judged: IAM would look another account's role name up
        in this one."""
        parts = caller.split(":", 5)
        if len(parts) != 6:
            raise AccessDenied(f"The caller {caller} is not an IAM or STS ARN")
        service, account, resource = parts[2], parts[4], parts[5]
        if self._account and account != self._account:
            raise AccessDenied(
                f"The caller {caller} is not of this deployment's account {self._account}; "
                "its requests may not name roles"
            )
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
                if code in _THROTTLED:
                    raise _throttled() from None
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


def _throttled() -> Throttling:
    return Throttling("IAM is throttling Augury's checks of iam:PassRole; retry the request")
