"""MovieLens 100K benchmark: Augury's Personalize recipes beside common recommenders.

Every rating in ml-100k (from the ``recbole`` wheel, see ``scripts/movielens.py``)
is one interaction. One seeded Amazon split (``augury_training.personalization.
evaluation.amazon_split``): 90% of the users train; each of the other 10% gives
its oldest 90% of interactions as input and is scored on its newest 10%. Every
model answers each test user with 25 items, the user's inputs left out, and
the lists are scored with Amazon's metric definitions (``solution_metrics``):
precision@5/10/25, NDCG@5/10/25, MRR@25 and catalog coverage. All models see
the same training users and the same inputs; none sees a target.

Rows:

* Augury's recipes, trained by the personalization container exactly as the
  embedded server runs it (``ProcessTrainer`` starts ``python -m
  augury_training.personalization`` on a SageMaker-style job directory, with
  the training users' interactions and the Users and Items data as Parquet
  channels, metrics evaluation off), then loaded with ``load_recommender`` and
  asked as serving asks: ``score_user(user, inputs)`` for user recipes,
  ``score_related(last input)`` for related-item recipes. Test users are
  unknown to the model; their inputs reach it as recent events.
* Peers, on the same split: ``most-popular`` (training interaction counts);
  ``item-knn`` (cosine similarity of items' user sets, the top-k neighbours
  per item summed over the user's inputs); ``item-knn-last`` (the same
  neighbours of the user's last input only: the like-for-like peer of the
  related-items recipes, which answer from one item); ``implicit-als`` (implicit's ALS,
  test users folded in from their inputs with ``recalculate_user``);
  ``implicit-bpr`` (implicit's BPR; it cannot fold a new user in, so the test
  users' inputs are added to its training matrix, which favours it); ``ease``
  (EASE, closed form). Their hyperparameters (kNN's k, ALS's and BPR's factors,
  EASE's lambda...) are tuned on a validation split of the training users
  (the same Amazon split applied to them), never on the test users; the tuning
  time is shown apart from the final fit's.

Each model runs in a fresh process, so its peak memory (resident, the process
and its children, such as the training container) is its own. Training time is
the final fit (for Augury: the container job from start to model files).

Usage (from the repository root)::

    .venv/bin/python scripts/benchmark_ml100k.py                # everything; writes
                                                                # docs/benchmarks/ml100k.md
    .venv/bin/python scripts/benchmark_ml100k.py --only ease,item-knn,aws-sims
    .venv/bin/python scripts/benchmark_ml100k.py --peers-only --seed 7 --output /tmp/b.md
    .venv/bin/python scripts/benchmark_ml100k.py --only aws-user-personalization \\
        --results /tmp/ml100k.json --output docs/benchmarks/ml100k.md   # adds rows to a
                                                                        # saved table
    .venv/bin/python scripts/benchmark_ml100k.py --hyperparameters \\
        '{"aws-user-personalization": {"epochs": "10"}}'
    .venv/bin/python scripts/benchmark_ml100k.py --data my_data/ --output /tmp/mine.md

``--data`` runs the same benchmark on other data: a folder of Personalize
dataset CSVs with a header (``personalize_bench_data`` reads it and draws the
split). The peers' settings are always tuned on a validation split of the
training users; ``--perform-hpo`` gives the recipes the same chance, training
them with performHPO over their default ranges (the search counts in their
training time).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from peak_memory import MemorySampler
from personalize_bench_data import ML100K, Bench, Source, load_bench
from recommender_peers import PEER_FACTORIES, TUNING_METRIC, ScoreFn, tune

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training_containers"))
sys.path.insert(0, str(ROOT / "lambdas"))

from augury_training.personalization.evaluation import (  # noqa: E402
    evaluate_scores,
)
from augury_training.personalization.train import TUNED_HPO_FILE  # noqa: E402
from augury_training.personalize_contract import (  # noqa: E402
    PERSONALIZED_ACTIONS,
    RECIPE_TYPES,
    RELATED_ITEMS,
)

PEERS = tuple(PEER_FACTORIES)
AUGURY = tuple(name for name, kind in RECIPE_TYPES.items() if kind != PERSONALIZED_ACTIONS)
"""Every item recipe. Next-Best-Action ranks actions, which ml-100k has none of: it has its
own benchmark (``benchmark_next_best_action.py``)."""
ALL_MODELS = (*AUGURY, *PEERS)
SECTION = "accuracy"
"""The report's part this script (re)writes; the latency benchmark writes its own."""

CLOSEST_PEER = {
    "aws-popularity-count": "most-popular",
    "aws-trending-now": "most-popular",
    "aws-sims": "item-knn-last",
    "aws-similar-items": "item-knn-last",
}
"""The peer each simple recipe is compared with; the rest are compared with the best peer."""

COLUMNS = (
    ("P@5", "precision_at_5"),
    ("P@10", "precision_at_10"),
    ("P@25", "precision_at_25"),
    ("NDCG@5", "normalized_discounted_cumulative_gain_at_5"),
    ("NDCG@10", "normalized_discounted_cumulative_gain_at_10"),
    ("NDCG@25", "normalized_discounted_cumulative_gain_at_25"),
    ("MRR@25", "mean_reciprocal_rank_at_25"),
    ("Coverage", "coverage"),
)


# ------------------------------------------------------------- Augury recipes


def write_channels(bench: Bench, folder: Path) -> dict[str, Path]:
    """The training users' interactions and the Users / Items data as Parquet channels."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    train = bench.split.train
    interactions = pa.table(
        {
            "USER_ID": pa.array(train["USER_ID"].astype(str), pa.string()),
            "ITEM_ID": pa.array(train["ITEM_ID"].astype(str), pa.string()),
            "TIMESTAMP": pa.array(train["TIMESTAMP"].astype("int64"), pa.int64()),
            "EVENT_TYPE": pa.array(train["EVENT_TYPE"].astype(str), pa.string()),
            "EVENT_VALUE": pa.array(train["EVENT_VALUE"].astype("float64"), pa.float64()),
        }
    )
    tables = {"interactions": interactions}
    for name, frame in (("items", bench.items), ("users", bench.users)):
        if len(frame):  # a dataset the data does not have is a channel the job does not get
            tables[name] = pa.Table.from_pandas(frame, preserve_index=False)
    channels = {}
    for name, table in tables.items():
        channels[name] = folder / name
        channels[name].mkdir(parents=True)
        pq.write_table(table, channels[name] / "part-00000.parquet")
    return channels


def train_recipe(
    bench: Bench,
    recipe: str,
    seed: int,
    hyperparameters: Mapping[str, str],
    work: Path,
    perform_hpo: bool = False,
) -> tuple[Path, float]:
    """Run the container through the embedded trainer; the unpacked model folder and its time
    (with ``perform_hpo``, the search over the recipe's default ranges included)."""
    from augury.bootstrap import DEFAULT_CONTAINERS
    from augury.local.file_blobs import FileBlobStore
    from augury.local.process_trainer import ProcessTrainer
    from augury.personalize.recipes import RECIPES
    from augury.ports import TRAINING_COMPLETED, TrainingJobSpec
    from augury_training.personalize_contract import CONFIG_HYPERPARAMETER, SolutionJobConfig

    blobs = FileBlobStore(work / "blobs")
    channels = write_channels(bench, work / "channels")
    prefixes = {}
    for name, folder in channels.items():
        for path in folder.iterdir():
            blobs.upload_file(path, f"data/{name}/{path.name}")
        prefixes[name] = f"data/{name}"
    solution = {"algorithmHyperParameters": dict(hyperparameters)}
    config = SolutionJobConfig(
        recipe=recipe,
        algorithm_hyperparameters=dict(hyperparameters),
        seed=seed,
        evaluate=False,
        perform_hpo=perform_hpo,
        hpo_config=RECIPES[recipe].hpo_config(solution) if perform_hpo else None,
    )
    trainer = ProcessTrainer(blobs, work / "jobs", DEFAULT_CONTAINERS)
    name = f"bench-{recipe}"
    spec = TrainingJobSpec(
        name=name,
        container="personalization",
        hyperparameters={CONFIG_HYPERPARAMETER: config.to_json()},
        channels=prefixes,
        output_prefix=f"models/{recipe}",
    )
    started = time.perf_counter()
    trainer.start(spec)
    state = trainer.wait(name)
    seconds = time.perf_counter() - started
    if state.status != TRAINING_COMPLETED or state.model_key is None:
        log = trainer.job_dir(name) / "output" / "job.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        raise RuntimeError(f"training {state.status}: {state.failure_reason}\n{tail}")
    model_dir = work / "model"
    archive = work / "model.tar.gz"
    blobs.download_file(state.model_key, archive)
    with tarfile.open(archive) as tar:
        tar.extractall(model_dir, filter="data")
    return model_dir, seconds


def recipe_scorer(model_dir: Path, catalog: list[str], event_type: str) -> ScoreFn:
    """Score test users as serving does, mapped onto the benchmark's catalog order."""
    from augury_training.recommender_artifacts import load_recommender

    model = load_recommender(model_dir)
    positions = np.array(
        [-1 if model.item_index(item) is None else model.item_index(item) for item in catalog]
    )
    known = positions >= 0
    related = model.recipe_type == RELATED_ITEMS

    def score(user: str, inputs: list[str]) -> np.ndarray:
        if related:
            raw = model.score_related(inputs[-1])
        else:
            raw = model.score_user(user, inputs, [event_type] * len(inputs))
        out = np.full(len(catalog), -np.inf)
        out[known] = np.asarray(raw, dtype=np.float64)[positions[known]]
        return out

    return score


# ------------------------------------------------------------------ running


@dataclass
class Result:
    model: str
    kind: str
    status: str = "ok"
    metrics: dict[str, float] = field(default_factory=dict)
    train_seconds: float = float("nan")
    tuning_seconds: float = 0.0
    score_seconds: float = float("nan")
    peak_mib: float = float("nan")
    mean_load: float = float("nan")
    params: str = ""


def run_model(
    name: str,
    seed: int,
    source: Source,
    hyperparameters: Mapping[str, str],
    perform_hpo: bool = False,
) -> Result:
    """One model from data to metrics (runs in its own process)."""
    kind = "Augury" if name in AUGURY else "peer"
    result = Result(name, kind)
    try:
        with MemorySampler() as sampler:
            bench = load_bench(seed, source)
            if kind == "peer":
                params, result.tuning_seconds = tune(name, bench.split, bench.catalog, seed)
                started = time.perf_counter()
                score = PEER_FACTORIES[name](bench.split, bench.catalog, params)
                result.train_seconds = time.perf_counter() - started
                result.params = ", ".join(f"{k}={v}" for k, v in params.items() if k != "seed")
            else:
                with tempfile.TemporaryDirectory(prefix="augury-bench-") as work:
                    model_dir, result.train_seconds = train_recipe(
                        bench, name, seed, hyperparameters, Path(work), perform_hpo
                    )
                    score = recipe_scorer(model_dir, bench.catalog, bench.event_type)
                    given = [f"{k}={v}" for k, v in hyperparameters.items()]
                    tuned = model_dir / TUNED_HPO_FILE
                    if tuned.exists():
                        given.append(f"performHPO: {json.loads(tuned.read_text())}")
                    result.params = ", ".join(given)
            started = time.perf_counter()
            result.metrics = evaluate_scores(bench.split, bench.catalog, score)
            result.score_seconds = time.perf_counter() - started
        result.peak_mib = sampler.peak_mib
        result.mean_load = sampler.mean_load
    except Exception as error:
        traceback.print_exc()
        result.status = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return result


def run_isolated(
    name: str,
    seed: int,
    source: Source,
    hyperparameters: Mapping[str, str],
    perform_hpo: bool = False,
) -> Result:
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(1)
    try:
        return pool.apply(run_model, (name, seed, source, dict(hyperparameters), perform_hpo))
    finally:
        pool.close()
        pool.join()


# ------------------------------------------------------------------ report


def merge_results(
    path: Path,
    seed: int,
    results: Sequence[Result],
    commands: Sequence[str],
    data: str = ML100K,
) -> tuple[list[Result], list[str]]:
    """Add this run's rows to those saved in ``path`` (same seed and data), save, return
    all rows.

    Lets slow models run in their own invocations and still share one table.
    """
    saved: dict[str, Any] = {"seed": seed, "data": data, "results": [], "commands": []}
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("seed") != seed:
            raise SystemExit(f"{path} holds results for seed {saved.get('seed')}, not {seed}")
        if saved.get("data", ML100K) != data:
            raise SystemExit(f"{path} holds results on {saved.get('data', ML100K)}, not {data}")
    rows = {row["model"]: Result(**row) for row in saved["results"]}
    rows.update({result.model: result for result in results})
    ordered = [rows[name] for name in ALL_MODELS if name in rows]
    every_command = [*saved.get("commands", [])]
    every_command += [command for command in commands if command not in every_command]
    path.write_text(
        json.dumps(
            {
                "seed": seed,
                "data": data,
                "commands": every_command,
                "results": [asdict(r) for r in ordered],
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return ordered, every_command


def render(
    results: Sequence[Result],
    bench: Bench,
    seed: int,
    command: str,
    source: Source | None = None,
) -> str:
    source = source or Source()
    split = bench.split
    test_users = len(split.test_users)
    targets = sum(len(t) for t in split.test_targets.values())
    lines = [
        "# MovieLens 100K benchmark"
        if source.folder is None
        else f"# Personalize benchmark on {source.folder.name}",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, NumPy {np.__version__}{_versions()}.",
        "",
        f"Data: {source.describe(bench.interactions)}, "
        f"{bench.split.train['USER_ID'].nunique() + test_users} users, "
        f"{len(bench.catalog)} items. Amazon's split with seed {seed}: "
        f"{split.train['USER_ID'].nunique()} training users ({len(split.train):,} "
        f"interactions); {test_users} test users, each scored on its newest 10% "
        f"({targets} target interactions) from its oldest 90% as input.",
        "",
        "Each model returns 25 items per test user, its inputs excluded; the metrics are "
        "Amazon Personalize's (GetSolutionMetrics) definitions. Higher is better. Training "
        "time is the final fit (Augury: the container job, as the embedded server runs it); "
        "tuning is the peers' validation grid search on the training users. Peak memory is "
        "the resident memory of the model's process and its children (the training "
        "container). Load is the machine's mean 1-minute load average during the run.",
        "",
        "| Model | Kind | " + " | ".join(label for label, _ in COLUMNS) + " | Train (s) | "
        "Tuning (s) | Peak memory (MiB) | Load | Settings | Status |",
        "|---|---|" + "---:|" * (len(COLUMNS) + 4) + "---|---|",
    ]
    for result in results:
        values = [_number(result.metrics.get(key)) for _, key in COLUMNS]
        lines.append(
            f"| {result.model} | {result.kind} | "
            + " | ".join(values)
            + f" | {_number(result.train_seconds, 1)} | {_number(result.tuning_seconds, 1)}"
            f" | {_number(result.peak_mib, 0)} | {_number(result.mean_load, 1)}"
            f" | {result.params} | {result.status} |"
        )
    noise = (
        f" With {test_users} test users and about {targets / max(test_users, 1):.0f} targets "
        "each, differences of a few thousandths in NDCG are within the split's noise; "
        "`--seed` draws another split."
    )
    lines += ["", *_comparisons(results), "", *RERUN[:-1], RERUN[-1] + noise]
    return "\n".join(lines) + "\n"


RERUN = [
    "## Rerunning",
    "",
    "From the repository root, with the development environment (`pip install -e .[dev]`):",
    "",
    "```",
    "python scripts/benchmark_ml100k.py                      # every model; rewrites this table",
    "python scripts/benchmark_ml100k.py --only ease,aws-sims  # some models, printed only",
    "python scripts/benchmark_ml100k.py --seed 7 --peers-only",
    "# slow models in separate runs, one table:",
    "python scripts/benchmark_ml100k.py --only aws-user-personalization --results rows.json",
    "python scripts/benchmark_ml100k.py --report-only --results rows.json",
    "# other data: a folder with interactions.csv (and items.csv, users.csv)",
    "python scripts/benchmark_ml100k.py --data my_data/ --output my_data.md",
    "# the recipes tuned by performHPO, as the peers are tuned",
    "python scripts/benchmark_ml100k.py --only aws-user-personalization,ease --perform-hpo",
    "```",
    "",
    "The first run downloads the recbole wheel (about 2 MB) into `~/.cache/augury` "
    "(`AUGURY_CACHE` or `--cache` move it); nothing else is fetched.",
]


def write_section(path: Path, name: str, text: str) -> None:
    """Replace (or append) the ``<!-- name:start -->...<!-- name:end -->`` part of a report."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        updated = before + block + after
    else:
        updated = current.rstrip() + ("\n\n" if current else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated, encoding="utf-8")


def _comparisons(results: Sequence[Result]) -> list[str]:
    done = {r.model: r for r in results if r.status == "ok"}
    peers = [done[name] for name in PEERS if name in done]
    augury = [done[name] for name in AUGURY if name in done]
    if not peers or not augury:
        return []
    key = "normalized_discounted_cumulative_gain_at_10"
    best = max(peers, key=lambda r: r.metrics[key])
    lines = ["## NDCG@10 against the peers", ""]
    lines.append(f"Best peer: {best.model} ({best.metrics[key]:.4f}).")
    lines.append("")
    lines.append("| Recipe | NDCG@10 | Compared with | Its NDCG@10 | Ahead |")
    lines.append("|---|---:|---|---:|---|")
    for result in augury:
        peer = done.get(CLOSEST_PEER.get(result.model, ""), best)
        ahead = "yes" if result.metrics[key] >= peer.metrics[key] else "no"
        lines.append(
            f"| {result.model} | {result.metrics[key]:.4f} | {peer.model} | "
            f"{peer.metrics[key]:.4f} | {ahead} |"
        )
    return lines


def _versions() -> str:
    parts = []
    for module in ("implicit", "torch"):
        try:
            parts.append(f"{module} {__import__(module).__version__}")
        except Exception:
            continue
    return "".join(f", {part}" for part in parts)


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


# -------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", help="comma-separated models (default: all)")
    parser.add_argument("--peers-only", action="store_true", help="only the peers")
    parser.add_argument("--seed", type=int, default=42, help="the split's (and models') seed")
    parser.add_argument("--cache", type=Path, help="folder for the recbole wheel")
    parser.add_argument(
        "--data",
        type=Path,
        help="benchmark this folder of Personalize CSVs instead of ml-100k: interactions.csv "
        "and, optionally, items.csv and users.csv (see the module docstring)",
    )
    parser.add_argument(
        "--hyperparameters",
        default="{}",
        help='JSON: recipe -> its algorithm hyperparameters, e.g. {"aws-sims": {"k": "50"}}',
    )
    parser.add_argument(
        "--perform-hpo",
        action="store_true",
        help="train the Augury recipes with performHPO over their default ranges, as the "
        "peers are tuned on a validation split (their training time includes the search)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write the report here (default: docs/benchmarks/ml100k.md when running all)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="JSON file collecting rows across runs: the report shows every model saved there",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: render the rows saved in --results",
    )
    parser.add_argument(
        "--in-process", action="store_true", help="no process per model (debugging)"
    )
    args = parser.parse_args(argv)
    if args.only:
        args.models = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in args.models if name not in ALL_MODELS]
        if unknown:
            parser.error(
                f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(ALL_MODELS)}"
            )
    else:
        args.models = list(PEERS if args.peers_only else ALL_MODELS)
    if args.report_only:
        if not args.results or not args.results.exists():
            parser.error("--report-only needs --results with a saved file")
        args.models = []
    if args.output is None and not args.only and not args.peers_only and args.data is None:
        args.output = ROOT / "docs" / "benchmarks" / "ml100k.md"
    args.hyperparameters = json.loads(args.hyperparameters)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from augury.personalize.recipes import RECIPES

    args = parse_args(argv)
    source = Source(args.cache, args.data)
    bench = load_bench(args.seed, source)  # fetch the wheel once, before the workers
    command = "python scripts/benchmark_ml100k.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    commands = [command.strip()]
    ran: list[Result] = []
    results: list[Result] = ran
    if args.report_only:
        results, commands = merge_results(args.results, args.seed, [], [], source.name)
    for name in args.models:
        print(f"running {name} ...", flush=True)
        hyperparameters = {str(k): str(v) for k, v in args.hyperparameters.get(name, {}).items()}
        runner = run_model if args.in_process else run_isolated
        hpo = args.perform_hpo and name in AUGURY and bool(RECIPES[name].tunable)
        result = runner(name, args.seed, source, hyperparameters, hpo)
        print(
            f"  {result.status}  NDCG@10 {_number(result.metrics.get(TUNING_METRIC))}  "
            f"train {_number(result.train_seconds, 1)} s  peak {_number(result.peak_mib, 0)} MiB",
            flush=True,
        )
        ran.append(result)
        if args.results:  # saved after every model: a long run keeps what it finished
            results, commands = merge_results(
                args.results, args.seed, ran, [command.strip()], source.name
            )
    report = render(results, bench, args.seed, "`, `".join(commands), source)
    print()
    print(report)
    if args.output:
        write_section(args.output, SECTION, report)
        print(f"wrote the {SECTION} section of {args.output}")
    return 0 if all(r.status == "ok" for r in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
