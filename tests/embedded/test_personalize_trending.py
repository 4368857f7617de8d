"""Trending-Now follows the events recorded after training, as Amazon's does.

The real personalization container trains two Trending-Now solutions on the
shared shop data (2,400 interactions, half of them purchases, all in one day, so
the latest trend window holds every interaction and the ranking starts as
popularity: ``i000`` first): one counting every event, one with ``eventType``
"purchase". PutEvents then makes other items
rise, and the next GetRecommendations shows it within seconds, with no new
solution version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from augury.bootstrap import DEFAULT_CONTAINERS
from augury.personalize import serving_sources, serving_trends
from augury.personalize.event_compaction import GRACE_SECONDS, compact_group
from augury.personalize.event_data import INTERACTIONS_FOLDER, events_prefix
from augury.personalize.event_files import ARRIVAL_COLUMN, write_rows
from augury.personalize.event_manifests import merged_sources
from augury.personalize.event_properties import cached_schema
from augury.personalize.group_data import read_files
from augury.personalize.serving_catalogs import FRESHNESS_SECONDS, catalogs
from augury.personalize.serving_core import serving_model
from augury.personalize.serving_sources import DATA_READ_AT
from augury.personalize.serving_trends import trending_scores
from tests.conftest import dummy_aws_credentials
from tests.embedded.personalize_helpers import (
    client_for,
    interactions,
    make_group,
    start_server,
    train,
    wait_for,
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with dummy_aws_credentials():
        server = start_server(
            tmp_path_factory.mktemp("trending"),
            containers={"personalization": list(DEFAULT_CONTAINERS["personalization"])},
        )
        personalize = client_for(server)
        arns = make_group(personalize, server, "shop", interactions(per_user=80))
        group = arns["group"]
        found: dict[str, Any] = {
            "server": server,
            "personalize": personalize,
            "group": group,
            "interactions": arns["INTERACTIONS"],
        }
        for name, solution in (
            ("all", {}),
            ("purchases", {"eventType": "purchase"}),
        ):
            _, version = train(personalize, group, name=name, recipe="aws-trending-now", **solution)
            found[name] = personalize.create_campaign(
                name=f"{name}-campaign", solutionVersionArn=version
            )["campaignArn"]
        for name in ("all", "purchases"):
            wait_for(lambda n=name: personalize.describe_campaign(campaignArn=found[n]))
        found["trackingId"] = personalize.create_event_tracker(
            name="tracker", datasetGroupArn=group
        )["trackingId"]
        yield found
        server.stop()


def trending(runtime: Any, campaign: str) -> list[str]:
    answer = runtime.get_recommendations(campaignArn=campaign, numResults=10)
    assert all("score" not in item for item in answer["itemList"])  # Amazon gives none
    return [item["itemId"] for item in answer["itemList"]]


def send(events: Any, tracking_id: str, item: str, event_type: str, count: int) -> None:
    now = datetime.now(UTC)
    for number in range(count):
        events.put_events(
            trackingId=tracking_id,
            userId=f"visitor-{number}",
            sessionId=f"visit-{number}",
            eventList=[{"eventType": event_type, "itemId": item, "sentAt": now}],
        )


def eventually(read: Callable[[], list[str]], holds: Callable[[list[str]], bool]) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        answer = read()
        if holds(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_trending_needs_no_user_and_follows_new_events_without_retraining(shop):
    server, personalize = shop["server"], shop["personalize"]
    runtime = client_for(server, "personalize-runtime")
    events = client_for(server, "personalize-events")
    assert trending(runtime, shop["all"])[0] == "i000"
    versions = personalize.list_solution_versions()["solutionVersions"]

    send(events, shop["trackingId"], "i059", "click", 30)
    send(events, shop["trackingId"], "i058", "click", 10)
    server.runtime.events.flush()
    after = eventually(lambda: trending(runtime, shop["all"]), lambda found: found[0] == "i059")
    assert after[:2] == ["i059", "i058"]  # the faster riser first
    assert personalize.list_solution_versions()["solutionVersions"] == versions

    # the purchases-only solution does not count clicks...
    assert trending(runtime, shop["purchases"])[0] == "i000"
    # ...but counts purchases
    send(events, shop["trackingId"], "i057", "purchase", 20)
    server.runtime.events.flush()
    purchases = eventually(
        lambda: trending(runtime, shop["purchases"]), lambda found: found[0] == "i057"
    )
    assert purchases[0] == "i057" and "i059" not in purchases[:2]
    assert trending(runtime, shop["all"])[:3] == ["i059", "i057", "i058"]


def test_an_item_first_seen_in_events_trends_without_retraining_and_is_filtered(shop):
    server, personalize = shop["server"], shop["personalize"]
    runtime = client_for(server, "personalize-runtime")
    events = client_for(server, "personalize-events")
    send(
        events, shop["trackingId"], "brand-new", "click", 60
    )  # in no dataset, unknown to the model
    server.runtime.events.flush()
    after = eventually(
        lambda: trending(runtime, shop["all"]), lambda found: found[0] == "brand-new"
    )
    assert after[0] == "brand-new"
    assert "brand-new" not in trending(runtime, shop["purchases"])  # clicks do not count there

    # filters see the new item: visitor-0 clicked it, so it is excluded for them
    clicked = personalize.create_filter(
        name="not-clicked",
        datasetGroupArn=shop["group"],
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    )["filterArn"]
    wait_for(lambda: personalize.describe_filter(filterArn=clicked))
    filtered = runtime.get_recommendations(
        campaignArn=shop["all"], userId="visitor-0", filterArn=clicked, numResults=10
    )["itemList"]
    assert filtered and "brand-new" not in [item["itemId"] for item in filtered]
    unfiltered = runtime.get_recommendations(
        campaignArn=shop["all"], userId="visitor-0", numResults=10
    )["itemList"]
    assert unfiltered[0]["itemId"] == "brand-new"


def test_merged_event_files_leave_the_trend_as_it_was(shop, monkeypatch):
    """Merging event files (``event_compaction``) changes no ranking, even when the merged
    file holds rows from before training read its data, which training counted already:
    here 200 clicks on ``stale-hit`` that arrived just before, merged with later events."""
    server, personalize = shop["server"], shop["personalize"]
    runtime = client_for(server, "personalize-runtime")
    events = client_for(server, "personalize-events")
    version = personalize.describe_campaign(campaignArn=shop["all"])["campaign"][
        "solutionVersionArn"
    ]
    read_at = server.runtime.metadata.get(version).attributes[DATA_READ_AT]
    dataset = server.runtime.metadata.get(shop["interactions"])
    schema = cached_schema(
        server.runtime.metadata.get(dataset.attributes["schemaArn"]).attributes["schema"]
    )
    folder = events_prefix(shop["group"]) + INTERACTIONS_FOLDER
    now = int(time.time())
    stale = [
        {
            "USER_ID": f"earlier-{n}",
            "ITEM_ID": "stale-hit",
            "TIMESTAMP": now,
            "EVENT_TYPE": "click",
            "EVENT_ID": f"stale-{n}",
            ARRIVAL_COLUMN: read_at - 1,
        }
        for n in range(200)
    ]
    write_rows(server.runtime, folder, schema, stale, read_at - 1)
    send(events, shop["trackingId"], "i050", "click", 5)
    server.runtime.events.flush()
    time.sleep(FRESHNESS_SECONDS + 0.2)
    before = trending(runtime, shop["all"])
    assert "stale-hit" not in before  # named before training read its data: skipped
    model = serving_model(server.runtime, version)
    scores = trending_scores(server.runtime, model)
    clicked = personalize.create_filter(
        name="not-clicked-yet",
        datasetGroupArn=shop["group"],
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
    )["filterArn"]
    wait_for(lambda: personalize.describe_filter(filterArn=clicked))

    def filtered() -> list[str]:
        answer = runtime.get_recommendations(
            campaignArn=shop["all"], userId="visitor-0", filterArn=clicked, numResults=10
        )
        return [item["itemId"] for item in answer["itemList"]]

    filtered_before = filtered()
    assert filtered_before and "i050" not in filtered_before  # visitor-0 clicked it

    merges = compact_group(server.runtime, shop["group"], now=time.time() + 1_000_000)
    reads: list[Any] = []
    read_table, read_many = serving_sources.read_table, serving_sources.read_files
    monkeypatch.setattr(
        serving_sources,
        "read_table",
        lambda runtime, prefix: reads.append(prefix) or read_table(runtime, prefix),
    )
    monkeypatch.setattr(
        serving_sources,
        "read_files",
        lambda runtime, keys: reads.extend(keys) or read_many(runtime, keys),
    )
    merged = [read_files(server.runtime, [merge.key]) for merge in merges]
    assert any("stale-hit" in table.column("ITEM_ID").to_pylist() for table in merged)
    time.sleep(FRESHNESS_SECONDS + 0.2)  # serving lists the files again
    assert trending(runtime, shop["all"]) == before
    assert filtered() == filtered_before  # the filters' index still holds visitor-0's clicks
    # Serving took the merged files over unread (it had read what they hold): the trend and
    # the filters' index, neither of which read the datasets again either.
    assert reads == []
    merged_scores = trending_scores(server.runtime, model)  # the later events counted once
    assert merged_scores.new_item_ids == scores.new_item_ids
    np.testing.assert_allclose(merged_scores.scores, scores.scores)

    # After the grace period only the merged files are left; a process that starts then
    # reads them, and counts only the rows that arrived after training read its data.
    compact_group(server.runtime, shop["group"], now=time.time() + 1_000_000 + GRACE_SECONDS)
    assert [key for key in server.runtime.blobs.list_keys(folder)] == [m.key for m in merges]
    serving_trends._LIVE.clear()
    catalogs(server.runtime).clear()
    fresh = trending_scores(server.runtime, model)
    assert fresh.new_item_ids == scores.new_item_ids
    np.testing.assert_allclose(fresh.scores, scores.scores)
    assert trending(runtime, shop["all"]) == before

    # A process that read files which were merged and whose grace ended before it looked
    # again finds no manifest: it drops what they gave and reads the merged file.
    send(events, shop["trackingId"], "i051", "click", 3)
    server.runtime.events.flush()
    time.sleep(FRESHNESS_SECONDS + 0.2)
    grown = trending_scores(server.runtime, model)
    later = time.time() + 2_000_000
    compact_group(server.runtime, shop["group"], now=later)
    compact_group(server.runtime, shop["group"], now=later + GRACE_SECONDS)
    assert not merged_sources(server.runtime, list(server.runtime.blobs.list_keys(folder)))
    time.sleep(FRESHNESS_SECONDS + 0.2)
    after_grace = trending_scores(server.runtime, model)
    assert after_grace.new_item_ids == grown.new_item_ids
    np.testing.assert_allclose(after_grace.scores, grown.scores)


def test_an_incremental_import_counts_without_retraining(shop):
    """Amazon's Trending-Now considers interactions imported in bulk or incrementally after
    training; here 1,000 imported clicks on an item no dataset held make it lead."""
    server, personalize = shop["server"], shop["personalize"]
    runtime = client_for(server, "personalize-runtime")
    versions = personalize.list_solution_versions()["solutionVersions"]
    bucket = Path(server.runtime.settings.data_dir) / "s3" / "bucket" / "later"
    bucket.mkdir(parents=True)
    moment = int(time.time()) - 60
    lines = [f"buyer-{n},imported-hit,{moment + n % 30},click,1.0,phone" for n in range(1000)]
    (bucket / "more.csv").write_text(
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n" + "\n".join(lines) + "\n"
    )
    job = personalize.create_dataset_import_job(
        jobName="later",
        datasetArn=shop["interactions"],
        dataSource={"dataLocation": "s3://bucket/later/"},
        roleArn="arn:aws:iam::000000000000:role/personalize",
        importMode="INCREMENTAL",
    )["datasetImportJobArn"]
    described = wait_for(lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job))
    assert described["status"] == "ACTIVE", described.get("failureReason")

    after = eventually(
        lambda: trending(runtime, shop["all"]), lambda found: found[0] == "imported-hit"
    )
    assert after[0] == "imported-hit"
    assert "imported-hit" not in trending(runtime, shop["purchases"])  # clicks do not count
    assert personalize.list_solution_versions()["solutionVersions"] == versions
