"""TagResource, UntagResource and ListTagsForResource for a service, written once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.resources import crud

if TYPE_CHECKING:
    from augury.runtime import Runtime


def tag_operations(service: str) -> OperationSet:
    """The three tag operations of ``service`` (``forecast`` or ``personalize``)."""
    operations = OperationSet(service)

    @operations("TagResource")
    def tag_resource(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
        return crud.tag_resource(runtime, service, request)

    @operations("UntagResource")
    def untag_resource(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
        return crud.untag_resource(runtime, service, request)

    @operations("ListTagsForResource")
    def list_tags_for_resource(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
        return crud.list_tags(runtime, service, request)

    return operations
