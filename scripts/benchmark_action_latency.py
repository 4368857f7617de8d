"""GetActionRecommendations over HTTP in embedded mode: latency, and how soon a take shows.

``augury serve`` runs in a subprocess; stock boto3 clients in this process do
everything through it, as a user would:

1. stage ``benchmark_next_best_action``'s synthetic shop (5,000 users, 12 actions)
   as CSV files, import the Interactions, Actions and Action_Interactions
   datasets, train ``aws-next-best-action`` and deploy a campaign;
2. send ``--calls`` GetActionRecommendations from ``--threads`` concurrent
   clients, for random users, and report p50 / p90 / p99 and calls per second;
3. freshness: ``--trials`` times, a user takes their first recommended action
   through PutActionInteractions, and the next answers are polled until that
   action is gone (it rests for good, having no REPEAT_FREQUENCY).

    python scripts/benchmark_action_latency.py [--calls 10000] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmark_next_best_action import synthetic
from benchmark_personalize_latency import measure_latency
from serve_process import Server

ROLE = "arn:aws:iam::000000000000:role/PersonalizeBenchmark"
RECIPE = "arn:aws:personalize:::recipe/aws-next-best-action"
SCHEMAS = {
    "Interactions": [("USER_ID", "string"), ("ITEM_ID", "string"), ("TIMESTAMP", "long")],
    "Actions": [("ACTION_ID", "string"), ("VALUE", ["null", "long"])],
    "Action_Interactions": [
        ("USER_ID", "string"),
        ("ACTION_ID", "string"),
        ("TIMESTAMP", "long"),
        ("EVENT_TYPE", "string"),
    ],
}


def wait(describe: Any, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = describe()
        body = next(v for k, v in answer.items() if k != "ResponseMetadata")
        if body["status"] not in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            if body["status"] != "ACTIVE":
                raise RuntimeError(f"{body['status']}: {body.get('failureReason')}")
            return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"still {body['status']} after {timeout} s")
        time.sleep(0.5)


def build(server: Server, users: int, seed: int) -> tuple[str, str, list[str], float]:
    """The campaign, the tracking ID, the users, and the seconds training took."""
    data, _taste, _rates = synthetic(users, 4, 12, seed)
    bucket = server.data_dir / "s3" / "bench"
    bucket.mkdir(parents=True, exist_ok=True)
    actions = data.actions.assign(VALUE=range(len(data.actions)))
    frames = {
        "Interactions": data.interactions,
        "Actions": actions,
        "Action_Interactions": data.action_events,
    }
    personalize = server.client("personalize")
    group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group))
    for kind, frame in frames.items():
        frame.to_csv(bucket / f"{kind}.csv", index=False)
        schema = {
            "type": "record",
            "name": kind.replace("_", ""),
            "namespace": "com.amazonaws.personalize.schema",
            "fields": [{"name": n, "type": t} for n, t in SCHEMAS[kind]],
            "version": "1.0",
        }
        schema_arn = personalize.create_schema(name=f"shop-{kind}", schema=json.dumps(schema))
        dataset = personalize.create_dataset(
            name=f"shop-{kind}",
            schemaArn=schema_arn["schemaArn"],
            datasetGroupArn=group,
            datasetType=kind,
        )["datasetArn"]
        wait(lambda d=dataset: personalize.describe_dataset(datasetArn=d))
        job = personalize.create_dataset_import_job(
            jobName=f"{kind}-import",
            datasetArn=dataset,
            dataSource={"dataLocation": f"s3://bench/{kind}.csv"},
            roleArn=ROLE,
        )["datasetImportJobArn"]
        wait(lambda j=job: personalize.describe_dataset_import_job(datasetImportJobArn=j))
    solution = personalize.create_solution(name="nba", datasetGroupArn=group, recipeArn=RECIPE)
    wait(lambda: personalize.describe_solution(solutionArn=solution["solutionArn"]))
    started = time.monotonic()
    version = personalize.create_solution_version(solutionArn=solution["solutionArn"])
    arn = version["solutionVersionArn"]
    wait(lambda: personalize.describe_solution_version(solutionVersionArn=arn))
    trained = time.monotonic() - started
    campaign = personalize.create_campaign(name="actions", solutionVersionArn=arn)["campaignArn"]
    wait(lambda: personalize.describe_campaign(campaignArn=campaign))
    tracker = personalize.create_event_tracker(name="site", datasetGroupArn=group)
    wait(lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"]))
    return campaign, tracker["trackingId"], sorted(set(data.interactions["USER_ID"])), trained


def freshness(
    server: Server, campaign: str, tracking: str, users: list[str], trials: int
) -> tuple[list[float], int]:
    """Milliseconds from PutActionInteractions returning to an answer without the action."""
    runtime = server.client("personalize-runtime")
    events = server.client("personalize-events")
    found, stale = [], 0
    for user in users[:trials]:
        first = runtime.get_action_recommendations(campaignArn=campaign, userId=user)
        action = first["actionList"][0]["actionId"]
        events.put_action_interactions(
            trackingId=tracking,
            actionInteractions=[
                {
                    "actionId": action,
                    "userId": user,
                    "sessionId": f"{user}-bench",
                    "timestamp": time.time(),
                    "eventType": "Taken",
                }
            ],
        )
        sent = time.perf_counter()
        while time.perf_counter() - sent < 5.0:
            answer = runtime.get_action_recommendations(campaignArn=campaign, userId=user)
            if action not in [entry["actionId"] for entry in answer["actionList"]]:
                found.append((time.perf_counter() - sent) * 1000.0)
                break
        else:
            stale += 1
    return found, stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="augury-action-latency-") as scratch:
        server = Server(Path(scratch) / "data")
        try:
            campaign, tracking, users, trained = build(server, args.users, args.seed)
            times, errors, wall = measure_latency(
                server,
                {"campaignArn": campaign},
                users,
                args.calls,
                args.threads,
                args.seed,
                "get_action_recommendations",
            )
            fresh, stale = freshness(server, campaign, tracking, users, args.trials)
        finally:
            server.stop()
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    print(
        f"GetActionRecommendations, {platform.machine()} with {os.cpu_count()} CPU cores, "
        f"{args.users} users, 12 actions (training took {trained:.1f} s):\n"
        f"| calls | threads | errors | p50 ms | p90 ms | p99 ms | calls/s | "
        f"take -> gone p50 ms | max ms | stale |\n"
        f"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {len(times)} | {args.threads} | {errors} | {p50:.1f} | {p90:.1f} | {p99:.1f} | "
        f"{len(times) / wall:.0f} | {np.percentile(fresh, 50):.1f} | {max(fresh):.1f} | "
        f"{stale} |"
    )


if __name__ == "__main__":
    main()
