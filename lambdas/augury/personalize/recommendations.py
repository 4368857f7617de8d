"""Personalize Runtime: GetRecommendations and GetPersonalizedRanking.

Both answer from a campaign: the campaign must exist (else
ResourceNotFoundException, HTTP 404 as in Amazon's model) and be ACTIVE; it
names the solution version it deploys (``solutionVersionArn``) and its
``campaignConfig`` (exploration, metadata). GetRecommendations also answers
from a Domain group's recommender (``recommenderArn``): its model, its
``recommenderConfig``, what its use case requires of the request and the
items the use case leaves out for the user (``augury.personalize.recommenders``).
The work itself is ``augury.personalize.serving_core``; this module reads the
request, checks what belongs to the API (limits that depend on metadata) and
shapes the answer. Every answer carries a fresh ``recommendationId`` to quote
in PutEvents; it names the campaign or recommender that answered, so a metric
attribution can credit the events (``augury.personalize.attribution_sources``).

``numResults`` of 0 (or absent) means Amazon's default of 25.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.attribution_sources import recommendation_id as recommendation_id_for
from augury.personalize.filters import built_in_filter
from augury.personalize.recommender_records import CONFIG_MEMBER
from augury.personalize.recommenders import check_request, serving_recommender
from augury.personalize.resource_types import CAMPAIGN
from augury.personalize.serving_core import (
    DEFAULT_RESULTS,
    MAX_RANKING_INPUT,
    rank,
    recommend_items,
    serving_model,
)
from augury.personalize.serving_metadata import (
    MAX_ITEMS_WITH_METADATA,
    item_metadata,
    requested_columns,
)
from augury.personalize.serving_promotions import parse_promotions
from augury.resources.errors import InvalidInput, ResourceNotFound
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize-runtime")

SERVING_STATUSES = frozenset(
    {Status.ACTIVE, Status.UPDATE_PENDING, Status.UPDATE_IN_PROGRESS, Status.UPDATE_FAILED}
)
"""A campaign serves once ACTIVE, and keeps serving its deployed version during an update."""


@operations("GetRecommendations")
def get_recommendations(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    source = _source(runtime, request)
    columns = requested_columns(
        request.get("metadataColumns"),
        source.config,
        source.arn,
        source=source.label,
        config_member=source.config_member,
    )
    num_results = int(request.get("numResults") or DEFAULT_RESULTS)
    if columns and num_results > MAX_ITEMS_WITH_METADATA:
        raise InvalidInput(
            f"numResults can be at most {MAX_ITEMS_WITH_METADATA} when metadataColumns are "
            f"requested; got {num_results}"
        )
    recommendation_id = recommendation_id_for(source.arn)
    version_arn = source.model_arn
    found = recommend_items(
        runtime,
        version_arn,
        user_id=request.get("userId"),
        item_id=request.get("itemId"),
        num_results=num_results,
        filter_arn=request.get("filterArn"),
        filter_values=request.get("filterValues"),
        exploration=source.config.get("itemExplorationConfig"),
        context=request.get("context"),
        promotion=parse_promotions(request.get("promotions")),
        seed=recommendation_id,
        use_case_filter=source.use_case_filter,
    )
    metadata = _metadata(runtime, version_arn, [entry.item_id for entry in found], columns)
    items = []
    for position, entry in enumerate(found):
        item: dict[str, Any] = {"itemId": entry.item_id}
        if entry.score is not None:
            item["score"] = entry.score
        if entry.promotion_name:
            item["promotionName"] = entry.promotion_name
        if metadata is not None:
            item["metadata"] = metadata[position]
        if entry.reason:
            item["reason"] = list(entry.reason)
        items.append(item)
    return {"itemList": items, "recommendationId": recommendation_id}


@operations("GetPersonalizedRanking")
def get_personalized_ranking(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    campaign = serving_campaign(runtime, request.get("campaignArn"))
    config = campaign.attributes.get("campaignConfig") or {}
    columns = requested_columns(request.get("metadataColumns"), config, campaign.arn)
    input_list = list(request.get("inputList") or [])
    limit = MAX_ITEMS_WITH_METADATA if columns else MAX_RANKING_INPUT
    if len(input_list) > limit:
        when = " when metadataColumns are requested" if columns else ""
        raise InvalidInput(f"inputList can hold at most {limit} items{when}; got {len(input_list)}")
    version_arn = campaign.attributes["solutionVersionArn"]
    ranked = rank(
        runtime,
        version_arn,
        user_id=request["userId"],
        input_list=input_list,
        filter_arn=request.get("filterArn"),
        filter_values=request.get("filterValues"),
        context=request.get("context"),
    )
    metadata = _metadata(runtime, version_arn, [item for item, _ in ranked], columns)
    items = []
    for position, (item_id, score) in enumerate(ranked):
        item: dict[str, Any] = {"itemId": item_id}
        if score is not None:
            item["score"] = score
        if metadata is not None:
            item["metadata"] = metadata[position]
        items.append(item)
    return {"personalizedRanking": items, "recommendationId": recommendation_id_for(campaign.arn)}


@dataclass(frozen=True)
class _Source:
    """What answers a GetRecommendations call: a campaign or a recommender."""

    arn: str
    model_arn: str
    config: Mapping[str, Any]
    label: str
    config_member: str
    use_case_filter: Any = None


def _source(runtime: Runtime, request: Mapping[str, Any]) -> _Source:
    recommender_arn = request.get("recommenderArn")
    if not recommender_arn:
        campaign = serving_campaign(runtime, request.get("campaignArn"))
        return _Source(
            campaign.arn,
            str(campaign.attributes["solutionVersionArn"]),
            campaign.attributes.get("campaignConfig") or {},
            "Campaign",
            "campaignConfig",
        )
    if request.get("campaignArn"):
        raise InvalidInput("Give campaignArn or recommenderArn, not both")
    record, use_case, model_arn = serving_recommender(runtime, recommender_arn)
    check_request(use_case, request.get("userId"), request.get("itemId"))
    expression = use_case.exclusion_expression()
    return _Source(
        record.arn,
        model_arn,
        record.attributes.get(CONFIG_MEMBER) or {},
        "Recommender",
        CONFIG_MEMBER,
        built_in_filter(expression) if expression else None,
    )


def serving_campaign(runtime: Runtime, arn: str | None) -> Resource:
    """The campaign behind ``arn``, which must be able to answer now."""
    if not arn:
        raise InvalidInput(
            "campaignArn (or, for GetRecommendations, recommenderArn) is required: name the "
            "campaign to get recommendations from"
        )
    record = runtime.metadata.get(arn)
    if record is None or record.kind != CAMPAIGN.kind:
        raise ResourceNotFound(f"No campaign found with ARN {arn}")
    status = Status(record.status)
    if status not in SERVING_STATUSES or not record.attributes.get("solutionVersionArn"):
        raise InvalidInput(
            f"Campaign {arn} is {status.render('personalize')}; it can answer once it is ACTIVE"
        )
    return record


def _metadata(
    runtime: Runtime, version_arn: str, item_ids: list[str], columns: list[str]
) -> list[dict[str, str]] | None:
    if not columns:
        return None
    group = serving_model(runtime, version_arn).dataset_group_arn
    return item_metadata(runtime, group, item_ids, columns)
