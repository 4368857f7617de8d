"""Serving core: recommend and rank over small real model files and dataset data.

The world (``tests.unit.serving_world``) is built directly in an embedded
runtime. Real-time events come from a stand-in for ``event_data`` (patched on
``serving_sources``), so each test says exactly which events the user has.
The model cache has its own tests (``test_recommender_cache``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from augury.bootstrap import bootstrap
from augury.personalize import recommendations, serving_sources
from augury.personalize.resource_types import (
    DATASET_GROUP,
    FILTER,
)
from augury.personalize.serving_catalogs import catalogs
from augury.personalize.serving_core import rank, recommend, recommend_items
from augury.personalize.serving_promotions import Promotion
from augury.resources.errors import InvalidInput, ResourceNotFound
from augury.resources.record import Resource
from augury.settings import Settings
from augury_training.recommender_artifacts import UNCHOSEN_IMPRESSIONS_FILE
from tests.unit.serving_world import CATALOG, COMEDIES, DRAMAS, World, build_world, event


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Built once per module: the runtime, the datasets and five trained versions."""
    tmp = tmp_path_factory.mktemp("serving")
    runtime = bootstrap(Settings.embedded(tmp / "data"))
    built = build_world(runtime, tmp)
    built.version("up", "aws-user-personalization", "USER_PERSONALIZATION")
    built.version("up2", "aws-user-personalization-v2", "USER_PERSONALIZATION")
    built.version("sims", "aws-sims", "RELATED_ITEMS")
    built.version("ranking", "aws-personalized-ranking", "PERSONALIZED_RANKING")
    built.version("popular", "aws-popularity-count", "USER_PERSONALIZATION", kind="popularity")
    yield built
    runtime.workflows.shutdown()


@pytest.fixture
def world(shared_world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The shared world with no real-time events, PutItems or PutUsers rows yet."""
    built = shared_world
    built.events.clear()
    built.put_items.clear()
    built.put_users.clear()
    monkeypatch.setattr(
        serving_sources,
        "recent_events",
        lambda rt, group, user, since=None: list(built.events.get(user, [])),
    )
    monkeypatch.setattr(serving_sources, "recent_items", lambda rt, group: list(built.put_items))
    monkeypatch.setattr(serving_sources, "recent_users", lambda rt, group: list(built.put_users))
    catalogs(built.runtime).freshness = 0.0  # every call re-checks the data (production: 1 s)
    return built


NO_EXPLORATION = {"explorationWeight": "0"}


def ids(pairs: list[tuple[str, float | None]]) -> list[str]:
    return [item for item, _ in pairs]


# -- user personalization --------------------------------------------------------------------


def test_a_known_user_gets_items_like_their_history_with_softmax_scores(world: World) -> None:
    found = recommend(
        world.runtime, world.versions["up"], user_id="fan", exploration=NO_EXPLORATION
    )
    assert len(found) == len(CATALOG)  # 25 asked, the catalog has 20
    assert set(ids(found)[:10]) == set(COMEDIES)
    scores = [score for _, score in found]
    assert all(isinstance(s, float) and 0 < s < 1 for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0)  # every catalog item listed: the whole softmax


def test_items_the_user_interacted_with_are_not_removed_as_amazon_does(world: World) -> None:
    found = ids(
        recommend(
            world.runtime,
            world.versions["up"],
            user_id="fan",
            num_results=10,
            exploration=NO_EXPLORATION,
        )
    )
    assert {"c0", "c1", "c2"} <= set(found)


def test_an_unknown_user_gets_popular_items(world: World) -> None:
    found = recommend(
        world.runtime,
        world.versions["up"],
        user_id="stranger",
        num_results=5,
        exploration=NO_EXPLORATION,
    )
    assert ids(found) == ["d0", "d1", "d2", "d3", "d4"]


def test_a_recent_event_changes_the_next_answer(world: World) -> None:
    version = world.versions["up"]
    before = ids(
        recommend(
            world.runtime, version, user_id="stranger", num_results=5, exploration=NO_EXPLORATION
        )
    )
    world.events["stranger"] = [event("c5")]
    after = ids(
        recommend(
            world.runtime, version, user_id="stranger", num_results=5, exploration=NO_EXPLORATION
        )
    )
    assert before[0].startswith("d")
    assert all(item.startswith("c") for item in after)


def test_user_personalization_needs_a_user_and_refuses_an_item(world: World) -> None:
    with pytest.raises(InvalidInput, match="give userId, not itemId"):
        recommend(world.runtime, world.versions["up"], user_id="fan", item_id="c1")
    with pytest.raises(InvalidInput, match="needs a userId"):
        recommend(world.runtime, world.versions["up"])


@pytest.mark.parametrize("count", [0, -1, 501])
def test_num_results_must_be_from_1_to_500(world: World, count: int) -> None:
    with pytest.raises(InvalidInput, match="numResults must be from 1 to 500"):
        recommend(world.runtime, world.versions["up"], user_id="fan", num_results=count)


def test_num_results_limits_the_list(world: World) -> None:
    found = recommend(world.runtime, world.versions["up"], user_id="fan", num_results=3)
    assert len(found) == 3


def test_popularity_count_gives_everyone_the_same_unscored_list(world: World) -> None:
    fan = recommend(world.runtime, world.versions["popular"], user_id="fan", num_results=4)
    critic = recommend(world.runtime, world.versions["popular"], user_id="critic", num_results=4)
    assert fan == critic == [("d0", None), ("d1", None), ("d2", None), ("d3", None)]


# -- related items ---------------------------------------------------------------------------


def test_related_items_come_from_the_items_genre_without_the_item_or_scores(world: World) -> None:
    found = recommend(world.runtime, world.versions["sims"], item_id="c1", num_results=9)
    assert set(ids(found)) == set(COMEDIES) - {"c1"}
    assert all(score is None for _, score in found)


def test_an_unknown_item_gets_popular_items_not_an_error(world: World) -> None:
    found = recommend(world.runtime, world.versions["sims"], item_id="nope", num_results=3)
    assert ids(found) == ["d0", "d1", "d2"]


def test_related_items_need_an_item(world: World) -> None:
    with pytest.raises(InvalidInput, match="give itemId"):
        recommend(world.runtime, world.versions["sims"], user_id="fan")


def test_personalized_ranking_answers_only_rank(world: World) -> None:
    with pytest.raises(InvalidInput, match="GetPersonalizedRanking"):
        recommend(world.runtime, world.versions["ranking"], user_id="fan")
    with pytest.raises(InvalidInput, match="PERSONALIZED_RANKING"):
        rank(world.runtime, world.versions["up"], user_id="fan", input_list=["c1"])


# -- filters ---------------------------------------------------------------------------------


def test_a_filter_with_a_parameter_is_applied_before_the_top_k(world: World) -> None:
    genre = world.filter("by-genre", "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    found = recommend(
        world.runtime,
        world.versions["up"],
        user_id="fan",
        num_results=5,
        filter_arn=genre,
        filter_values={"GENRE": '"Classic"'},
        exploration=NO_EXPLORATION,
    )
    assert len(found) == 5
    assert all(item.startswith("d") for item in ids(found))


def test_an_include_filter_needs_its_values_and_unknown_names_are_refused(world: World) -> None:
    genre = world.filter("by-genre", "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    with pytest.raises(InvalidInput, match=r"missing \$GENRE"):
        recommend(world.runtime, world.versions["up"], user_id="fan", filter_arn=genre)
    with pytest.raises(InvalidInput, match="does not use"):
        recommend(
            world.runtime,
            world.versions["up"],
            user_id="fan",
            filter_arn=genre,
            filter_values={"GENRE": '"Comedy"', "GENRES": '"Drama"'},
        )


def test_an_exclude_filter_on_interactions_sees_recent_events(world: World) -> None:
    clicked = world.filter(
        "not-clicked", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    )

    def listed() -> list[str]:
        return ids(
            recommend(
                world.runtime,
                world.versions["up"],
                user_id="fan",
                num_results=20,
                filter_arn=clicked,
                exploration=NO_EXPLORATION,
            )
        )

    first = listed()
    assert "c2" not in first  # clicked in the Interactions dataset
    assert "c0" in first  # watched, not clicked
    world.events["fan"] = [event("c4")]
    assert "c4" not in listed()
    assert len(listed()) == 18


def test_a_current_user_condition_reads_put_users_rows(world: World) -> None:
    gold = world.filter(
        "gold-only-classics",
        'EXCLUDE ItemID WHERE Items.GENRE IN ("Classic") IF CurrentUser.TIER = "free"',
    )

    def dramas(user: str) -> int:
        found = recommend(
            world.runtime,
            world.versions["up"],
            user_id=user,
            num_results=20,
            filter_arn=gold,
            exploration=NO_EXPLORATION,
        )
        return sum(item.startswith("d") for item in ids(found))

    assert dramas("fan") == 10
    assert dramas("critic") == 0
    world.put_users.append({"USER_ID": "fan", "TIER": "free"})
    assert dramas("fan") == 0


def test_put_items_rows_replace_the_dataset_row_for_filters(world: World) -> None:
    cheap = world.filter("cheap", "INCLUDE ItemID WHERE Items.PRICE < 6")
    assert ids(recommend(world.runtime, world.versions["up"], user_id="fan", filter_arn=cheap)) == [
        "c0"
    ]
    world.put_items.append({"ITEM_ID": "d9", "GENRE": "Drama", "PRICE": 1.0})
    found = ids(recommend(world.runtime, world.versions["up"], user_id="fan", filter_arn=cheap))
    assert sorted(found) == ["c0", "d9"]


def test_current_item_filters_work_for_related_items(world: World) -> None:
    pricier = world.filter("pricier", "INCLUDE ItemID WHERE Items.PRICE > CurrentItem.PRICE")
    found = ids(recommend(world.runtime, world.versions["sims"], item_id="c6", filter_arn=pricier))
    assert set(found) == {"c7", "c8", "c9", *DRAMAS}


def test_a_current_item_filter_is_refused_where_no_item_is_given(world: World) -> None:
    """Amazon applies CurrentItem filters to related-items requests only; for a user they
    would keep nothing, an empty answer with no reason."""
    pricier = world.filter("pricier", "INCLUDE ItemID WHERE Items.PRICE > CurrentItem.PRICE")
    with pytest.raises(InvalidInput, match="CurrentItem"):
        recommend(world.runtime, world.versions["up"], user_id="fan", filter_arn=pricier)
    with pytest.raises(InvalidInput, match="CurrentItem"):
        rank(
            world.runtime,
            world.versions["ranking"],
            user_id="fan",
            input_list=["c1", "c2"],
            filter_arn=pricier,
        )


def test_a_user_filter_or_another_groups_filter_is_refused(world: World) -> None:
    users = world.filter("users", 'INCLUDE UserID WHERE Users.TIER IN ("gold")')
    with pytest.raises(InvalidInput, match="ItemID"):
        recommend(world.runtime, world.versions["up"], user_id="fan", filter_arn=users)
    other_group = world.record(DATASET_GROUP, "other")
    elsewhere = world.runtime.arns.build("personalize", "filter", "elsewhere")
    world.runtime.metadata.create(
        Resource(
            arn=elsewhere,
            kind=FILTER.kind,
            name="elsewhere",
            status="ACTIVE",
            parent_arn=other_group,
            attributes={"filterExpression": 'EXCLUDE ItemID WHERE Items.GENRE IN ("Comedy")'},
        )
    )
    with pytest.raises(InvalidInput, match="belongs to dataset group"):
        recommend(world.runtime, world.versions["up"], user_id="fan", filter_arn=elsewhere)
    with pytest.raises(ResourceNotFound):
        recommend(world.runtime, world.versions["up"], user_id="fan", filter_arn=elsewhere + "x")


# -- promotions ------------------------------------------------------------------------------


def test_a_promotion_places_its_share_of_items_in_relevance_order(world: World) -> None:
    dramas = world.filter("dramas", 'INCLUDE ItemID WHERE Items.GENRE IN ("Drama")')
    no_c0 = world.filter("no-c0", "EXCLUDE ItemID WHERE Items.PRICE < 6")
    promotion = Promotion(name="spotlight", percent=30, filter_arn=dramas)
    unpromoted = recommend(
        world.runtime,
        world.versions["up"],
        user_id="fan",
        num_results=20,
        filter_arn=no_c0,
        exploration=NO_EXPLORATION,
    )
    found = recommend_items(
        world.runtime,
        world.versions["up"],
        user_id="fan",
        num_results=10,
        filter_arn=no_c0,
        exploration=NO_EXPLORATION,
        promotion=promotion,
        seed="fixed",
    )
    assert len(found) == 10
    promoted = [entry for entry in found if entry.promotion_name == "spotlight"]
    assert [entry.item_id for entry in promoted] == ["d0", "d1", "d2"]  # ceil(30% of 10)
    rest = [entry.item_id for entry in found if entry.promotion_name is None]
    assert rest == [item for item in ids(unpromoted) if item not in ("d0", "d1", "d2")][:7]
    assert "c0" not in rest and all(item.startswith("c") for item in rest)  # the request filter
    assert len({entry.item_id for entry in found}) == 10
    again = recommend_items(
        world.runtime,
        world.versions["up"],
        user_id="fan",
        num_results=10,
        filter_arn=no_c0,
        exploration=NO_EXPLORATION,
        promotion=promotion,
        seed="fixed",
    )
    assert again == found


# -- exploration -----------------------------------------------------------------------------


def test_exploration_blends_new_rarely_seen_items_at_even_places(world: World) -> None:
    found = recommend_items(
        world.runtime,
        world.versions["up2"],
        user_id="critic",
        num_results=6,
        exploration={"explorationWeight": "0.5", "explorationItemAgeCutOff": "30"},
    )
    items = [entry.item_id for entry in found]
    assert items[2] == "c8" and items[5] == "c9"  # the two new comedies, places 3 and 6
    assert [entry.reason for entry in found if entry.item_id in ("c8", "c9")] == [
        ("Exploration",),
        ("Exploration",),
    ]
    assert all(item.startswith("d") for i, item in enumerate(items) if i not in (2, 5))


def test_items_shown_and_passed_over_are_explored_after_unshown_ones(world: World) -> None:
    """One exploration place: the better-scored new comedy takes it, until impressions say
    users were shown it 50 times and chose something else."""
    one_place = {"explorationWeight": "0.2", "explorationItemAgeCutOff": "30"}

    def explored(version: str) -> list[str]:
        found = recommend_items(
            world.runtime, version, user_id="critic", num_results=5, exploration=one_place
        )
        return [entry.item_id for entry in found if entry.reason == ("Exploration",)]

    first = explored(world.versions["up2"])
    assert len(first) == 1 and first[0] in ("c8", "c9")
    other = "c9" if first[0] == "c8" else "c8"
    shown = np.zeros(len(CATALOG))
    shown[CATALOG.index(first[0])] = 50
    passed_over = world.version(
        f"up2-shown-{first[0]}",
        "aws-user-personalization-v2",
        "USER_PERSONALIZATION",
        arrays={UNCHOSEN_IMPRESSIONS_FILE: shown},
    )
    assert explored(passed_over) == [other]


def test_no_exploration_at_weight_zero_or_past_the_age_cutoff(world: World) -> None:
    for config in (NO_EXPLORATION, {"explorationWeight": "1", "explorationItemAgeCutOff": "1"}):
        found = recommend(
            world.runtime, world.versions["up"], user_id="critic", num_results=6, exploration=config
        )
        assert all(item.startswith("d") for item in ids(found))


def test_bad_exploration_settings_are_invalid_input(world: World) -> None:
    with pytest.raises(InvalidInput, match="explorationWeight"):
        recommend(
            world.runtime,
            world.versions["up"],
            user_id="fan",
            exploration={"explorationWeight": "2"},
        )


# -- ranking ---------------------------------------------------------------------------------


def test_ranking_puts_unknown_items_last_with_score_zero(world: World) -> None:
    ranked = rank(
        world.runtime,
        world.versions["ranking"],
        user_id="fan",
        input_list=["new-1", "d5", "c9", "new-2", "c3", "c9"],
    )
    assert ids(ranked) == ["c3", "c9", "d5", "new-1", "new-2"]
    known = [score for _, score in ranked[:3]]
    assert sum(known) == pytest.approx(1.0)
    assert known == sorted(known, reverse=True)
    assert [score for _, score in ranked[3:]] == [0.0, 0.0]


def test_ranking_with_a_filter_drops_excluded_items(world: World) -> None:
    comedies = world.filter("no-comedy", 'EXCLUDE ItemID WHERE Items.GENRE IN ("Comedy")')
    ranked = rank(
        world.runtime,
        world.versions["ranking"],
        user_id="fan",
        input_list=["c1", "d1", "d2", "unknown"],
        filter_arn=comedies,
    )
    assert ids(ranked)[-1] == "unknown"
    assert set(ids(ranked)) == {"d1", "d2", "unknown"}


def test_ranking_input_is_bounded(world: World) -> None:
    with pytest.raises(InvalidInput, match="at least one"):
        rank(world.runtime, world.versions["ranking"], user_id="fan", input_list=[])
    with pytest.raises(InvalidInput, match="at most 500"):
        rank(
            world.runtime,
            world.versions["ranking"],
            user_id="fan",
            input_list=[f"x{n}" for n in range(501)],
        )


# -- the runtime operations ------------------------------------------------------------------


def test_get_recommendations_answers_from_an_active_campaign(world: World) -> None:
    campaign = world.campaign("up-campaign", world.versions["up2"])
    answer = recommendations.get_recommendations(
        world.runtime, {"campaignArn": campaign, "userId": "critic", "numResults": 0}
    )
    assert answer["recommendationId"].startswith("RID-")
    assert len(answer["itemList"]) == 20  # numResults 0 is the default 25; 20 items exist
    assert all(set(item) >= {"itemId", "score"} for item in answer["itemList"])
    # the campaign gives no itemExplorationConfig: Amazon's defaults explore c8 and c9
    explored = [item["itemId"] for item in answer["itemList"] if "reason" in item]
    assert explored == ["c8", "c9"]
    other = recommendations.get_recommendations(
        world.runtime, {"campaignArn": campaign, "userId": "fan"}
    )
    assert other["recommendationId"] != answer["recommendationId"]


def test_promotions_through_the_api_carry_their_name(world: World) -> None:
    campaign = world.campaign("promo-campaign", world.versions["up"])
    dramas = world.filter("dramas", "INCLUDE ItemID WHERE Items.GENRE IN ($G)")
    answer = recommendations.get_recommendations(
        world.runtime,
        {
            "campaignArn": campaign,
            "userId": "fan",
            "numResults": 5,
            "promotions": [
                {
                    "name": "drama-week",
                    "percentPromotedItems": 40,
                    "filterArn": dramas,
                    "filterValues": {"G": '"Drama"'},
                }
            ],
        },
    )
    promoted = [i["itemId"] for i in answer["itemList"] if i.get("promotionName") == "drama-week"]
    assert promoted == ["d0", "d1"]
    with pytest.raises(InvalidInput, match="percentPromotedItems"):
        recommendations.get_recommendations(
            world.runtime,
            {
                "campaignArn": campaign,
                "userId": "fan",
                "promotions": [{"name": "p", "percentPromotedItems": 0, "filterArn": dramas}],
            },
        )


def test_metadata_columns_need_the_campaign_setting_and_known_columns(world: World) -> None:
    plain = world.campaign("plain-campaign", world.versions["up"])
    rich = world.campaign(
        "rich-campaign", world.versions["ranking"], enableMetadataWithRecommendations=True
    )
    sims = world.campaign(
        "sims-campaign", world.versions["sims"], enableMetadataWithRecommendations=True
    )
    with pytest.raises(InvalidInput, match="enableMetadataWithRecommendations"):
        recommendations.get_recommendations(
            world.runtime,
            {"campaignArn": plain, "userId": "fan", "metadataColumns": {"ITEMS": ["GENRE"]}},
        )
    related = recommendations.get_recommendations(
        world.runtime,
        {
            "campaignArn": sims,
            "itemId": "d1",
            "numResults": 2,
            "metadataColumns": {"ITEMS": ["genre", "PRICE", "title"]},
        },
    )
    first = related["itemList"][0]
    assert "score" not in first
    assert first["metadata"]["genre"] == "Drama|Classic"
    assert first["metadata"]["title"] == f"Title {first['itemId']}"
    assert first["metadata"]["PRICE"] == str(float(5 + CATALOG.index(first["itemId"])))
    ranked = recommendations.get_personalized_ranking(
        world.runtime,
        {
            "campaignArn": rich,
            "userId": "fan",
            "inputList": ["d2", "ghost", "c1"],
            "metadataColumns": {"ITEMS": ["GENRE"]},
        },
    )["personalizedRanking"]
    assert [i["itemId"] for i in ranked] == ["c1", "d2", "ghost"]
    assert ranked[2] == {"itemId": "ghost", "score": 0.0, "metadata": {}}
    with pytest.raises(InvalidInput, match="at most 50"):
        recommendations.get_recommendations(
            world.runtime,
            {
                "campaignArn": sims,
                "itemId": "d1",
                "numResults": 51,
                "metadataColumns": {"ITEMS": ["GENRE"]},
            },
        )
    with pytest.raises(InvalidInput, match="not in the Items dataset"):
        recommendations.get_recommendations(
            world.runtime,
            {"campaignArn": sims, "itemId": "d1", "metadataColumns": {"ITEMS": ["COLOUR"]}},
        )


def test_unknown_recommenders_and_unusable_campaigns_are_refused(world: World) -> None:
    with pytest.raises(ResourceNotFound, match="No recommender"):
        recommendations.get_recommendations(
            world.runtime,
            {"recommenderArn": "arn:aws:personalize:us-east-1:000000000000:recommender/r"},
        )
    with pytest.raises(ResourceNotFound, match="No campaign"):
        recommendations.get_recommendations(
            world.runtime, {"campaignArn": world.group.replace("dataset-group", "campaign")}
        )
    pending = world.campaign("pending-campaign", world.versions["up"])
    record = world.runtime.metadata.get(pending)
    world.runtime.metadata.update(record.evolve(status="CREATE_IN_PROGRESS"))
    with pytest.raises(InvalidInput, match="CREATE IN_PROGRESS"):
        recommendations.get_recommendations(
            world.runtime, {"campaignArn": pending, "userId": "fan"}
        )
