"""Filters at serving time: which catalog items a recommendation may return.

A request names a filter by ARN (and a promotion may name another). The filter
must be ACTIVE, belong to the campaign's dataset group and filter items
(``ItemID``); its expression is compiled once by
``augury.personalize.filters.compiled_filter`` and evaluated here against the
data it reads: Items columns for every candidate item, the current user's
Users row, the current user's interactions (the Interactions dataset and the
persisted events, plus the events recorded since, so an item clicked a moment
ago is already excluded by ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN
("click")``) and, for related-items calls, the current item's Items row.

``filterValues`` follow Amazon: each ``$PARAMETER`` of the expression is a key
(case as written), a value lists quoted values separated by commas; an
EXCLUDE clause whose parameters are missing is skipped, an INCLUDE clause
needs them all (the compiled filter decides both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from augury.personalize import serving_sources
from augury.personalize.serving_catalogs import (
    Interaction,
    catalog_for,
    catalogs,
    latest_per_event_type,
)
from augury.resources.errors import InvalidInput, ServiceError

if TYPE_CHECKING:
    from augury.runtime import Runtime
    from augury_training.recommender_artifacts import Recommender

ITEM_TARGET = "ItemID"


@dataclass(frozen=True)
class RequestSubject:
    """Who and what a call is about: what a filter's context is built from."""

    dataset_group_arn: str
    user_id: str | None = None
    item_id: str | None = None
    recent_events: Sequence[Mapping[str, Any]] = ()
    """The user's events since training, as ``recent_events`` returned them."""


def item_filter(
    runtime: Runtime, filter_arn: str, dataset_group_arn: str, *, for_item: bool
) -> Any:
    """The compiled item filter behind ``filter_arn``: ACTIVE, of this group, on ItemID.

    ``for_item`` says the request names an item (related items). Amazon applies a
    CurrentItem filter only there; elsewhere it would silently keep nothing, so it is
    refused with the reason.
    """
    compiled = serving_sources.compiled_filter(runtime, filter_arn, dataset_group_arn)
    if compiled.target != ITEM_TARGET:
        raise InvalidInput(
            f"Filter {filter_arn} filters {compiled.target}; item recommendations need a "
            "filter on ItemID (INCLUDE ItemID / EXCLUDE ItemID)"
        )
    if compiled.uses_current_item and not for_item:
        raise InvalidInput(
            f"Filter {filter_arn} compares items with CurrentItem, which only related-items "
            "recommendations (a request with an itemId) have"
        )
    return compiled


def check_values(compiled: Any, filter_arn: str, values: Mapping[str, str] | None) -> None:
    """Refuse filterValues the expression has no parameter for (a likely typo)."""
    known = {name.lstrip("$") for name in compiled.parameters}
    unknown = sorted(name for name in values or {} if name.lstrip("$") not in known)
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"filterValues names {', '.join(unknown)}, which filter {filter_arn} does not use; "
            f"its parameters are: {listed}"
        )


def mask_catalog(
    runtime: Runtime,
    compiled: Any,
    values: Mapping[str, str] | None,
    subject: RequestSubject,
    recommender: Recommender,
) -> np.ndarray:
    """True for each catalog item (model order) the filter keeps."""
    catalog = catalogs(runtime).item_catalog(runtime, subject.dataset_group_arn, recommender)
    return _evaluate(runtime, compiled, values, subject, catalog)


def mask_items(
    runtime: Runtime,
    compiled: Any,
    values: Mapping[str, str] | None,
    subject: RequestSubject,
    item_ids: Sequence[str],
) -> np.ndarray:
    """True for each of ``item_ids`` the filter keeps (items the model may not know)."""
    rows = catalogs(runtime).items(runtime, subject.dataset_group_arn)
    return _evaluate(runtime, compiled, values, subject, catalog_for(rows, item_ids))


def _evaluate(
    runtime: Runtime,
    compiled: Any,
    values: Mapping[str, str] | None,
    subject: RequestSubject,
    catalog: Any,
) -> np.ndarray:
    from augury.personalize.filter_expressions import FilterContext

    context = FilterContext(
        user=_user_row(runtime, compiled, subject),
        interactions=_interactions(runtime, compiled, subject),
        item=_item_row(runtime, subject),
    )
    try:
        mask = compiled.item_mask(catalog, context, dict(values or {}))
    except ServiceError:
        raise
    except (KeyError, ValueError, TypeError) as error:
        raise InvalidInput(f"The filter could not be applied: {error}") from None
    return np.asarray(mask, dtype=bool)


def _user_row(runtime: Runtime, compiled: Any, subject: RequestSubject) -> Any:
    wanted = "Users" in compiled.dataset_types or getattr(compiled, "uses_current_user", False)
    if subject.user_id is None or not wanted:
        return None
    return catalogs(runtime).users(runtime, subject.dataset_group_arn).rows.get(subject.user_id)


def _item_row(runtime: Runtime, subject: RequestSubject) -> Any:
    if subject.item_id is None:
        return None
    return catalogs(runtime).items(runtime, subject.dataset_group_arn).rows.get(subject.item_id)


def _interactions(runtime: Runtime, compiled: Any, subject: RequestSubject) -> list[dict[str, Any]]:
    if subject.user_id is None or "Interactions" not in compiled.dataset_types:
        return []
    stored = catalogs(runtime).interactions(runtime, subject.dataset_group_arn, subject.user_id)
    recent: list[Interaction] = [
        (
            str(event["ITEM_ID"]),
            event.get("EVENT_TYPE"),
            event.get("EVENT_VALUE"),
            int(event.get("TIMESTAMP") or 0),
        )
        for event in subject.recent_events
        if event.get("ITEM_ID") is not None
    ]
    merged = latest_per_event_type(list(dict.fromkeys([*stored, *recent])))
    return [
        {"ITEM_ID": item, "EVENT_TYPE": event_type, "EVENT_VALUE": value, "TIMESTAMP": moment}
        for item, event_type, value, moment in merged
    ]
