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
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

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


def check_passed_roles(
    runtime: Runtime, operation: OperationModel, caller: Caller | None, params: Any
) -> None:
    """``AccessDeniedException`` unless ``caller`` may pass every role ``params`` names.

    Only operations whose input can name a role are looked through: the serving calls
    (GetRecommendations, PutEvents, QueryForecast) never can, and pay nothing."""
    if not takes_roles(operation):
        return
    service = operation.service_model.service_name
    for role_arn in dict.fromkeys(named_roles(params)):
        runtime.roles.check(caller, role_arn, SERVICE_PRINCIPALS.get(service, service))


@cache
def takes_roles(operation: OperationModel) -> bool:
    """Whether the operation's input shape holds a role member anywhere."""
    return _holds_role(operation.input_shape, frozenset())


def _holds_role(shape: Shape | None, seen: frozenset[str]) -> bool:
    if shape is None or shape.name in seen:
        return False
    seen = seen | {shape.name}
    if isinstance(shape, StructureShape):
        return any(
            name in ROLE_MEMBERS or _holds_role(member, seen)
            for name, member in shape.members.items()
        )
    if isinstance(shape, ListShape):
        return _holds_role(shape.member, seen)
    if isinstance(shape, MapShape):
        return _holds_role(shape.value, seen)
    return False
