""" "At most one per dataset group", held by a slot record whose create is conditional.

Personalize allows one event tracker and one metric attribution per dataset
group. Checking "does the group have one?" and then creating leaves a gap in
which two concurrent calls both create; a slot record at a fixed ARN per group
closes it, since the store's conditional create lets only one of them in. The
slot's ``parent_arn`` is the resource holding it, so the generic delete
workflow removes the slot with that resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from augury.ports import AlreadyExists
from augury.resources import crud
from augury.resources.arns import parse_arn
from augury.resources.errors import LimitExceeded, ResourceAlreadyExists, ResourceInUse
from augury.resources.record import Resource, utcnow
from augury.resources.status import Status
from augury.resources.types import ResourceType

if TYPE_CHECKING:
    from augury.runtime import Runtime

SLOT_GRACE = timedelta(seconds=60)
"""How old a slot whose holder does not exist must be before it counts as abandoned."""


def slot_arn(runtime: Runtime, slot_kind: str, group_arn: str) -> str:
    """The ARN of the group's slot of ``slot_kind`` (``<kind>/<group name>``)."""
    parsed = parse_arn(group_arn)
    return runtime.arns.build("personalize", slot_kind, parsed.name if parsed else "")


def take_slot(runtime: Runtime, slot: Resource, group_arn: str, label: str) -> None:
    """Claim the group's slot for ``slot.parent_arn``, or ``LimitExceededException`` naming
    the holder.

    A slot whose holder does not exist was left by a create that died half way; it is
    reclaimed once it is old enough that no create can still be using it.
    """
    for _ in range(2):
        try:
            runtime.metadata.create(slot)
            return
        except AlreadyExists:
            holder = runtime.metadata.get(slot.arn)
            owner = holder.parent_arn if holder else None
            stale = holder is not None and utcnow() - holder.created_at > SLOT_GRACE
            if stale and owner and runtime.metadata.get(owner) is None:
                runtime.metadata.delete(slot.arn)
                continue
            raise LimitExceeded(
                f"Dataset group {group_arn} already has {label}"
                + (f" ({owner})" if owner else "")
                + "; a dataset group can have at most 1"
            ) from None
    raise LimitExceeded(f"Dataset group {group_arn} already has {label}")


def slot_holder(runtime: Runtime, slot_kind: str, group_arn: str) -> str | None:
    """The ARN of the resource holding the group's slot, if one does."""
    slot = runtime.metadata.get(slot_arn(runtime, slot_kind, group_arn))
    return slot.parent_arn if slot is not None else None


def create_one_per_group(
    runtime: Runtime,
    resource_type: ResourceType,
    group: Resource,
    name: str,
    *,
    slot_kind: str,
    label: str,
    attributes: Mapping[str, Any],
    tags: Sequence[Mapping[str, str]] | None = None,
) -> Resource:
    """Create the group's one ``resource_type``, CREATE PENDING, holding the group's slot.

    The group must be ACTIVE; the name must be free (``ResourceAlreadyExistsException``);
    the slot must be free (``LimitExceededException``). A create that fails gives the
    slot back.
    """
    status = Status(group.status)
    if status != Status.ACTIVE:
        raise ResourceInUse(
            f"Dataset group {group.arn} is {status.render('personalize')}; "
            f"{label} can be added once it is ACTIVE"
        )
    arn = runtime.arns.build("personalize", resource_type.arn_kind, name)
    if runtime.metadata.get(arn) is not None:
        raise ResourceAlreadyExists(f"The {resource_type.label} {arn} already exists")
    slot = Resource(
        arn=slot_arn(runtime, slot_kind, group.arn),
        kind=f"augury:{slot_kind}",
        name=name,
        status="ACTIVE",
        parent_arn=arn,
    )
    take_slot(runtime, slot, group.arn, label)
    try:
        return crud.create(
            runtime,
            resource_type,
            arn,
            name,
            status=Status.CREATE_PENDING,
            parent_arn=group.arn,
            attributes=attributes,
            tags=tags,
        )
    except Exception:
        runtime.metadata.delete(slot.arn)
        raise
