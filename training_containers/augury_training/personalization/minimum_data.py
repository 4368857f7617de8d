"""Amazon Personalize's minimum training data, and its messages when data falls short.

Personalize refuses to train a solution version unless, after the solution's
event-type and event-value filtering, there are at least 1000 interactions and
at least 25 users with 2 or more interactions each. The container checks this
on the data it actually trains on; the control plane's prepare step checks the
same rule earlier (it may import this module: standard library only) so the
user gets the reason without a container run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from augury_training.contract import ClientError

MIN_INTERACTIONS = 1000
MIN_ACTIVE_USERS = 25
MIN_USER_INTERACTIONS = 2


class InsufficientDataError(ClientError):
    """The training data is below Amazon's minimum; the message is the FailureReason."""


def shortfall(interaction_count: int, active_user_count: int, filtered: bool = False) -> str | None:
    """The reason the data is too small to train on, or None when it is enough.

    ``active_user_count`` is the number of users with at least 2 interactions;
    ``filtered`` says whether an event type or value threshold was applied (the
    message then says the count is after filtering, as Amazon's does).
    """
    after = " after filtering by event type and event value" if filtered else ""
    if interaction_count < MIN_INTERACTIONS:
        return (
            f"Insufficient data to train a solution version: the Interactions data has "
            f"{interaction_count} interactions{after}, and at least {MIN_INTERACTIONS} are "
            "required."
        )
    if active_user_count < MIN_ACTIVE_USERS:
        return (
            f"Insufficient data to train a solution version: {active_user_count} users have at "
            f"least {MIN_USER_INTERACTIONS} interactions{after}, and at least {MIN_ACTIVE_USERS} "
            f"unique users with at least {MIN_USER_INTERACTIONS} interactions each are required."
        )
    return None


def active_users(user_ids: Iterable[Any]) -> int:
    """How many distinct users appear at least ``MIN_USER_INTERACTIONS`` times."""
    counts: dict[Any, int] = {}
    for user in user_ids:
        counts[user] = counts.get(user, 0) + 1
    return sum(1 for count in counts.values() if count >= MIN_USER_INTERACTIONS)


def check(interaction_count: int, active_user_count: int, filtered: bool = False) -> None:
    """Raise :class:`InsufficientDataError` with Amazon's reason when data falls short."""
    reason = shortfall(interaction_count, active_user_count, filtered)
    if reason:
        raise InsufficientDataError(reason)
