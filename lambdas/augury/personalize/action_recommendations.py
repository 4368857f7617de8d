"""Personalize Runtime: GetActionRecommendations, from a Next-Best-Action campaign.

The campaign's model (``augury_training.action_artifacts``) gives each action
it was trained on the user's propensity to take it, from their items, their
Users row (the dataset overlaid by PutUsers) and the actions they took;
actions added since (PutActions, a later import) score 0.0, as Amazon's new
actions do until they have interactions. The user's features are what training saw plus what they
did since: item events from PutEvents and actions taken through
PutActionInteractions (``serving_sources``). Then, as Amazon's recipe does:

- actions whose ``ACTION_EXPIRATION_TIMESTAMP`` has passed are left out;
- an action the user took is left out for ``REPEAT_FREQUENCY`` days after
  they took it; an action without a repeat frequency is not recommended to
  them again (Augury's choice where Amazon's guide is silent: most actions,
  such as joining a loyalty program, are taken once);
- actions rank by propensity, best first; equally likely actions rank by their
  ``VALUE``, the higher first (propensities equal to four decimals count as
  equally likely).

``numResults`` is 5 by default, 100 at most (Amazon's limits). A ``filterArn``
names an action filter (``INCLUDE``/``EXCLUDE ActionID WHERE Actions.<field> ...``,
``Action_Interactions.EVENT_TYPE IN (...)``, ``IF CurrentUser.<field> ...``),
applied to the actions left after the rules above: Actions fields read the
actions catalog, Action_Interactions the user's latest 100 action interactions
of each event type (imported and recorded).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize import serving_sources
from augury.personalize.attribution_sources import recommendation_id
from augury.personalize.recommendations import serving_campaign
from augury.personalize.serving_catalogs import (
    ACTION_INTERACTIONS,
    catalogs,
    latest_per_event_type,
)
from augury.personalize.serving_core import serving_model
from augury.personalize.serving_filters import check_values
from augury.resources.errors import InvalidInput, ServiceError
from augury_training.personalize_contract import PERSONALIZED_ACTIONS

if TYPE_CHECKING:
    from augury.runtime import Runtime
    from augury_training.action_artifacts import ActionModel

operations = OperationSet("personalize-runtime")

DEFAULT_ACTIONS = 5
MAX_ACTIONS = 100
TAKEN = "TAKEN"
DAY_SECONDS = 86_400
TIE_DECIMALS = 4
ACTION_FILTER_TARGET = "ActionID"


@operations("GetActionRecommendations")
def get_action_recommendations(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    campaign = serving_campaign(runtime, request.get("campaignArn"))
    user_id = request.get("userId")
    if not user_id:
        raise InvalidInput("GetActionRecommendations needs a userId: it recommends for a user")
    count = int(request.get("numResults") or DEFAULT_ACTIONS)
    if not 1 <= count <= MAX_ACTIONS:
        raise InvalidInput(f"numResults must be from 1 to {MAX_ACTIONS}; got {count}")
    model = serving_model(runtime, str(campaign.attributes["solutionVersionArn"]))
    if model.recipe_type != PERSONALIZED_ACTIONS:
        raise InvalidInput(
            f"Campaign {campaign.arn} deploys a {model.recipe} solution version, which "
            "recommends items: call GetRecommendations (GetActionRecommendations needs a "
            "Next-Best-Action campaign)"
        )
    group = model.dataset_group_arn
    ranked = rank_actions(runtime, model.recommender, group, str(user_id), time.time())
    filter_arn = request.get("filterArn")
    if filter_arn:
        ranked = _filtered(runtime, ranked, group, str(user_id), filter_arn, request)
    return {
        "actionList": [{"actionId": action, "score": score} for action, score in ranked[:count]],
        "recommendationId": recommendation_id(campaign.arn),
    }


def rank_actions(
    runtime: Runtime, model: ActionModel, group: str, user_id: str, now: float
) -> list[tuple[str, float]]:
    """Every action the user may be shown now, with its propensity, best first."""
    recent = serving_sources.recent_events(runtime, group, user_id)
    actions_done = serving_sources.recent_action_events(runtime, group, user_id)
    taken_now = [e for e in actions_done if str(e.get("EVENT_TYPE")) == TAKEN]
    user_row = (
        catalogs(runtime).users(runtime, group).rows.get(user_id) if model.user_metadata else None
    )
    scores = model.propensities(
        user_id,
        [str(event["ITEM_ID"]) for event in recent],
        [str(event["ACTION_ID"]) for event in taken_now],
        user_row,
    )
    last_taken = dict(model.taken(user_id))
    for event in taken_now:
        action, moment = str(event["ACTION_ID"]), float(event.get("TIMESTAMP") or 0)
        last_taken[action] = max(moment, last_taken.get(action, moment))
    catalog = catalogs(runtime).actions(runtime, group).rows
    ids = list(catalog) if catalog else list(model.action_ids)
    ranked = []
    for action in ids:
        row = catalog.get(action, {})
        if _expired(row, now) or _resting(row, last_taken.get(action), now):
            continue
        index = model.action_index(action)
        score = float(scores[index]) if index is not None else 0.0
        ranked.append((action, score, _number(row.get("VALUE")) or 0.0))
    ranked.sort(key=lambda entry: (-round(entry[1], TIE_DECIMALS), -entry[2], -entry[1], entry[0]))
    return [(action, score) for action, score, _value in ranked]


def _expired(row: Mapping[str, Any], now: float) -> bool:
    expiry = _number(row.get("ACTION_EXPIRATION_TIMESTAMP"))
    return expiry is not None and expiry <= now


def _resting(row: Mapping[str, Any], taken_at: float | None, now: float) -> bool:
    """Taken, and not yet due again (never, without a REPEAT_FREQUENCY)."""
    if taken_at is None:
        return False
    days = _number(row.get("REPEAT_FREQUENCY"))
    return days is None or now < taken_at + days * DAY_SECONDS


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _filtered(
    runtime: Runtime,
    ranked: list[tuple[str, float]],
    group: str,
    user_id: str,
    filter_arn: str,
    request: Mapping[str, Any],
) -> list[tuple[str, float]]:
    """The ranked actions the action filter keeps, in order."""
    from augury.personalize.filter_expressions import FilterContext, ItemCatalog

    compiled = serving_sources.compiled_filter(runtime, filter_arn, group)
    if compiled.target != ACTION_FILTER_TARGET:
        raise InvalidInput(
            f"Filter {filter_arn} filters {compiled.target}; action recommendations need a "
            "filter on ActionID (INCLUDE ActionID / EXCLUDE ActionID)"
        )
    values = request.get("filterValues")
    check_values(compiled, filter_arn, values)
    rows = catalogs(runtime).actions(runtime, group)
    ids = [action for action, _ in ranked]
    catalog = ItemCatalog(ids, {f: [rows.rows.get(a, {}).get(f) for a in ids] for f in rows.fields})
    uses_history = "Action_Interactions" in compiled.dataset_types
    history = (
        catalogs(runtime).interactions(runtime, group, user_id, ACTION_INTERACTIONS)
        if uses_history
        else []
    )
    recent = serving_sources.recent_action_events(runtime, group, user_id) if uses_history else []
    merged = latest_per_event_type(
        list(
            dict.fromkeys(
                [
                    *history,
                    *(
                        (
                            str(e["ACTION_ID"]),
                            e.get("EVENT_TYPE"),
                            None,
                            int(e.get("TIMESTAMP") or 0),
                        )
                        for e in recent
                    ),
                ]
            )
        )
    )
    uses_user = "Users" in compiled.dataset_types or compiled.uses_current_user
    context = FilterContext(
        user=catalogs(runtime).users(runtime, group).rows.get(user_id) if uses_user else None,
        interactions=[
            {"ITEM_ID": action, "EVENT_TYPE": kind, "TIMESTAMP": moment}
            for action, kind, _value, moment in merged
        ],
    )
    try:
        keep = compiled.action_mask(catalog, context, dict(values or {}))
    except ServiceError:
        raise
    except (KeyError, ValueError, TypeError) as error:
        raise InvalidInput(f"The filter could not be applied: {error}") from None
    return [entry for entry, kept in zip(ranked, keep, strict=True) if kept]
