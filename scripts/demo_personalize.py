"""The Personalize part of the main job: MovieLens 100K from import to real-time events.

Through the stock ``personalize``, ``personalize-runtime`` and
``personalize-events`` clients, as Amazon's own getting-started guide goes:
import ml-100k (ratings as interactions, films, users; fetched from the
``recbole`` wheel by ``movielens``, never committed), train a
User-Personalization solution version and print its metrics, deploy a
campaign, recommend films for one user (titles, not IDs) while a filter leaves
out what they have rated, then send a few click events and show how the next
recommendations change, with no retraining.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3

import movielens
from demo_support import CLIENT_ARGS, show, wait_until_finished

BUCKET = "demo-bucket"
ROLE = "arn:aws:iam::000000000000:role/demo"
RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
USER = "196"
SHOWN = 10


def status_of(wrapper: str):
    return lambda body: body[wrapper]["status"]


def run(base_url: str, data_dir: Path) -> None:
    personalize = boto3.client("personalize", endpoint_url=f"{base_url}/personalize", **CLIENT_ARGS)
    runtime = boto3.client(
        "personalize-runtime", endpoint_url=f"{base_url}/personalize-runtime", **CLIENT_ARGS
    )
    events = boto3.client(
        "personalize-events", endpoint_url=f"{base_url}/personalize-events", **CLIENT_ARGS
    )
    print("\n=== Amazon Personalize: import, train, deploy, recommend, stream events ===")
    data = movielens.load_ml100k()
    titles = data.titles()
    source = stage(data, data_dir)
    group = create_datasets(personalize, source)
    version = train(personalize, group)
    campaign = deploy(personalize, version)
    unseen = personalize.create_filter(
        name="unseen",
        datasetGroupArn=group,
        filterExpression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("rating", "click")',
    )["filterArn"]
    wait_until_finished(
        "filter",
        lambda: personalize.describe_filter(filterArn=unseen),
        status_of=status_of("filter"),
    )
    before = recommend(runtime, campaign, unseen, titles, f"films for user {USER}")
    clicks = send_clicks(personalize, events, group, data, before)
    after = recommend(runtime, campaign, unseen, titles, f"after {len(clicks)} clicks")
    changed = [item for item in after if item not in before]
    print(
        f"\n  {len(changed)} of the top {SHOWN} changed within a second of the clicks, "
        "without retraining: the campaign reads the user's new events at once."
    )


def stage(data: movielens.MovieLens, data_dir: Path) -> str:
    """Write the CSV files where embedded mode reads ``s3://`` paths."""
    folder = data_dir / "s3" / BUCKET / "ml-100k"
    movielens.write_csvs(data, folder)
    print(
        f"\nStaged ml-100k ({len(data.interactions)} ratings, {len(data.items)} films, "
        f"{len(data.users)} users) as s3://{BUCKET}/ml-100k/"
    )
    return f"s3://{BUCKET}/ml-100k"


def create_datasets(personalize: Any, source: str) -> str:
    group = personalize.create_dataset_group(name="movielens")["datasetGroupArn"]
    wait_until_finished(
        "dataset group",
        lambda: personalize.describe_dataset_group(datasetGroupArn=group),
        status_of=status_of("datasetGroup"),
    )
    jobs = []
    for dataset_type, schema in movielens.schemas().items():
        schema_arn = personalize.create_schema(
            name=f"movielens-{dataset_type.lower()}", schema=json.dumps(schema)
        )["schemaArn"]
        dataset = personalize.create_dataset(
            name=f"movielens-{dataset_type.lower()}",
            schemaArn=schema_arn,
            datasetGroupArn=group,
            datasetType=dataset_type,
        )["datasetArn"]
        wait_until_finished(
            f"{dataset_type} dataset",
            lambda dataset=dataset: personalize.describe_dataset(datasetArn=dataset),
            status_of=status_of("dataset"),
        )
        jobs.append(
            personalize.create_dataset_import_job(
                jobName=f"movielens-{dataset_type.lower()}-import",
                datasetArn=dataset,
                dataSource={"dataLocation": f"{source}/{dataset_type.lower()}.csv"},
                roleArn=ROLE,
            )["datasetImportJobArn"]
        )
    for job in jobs:
        wait_until_finished(
            job.rsplit("/", 1)[-1],
            lambda job=job: personalize.describe_dataset_import_job(datasetImportJobArn=job),
            status_of=status_of("datasetImportJob"),
        )
    return group


def train(personalize: Any, group: str) -> str:
    solution = personalize.create_solution(
        name="movielens-user-personalization", datasetGroupArn=group, recipeArn=RECIPE
    )["solutionArn"]
    wait_until_finished(
        "solution",
        lambda: personalize.describe_solution(solutionArn=solution),
        status_of=status_of("solution"),
    )
    started = time.monotonic()
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_until_finished(
        "solution version (training the User-Personalization model)",
        lambda: personalize.describe_solution_version(solutionVersionArn=version),
        status_of=status_of("solutionVersion"),
    )
    print(f"  trained in {time.monotonic() - started:.0f} s")
    metrics = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
    print("\n> get_solution_metrics (Amazon's split: 10% of users held out, newest 10% as targets)")
    for name, value in sorted(metrics.items()):
        print(f"  {name:45s} {value:.4f}")
    return version


def deploy(personalize: Any, version: str) -> str:
    campaign = personalize.create_campaign(
        name="movielens-campaign",
        solutionVersionArn=version,
        minProvisionedTPS=1,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "0.1"}},
    )["campaignArn"]
    wait_until_finished(
        "campaign",
        lambda: personalize.describe_campaign(campaignArn=campaign),
        status_of=status_of("campaign"),
    )
    return campaign


def recommend(runtime: Any, campaign: str, unseen: str, titles: dict, label: str) -> list[str]:
    answer = runtime.get_recommendations(
        campaignArn=campaign, userId=USER, numResults=SHOWN, filterArn=unseen
    )
    print(f"\n> get_recommendations ({label}; filter: not already rated or clicked)")
    for rank, entry in enumerate(answer["itemList"], start=1):
        score = entry.get("score")
        scored = f"  score {score:.4f}" if score is not None else ""
        print(f"  {rank:2d}. {titles.get(entry['itemId'], entry['itemId'])}{scored}")
    return [entry["itemId"] for entry in answer["itemList"]]


def send_clicks(
    personalize: Any, events: Any, group: str, data: movielens.MovieLens, shown: list[str]
) -> list[str]:
    """Click five films of a genre the user has barely rated, through an event tracker."""
    tracker = personalize.create_event_tracker(name="movielens-clicks", datasetGroupArn=group)
    tracking_id = tracker["trackingId"]
    wait_until_finished(
        "event tracker",
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"]),
        status_of=status_of("eventTracker"),
    )
    rated = set(data.interactions.loc[data.interactions["USER_ID"] == USER, "ITEM_ID"])
    genre = "Animation"
    candidates = data.items[data.items["GENRES"].fillna("").str.contains(genre)]
    popular = data.interactions["ITEM_ID"].value_counts()
    ranked = sorted(candidates["ITEM_ID"], key=lambda item: -popular.get(item, 0))
    clicks = [item for item in ranked if item not in rated and item not in shown][:5]
    now = time.time()
    events.put_events(
        trackingId=tracking_id,
        userId=USER,
        sessionId=f"session-{USER}",
        eventList=[
            # The ml-100k schema's EVENT_VALUE is required, so clicks carry a value too.
            {"eventType": "click", "eventValue": 1.0, "itemId": item, "sentAt": now + index}
            for index, item in enumerate(clicks)
        ],
    )
    titles = data.titles()
    show(
        f"put_events: user {USER} clicks {len(clicks)} {genre} films",
        {"clicked": [titles[item] for item in clicks]},
    )
    time.sleep(1)  # the documented promise: visible within a second
    return clicks
