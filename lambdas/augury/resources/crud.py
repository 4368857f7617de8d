"""Describe, List, Delete and tags, written once for every resource type."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augury.ports import AlreadyExists, ConcurrentUpdate, NotFound
from augury.resources.arns import parse_arn
from augury.resources.errors import (
    InvalidInput,
    InvalidNextToken,
    LimitExceeded,
    ResourceAlreadyExists,
    ResourceInUse,
    ResourceNotFound,
    TooManyTagKeys,
    TooManyTags,
)
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.resources.types import PERSONALIZE_STYLE, STYLES, ApiStyle, ResourceType, by_kind

if TYPE_CHECKING:
    from augury.runtime import Runtime

MAX_TAGS = {"forecast": 50, "personalize": 50}
"""Both services document at most 50 tags per resource."""
DELETE_WORKFLOW = "delete-resource"


def render(resource_type: ResourceType, record: Resource) -> dict[str, Any]:
    """The record as the API names it; the output shape keeps what it needs."""
    style = resource_type.style
    out: dict[str, Any] = {
        resource_type.arn_member: record.arn,
        resource_type.name_member: record.name,
        style.status: Status(record.status).render(style.service),
        style.created: record.created_at,
        style.updated: record.updated_at,
    }
    if resource_type.parent_member and record.parent_arn:
        out[resource_type.parent_member] = record.parent_arn
    out.update(record.attributes)
    return out


def not_found(resource_type: ResourceType, arn: str) -> ResourceNotFound:
    return ResourceNotFound(f"No {resource_type.label} found with ARN {arn}")


def get_record(runtime: Runtime, resource_type: ResourceType, arn: str) -> Resource:
    """The record behind ``arn``, which must be of ``resource_type``."""
    record = runtime.metadata.get(arn)
    if record is None or record.kind != resource_type.kind:
        raise not_found(resource_type, arn)
    return record


def describe(runtime: Runtime, resource_type: ResourceType, arn: str) -> dict[str, Any]:
    body = render(resource_type, get_record(runtime, resource_type, arn))
    if resource_type.describe_wrapper:
        return {resource_type.describe_wrapper: body}
    return body


def create(
    runtime: Runtime,
    resource_type: ResourceType,
    arn: str,
    name: str,
    *,
    status: Status = Status.ACTIVE,
    parent_arn: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    tags: Sequence[Mapping[str, str]] | None = None,
) -> Resource:
    """Store a new resource; ``ResourceAlreadyExists`` if its ARN is taken."""
    record = Resource(
        arn=arn,
        kind=resource_type.kind,
        name=name,
        status=status.value,
        parent_arn=parent_arn,
        attributes=dict(attributes or {}),
        tags=_tag_dict(resource_type.style, tags or []),
    )
    try:
        runtime.metadata.create(record)
    except AlreadyExists:
        raise ResourceAlreadyExists(f"The {resource_type.label} {arn} already exists") from None
    return record


def update(
    runtime: Runtime, arn: str, change: Callable[[Resource], Resource], attempts: int = 5
) -> Resource:
    """Apply ``change`` to the stored record, re-reading on a concurrent write."""
    for attempt in range(attempts):
        record = runtime.metadata.get(arn)
        if record is None:
            raise NotFound(arn)
        try:
            return runtime.metadata.update(change(record))
        except ConcurrentUpdate:
            time.sleep(0.01 * (attempt + 1))
    raise ConcurrentUpdate(f"{arn} kept changing; gave up after {attempts} attempts")


def set_status(runtime: Runtime, arn: str, status: Status, reason: str | None = None) -> Resource:
    """Move a resource to ``status``; a failure status records ``reason`` for the user."""

    def change(record: Resource) -> Resource:
        attributes = dict(record.attributes)
        resource_type = by_kind(record.kind)
        failure_member = resource_type.style.failure if resource_type else "failureReason"
        if reason is not None:
            attributes[failure_member] = reason[:1024]
        elif not status.failed:
            attributes.pop(failure_member, None)
        return record.evolve(status=status.value, attributes=attributes)

    return update(runtime, arn, change)


def every(runtime: Runtime, kind: str) -> Iterator[Resource]:
    """Every record of ``kind``, a store page at a time (scans and schedulers)."""
    cursor = None
    while True:
        page = runtime.metadata.list(kind=kind, limit=100, cursor=cursor)
        yield from page.items
        cursor = page.cursor
        if cursor is None:
            return


def list_page(
    runtime: Runtime,
    resource_type: ResourceType,
    request: Mapping[str, Any],
    *,
    parent_arn: str | None = None,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """One page of a List call, with the service's NextToken and MaxResults.

    ``keep`` filters rendered summaries; pages are filled from as many store
    pages as it takes, never more than MaxResults.
    """
    style = resource_type.style
    page_size = int(request.get(style.max_results) or style.default_page_size)
    cursor = _decode_token(request.get(style.next_token), resource_type.kind, parent_arn)
    items: list[dict[str, Any]] = []
    while True:
        page = runtime.metadata.list(
            kind=resource_type.kind,
            parent_arn=parent_arn,
            limit=page_size - len(items),
            cursor=cursor,
        )
        cursor = page.cursor
        rendered = (render(resource_type, record) for record in page.items)
        items.extend(item for item in rendered if keep is None or keep(item))
        if cursor is None or len(items) >= page_size:
            break
    result: dict[str, Any] = {resource_type.list_member: items}
    if cursor is not None:
        result[style.next_token] = _encode_token(cursor, resource_type.kind, parent_arn)
    return result


def slice_page(
    items: Sequence[Any], request: Mapping[str, Any], member: str, scope: str
) -> dict[str, Any]:
    """One page of a list held in memory (Personalize's nextToken and maxResults), for lists
    that are not records; the token names ``scope``, so it pages no other list."""
    cursor = _decode_token(request.get("nextToken"), "offset", scope)
    start = int(cursor) if cursor and cursor.isdigit() else 0
    size = int(request.get("maxResults") or PERSONALIZE_STYLE.default_page_size)
    result: dict[str, Any] = {member: list(items[start : start + size])}
    if start + size < len(items):
        result["nextToken"] = _encode_token(str(start + size), "offset", scope)
    return result


def forecast_filters(
    filters: Iterable[Mapping[str, str]] | None, allowed: Sequence[str]
) -> Callable[[dict[str, Any]], bool] | None:
    """Forecast's ``Filters`` (Key, Value, Condition IS | IS_NOT) as a predicate."""
    checks = []
    for entry in filters or []:
        key, value, condition = entry["Key"], entry["Value"], entry["Condition"].upper()
        if key not in allowed:
            raise InvalidInput(
                f"Filter key {key} is not valid here; valid keys are {', '.join(allowed)}"
            )
        if condition not in ("IS", "IS_NOT"):
            raise InvalidInput(f"Filter condition {condition} must be IS or IS_NOT")
        checks.append((key, value, condition == "IS"))
    if not checks:
        return None
    return lambda item: all((str(item.get(k)) == v) == equal for k, v, equal in checks)


def request_delete(
    runtime: Runtime,
    resource_type: ResourceType,
    arn: str,
    *,
    blocking_children: bool = True,
    history: Collection[str] = (),
) -> None:
    """Start deleting a resource: DELETE_PENDING now, gone when the workflow ends.

    A resource that is still being worked on, or (when ``blocking_children``)
    that has children, cannot be deleted: ``ResourceInUseException``. Children of a
    kind in ``history`` (jobs the API has no call to delete, such as Personalize's data
    deletion jobs) block only while they run; finished, they go with the resource.
    """
    record = get_record(runtime, resource_type, arn)
    status = Status(record.status)
    if status.working:
        raise ResourceInUse(
            f"{resource_type.label} {arn} is {status.render(resource_type.service)}; "
            "it can be deleted once it is ACTIVE or has failed"
        )
    if blocking_children:
        _refuse_while_children(runtime, resource_type, arn, history)
    set_status(runtime, arn, Status.DELETE_PENDING)
    start_workflow(runtime, DELETE_WORKFLOW, arn)


def _refuse_while_children(
    runtime: Runtime, resource_type: ResourceType, arn: str, history: Collection[str]
) -> None:
    cursor = None
    while True:
        page = runtime.metadata.list(parent_arn=arn, limit=1 if not history else 100, cursor=cursor)
        for child in page.items:
            if child.kind in history and Status(child.status).finalized:
                continue
            what = "wait for it to finish" if child.kind in history else "delete them first"
            raise ResourceInUse(
                f"{resource_type.label} {arn} still has resources that depend on it, "
                f"such as {child.arn}; {what}"
            )
        cursor = page.cursor
        if not history or cursor is None:
            return


def start_workflow(runtime: Runtime, workflow: str, arn: str) -> None:
    """Start the workflow that owns ``arn`` next; if it cannot start, fail the resource.

    Without this, a resource whose workflow never started would sit in a
    PENDING status forever.
    """
    try:
        runtime.workflows.start(workflow, {"arn": arn})
    except Exception as error:
        record = runtime.metadata.get(arn)
        if record is not None:
            reason = f"Could not start the {workflow} workflow: {error}"
            set_status(runtime, arn, Status(record.status).failure(), reason)
        raise


def record_for_any_arn(runtime: Runtime, service: str, arn: str) -> Resource:
    record = runtime.metadata.get(arn)
    parsed = parse_arn(arn)
    if record is None or parsed is None or not record.kind.startswith(f"{service}:"):
        raise ResourceNotFound(f"No resource found with ARN {arn}")
    return record


def tag_resource(runtime: Runtime, service: str, request: Mapping[str, Any]) -> dict[str, Any]:
    style = STYLES[service]
    arn = request[style.resource_arn]
    record_for_any_arn(runtime, service, arn)
    new_tags = _tag_dict(style, request.get(style.tags) or [])

    def change(record: Resource) -> Resource:
        merged = {**record.tags, **new_tags}
        _check_tag_count(service, merged)
        return record.evolve(tags=merged, updated_at=record.updated_at)

    update(runtime, arn, change)
    return {}


def untag_resource(runtime: Runtime, service: str, request: Mapping[str, Any]) -> dict[str, Any]:
    style = STYLES[service]
    arn = request[style.resource_arn]
    record_for_any_arn(runtime, service, arn)
    keys = set(request.get(style.tag_keys) or [])
    limit = MAX_TAGS[service]
    if service == "personalize" and len(keys) > limit:  # Forecast declares no such error
        raise TooManyTagKeys(
            f"A resource has at most {limit} tags, so at most {limit} tag keys can be removed "
            f"at once; got {len(keys)}"
        )
    update(
        runtime,
        arn,
        lambda record: record.evolve(
            tags={k: v for k, v in record.tags.items() if k not in keys},
            updated_at=record.updated_at,
        ),
    )
    return {}


def list_tags(runtime: Runtime, service: str, request: Mapping[str, Any]) -> dict[str, Any]:
    style = STYLES[service]
    record = record_for_any_arn(runtime, service, request[style.resource_arn])
    return {
        style.tags: [
            {style.tag_key: key, style.tag_value: value} for key, value in record.tags.items()
        ]
    }


def _tag_dict(style: ApiStyle, tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for tag in tags:
        key, value = tag[style.tag_key], tag[style.tag_value]
        if key.lower().startswith("aws:"):
            raise InvalidInput(f"Tag key {key}: the aws: prefix is reserved for AWS use")
        result[key] = value
    _check_tag_count(style.service, result)
    return result


def _check_tag_count(service: str, tags: Mapping[str, str]) -> None:
    limit = MAX_TAGS[service]
    if len(tags) > limit:
        if service == "personalize":
            raise TooManyTags(f"A resource can have at most {limit} tags; got {len(tags)}")
        raise LimitExceeded(f"A resource can have at most {limit} tags; got {len(tags)}")


def _encode_token(cursor: str, kind: str, parent_arn: str | None) -> str:
    doc = json.dumps({"c": cursor, "k": kind, "p": parent_arn}, separators=(",", ":"))
    return base64.urlsafe_b64encode(doc.encode()).decode()


def _decode_token(token: str | None, kind: str, parent_arn: str | None) -> str | None:
    if not token:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(token.encode()))
        if doc["k"] == kind and doc["p"] == parent_arn:
            return str(doc["c"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    raise InvalidNextToken("The NextToken is not valid for this request")
