"""Metric attribution counting: expressions, sources, windows, and recommendation IDs."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pyarrow as pa
import pytest

from augury.local.sqlite_store import SqliteMetadataStore
from augury.personalize import attribution_sources
from augury.personalize.attribution_metrics import (
    MetricError,
    MetricSpec,
    Tally,
    cloudwatch_bounds,
    parse_metric,
    window_of,
)
from augury.personalize.attribution_sources import SourceResolver, recommendation_id, source_tag
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
    ours = recommendation_id(CAMPAIGN)
    prices = pa.table({"ITEM_ID": ["a", "b"], "PRICE": [2.5, None]})
    tally = Tally("arn:ma", specs, {source_tag(CAMPAIGN): CAMPAIGN}.get, item_values=lambda: prices)
    at = 1_700_000_000
    tally.add_rows(
        [
            {"EVENT_TYPE": "click", "TIMESTAMP": at, "RECOMMENDATION_ID": ours},
            {
                "EVENT_TYPE": "click",
                "TIMESTAMP": at,
                "RECOMMENDATION_ID": ours,
                "EVENT_ATTRIBUTION_SOURCE": "email",
            },
            {"EVENT_TYPE": "click", "TIMESTAMP": at + 900, "RECOMMENDATION_ID": "RID-nothex!"},
            {"EVENT_TYPE": "click", "TIMESTAMP": at + 900, "RECOMMENDATION_ID": "x" + ours},
            {
                "EVENT_TYPE": "purchase",
                "TIMESTAMP": at,
                "ITEM_ID": "a",
                "EVENT_VALUE": 4.0,
                "RECOMMENDATION_ID": ours,
            },
            {
                "EVENT_TYPE": "purchase",
                "TIMESTAMP": at,
                "ITEM_ID": "b",
                "EVENT_VALUE": None,
                "RECOMMENDATION_ID": ours,
            },
            {
                "EVENT_TYPE": "purchase",
                "TIMESTAMP": at,
                "ITEM_ID": "unknown",
                "EVENT_VALUE": 1.0,
                "RECOMMENDATION_ID": ours,
                "EVENT_ATTRIBUTION_SOURCE": "",
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
        ("M", "SOURCE_NAME_UNDEFINED", window + 900): 2.0,  # not IDs Augury made
        ("VALUE", CAMPAIGN, window): 5.0,  # a missing EVENT_VALUE adds nothing
        ("REVENUE", CAMPAIGN, window): 2.5,  # nor does an item without a price, or unknown
    }


def test_a_tally_counts_tables_in_batches_as_one(monkeypatch) -> None:
    spec = MetricSpec("VALUE", "buy", "SUM", "INTERACTIONS", "EVENT_VALUE")
    whole, parts = (Tally("arn:ma", [spec], lambda _tag: None) for _ in range(2))
    table = pa.table(
        {
            "EVENT_TYPE": ["buy"] * 6,
            "TIMESTAMP": [0, 100, 899, 900, 1800, 1801],
            "EVENT_VALUE": [1.0, 2.0, float("nan"), 4.0, 5.0, 6.0],
        }
    )
    whole.add_table(table)
    for start in range(0, 6, 2):
        parts.add_table(table.slice(start, 2))
    assert whole.points() == parts.points()
    assert [(p.window_start, p.value) for p in whole.points()] == [
        (0, 3.0),
        (900, 4.0),
        (1800, 11.0),
    ]


def test_metric_names_cloudwatch_cannot_take_are_refused() -> None:
    with pytest.raises(MetricError, match="at most 255"):
        parse_metric({"eventType": "a", "metricName": "M" * 256, "expression": "SAMPLECOUNT()"})


def test_cloudwatch_bounds_keep_clear_of_its_two_week_and_two_hour_limits() -> None:
    now = 1_700_000_000.0
    low, high = cloudwatch_bounds(now)
    assert window_of(low) >= now - 14 * 86_400 + 3_600 - 900
    assert high <= now + 2 * 3_600 - 3_600


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
