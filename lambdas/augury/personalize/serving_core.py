"""Recommendations from a trained solution version: what campaigns and batch jobs answer.

``recommend`` and ``rank`` are the whole serving logic; GetRecommendations,
GetPersonalizedRanking and batch inference jobs are thin callers. They read
the model from memory (``augury.serving.recommender_cache``), the user's
events since training (``event_data.recent_events``), and the filter's data
(``serving_filters``), and import no training framework.

Amazon's rules, as followed here:

- USER_PERSONALIZATION recipes need ``userId`` and take no ``itemId``;
  RELATED_ITEMS recipes need ``itemId`` (a ``userId`` only feeds filters);
  PERSONALIZED_RANKING recipes answer ``rank`` only.
- The user's training-time history and the events recorded since both feed the
  model, so a PutEvents call changes the next answer. A user the model never
  saw, with no events, gets popular items; an unknown item for a related-items
  recipe gets popular items too, never an error.
- Items a user already interacted with are *not* removed: Amazon's custom
  recipes return them too and leave their removal to a filter such as
  ``EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")``. A related-items
  answer never holds the query item itself.
- Filters are applied before the top ``numResults`` are taken, so a filter
  never shortens the list while other items qualify.
- Scores: User-Personalization(-v2) scores are a softmax over the whole
  catalog (summing to 1); Personalized-Ranking scores a softmax over the
  ranked input items, items the model does not know scoring 0 and coming last.
  SIMS, Similar-Items, Popularity-Count and Trending-Now return no score.
- User-Personalization explores (``serving_exploration``); User-Personalization
  -v2 also says why an item is listed (``reason``: "Promoted item",
  "Exploration").
- Trending-Now needs no ``userId`` (only a filter that reads the user does), and
  counts the events recorded since training (``serving_trends``).
- ``context`` (field name to value) moves User-Personalization(-v2) and
  Personalized-Ranking(-v2) when the Interactions schema has context fields
  (such as DEVICE) the model learned from; a field or value the model never
  saw counts as not given. The other recipes ignore it, as Amazon's do.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from augury.personalize import serving_sources, serving_trends
from augury.personalize.resource_types import MODEL_KINDS
from augury.personalize.serving_exploration import (
    NONE,
    blend,
    candidates,
    exploration_scores,
    explores,
    parse_exploration,
)
from augury.personalize.serving_filters import (
    RequestSubject,
    check_values,
    item_filter,
    mask_catalog,
    mask_items,
)
from augury.personalize.serving_promotions import Promotion, place_promoted
from augury.resources.errors import InvalidInput, ResourceNotFound
from augury.serving.recommender_cache import recommender_for_record
from augury_training.personalize_contract import (
    PERSONALIZED_ACTIONS,
    PERSONALIZED_RANKING,
    RELATED_ITEMS,
    USER_PERSONALIZATION,
)
from augury_training.recommender_artifacts import softmax, top_k

if TYPE_CHECKING:
    from augury.runtime import Runtime
    from augury_training.recommender_artifacts import Recommender

DEFAULT_RESULTS = 25
MAX_RESULTS = 500
MAX_RANKING_INPUT = 500
SCORED_RECIPES = frozenset(
    {
        "aws-user-personalization",
        "aws-user-personalization-v2",
        "aws-personalized-ranking",
        "aws-personalized-ranking-v2",
    }
)
"""Recipes whose answers carry a score (Amazon shows none for SIMS, Similar-Items, ...)."""
REASON_RECIPES = frozenset({"aws-user-personalization-v2"})
"""Recipes whose answers say why an item is listed."""
PROMOTED_REASON = "Promoted item"
EXPLORATION_REASON = "Exploration"


@dataclass(frozen=True)
class Recommended:
    """One listed item, as GetRecommendations renders it."""

    item_id: str
    score: float | None
    promotion_name: str | None = None
    reason: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ServingModel:
    """A solution version ready to answer: its model and its dataset group."""

    solution_version_arn: str
    recommender: Recommender
    dataset_group_arn: str
    data_read_at: float | None = None
    """When training read its data: earlier events are in the model already."""
    interactions_read: str | None = None
    """The Interactions dataset version training read (None: not recorded, older versions)."""

    @property
    def recipe(self) -> str:
        return self.recommender.recipe

    @property
    def recipe_type(self) -> str:
        return self.recommender.recipe_type


_GROUPS: dict[tuple[str, str], str] = {}
_GROUPS_LOCK = threading.Lock()


def serving_model(runtime: Runtime, solution_version_arn: str) -> ServingModel:
    """The solution version's model (from memory after the first call) and group."""
    record = runtime.metadata.get(solution_version_arn)
    if record is None or record.kind not in MODEL_KINDS:
        raise ResourceNotFound(f"No trained model found with ARN {solution_version_arn}")
    recommender = recommender_for_record(runtime, record)
    key = (solution_version_arn, record.created_at.isoformat())
    with _GROUPS_LOCK:
        group = _GROUPS.get(key)
    if group is None:
        group = serving_sources.solution_version_group(runtime, solution_version_arn)
        with _GROUPS_LOCK:
            _GROUPS[key] = group
    read_at = record.attributes.get(serving_sources.DATA_READ_AT)
    interactions_read = record.attributes.get(serving_sources.INTERACTIONS_READ)
    return ServingModel(
        solution_version_arn,
        recommender,
        group,
        float(read_at) if isinstance(read_at, int | float) else None,
        str(interactions_read) if interactions_read else None,
    )


def recommend(
    runtime: Runtime,
    solution_version_arn: str,
    *,
    user_id: str | None = None,
    item_id: str | None = None,
    num_results: int = DEFAULT_RESULTS,
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
    exploration: Mapping[str, str] | None = None,
    context: Mapping[str, str] | None = None,
) -> list[tuple[str, float | None]]:
    """(item ID, score or None) pairs, best first: interface 9 for batch jobs."""
    found = recommend_items(
        runtime,
        solution_version_arn,
        user_id=user_id,
        item_id=item_id,
        num_results=num_results,
        filter_arn=filter_arn,
        filter_values=filter_values,
        exploration=exploration,
        context=context,
    )
    return [(entry.item_id, entry.score) for entry in found]


def recommend_items(
    runtime: Runtime,
    solution_version_arn: str,
    *,
    user_id: str | None = None,
    item_id: str | None = None,
    num_results: int = DEFAULT_RESULTS,
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
    exploration: Mapping[str, str] | None = None,
    context: Mapping[str, str] | None = None,
    promotion: Promotion | None = None,
    seed: Any = None,
    use_case_filter: Any = None,
) -> list[Recommended]:
    """The recommendation list with promotions and reasons (what GetRecommendations shows).

    ``exploration`` is the campaign's or job's ``itemExplorationConfig``
    (Amazon's defaults when None); ``seed`` fixes where promoted items land.
    ``use_case_filter`` (a compiled filter) is what a recommender's use case leaves
    out for the user, such as the videos they watched; it applies before
    ``filter_arn`` and to promoted items too.
    """
    model = serving_model(runtime, solution_version_arn)
    recommender = model.recommender
    check_num_results(num_results)
    events = _EventsOnce(runtime, model, user_id)
    new_item_ids: tuple[str, ...] = ()
    """Items past the model's catalog that ``raw`` scores too (Trending-Now's new items)."""
    if model.recipe_type == USER_PERSONALIZATION:
        if item_id is not None:
            raise InvalidInput(
                f"The {model.recipe} recipe recommends items for a user: give userId, not itemId"
            )
        if recommender.kind == "trending":  # the same for everyone; userId only feeds filters
            trend = serving_trends.trending_scores(runtime, model)
            raw, new_item_ids = trend.scores, trend.new_item_ids
        elif not user_id:
            raise InvalidInput(f"The {model.recipe} recipe needs a userId")
        else:
            raw = recommender.score_user(user_id, *_recent_columns(events.get()), context=context)
    elif model.recipe_type == RELATED_ITEMS:
        if not item_id:
            raise InvalidInput(f"The {model.recipe} recipe recommends related items: give itemId")
        raw = recommender.score_related(item_id)
    elif model.recipe_type == PERSONALIZED_RANKING:
        raise InvalidInput(
            f"The {model.recipe} recipe re-ranks items: call GetPersonalizedRanking with an "
            "inputList instead of GetRecommendations"
        )
    elif model.recipe_type == PERSONALIZED_ACTIONS:
        raise InvalidInput(
            f"The {model.recipe} recipe recommends actions: call GetActionRecommendations "
            "instead of GetRecommendations"
        )
    else:
        raise InvalidInput(f"Recipe type {model.recipe_type} does not recommend items")
    raw = np.asarray(raw, dtype=np.float64)
    probabilities = softmax(raw) if model.recipe in SCORED_RECIPES else None
    keep = np.isfinite(raw)
    if item_id is not None:
        index = recommender.item_index(item_id)
        if index is not None:
            keep[index] = False  # never the query item itself

    def filter_mask(arn: str, values: Mapping[str, str] | None) -> np.ndarray:
        compiled = item_filter(runtime, arn, model.dataset_group_arn, for_item=item_id is not None)
        check_values(compiled, arn, values)
        return compiled_mask(compiled, values)

    def compiled_mask(compiled: Any, values: Mapping[str, str] | None) -> np.ndarray:
        """What the filter keeps of every scored item: the catalog, then the new items."""
        subject = RequestSubject(model.dataset_group_arn, user_id, item_id, events.get())
        mask = mask_catalog(runtime, compiled, values, subject, recommender)
        if not new_item_ids:
            return mask
        return np.concatenate([mask, mask_items(runtime, compiled, values, subject, new_item_ids)])

    if use_case_filter is not None and user_id:
        keep &= compiled_mask(use_case_filter, None)
    rest_keep = keep & filter_mask(filter_arn, filter_values) if filter_arn else keep
    promoted = np.zeros(0, dtype=np.int64)
    if promotion is not None:
        promo_keep = keep & filter_mask(promotion.filter_arn, promotion.filter_values)
        promoted = top_k(raw, promotion.count(num_results), promo_keep)
        rest_keep = rest_keep.copy()
        rest_keep[promoted] = False
    settings = parse_exploration(exploration) if explores(model.recipe) else NONE
    explore_mask = (
        candidates(recommender, settings.age_cutoff_days) if settings.weight > 0 else None
    )
    listed = blend(
        raw,
        rest_keep,
        num_results - promoted.size,
        settings,
        explore_mask,
        exploration_scores(recommender, raw) if explore_mask is not None else None,
    )
    with_reasons = model.recipe in REASON_RECIPES
    item_ids = [*recommender.item_ids, *new_item_ids] if new_item_ids else recommender.item_ids

    def entry(index: int, *, explored: bool = False, promoted_item: bool = False) -> Recommended:
        reason: tuple[str, ...] = ()
        if with_reasons and promoted_item:
            reason = (PROMOTED_REASON,)
        elif with_reasons and explored:
            reason = (EXPLORATION_REASON,)
        return Recommended(
            item_id=item_ids[index],
            score=None if probabilities is None else float(probabilities[index]),
            promotion_name=promotion.name if promoted_item and promotion else None,
            reason=reason,
        )

    rest = [entry(index, explored=explored) for index, explored in listed]
    if promoted.size == 0:
        return rest
    promoted_entries = [entry(int(index), promoted_item=True) for index in promoted]
    return place_promoted(rest, promoted_entries, random.Random(seed))


def rank(
    runtime: Runtime,
    solution_version_arn: str,
    *,
    user_id: str,
    input_list: Sequence[str],
    filter_arn: str | None = None,
    filter_values: Mapping[str, str] | None = None,
    context: Mapping[str, str] | None = None,
) -> list[tuple[str, float | None]]:
    """``input_list`` re-ranked for the user, best first; unknown items last, scoring 0.

    Scores are a softmax over the ranked items the model knows. A filter drops
    the items it excludes from the ranking.
    """
    model = serving_model(runtime, solution_version_arn)
    if model.recipe_type != PERSONALIZED_RANKING:
        raise InvalidInput(
            f"GetPersonalizedRanking needs a campaign whose solution uses a "
            f"PERSONALIZED_RANKING recipe; {model.recipe} is {model.recipe_type}"
        )
    if not user_id:
        raise InvalidInput("GetPersonalizedRanking needs a userId")
    items = list(dict.fromkeys(str(item) for item in input_list))
    if not items:
        raise InvalidInput("inputList must name at least one item to rank")
    if len(items) > MAX_RANKING_INPUT:
        raise InvalidInput(
            f"inputList can hold at most {MAX_RANKING_INPUT} items; got {len(input_list)}"
        )
    recommender = model.recommender
    events = _EventsOnce(runtime, model, user_id)
    if filter_arn:
        compiled = item_filter(runtime, filter_arn, model.dataset_group_arn, for_item=False)
        check_values(compiled, filter_arn, filter_values)
        subject = RequestSubject(model.dataset_group_arn, user_id, None, events.get())
        kept = mask_items(runtime, compiled, filter_values, subject, items)
        items = [item for item, keep in zip(items, kept, strict=True) if keep]
    raw = np.asarray(
        recommender.score_user(user_id, *_recent_columns(events.get()), context=context),
        dtype=np.float64,
    )
    known = [(item, recommender.item_index(item)) for item in items]
    indexed = [(item, index) for item, index in known if index is not None]
    unknown = [item for item, index in known if index is None]
    values = np.asarray([raw[index] for _, index in indexed], dtype=np.float64)
    probabilities = softmax(values) if values.size else values
    order = sorted(range(len(indexed)), key=lambda i: (-values[i], i))
    scored = model.recipe in SCORED_RECIPES
    ranked: list[tuple[str, float | None]] = [
        (indexed[i][0], float(probabilities[i]) if scored else None) for i in order
    ]
    ranked.extend((item, 0.0 if scored else None) for item in unknown)
    return ranked


def check_num_results(num_results: int) -> None:
    if not 1 <= num_results <= MAX_RESULTS:
        raise InvalidInput(f"numResults must be from 1 to {MAX_RESULTS}; got {num_results}")


def _recent_columns(
    recent: Sequence[Mapping[str, Any]],
) -> tuple[list[str], list[str], list[float | None]]:
    """The user's recent events as ``score_user`` reads them: items, event types and values
    (the model keeps those its solution's event rule would have trained on)."""
    return (
        [str(event["ITEM_ID"]) for event in recent],
        [str(event.get("EVENT_TYPE") or "") for event in recent],
        [event.get("EVENT_VALUE") for event in recent],
    )


class _EventsOnce:
    """The user's recent events, read at most once per call (and only when needed)."""

    def __init__(self, runtime: Runtime, model: ServingModel, user_id: str | None) -> None:
        self._args = (runtime, model, user_id)
        self._events: list[dict[str, Any]] | None = None

    def get(self) -> list[dict[str, Any]]:
        if self._events is None:
            runtime, model, user_id = self._args
            self._events = (
                serving_sources.recent_events(
                    runtime, model.dataset_group_arn, user_id, model.data_read_at
                )
                if user_id
                else []
            )
        return self._events
