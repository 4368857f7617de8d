"""The IAM roles a request hands Augury, checked against who sent it.

Forecast names roles as ``RoleArn`` (``DataSource.S3Config``, ``Destination.S3Config``,
``EncryptionConfig``, a ``TimeSeriesSelector``), Personalize as ``roleArn`` (imports,
exports, batch and deletion jobs, metric attributions, dataset groups). Every one of
them, wherever it sits in the request, must be a role the caller may pass
(``RolePassing``), before the operation runs: a request that may not name its role
leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from augury.ports import Caller
    from augury.runtime import Runtime

ROLE_MEMBERS = frozenset({"RoleArn", "roleArn"})
SERVICE_PRINCIPALS = {
    "forecast": "forecast",
    "forecastquery": "forecast",
    "personalize": "personalize",
    "personalize-runtime": "personalize",
    "personalize-events": "personalize",
}
"""Each API's service, whose principal the role is passed to (``iam:PassedToService``)."""


def named_roles(params: Any) -> Iterator[str]:
    """Every role ARN the request's parameters name, in any structure."""
    if isinstance(params, dict):
        for name, value in params.items():
            if name in ROLE_MEMBERS and isinstance(value, str) and value:
                yield value
            else:
                yield from named_roles(value)
    elif isinstance(params, list):
        for value in params:
            yield from named_roles(value)


def check_passed_roles(runtime: Runtime, service: str, caller: Caller | None, params: Any) -> None:
    """``AccessDeniedException`` unless ``caller`` may pass every role ``params`` names."""
    for role_arn in dict.fromkeys(named_roles(params)):
        runtime.roles.check(caller, role_arn, SERVICE_PRINCIPALS.get(service, service))
