"""Metric attribution counting: expressions, sources, windows, and recommendation IDs."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from augury.local.sqlite_store import SqliteMetadataStore
from augury.personalize import attribution_sources
from augury.personalize.attribution_metrics import (
    MetricError,
    MetricSpec,
    Tally,
    parse_metric,
    window_of,
)
from augury.personalize.attribution_sources import SourceResolver, recommendation_id
from augury.resources.record import Resource

CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/popular"
RECOMMENDER = "arn:aws:personalize:us-east-1:000000000000:recommender/top-picks"


def metric(expression: str, event_type: str = "purchase") -> dict[str, str]:
    return {"eventType": event_type, "metricName": "M", "expression": expression}


def test_expressions_parse_case_insensitively() -> None:
    assert parse_metric(metric(" sum ( items . price ) ")) == MetricSpec(
        "M", "purchase", "SUM", "ITEMS", "PRICE"
    )
    assert parse_metric(metric("SAMPLECOUNT()")) == MetricSpec("M", "purchase", "SAMPLECOUNT")
    for bad in ("AVG(Items.PRICE)", "SUM()", "SUM(Users.AGE)", "SAMPLECOUNT(Items.X)", "SUM"):
        with pytest.raises(MetricError):
            parse_metric(metric(bad))


def test_windows_are_the_quarter_hours_holding_the_timestamp() -> None:
    assert window_of(1_700_000_000) == 1_699_999_200
    assert window_of(1_699_999_200) == 1_699_999_200
    assert window_of(1_699_999_199.5) == 1_699_998_300


def test_a_tally_credits_the_events_own_source_then_its_recommendation() -> None:
    specs = [
        parse_metric(metric("SAMPLECOUNT()", "click")),
        MetricSpec("VALUE", "purchase", "SUM", "INTERACTIONS", "EVENT_VALUE"),
        MetricSpec("REVENUE", "purchase", "SUM", "ITEMS", "PRICE"),
    ]
    prices = {"a": {"PRICE": 2.5}, "b": {"PRICE": None}}
    tally = Tally(
        "arn:ma",
        specs,
        {"RID-1": CAMPAIGN}.get,
        item_row=prices.get,
    )
    at = 1_700_000_000
    tally.add_all(
        [
            {"EVENT_TYPE": "click", "TIMESTAMP": at, "RECOMMENDATION_ID": "RID-1"},
            {
                "EVENT_TYPE": "click",
                "TIMESTAMP": at,
                "RECOMMENDATION_ID": "RID-1",
                "EVENT_ATTRIBUTION_SOURCE": "email",
            },
            {"EVENT_TYPE": "click", "TIMESTAMP": at + 900, "RECOMMENDATION_ID": "RID-2"},
            {
                "EVENT_TYPE": "purchase",
                "TIMESTAMP": at,
                "ITEM_ID": "a",
                "EVENT_VALUE": 4.0,
                "RECOMMENDATION_ID": "RID-1",
            },
            {
                "EVENT_TYPE": "purchase",
                "TIMESTAMP": at,
                "ITEM_ID": "b",
                "EVENT_VALUE": None,
                "RECOMMENDATION_ID": "RID-1",
            },
            {
                "EVENT_TYPE": "purchase",
                "TIMESTAMP": at,
                "ITEM_ID": "unknown",
                "EVENT_VALUE": 1.0,
                "RECOMMENDATION_ID": "RID-1",
            },
            {"EVENT_TYPE": "view", "TIMESTAMP": at},
            {"EVENT_TYPE": "click", "TIMESTAMP": None},
        ]
    )
    found = {(p.metric_name, p.source, p.window_start): p.value for p in tally.points()}
    window = window_of(at)
    assert found == {
        ("M", CAMPAIGN, window): 1.0,
        ("M", "email", window): 1.0,
        ("M", "SOURCE_NAME_UNDEFINED", window + 900): 1.0,
        ("VALUE", CAMPAIGN, window): 5.0,  # a missing EVENT_VALUE adds nothing
        ("REVENUE", CAMPAIGN, window): 2.5,  # nor does an item without a price, or unknown
    }


def test_recommendation_ids_name_their_source_and_look_like_amazons(tmp_path) -> None:
    store = SqliteMetadataStore(tmp_path / "augury.db")
    for arn, kind in ((CAMPAIGN, "personalize:campaign"), (RECOMMENDER, "personalize:recommender")):
        store.create(Resource(arn=arn, kind=kind, name=arn.rsplit("/", 1)[1], status="ACTIVE"))
    resolver = SourceResolver(SimpleNamespace(metadata=store))
    first, second = recommendation_id(CAMPAIGN), recommendation_id(CAMPAIGN)
    assert first != second and first.startswith("RID-")
    assert uuid.UUID(first[4:]).version == 4
    assert resolver.source(first) == resolver.source(second) == CAMPAIGN
    assert resolver.source(recommendation_id(RECOMMENDER)) == RECOMMENDER
    assert resolver.source(f"RID-{uuid.uuid4()}") is None
    assert resolver.source("not-an-id") is None and resolver.source(None) is None
    store.close()


def test_a_source_created_after_the_list_was_read_is_found(tmp_path, monkeypatch) -> None:
    store = SqliteMetadataStore(tmp_path / "augury.db")
    resolver = SourceResolver(SimpleNamespace(metadata=store))
    monkeypatch.setattr(attribution_sources, "RELOAD_AFTER_MISS", 0.0)
    assert resolver.source(recommendation_id(CAMPAIGN)) is None
    store.create(
        Resource(arn=CAMPAIGN, kind="personalize:campaign", name="popular", status="ACTIVE")
    )
    assert resolver.source(recommendation_id(CAMPAIGN)) == CAMPAIGN
    store.close()
