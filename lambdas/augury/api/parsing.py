"""Requests in, Python values out: AWS JSON 1.1 and REST-JSON, driven by the model.

The shape walk turns wire timestamps into ``datetime`` and base64 blobs into
``bytes``, and drops members the model does not know (a newer SDK may send
them), so operations receive exactly what botocore's model describes.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, Shape

from augury.api.http import HttpRequest
from augury.api.service_models import service_model
from augury.resources.errors import SerializationError, UnknownOperation

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: only then can a decoded string hold a lone one."""


def json_target(request: HttpRequest, service: str) -> str:
    """The operation named by ``X-Amz-Target`` (``AmazonForecast.CreateDataset``)."""
    target = request.header("X-Amz-Target") or ""
    prefix, _, operation = target.partition(".")
    model = service_model(service)
    if prefix != model.metadata.get("targetPrefix") or operation not in model.operation_names:
        raise UnknownOperation(f"Unknown operation {target or '(no X-Amz-Target header)'}")
    return operation


def parse_json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SerializationError(f"Request body is not valid JSON: {error}") from None
    except RecursionError:
        raise SerializationError("Request body is nested too deeply to be a request") from None
    if _SURROGATE_ESCAPE.search(body) and not _is_unicode(value):
        raise SerializationError(
            "Request body has a lone UTF-16 surrogate escape (such as \\ud800): every string "
            "must be valid Unicode"
        )
    if not isinstance(value, dict):
        raise SerializationError("Request body must be a JSON object")
    return value


def _is_unicode(value: Any) -> bool:
    """Whether every string in ``value`` can be stored and sent on (no lone surrogates)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json_request(request: HttpRequest, operation: OperationModel) -> dict[str, Any]:
    body = parse_json_body(request.body)
    if operation.input_shape is None:
        return {}
    return from_wire(body, operation.input_shape)


@cache
def _rest_routes(service: str) -> list[tuple[str, re.Pattern[str], str]]:
    routes = []
    model = service_model(service)
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = http["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\\\{(\w+)\+?\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        routes.append((http["method"].upper(), re.compile(f"^{pattern}/?$"), name))
    return routes


def rest_operation(request: HttpRequest, service: str, subpath: str) -> tuple[str, dict[str, str]]:
    """The REST-JSON operation for a method and path, with its URI labels."""
    for method, pattern, name in _rest_routes(service):
        match = pattern.match(subpath)
        if match and method == request.method.upper():
            return name, {key: unquote(value) for key, value in match.groupdict().items()}
    raise UnknownOperation(f"No operation at {request.method} {subpath}")


def parse_rest_request(
    request: HttpRequest, operation: OperationModel, labels: dict[str, str]
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    raw: dict[str, Any] = {}
    body_members = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri" and wire_name in labels:
            raw[name] = labels[wire_name]
        elif location == "querystring" and wire_name in request.query:
            values = request.query[wire_name]
            raw[name] = values if member.type_name == "list" else values[0]
        elif location == "header":
            value = request.header(wire_name)
            if value is not None:
                raw[name] = value
        elif location is None:
            body_members[name] = member
    body = parse_json_body(request.body)
    parsed = from_wire(raw, shape, scalar_text=True)
    for name, member in body_members.items():
        wire_name = member.serialization.get("name", name)
        if wire_name in body:
            parsed[name] = _value(body[wire_name], member, scalar_text=False)
    return parsed


def from_wire(value: dict[str, Any], shape: Shape, *, scalar_text: bool = False) -> dict[str, Any]:
    """A structure from its wire form, keeping only members the model defines."""
    return _value(value, shape, scalar_text=scalar_text)


def _value(value: Any, shape: Shape, *, scalar_text: bool) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            return value  # the validator reports the type error with its path
        result = {}
        for name, member in shape.members.items():
            wire_name = member.serialization.get("name", name)
            if wire_name in value:
                result[name] = _value(value[wire_name], member, scalar_text=scalar_text)
        return result
    if kind == "list" and isinstance(value, list):
        return [_value(item, shape.member, scalar_text=scalar_text) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {
            key: _value(item, shape.value, scalar_text=scalar_text) for key, item in value.items()
        }
    if kind == "timestamp":
        return _timestamp(value)
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise SerializationError(f"Value for {shape.name} is not valid base64") from None
    if scalar_text and isinstance(value, str):
        return _scalar_from_text(value, kind)
    return value


def _timestamp(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return _from_epoch_seconds(value)
    if isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            pass
        else:
            return _from_epoch_seconds(seconds)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SerializationError(f"Unparseable timestamp {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def _from_epoch_seconds(value: float) -> datetime:
    """Epoch seconds as a datetime; NaN, infinities and values past the year 9999 (often
    milliseconds sent as seconds) are the client's error, not a crash."""
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):
        raise SerializationError(
            f"Timestamp {value!r} is not a valid number of seconds since the epoch"
        ) from None


def _scalar_from_text(value: str, kind: str) -> Any:
    try:
        if kind in ("integer", "long"):
            return int(value)
        if kind in ("float", "double"):
            return float(value)
    except ValueError:
        raise SerializationError(f"Value {value!r} is not a valid {kind}") from None
    if kind == "boolean":
        return value.lower() == "true"
    return value
