"""Transport-neutral HTTP request and response, shared by every front end.

The embedded server and the API Gateway Lambda handler both translate into
these, so there is exactly one dispatch path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from augury.ports import Caller


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    caller: Caller | None = None
    """The authenticated caller (API Gateway's AWS_IAM identity); none in embedded mode."""

    def header(self, name: str, default: str | None = None) -> str | None:
        """Header lookup, case-insensitive as HTTP requires."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
