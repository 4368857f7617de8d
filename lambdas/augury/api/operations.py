"""The operation registry: adding an operation is writing one function.

Each service module keeps an ``OperationSet`` and decorates its functions::

    operations = OperationSet("forecast")

    @operations("CreateDatasetGroup")
    def create_dataset_group(runtime: Runtime, request: dict) -> dict: ...

The function receives the validated request (member names as in botocore's
model) and returns a dict the output shape trims and serializes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from augury.api.service_models import service_model

if TYPE_CHECKING:
    from augury.runtime import Runtime

Operation = Callable[["Runtime", dict[str, Any]], dict[str, Any] | None]


class OperationSet:
    """The operations one module implements for one service."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.operations: dict[str, Operation] = {}

    def __call__(self, name: str) -> Callable[[Operation], Operation]:
        if name not in service_model(self.service).operation_names:
            raise ValueError(f"{self.service} has no operation {name!r} in botocore's model")

        def register(function: Operation) -> Operation:
            if name in self.operations:
                raise ValueError(f"{self.service}:{name} is registered twice")
            self.operations[name] = function
            return function

        return register


class OperationRegistry:
    """Every implemented operation, by service and name."""

    def __init__(self, sets: Iterable[OperationSet] = ()) -> None:
        self._operations: dict[tuple[str, str], Operation] = {}
        for operation_set in sets:
            self.add(operation_set)

    def add(self, operation_set: OperationSet) -> None:
        for name, function in operation_set.operations.items():
            key = (operation_set.service, name)
            if key in self._operations:
                raise ValueError(f"{operation_set.service}:{name} is registered twice")
            self._operations[key] = function

    def get(self, service: str, name: str) -> Operation | None:
        return self._operations.get((service, name))

    def implemented(self, service: str) -> list[str]:
        return sorted(name for svc, name in self._operations if svc == service)


def default_registry() -> OperationRegistry:
    """All of Augury's operations (imported here, when first asked for)."""
    from augury.forecast import OPERATION_SETS as forecast_sets
    from augury.personalize import OPERATION_SETS as personalize_sets

    return OperationRegistry([*forecast_sets, *personalize_sets])
