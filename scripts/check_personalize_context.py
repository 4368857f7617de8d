"""What contextual metadata is worth: User-Personalization with and without a DEVICE field.

Generated data (seeded, nothing downloaded): every user has a taste (one of
``--tastes`` clusters of items) and uses a phone or a desktop in sessions of 3
to 8 interactions, each session's device drawn with a personal leaning; a
phone interaction is with one of the phone items, a desktop one with a desktop
item, mostly from the user's cluster. The history tells the taste; the context
tells which half of the catalog comes next.

Through stock boto3 against ``augury serve`` on a fresh data directory, the
script imports the interactions but each user's last one (an Interactions
schema with a categorical DEVICE field), trains two User-Personalization
solutions on the same dataset group, one as is and one with
``trainingDataConfig.excludedDatasetColumns`` leaving DEVICE out, deploys each
(no exploration) and asks GetRecommendations for every user's held-out
interaction: with the device it happened on as ``context``, and without.
It prints, as Markdown, each solution's GetSolutionMetrics (Amazon's split,
several targets per test user, scored in the context of the first) and the
held-out interaction's hit rate in the top 10 and its reciprocal rank.

Usage: ``.venv/bin/python scripts/check_personalize_context.py`` (a few minutes
on 2 CPU cores); ``--users``, ``--networks`` change the size.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import numpy as np

from demo import free_port, wait_for_port
from demo_personalize import status_of
from demo_support import CLIENT_ARGS, wait_until_finished

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
BUCKET = "context-check"
SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}
SHOWN = (
    "normalized_discounted_cumulative_gain_at_10",
    "precision_at_10",
    "mean_reciprocal_rank_at_25",
    "coverage",
)


def generate(users: int, per_user: int, tastes: int, cluster: int, seed: int) -> list[dict]:
    """Interactions as described in the module docstring, oldest first per user (each
    user's last one is the held-out interaction)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        taste = int(rng.integers(tastes))
        leaning = rng.beta(2.0, 2.0)  # this user's share of phone use
        device, session_left = "phone", 0
        for step in range(per_user):
            if session_left == 0:  # a new session, on one device throughout
                device = "phone" if rng.random() < leaning else "desktop"
                session_left = int(rng.integers(3, 9))
            session_left -= 1
            if rng.random() < 0.8:
                item = taste * cluster + int(rng.integers(cluster))
            else:
                item = int(rng.integers(tastes * cluster))
            rows.append(
                {
                    "USER_ID": f"u{user}",
                    "ITEM_ID": f"{device}-{item}",
                    "TIMESTAMP": 1_700_000_000 + user * 10_000 + step * 60,
                    "DEVICE": device,
                }
            )
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def import_group(personalize: Any, source: str) -> str:
    group = personalize.create_dataset_group(name="context-check")["datasetGroupArn"]
    wait_until_finished(
        "dataset group",
        lambda: personalize.describe_dataset_group(datasetGroupArn=group),
        status_of=status_of("datasetGroup"),
    )
    schema = personalize.create_schema(name="context-check", schema=json.dumps(SCHEMA))
    dataset = personalize.create_dataset(
        name="context-check",
        schemaArn=schema["schemaArn"],
        datasetGroupArn=group,
        datasetType="Interactions",
    )["datasetArn"]
    wait_until_finished(
        "dataset",
        lambda: personalize.describe_dataset(datasetArn=dataset),
        status_of=status_of("dataset"),
    )
    job = personalize.create_dataset_import_job(
        jobName="context-check",
        datasetArn=dataset,
        dataSource={"dataLocation": source},
        roleArn=ROLE,
    )["datasetImportJobArn"]
    wait_until_finished(
        "import",
        lambda: personalize.describe_dataset_import_job(datasetImportJobArn=job),
        status_of=status_of("datasetImportJob"),
    )
    return group


def train(personalize: Any, group: str, name: str, config: dict) -> tuple[str, dict, float]:
    """A solution version, its metrics and how long it took to train."""
    solution = personalize.create_solution(
        name=name, datasetGroupArn=group, recipeArn=RECIPE, solutionConfig=config
    )["solutionArn"]
    wait_until_finished(
        name,
        lambda: personalize.describe_solution(solutionArn=solution),
        status_of=status_of("solution"),
    )
    started = time.monotonic()
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    wait_until_finished(
        f"{name} version",
        lambda: personalize.describe_solution_version(solutionVersionArn=version),
        status_of=status_of("solutionVersion"),
    )
    seconds = time.monotonic() - started
    metrics = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
    return version, metrics, seconds


def held_out_scores(
    personalize: Any, runtime: Any, version: str, held_out: list[dict], with_context: bool
) -> tuple[float, float]:
    """Hit rate in the top 10 and mean reciprocal rank (top 25) of each user's held-out
    interaction, asked with or without the device it happened on."""
    name = version.rsplit("/", 2)[-2] + ("-ctx" if with_context else "-plain")
    campaign = personalize.create_campaign(
        name=name,
        solutionVersionArn=version,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "0"}},
    )["campaignArn"]
    wait_until_finished(
        name,
        lambda: personalize.describe_campaign(campaignArn=campaign),
        status_of=status_of("campaign"),
    )
    hits, reciprocal = 0, 0.0
    for row in held_out:
        extra = {"context": {"DEVICE": row["DEVICE"]}} if with_context else {}
        answer = runtime.get_recommendations(
            campaignArn=campaign, userId=row["USER_ID"], numResults=25, **extra
        )
        items = [entry["itemId"] for entry in answer["itemList"]]
        if row["ITEM_ID"] in items:
            rank = items.index(row["ITEM_ID"]) + 1
            hits += rank <= 10
            reciprocal += 1.0 / rank
    return hits / len(held_out), reciprocal / len(held_out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--per-user", type=int, default=30)
    parser.add_argument("--tastes", type=int, default=10)
    parser.add_argument("--cluster", type=int, default=10, help="items per taste and device")
    parser.add_argument("--networks", type=int, default=1, help="num_averaged_models")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = generate(args.users, args.per_user, args.tastes, args.cluster, args.seed)
    held_out = rows[args.per_user - 1 :: args.per_user]
    kept = [row for i, row in enumerate(rows) if (i + 1) % args.per_user]
    data_dir = Path(tempfile.mkdtemp(prefix="augury-context-"))
    write_csv(kept, data_dir / "s3" / BUCKET / "interactions.csv")
    port = free_port()
    command = [sys.executable, "-m", "augury.embedded.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--log-level", "WARNING"]
    process = subprocess.Popen(command)
    try:
        wait_for_port(port, process)
        personalize = boto3.client(
            "personalize", endpoint_url=f"http://127.0.0.1:{port}/personalize", **CLIENT_ARGS
        )
        runtime = boto3.client(
            "personalize-runtime",
            endpoint_url=f"http://127.0.0.1:{port}/personalize-runtime",
            **CLIENT_ARGS,
        )
        group = import_group(personalize, f"s3://{BUCKET}/interactions.csv")
        hyperparameters = {"num_averaged_models": str(args.networks)}
        results = {}
        for name, extra in (
            ("with-device", {}),
            (
                "without-device",
                {"trainingDataConfig": {"excludedDatasetColumns": {"INTERACTIONS": ["DEVICE"]}}},
            ),
        ):
            config = {"algorithmHyperParameters": hyperparameters, **extra}
            version, metrics, seconds = train(personalize, group, name, config)
            asked = {
                with_context: held_out_scores(personalize, runtime, version, held_out, with_context)
                for with_context in (True, False)
            }
            results[name] = (metrics, seconds, asked)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)

    print(
        f"\n{len(kept)} interactions imported, {len(held_out)} held out, {args.users} users, "
        f"{2 * args.tastes * args.cluster} items; seed {args.seed}; {args.networks} network(s)\n"
    )
    columns = [*SHOWN, "held-out hit@10 (context)", "held-out MRR (context)"]
    columns += ["held-out hit@10 (none)", "held-out MRR (none)"]
    print("| solution | " + " | ".join(columns) + " | training (s) |")
    print("|---|" + "---:|" * (len(columns) + 1))
    for name, (metrics, seconds, asked) in results.items():
        values = [f"{metrics[key]:.4f}" for key in SHOWN]
        for with_context in (True, False):
            values += [f"{value:.4f}" for value in asked[with_context]]
        print(f"| {name} | {' | '.join(values)} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
