"""Personalize's tag operations, generic over every resource type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.resources import crud

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")


@operations("TagResource")
def tag_resource(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.tag_resource(runtime, "personalize", request)


@operations("UntagResource")
def untag_resource(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.untag_resource(runtime, "personalize", request)


@operations("ListTagsForResource")
def list_tags_for_resource(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.list_tags(runtime, "personalize", request)
