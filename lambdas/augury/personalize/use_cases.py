"""Domain use cases: the recipes a recommender (CreateRecommender) is made from.

A Domain dataset group (``domain`` ECOMMERCE or VIDEO_ON_DEMAND) serves each
use case from a recommender instead of a solution and a campaign. Each use
case here is one of Amazon's, under Amazon's recipe ARN, with the rules its
developer-guide page states:

- which events train it (Most viewed counts ``View`` events only, Best sellers
  ``Purchase`` events, Because you watched X ``Watch`` events);
- which of the user's items it never recommends (VIDEO_ON_DEMAND leaves out
  what the user watched, Customers who viewed X and Recommended for you what
  the user purchased), applied before the request's own filter;
- what GetRecommendations must name: ``userId``, ``itemId`` or both;
- which datasets training needs besides Interactions (More like X: Items).

Augury trains each use case with the custom recipe that does the same job
(``recipe``), so a recommender's model is exactly a solution version's, and
serving answers both the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from augury.resources.errors import InvalidInput, ResourceNotFound
from augury_training.personalize_contract import RECIPE_ARN_PREFIX

ECOMMERCE = "ECOMMERCE"
VIDEO_ON_DEMAND = "VIDEO_ON_DEMAND"
DOMAINS = (ECOMMERCE, VIDEO_ON_DEMAND)


@dataclass(frozen=True)
class UseCase:
    """One domain use case and how Augury trains and serves it."""

    name: str
    domain: str
    title: str
    """The use case's name in Amazon's guide ("Top picks for you")."""
    recipe: str
    """The custom recipe that trains it."""
    description: str
    training_event_type: str | None = None
    """Train on this EVENT_TYPE only (None: every interaction)."""
    excluded_event_type: str | None = None
    """Never recommend an item the user has an interaction of this type with."""
    needs_user: bool = True
    needs_item: bool = False
    needs_items_dataset: bool = False

    @property
    def arn(self) -> str:
        return RECIPE_ARN_PREFIX + self.name

    @property
    def recipe_arn(self) -> str:
        return RECIPE_ARN_PREFIX + self.recipe

    def exclusion_expression(self) -> str | None:
        """The filter expression of the items this use case leaves out for the user."""
        if self.excluded_event_type is None:
            return None
        return f'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("{self.excluded_event_type}")'


_USE_CASES: tuple[UseCase, ...] = (
    UseCase(
        name="aws-ecomm-popular-items-by-views",
        domain=ECOMMERCE,
        title="Most viewed",
        recipe="aws-popularity-count",
        description="Popular items by how many times customers viewed them (View events).",
        training_event_type="View",
    ),
    UseCase(
        name="aws-ecomm-popular-items-by-purchases",
        domain=ECOMMERCE,
        title="Best sellers",
        recipe="aws-popularity-count",
        description="Popular items by how many times customers bought them (Purchase events).",
        training_event_type="Purchase",
    ),
    UseCase(
        name="aws-ecomm-frequently-bought-together",
        domain=ECOMMERCE,
        title="Frequently bought together",
        recipe="aws-sims",
        description="Items customers buy together with the item given (Purchase events).",
        training_event_type="Purchase",
        needs_user=False,
        needs_item=True,
    ),
    UseCase(
        name="aws-ecomm-customers-who-viewed-x-also-viewed",
        domain=ECOMMERCE,
        title="Customers who viewed X also viewed",
        recipe="aws-sims",
        description=(
            "Items customers also viewed with the item given (View events); items the user "
            "bought are left out."
        ),
        training_event_type="View",
        excluded_event_type="Purchase",
        needs_item=True,
    ),
    UseCase(
        name="aws-ecomm-recommended-for-you",
        domain=ECOMMERCE,
        title="Recommended for you",
        recipe="aws-user-personalization",
        description=(
            "Items picked for the user from their interactions and the catalog; items the "
            "user bought are left out."
        ),
        excluded_event_type="Purchase",
    ),
    UseCase(
        name="aws-vod-because-you-watched-x",
        domain=VIDEO_ON_DEMAND,
        title="Because you watched X",
        recipe="aws-sims",
        description=(
            "Videos other users also watched with the video given (Watch events); videos the "
            "user watched are left out."
        ),
        training_event_type="Watch",
        excluded_event_type="Watch",
        needs_item=True,
    ),
    UseCase(
        name="aws-vod-more-like-x",
        domain=VIDEO_ON_DEMAND,
        title="More like X",
        recipe="aws-similar-items",
        description=(
            "Videos like the video given, from co-occurrence and item metadata; videos the "
            "user watched are left out."
        ),
        excluded_event_type="Watch",
        needs_item=True,
        needs_items_dataset=True,
    ),
    UseCase(
        name="aws-vod-most-popular",
        domain=VIDEO_ON_DEMAND,
        title="Most popular",
        recipe="aws-popularity-count",
        description="Popular videos by how many times users watched them (Watch events).",
        training_event_type="Watch",
    ),
    UseCase(
        name="aws-vod-trending-now",
        domain=VIDEO_ON_DEMAND,
        title="Trending now",
        recipe="aws-trending-now",
        description="Videos whose interactions grow fastest, following new events.",
    ),
    UseCase(
        name="aws-vod-top-picks",
        domain=VIDEO_ON_DEMAND,
        title="Top picks for you",
        recipe="aws-user-personalization",
        description=(
            "Videos picked for the user from their interactions and the catalog; videos the "
            "user watched are left out."
        ),
        excluded_event_type="Watch",
    ),
)

USE_CASES: dict[str, UseCase] = {use_case.name: use_case for use_case in _USE_CASES}


def is_use_case_arn(arn: str) -> bool:
    return arn.startswith(RECIPE_ARN_PREFIX) and arn.removeprefix(RECIPE_ARN_PREFIX) in USE_CASES


def use_cases(domain: str | None = None) -> list[UseCase]:
    """Every use case, or those of ``domain``."""
    if domain is not None and domain not in DOMAINS:
        raise InvalidInput(f"domain must be one of {', '.join(DOMAINS)}; got {domain!r}")
    return [u for u in _USE_CASES if domain is None or u.domain == domain]


def use_case_for_arn(arn: str) -> UseCase:
    """The use case behind a recipe ARN; ResourceNotFoundException for any other ARN."""
    if is_use_case_arn(arn):
        return USE_CASES[arn.removeprefix(RECIPE_ARN_PREFIX)]
    raise ResourceNotFound(
        f"Recipe {arn} is not a domain use case. Recommenders use one of: "
        + ", ".join(u.arn for u in _USE_CASES)
    )
