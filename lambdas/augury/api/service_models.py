"""The five services Augury speaks, each read from botocore's shipped model.

botocore's service models are the contract: operations, shapes, enums and
errors all come from them; nothing here hand-writes a shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its botocore name, the base path it is served on, its family."""

    name: str
    base_path: str
    family: str
    """``forecast`` or ``personalize``: which service owns the resources."""


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("forecast", "/forecast", "forecast"),
    ServiceSpec("forecastquery", "/forecastquery", "forecast"),
    ServiceSpec("personalize", "/personalize", "personalize"),
    ServiceSpec("personalize-runtime", "/personalize-runtime", "personalize"),
    ServiceSpec("personalize-events", "/personalize-events", "personalize"),
)

_BY_SEGMENT = {spec.base_path.strip("/"): spec for spec in SERVICES}


def service_for_path(path: str) -> tuple[ServiceSpec, str] | None:
    """The service a request path belongs to, and the path below its base."""
    stripped = path.lstrip("/")
    segment, _, rest = stripped.partition("/")
    spec = _BY_SEGMENT.get(segment)
    if spec is None:
        return None
    return spec, "/" + rest


@cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)
