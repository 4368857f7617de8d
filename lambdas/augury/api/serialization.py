"""Python values out, wire form in: responses and errors as boto3 expects them.

Operations return plain dicts; this module keeps only the members the output
shape defines (so a generic Describe can return a resource's full record and
each operation's shape trims it), writes timestamps as epoch seconds and blobs
as base64, and places REST-JSON header members in headers.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from typing import Any

from botocore.model import OperationModel, Shape

from augury.api.http import HttpResponse
from augury.api.service_models import service_model
from augury.resources.errors import ServiceError


def to_wire(value: Any, shape: Shape) -> Any:
    """``value`` in the wire form of ``shape``; unknown structure members dropped."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        result = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                if member.serialization.get("location"):
                    continue
                result[member.serialization.get("name", name)] = to_wire(value[name], member)
        return result
    if kind == "list":
        return [to_wire(item, shape.member) for item in value]
    if kind == "map":
        return {key: to_wire(item, shape.value) for key, item in value.items()}
    if kind == "timestamp":
        return _epoch(value)
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    if kind in ("float", "double") and isinstance(value, int | float):
        return float(value)
    return value


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return round(stamp.timestamp(), 3)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    return float(value)


def success_response(
    result: dict[str, Any] | None, operation: OperationModel, request_id: str
) -> HttpResponse:
    shape = operation.output_shape
    headers = {"x-amzn-RequestId": request_id, "Content-Type": _content_type(operation)}
    body: dict[str, Any] = {}
    if shape is not None and result:
        body = to_wire(result, shape)
        for name, member in shape.members.items():
            if member.serialization.get("location") == "header" and result.get(name) is not None:
                headers[member.serialization.get("name", name)] = str(result[name])
    return HttpResponse(200, json.dumps(body).encode(), headers)


def error_response(error: ServiceError, service: str | None, request_id: str) -> HttpResponse:
    """Amazon's error shape: ``{"__type": code, "message": text}`` plus the type header."""
    status = _status_for(error, service)
    body = {"__type": error.code, "message": error.message}
    headers = {
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": error.code,
        "Content-Type": "application/x-amz-json-1.1",
    }
    return HttpResponse(status, json.dumps(body).encode(), headers)


def _status_for(error: ServiceError, service: str | None) -> int:
    """The status the model gives this error (REST-JSON 404s), else the error's own."""
    if service is not None:
        model = service_model(service)
        for shape in model.error_shapes:
            if shape.name == error.code:
                return int(shape.metadata.get("error", {}).get("httpStatusCode", error.status))
    return error.status


def _content_type(operation: OperationModel) -> str:
    protocol = operation.service_model.protocol
    return "application/x-amz-json-1.1" if protocol == "json" else "application/json"
