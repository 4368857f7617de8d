""" "At most one per dataset group", held by a slot record whose create is conditional.

Personalize allows one event tracker and one metric attribution per dataset
group. Checking "does the group have one?" and then creating leaves a gap in
which two concurrent calls both create; a slot record at a fixed ARN per group
closes it, since the store's conditional create lets only one of them in. The
slot's ``parent_arn`` is the resource holding it, so the generic delete
workflow removes the slot with that resource.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from augury.ports import AlreadyExists
from augury.resources.arns import parse_arn
from augury.resources.errors import LimitExceeded
from augury.resources.record import Resource, utcnow

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
