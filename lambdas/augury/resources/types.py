"""Resource types and the two services' API styles.

A ``ResourceType`` says how one kind of resource is named on the wire; the
generic operations in ``augury.resources.crud`` use it to describe, list,
delete and tag every type with one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiStyle:
    """Member names a service uses for what every resource has."""

    service: str
    status: str
    created: str
    updated: str
    failure: str
    next_token: str
    max_results: str
    tags: str
    tag_key: str
    tag_value: str
    resource_arn: str
    tag_keys: str
    default_page_size: int


FORECAST_STYLE = ApiStyle(
    service="forecast",
    status="Status",
    created="CreationTime",
    updated="LastModificationTime",
    failure="Message",
    next_token="NextToken",
    max_results="MaxResults",
    tags="Tags",
    tag_key="Key",
    tag_value="Value",
    resource_arn="ResourceArn",
    tag_keys="TagKeys",
    default_page_size=100,
)

PERSONALIZE_STYLE = ApiStyle(
    service="personalize",
    status="status",
    created="creationDateTime",
    updated="lastUpdatedDateTime",
    failure="failureReason",
    next_token="nextToken",
    max_results="maxResults",
    tags="tags",
    tag_key="tagKey",
    tag_value="tagValue",
    resource_arn="resourceArn",
    tag_keys="tagKeys",
    default_page_size=100,
)

STYLES = {"forecast": FORECAST_STYLE, "personalize": PERSONALIZE_STYLE}


@dataclass(frozen=True)
class ResourceType:
    """One kind of resource: its ARN kind and the members that carry its identity.

    ``kind`` is stored on records as ``<service>:<arn kind>`` so the two
    services' dataset groups never mix. ``describe_wrapper`` is the member
    Personalize nests a Describe response in (``{"datasetGroup": {...}}``);
    Forecast returns the fields flat. ``label`` names the type in messages.
    """

    service: str
    arn_kind: str
    arn_member: str
    name_member: str
    list_member: str
    label: str
    describe_wrapper: str | None = None
    parent_member: str | None = None

    @property
    def kind(self) -> str:
        return f"{self.service}:{self.arn_kind}"

    @property
    def style(self) -> ApiStyle:
        return STYLES[self.service]


_REGISTRY: dict[str, ResourceType] = {}


def register(resource_type: ResourceType) -> ResourceType:
    """Declare a resource type so generic operations (tags, recovery) can find it."""
    existing = _REGISTRY.get(resource_type.kind)
    if existing is not None and existing != resource_type:
        raise ValueError(f"resource type {resource_type.kind} declared twice, differently")
    _REGISTRY[resource_type.kind] = resource_type
    return resource_type


def by_kind(kind: str) -> ResourceType | None:
    return _REGISTRY.get(kind)


def all_types() -> list[ResourceType]:
    return list(_REGISTRY.values())
