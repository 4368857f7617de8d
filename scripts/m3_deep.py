"""The deep rows of the M3 benchmark: DeepAR+, CNN-QR, and the AutoPredictor with them.

Each deep model is the forecasting container's own class
(``augury_training.forecasting.deep``), trained once per M3 frequency group on
every series of the group (they are global models), with the group's horizon,
then asked for P10/P50/P90 and the mean. ``budget`` seconds are shared between
the groups in proportion to their number of points, and each fit stops between
two batches when its share is spent, so a CPU-only machine finishes in a known
time; on a GPU the same code runs with mixed precision and rarely needs it.

The row's device is where the networks trained (``cuda`` or ``cpu``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from peak_memory import MemorySampler

DEEP_MODELS = ("Deep_AR_Plus", "CNN-QR")
AUTOPREDICTOR_DEEP = "AutoPredictor+deep"


def _threads(jobs: int) -> None:
    """The benchmark pins BLAS to one thread per process; a deep model uses ``jobs``."""
    import torch

    torch.set_num_threads(max(1, jobs))


def deep_shares(groups: list[Any], budget: float | None) -> list[float | None]:
    """``budget`` split between the groups in proportion to their points."""
    if budget is None:
        return [None] * len(groups)
    points = np.array([sum(map(len, g.train)) for g in groups], dtype=float)
    return list(budget * points / points.sum())


def run_deep_model(
    name: str, groups: list[Any], jobs: int, budget: float | None, run_type: Any, forecasts: Any
) -> Any:
    """One deep model over every group of the data (``run_type``/``forecasts``: its records)."""
    from augury_training.forecasting.deep.windows import SeriesSet
    from augury_training.forecasting.global_candidates import new_model
    from augury_training.torch_runtime import training_device

    _threads(jobs)
    run = run_type(name)
    run.device = training_device().type
    started = time.perf_counter()
    with MemorySampler() as memory:
        for group, share in zip(groups, deep_shares(groups, budget), strict=True):
            spec = group.spec
            data = SeriesSet([np.asarray(y, dtype=np.float32) for y in group.train], spec.frequency)
            model = new_model(name, {})
            model.fit(
                data,
                spec.horizon,
                seed=0,
                time_budget_seconds=share,
                log=lambda line: print(line, file=sys.stderr, flush=True),
            )
            if model.summary.get("stopped_by_time_budget"):
                run.status = "stopped by its time budget"
            result = model.predict(data, (0.1, 0.5, 0.9), seed=0)
            run.forecasts[spec.name] = forecasts(
                np.asarray(result.mean, dtype=float),
                {q: np.asarray(result.quantiles[q], dtype=float) for q in (0.1, 0.5, 0.9)},
            )
    run.wall_seconds = time.perf_counter() - started
    run.peak_mib = memory.peak_mib
    run.mean_load = memory.mean_load
    return run


def save_run(run: Any, folder: Path) -> None:
    """Keep a finished row (forecasts and costs) so later invocations can report it too."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for group, forecast in run.forecasts.items():
        arrays[f"{group}|mean"] = forecast.mean
        for q, values in forecast.quantiles.items():
            arrays[f"{group}|{q}"] = values
    np.savez_compressed(folder / f"{run.model}.npz", **arrays)
    fields = ("model", "status", "wall_seconds", "peak_mib", "mean_load", "device")
    (folder / f"{run.model}.json").write_text(json.dumps({f: getattr(run, f) for f in fields}))


def load_runs(folder: Path, run_type: Any, forecasts: Any) -> list[Any]:
    """The rows :func:`save_run` kept, in the order they were saved."""
    runs = []
    for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime):
        run = run_type(**json.loads(path.read_text()))
        with np.load(path.with_suffix(".npz")) as arrays:
            groups = {key.split("|")[0] for key in arrays.files}
            for group in groups:
                run.forecasts[group] = forecasts(
                    arrays[f"{group}|mean"],
                    {q: arrays[f"{group}|{q}"] for q in (0.1, 0.5, 0.9)},
                )
        runs.append(run)
    return runs
