"""Personalize serving latency and event freshness over HTTP, in embedded mode.

Starts ``augury serve`` as a subprocess on a temporary data directory and
drives it with stock boto3 clients only, as a user would:

1. stage ml-100k's CSV files (``scripts/movielens.py``) where embedded mode
   reads ``s3://`` paths, create a dataset group, schemas, the Interactions,
   Items and Users datasets and import them;
2. train a solution version (``aws-user-personalization`` unless
   ``--recipe``), create a campaign and an event tracker; or, with
   ``--use-case``, import into a VIDEO_ON_DEMAND group (every rating a Watch
   event) and create that use case's recommender instead of the campaign;
3. GetRecommendations latency: ``--calls`` calls (default 10,000) for random
   known users from ``--threads`` concurrent clients (one boto3 client per
   thread), after a short warm-up; p50/p90/p99/max and throughput;
4. PutEvents-to-visible freshness: for ``--trials`` users, the time from a
   PutEvents call returning until that user's GetRecommendations answer
   differs from the answer before the event (polled back to back).

Timings include boto3's request signing and parsing and the HTTP round trip
on 127.0.0.1; client and server share the machine's cores.

Usage (from the repository root)::

    .venv/bin/python scripts/benchmark_personalize_latency.py
    .venv/bin/python scripts/benchmark_personalize_latency.py --calls 2000 --threads 4 \\
        --recipe aws-popularity-count
    .venv/bin/python scripts/benchmark_personalize_latency.py \\
        --output docs/benchmarks/ml100k.md          # (re)writes its section of the report
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import movielens
from augury.personalize import use_cases
from benchmark_ml100k import write_section
from serve_process import Server

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "augury-bench"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeBenchmark"
RECIPE_ARN = "arn:aws:personalize:::recipe/"
WATCH = "Watch"
"""The event type of a VIDEO_ON_DEMAND recommender's data here: every rating is a view."""
FAILED = {"CREATE FAILED", "CREATE_FAILED", "CREATE STOPPED", "CREATE_STOPPED"}
SECTION = "latency"
EVENT_BLIND_RECIPES = ("aws-popularity-count", "aws-trending-now")
"""Recipes whose answers never depend on a user's events: freshness cannot show there."""


@dataclass
class Report:
    recipe: str
    """The recipe, or the use case when a recommender answers (``domain`` set)."""
    hyperparameters: dict[str, str] = field(default_factory=dict)
    domain: str | None = None
    steps: dict[str, float] = field(default_factory=dict)
    """Control-plane step -> seconds (import, training, campaign...)."""
    metrics: dict[str, float] = field(default_factory=dict)
    latency_ms: np.ndarray | None = None
    errors: int = 0
    wall_seconds: float = 0.0
    threads: int = 0
    freshness_ms: list[float] = field(default_factory=list)
    stale: int = 0
    """Freshness trials whose answer never changed within the timeout."""
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------- control plane


def wait_active(label: str, describe: Callable[[], dict[str, Any]], timeout: float) -> float:
    """Poll until ACTIVE; the seconds it took. A failed resource stops the benchmark."""
    started = time.perf_counter()
    while True:
        body = describe()
        status = body.get("status")
        if status == "ACTIVE":
            return time.perf_counter() - started
        if status in FAILED:
            raise RuntimeError(f"{label} ended {status}: {body.get('failureReason')}")
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{label} still {status} after {timeout:.0f} s")
        time.sleep(0.25)


def stage_data(data_dir: Path, data: movielens.MovieLens) -> dict[str, str]:
    """The CSV files under ``<data dir>/s3/<bucket>/``: their ``s3://`` paths by dataset type."""
    folder = data_dir / "s3" / BUCKET / "ml-100k"
    paths = movielens.write_csvs(data, folder)
    return {kind: f"s3://{BUCKET}/ml-100k/{path.name}" for kind, path in paths.items()}


def imported_group(
    server: Server, data: movielens.MovieLens, report: Report, timeout: float
) -> str:
    """A dataset group (of the ``report.domain`` domain, if any) with ml-100k imported."""
    personalize = server.client("personalize")
    in_domain = {"domain": report.domain} if report.domain else {}
    schemas = movielens.schemas()
    if report.domain:  # every rating a Watch event; the VOD Items schema's GENRES is required
        data = dataclasses.replace(
            data,
            interactions=data.interactions.assign(EVENT_TYPE=WATCH),
            items=data.items.assign(GENRES=data.items["GENRES"].fillna("unknown")),
        )
        genres = next(f for f in schemas["Items"]["fields"] if f["name"] == "GENRES")
        genres["type"] = "string"
    locations = stage_data(server.data_dir, data)
    group = personalize.create_dataset_group(name="ml-100k-latency", **in_domain)["datasetGroupArn"]
    wait_active(
        "dataset group",
        lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"],
        60,
    )
    started = time.perf_counter()
    jobs = []
    for dataset_type, schema in schemas.items():
        schema_arn = personalize.create_schema(
            name=f"ml-100k-{dataset_type.lower()}", schema=json.dumps(schema), **in_domain
        )["schemaArn"]
        dataset = personalize.create_dataset(
            name=f"ml-100k-{dataset_type.lower()}",
            schemaArn=schema_arn,
            datasetGroupArn=group,
            datasetType=dataset_type,
        )["datasetArn"]
        wait_active(
            f"{dataset_type} dataset",
            lambda arn=dataset: personalize.describe_dataset(datasetArn=arn)["dataset"],
            60,
        )
        job = personalize.create_dataset_import_job(
            jobName=f"ml-100k-{dataset_type.lower()}",
            datasetArn=dataset,
            dataSource={"dataLocation": locations[dataset_type]},
            roleArn=ROLE,
        )["datasetImportJobArn"]
        jobs.append((dataset_type, job))
    for dataset_type, job in jobs:
        wait_active(
            f"{dataset_type} import",
            lambda arn=job: personalize.describe_dataset_import_job(datasetImportJobArn=arn)[
                "datasetImportJob"
            ],
            timeout,
        )
    report.steps["import (3 datasets)"] = time.perf_counter() - started
    return group


def build_campaign(
    server: Server,
    data: movielens.MovieLens,
    hyperparameters: dict[str, str],
    report: Report,
    timeout: float,
) -> tuple[dict[str, str], str]:
    """Import, train, deploy: the campaign (as GetRecommendations names it) and an event
    tracker's tracking ID."""
    personalize = server.client("personalize")
    recipe = report.recipe
    group = imported_group(server, data, report, timeout)
    extra = (
        {"solutionConfig": {"algorithmHyperParameters": dict(hyperparameters)}}
        if hyperparameters
        else {}
    )
    solution = personalize.create_solution(
        name=f"ml-100k-{recipe}", datasetGroupArn=group, recipeArn=RECIPE_ARN + recipe, **extra
    )["solutionArn"]
    wait_active(
        "solution",
        lambda: personalize.describe_solution(solutionArn=solution)["solution"],
        60,
    )
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    report.steps["training (solution version)"] = wait_active(
        "solution version",
        lambda: personalize.describe_solution_version(solutionVersionArn=version)[
            "solutionVersion"
        ],
        timeout,
    )
    report.metrics = personalize.get_solution_metrics(solutionVersionArn=version).get("metrics", {})
    campaign = personalize.create_campaign(
        name=f"ml-100k-{recipe}", solutionVersionArn=version, minProvisionedTPS=1
    )["campaignArn"]
    report.steps["campaign"] = wait_active(
        "campaign",
        lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"],
        timeout,
    )
    return {"campaignArn": campaign}, event_tracker(personalize, group)


def build_recommender(
    server: Server, data: movielens.MovieLens, report: Report, timeout: float
) -> tuple[dict[str, str], str]:
    """Import into a VIDEO_ON_DEMAND group and create the ``report.recipe`` use case's
    recommender: the recommender (as GetRecommendations names it) and a tracking ID."""
    personalize = server.client("personalize")
    group = imported_group(server, data, report, timeout)
    recommender = personalize.create_recommender(
        name=f"ml-100k-{report.recipe}", datasetGroupArn=group, recipeArn=RECIPE_ARN + report.recipe
    )["recommenderArn"]
    report.steps["training (recommender)"] = wait_active(
        "recommender",
        lambda: personalize.describe_recommender(recommenderArn=recommender)["recommender"],
        timeout,
    )
    described = personalize.describe_recommender(recommenderArn=recommender)["recommender"]
    report.metrics = described.get("modelMetrics", {})
    return {"recommenderArn": recommender}, event_tracker(personalize, group)


def event_tracker(personalize: Any, group: str) -> str:
    tracker = personalize.create_event_tracker(name="ml-100k-events", datasetGroupArn=group)
    wait_active(
        "event tracker",
        lambda: personalize.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])[
            "eventTracker"
        ],
        60,
    )
    return tracker["trackingId"]


# ----------------------------------------------------------------- latency


def measure_latency(
    server: Server,
    target: dict[str, str],
    users: Sequence[str],
    calls: int,
    threads: int,
    seed: int,
    operation: str = "get_recommendations",
) -> tuple[np.ndarray, int, float]:
    """Latencies (ms) of ``calls`` requests (GetRecommendations, or the personalize-runtime
    ``operation`` named) from ``threads`` clients for random users; errors; wall seconds."""
    shares = [calls // threads + (1 if t < calls % threads else 0) for t in range(threads)]
    clients = [server.client("personalize-runtime") for _ in range(threads)]
    for client in clients:  # warm-up: connections, the model cache
        for user in users[:5]:
            getattr(client, operation)(**target, userId=user)

    def worker(index: int) -> tuple[list[float], int]:
        rng = random.Random(seed * 1000 + index)
        client, times, errors = clients[index], [], 0
        for _ in range(shares[index]):
            user = users[rng.randrange(len(users))]
            started = time.perf_counter()
            try:
                getattr(client, operation)(**target, userId=user)
            except Exception:
                errors += 1
                continue
            times.append((time.perf_counter() - started) * 1000.0)
        return times, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(worker, range(threads)))
    wall = time.perf_counter() - started
    latencies = np.array([t for times, _ in outcomes for t in times])
    return latencies, sum(errors for _, errors in outcomes), wall


def measure_freshness(
    server: Server,
    target: dict[str, str],
    tracking_id: str,
    users: Sequence[str],
    items: Sequence[str],
    trials: int,
    seed: int,
    timeout: float = 5.0,
) -> tuple[list[float], int, list[str]]:
    """Per trial: ms from PutEvents returning until the user's answer changes."""
    runtime = server.client("personalize-runtime")
    events = server.client("personalize-events")
    rng = random.Random(seed)
    found, stale, notes = [], 0, []
    for trial in range(trials):
        user = users[rng.randrange(len(users))]

        def answer(user: str = user) -> list[tuple[str, Any]]:
            body = runtime.get_recommendations(**target, userId=user)
            return [(row["itemId"], row.get("score")) for row in body["itemList"]]

        before = answer()
        if answer() != before:
            notes.append(f"trial {trial}: two answers in a row differ (non-deterministic)")
            stale += 1
            continue
        shown = {item for item, _ in before}
        item = next(i for i in rng.sample(list(items), len(items)) if i not in shown)
        events.put_events(
            trackingId=tracking_id,
            userId=user,
            sessionId=f"bench-{trial}",
            eventList=[
                {
                    "eventType": WATCH if "recommenderArn" in target else movielens.EVENT_TYPE,
                    "eventValue": 5.0,
                    "itemId": item,
                    "sentAt": datetime.now(UTC),
                }
            ],
        )
        returned = time.perf_counter()
        while True:
            if answer() != before:
                found.append((time.perf_counter() - returned) * 1000.0)
                break
            if time.perf_counter() - returned > timeout:
                stale += 1
                break
    return found, stale, notes


# ------------------------------------------------------------------ report


def event_blind(report: Report) -> bool:
    """Whether answers cannot follow a user's events (freshness cannot show)."""
    if not report.domain:
        return report.recipe in EVENT_BLIND_RECIPES
    use_case = use_cases.USE_CASES[report.recipe]
    return use_case.recipe in EVENT_BLIND_RECIPES and use_case.excluded_event_type is None


def _served_by(report: Report) -> str:
    if report.domain:
        return (
            f"the `{report.recipe}` recommender of a {report.domain} dataset group (every "
            "rating a Watch event, so each user's rated films are left out of the answers)"
        )
    tuned = f" with {json.dumps(report.hyperparameters)}" if report.hyperparameters else ""
    return f"recipe `{report.recipe}`{tuned}"


def render(report: Report, command: str) -> str:
    title = "GetRecommendations from a recommender:" if report.domain else "GetRecommendations"
    lines = [
        f"## {title} latency and event freshness (embedded mode, HTTP)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}: `augury serve` in a subprocess, stock boto3 clients "
        "in this process over 127.0.0.1 (client and server share the cores). ml-100k "
        f"imported (Interactions, Items, Users), {_served_by(report)}.",
        "",
        "| Step | Seconds |",
        "|---|---:|",
        *(f"| {step} | {seconds:.1f} |" for step, seconds in report.steps.items()),
        "",
    ]
    if report.metrics:
        lines += [
            ("DescribeRecommender's modelMetrics: " if report.domain else "GetSolutionMetrics: ")
            + ", ".join(f"{name} {value:.4f}" for name, value in sorted(report.metrics.items())),
            "",
        ]
    if report.latency_ms is not None and report.latency_ms.size:
        ms = report.latency_ms
        lines += [
            f"GetRecommendations (userId, default 25 results), {ms.size:,} calls from "
            f"{report.threads} concurrent clients ({report.errors} errors):",
            "",
            "| p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | calls/s |",
            "|---:|---:|---:|---:|---:|",
            f"| {np.percentile(ms, 50):.1f} | {np.percentile(ms, 90):.1f} | "
            f"{np.percentile(ms, 99):.1f} | {ms.max():.1f} | "
            f"{ms.size / report.wall_seconds:.0f} |",
            "",
        ]
    if report.freshness_ms or report.stale:
        fresh = np.array(report.freshness_ms)
        row = (
            f"| {len(fresh)} | {np.percentile(fresh, 50):.1f} | {fresh.max():.1f} | "
            if fresh.size
            else "| 0 | - | - | "
        )
        lines += [
            "PutEvents to visible: time from PutEvents returning until the same user's "
            "GetRecommendations answer changes (polled back to back):",
            "",
            "| trials changed | p50 (ms) | max (ms) | never changed within 5 s |",
            "|---:|---:|---:|---:|",
            row + f"{report.stale} |",
            "",
        ]
    if event_blind(report):
        lines += [
            f"`{report.recipe}` answers every user alike, whatever their events: its answers "
            "are not expected to change, and freshness needs a personalized recipe.",
            "",
        ]
    lines += [f"Note: {note}" for note in report.notes[:10]]
    return "\n".join(lines).rstrip() + "\n"


# -------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--recipe", default="aws-user-personalization")
    parser.add_argument(
        "--use-case",
        choices=sorted(u.name for u in use_cases.use_cases(use_cases.VIDEO_ON_DEMAND)),
        help="a VIDEO_ON_DEMAND recommender instead of a campaign (every rating a Watch event)",
    )
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--trials", type=int, default=30, help="freshness trials")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cache", type=Path, help="folder for the recbole wheel")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds allowed for imports and training"
    )
    parser.add_argument(
        "--hyperparameters",
        type=json.loads,
        default={},
        help='the solution\'s algorithmHyperParameters as JSON, such as \'{"epochs": "3"}\' '
        "(latency depends on the model's shape, not on how long it trained)",
    )
    parser.add_argument("--output", type=Path, help="write the tables into this report")
    parser.add_argument(
        "--keep", type=Path, help="use this data directory and keep it (default: temporary)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Stopped from outside: still stop the server (and its training jobs) on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data = movielens.load_ml100k(args.cache)
    users = sorted(set(data.interactions["USER_ID"]))
    items = sorted(set(data.items["ITEM_ID"]))
    recipe = args.use_case or args.recipe
    domain = use_cases.USE_CASES[recipe].domain if args.use_case else None
    report = Report(recipe, args.hyperparameters, threads=args.threads, domain=domain)
    with tempfile.TemporaryDirectory(prefix="augury-latency-") as temporary:
        data_dir = args.keep or Path(temporary) / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        server = Server(data_dir)
        print(f"augury serve at {server.url} (log: {server.log_path})", flush=True)
        try:
            if report.domain:
                target, tracking_id = build_recommender(server, data, report, args.timeout)
            else:
                target, tracking_id = build_campaign(
                    server, data, args.hyperparameters, report, args.timeout
                )
            for step, seconds in report.steps.items():
                print(f"  {step}: {seconds:.1f} s", flush=True)
            print(f"latency: {args.calls} calls, {args.threads} threads ...", flush=True)
            report.latency_ms, report.errors, report.wall_seconds = measure_latency(
                server, target, users, args.calls, args.threads, args.seed
            )
            print(f"freshness: {args.trials} trials ...", flush=True)
            report.freshness_ms, report.stale, report.notes = measure_freshness(
                server, target, tracking_id, users, items, args.trials, args.seed
            )
        finally:
            server.stop()
            if server.log_path.exists() and not args.keep:
                tail = server.log_path.read_text(errors="replace")[-2000:]
                if "Traceback" in tail:
                    print(f"server log tail:\n{tail}", file=sys.stderr)
    command = "python scripts/benchmark_personalize_latency.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = render(report, command.strip())
    print()
    print(text)
    if args.output:
        section = f"{SECTION}-recommender" if report.domain else SECTION
        write_section(args.output, section, text)
        print(f"wrote the {section} section of {args.output}")
    stale_ok = report.stale == 0 or event_blind(report)
    return 0 if report.errors == 0 and stale_ok else 1


if __name__ == "__main__":
    sys.exit(main())
