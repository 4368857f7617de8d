"""The one record every resource type is stored as."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Resource:
    """A resource: identity, lifecycle, relations and its service's fields.

    ``status`` is the canonical (Forecast-style, underscored) status; each
    service renders it its own way. ``attributes`` holds the fields a Describe
    call returns beyond the common ones, under the API's own member names.
    Attributes are persisted as JSON: store times as epoch seconds (floats),
    which the response serializer writes as timestamps. ``version`` makes
    updates conditional, so two writers never silently overwrite each other.
    """

    arn: str
    kind: str
    name: str
    status: str
    parent_arn: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    version: int = 0

    def evolve(self, **changes: Any) -> Resource:
        """A copy with ``changes`` applied and ``updated_at`` moved to now."""
        changes.setdefault("updated_at", utcnow())
        return replace(self, **changes)

    def with_attributes(self, **attributes: Any) -> Resource:
        return self.evolve(attributes={**self.attributes, **attributes})

    def to_document(self) -> dict[str, Any]:
        """A JSON-safe dict, the form both metadata stores persist."""
        return {
            "arn": self.arn,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "parent_arn": self.parent_arn,
            "attributes": self.attributes,
            "tags": self.tags,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Resource:
        return cls(
            arn=doc["arn"],
            kind=doc["kind"],
            name=doc["name"],
            status=doc["status"],
            parent_arn=doc.get("parent_arn"),
            attributes=dict(doc.get("attributes") or {}),
            tags=dict(doc.get("tags") or {}),
            created_at=datetime.fromisoformat(doc["created_at"]),
            updated_at=datetime.fromisoformat(doc["updated_at"]),
            version=int(doc.get("version", 0)),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_document(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Resource:
        return cls.from_document(json.loads(text))
