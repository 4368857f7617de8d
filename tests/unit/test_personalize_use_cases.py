"""The domain use cases agree with the recipes that train them and with Amazon's guide."""

from __future__ import annotations

import pytest

from augury.personalize.filters import built_in_filter
from augury.personalize.recipes import RECIPES
from augury.personalize.use_cases import (
    DOMAINS,
    USE_CASES,
    is_use_case_arn,
    use_case_for_arn,
    use_cases,
)
from augury.resources.errors import InvalidInput, ResourceNotFound
from augury_training.personalize_contract import RELATED_ITEMS, USER_PERSONALIZATION


def test_each_domain_has_amazons_five_use_cases_under_its_prefix():
    for domain, prefix in zip(DOMAINS, ("aws-ecomm-", "aws-vod-"), strict=True):
        names = [u.name for u in use_cases(domain)]
        assert len(names) == 5 and all(name.startswith(prefix) for name in names)
    assert len(use_cases()) == len(USE_CASES) == 10
    with pytest.raises(InvalidInput, match="domain must be one of"):
        use_cases("RETAIL")


@pytest.mark.parametrize("use_case", list(USE_CASES.values()), ids=list(USE_CASES))
def test_a_use_case_names_an_item_exactly_when_its_recipe_relates_items(use_case):
    recipe = RECIPES[use_case.recipe]
    assert recipe.recipe_type in (USER_PERSONALIZATION, RELATED_ITEMS)
    assert use_case.needs_item == (recipe.recipe_type == RELATED_ITEMS)
    assert use_case.needs_user or use_case.needs_item, "a request must name someone or something"
    expression = use_case.exclusion_expression()
    if expression is not None:
        compiled = built_in_filter(expression)
        assert compiled.dataset_types == {"Interactions"}


def test_the_video_use_cases_leave_out_what_was_watched_where_amazon_says_so():
    excluded = {u.name: u.excluded_event_type for u in use_cases("VIDEO_ON_DEMAND")}
    assert excluded == {
        "aws-vod-because-you-watched-x": "Watch",
        "aws-vod-more-like-x": "Watch",
        "aws-vod-most-popular": None,
        "aws-vod-trending-now": None,
        "aws-vod-top-picks": "Watch",
    }
    trained = {u.name: u.training_event_type for u in use_cases("ECOMMERCE")}
    assert trained["aws-ecomm-popular-items-by-views"] == "View"
    assert trained["aws-ecomm-popular-items-by-purchases"] == "Purchase"
    assert trained["aws-ecomm-frequently-bought-together"] == "Purchase"


def test_use_case_arns_are_told_apart_from_custom_recipes():
    arn = "arn:aws:personalize:::recipe/aws-vod-top-picks"
    assert is_use_case_arn(arn) and use_case_for_arn(arn).title == "Top picks for you"
    assert not is_use_case_arn("arn:aws:personalize:::recipe/aws-sims")
    with pytest.raises(ResourceNotFound, match="not a domain use case"):
        use_case_for_arn("arn:aws:personalize:::recipe/aws-sims")
