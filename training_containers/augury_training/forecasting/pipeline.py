"""The training pipeline shared by the container and the in-memory API.

Pass 1 backtests every candidate on every item, in worker processes, batch
by batch; the parent adds each batch to the window metrics of every candidate
and to the global score of every candidate combination, and spills the
batch's forecasts to a scratch file (memory holds one batch, not the dataset).
Between the passes the ensemble picks its global combination. Pass 2 reads
the spill back and, item by item, sets the weights, scores the ensemble and
hands everything per item to a sink (Parquet files in the container, nothing
in memory for a benchmark).
"""

from __future__ import annotations

import functools
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import numpy as np

from augury_training.forecast_contract import (
    AlgorithmResult,
    ForecastJobConfig,
    PredictorSummary,
    WindowMetrics,
)
from augury_training.forecasting.backtest import (
    BacktestPlan,
    ItemBacktest,
    Window,
    backtest_batch,
    plan_windows,
    quantile_levels,
)
from augury_training.forecasting.data import DataError, DatasetInfo, Series
from augury_training.forecasting.ensemble import (
    AUTO_PREDICTOR,
    DEFAULT_CANDIDATES,
    AutoPredictorResult,
    EnsembleBuilder,
    EnsembleParams,
)
from augury_training.forecasting.global_candidates import (
    GlobalBacktest,
    GlobalForecaster,
    deep_eligibility,
    global_names,
    is_global,
)
from augury_training.forecasting.grid import Grid
from augury_training.forecasting.parallel import map_batches
from augury_training.forecasting.predict import ForecastPlan, forecast_batch
from augury_training.forecasting.scoring import Sums, finalize, window_sums


class Sink(Protocol):
    """Receives each item's backtest outcome in pass 2."""

    def item(
        self,
        item: ItemBacktest,
        weights: np.ndarray,
        final: list[np.ndarray],
        metrics: list[tuple[int, str, dict]],
    ) -> None: ...


def progress(message: str) -> None:
    """A progress line for the job log (stdout is the log)."""
    print(f"[forecasting] {message}", flush=True)


class _Spill:
    """Pass 1's batches, pickled one after another to a scratch file."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="augury-backtest-")  # noqa: SIM115

    def add(self, items: list[ItemBacktest]) -> None:
        pickle.dump(items, self._file, protocol=pickle.HIGHEST_PROTOCOL)

    def __iter__(self) -> Iterator[list[ItemBacktest]]:
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)
            except EOFError:
                return

    def close(self) -> None:
        self._file.close()


class Trainer:
    """Backtests the candidates, builds the ensemble and summarises it."""

    def __init__(
        self,
        config: ForecastJobConfig,
        candidates: list[str],
        windows: list[Window],
        *,
        params: EnsembleParams | None = None,
        model_factory: Callable | None = None,
        workers: int | None = None,
        log: Callable[[str], None] = progress,
        global_backtest: GlobalBacktest | None = None,
    ) -> None:
        self.config = config
        self.global_backtest = global_backtest
        """The global candidates' backtest forecasts, computed before :meth:`run`."""
        self.plan = BacktestPlan(config, tuple(candidates), tuple(windows), model_factory)
        self.levels = quantile_levels(config.forecast_types)
        self.builder = EnsembleBuilder(
            candidates, self.levels, config.optimization_metric, params, auto=config.auto
        )
        self.workers = workers
        self.log = log
        self.grid = Grid(config.frequency, config.time_alignment_boundary)
        shape = (len(candidates),)
        self._candidate_sums = {w.index: Sums.zeros(shape, self.levels.size) for w in windows}
        self._ensemble_sums = {w.index: Sums.zeros((), self.levels.size) for w in windows}
        self.items = 0
        self._longest: tuple[int, str] = (0, "")

    def _watch(self, batches: Iterable[list[Series]]) -> Iterator[list[Series]]:
        for batch in batches:
            for series in batch:
                self._longest = max(self._longest, (len(series), series.key))
            yield batch

    def run(self, batches: Iterable[list[Series]], sink: Sink | None = None) -> PredictorSummary:
        started = time.monotonic()
        spill = _Spill()
        try:
            work = functools.partial(backtest_batch, plan=self.plan)
            for number, items in enumerate(
                map_batches(work, self._watch(batches), self.workers), 1
            ):
                for item in items:
                    if self.global_backtest is not None:
                        self.global_backtest.inject(item)
                    for result in item.windows:
                        stacked = np.stack([result.forecasts[c] for c in self.plan.candidates])
                        self._candidate_sums[result.window] += window_sums(
                            result.actual, stacked, result.scale, self.levels
                        )
                    self.builder.observe(item)
                self.items += len(items)
                spill.add(items)
                self.log(
                    f"backtest batch {number}: {self.items} items, "
                    f"{time.monotonic() - started:.1f} s"
                )
            self._check_windows()
            self.builder.choose_global()
            for items in spill:
                for item in items:
                    self._finish_item(item, sink)
        finally:
            spill.close()
        self.log(f"ensemble built for {self.items} items in {time.monotonic() - started:.1f} s")
        return self.summary(time.monotonic() - started)

    def _check_windows(self) -> None:
        for window in self.plan.windows:
            if int(self._candidate_sums[window.index].items[0]) == 0:
                length, key = self._longest
                start = str(self.grid.timestamps(window.cutoff))[:19]
                raise DataError(
                    f"no item has data before backtest window {window.index + 1} (starting "
                    f"{start}): the longest item, {key.replace(chr(31), '/')!r}, has {length} "
                    f"points; the horizon is {self.config.horizon} and the windows need "
                    f"{self.plan.windows[-1].cutoff - window.cutoff + window.horizon} points "
                    "at the end of each series plus some history; import more history, shorten "
                    "the horizon or use fewer backtest windows"
                )

    def _finish_item(self, item: ItemBacktest, sink: Sink | None) -> None:
        weights = self.builder.item_weights(item)
        final = self.builder.ensemble_windows(item, weights)
        metrics: list[tuple[int, str, dict]] = []
        types = self.config.forecast_types
        for result, forecast in zip(item.windows, final, strict=True):
            sums = window_sums(result.actual, forecast, result.scale, self.levels)
            self._ensemble_sums[result.window] += sums
            if sink is None:
                continue
            stacked = np.stack([result.forecasts[c] for c in self.plan.candidates])
            per_candidate = window_sums(result.actual, stacked, result.scale, self.levels)
            for index, name in enumerate(self.plan.candidates):
                metrics.append((result.window, name, finalize(per_candidate[index], types)))
            if self.config.auto:
                metrics.append((result.window, AUTO_PREDICTOR, finalize(sums, types)))
        if sink is not None:
            sink.item(item, weights, final, metrics)

    def window_bounds(self, window: Window) -> tuple[str, str]:
        """ISO start and (exclusive) end of a window's test period."""
        start, end = self.grid.timestamps(np.array([window.cutoff, window.cutoff + window.horizon]))
        return str(start)[:19], str(end)[:19]

    def _metrics(self, window: Window, sums: Sums) -> WindowMetrics:
        values = finalize(sums, self.config.forecast_types)
        start, end = self.window_bounds(window)
        return WindowMetrics(
            test_window_start=start,
            test_window_end=end,
            item_count=values["points"],
            weighted_quantile_losses={k: v for k, v in values["wql"].items() if v is not None},
            wape=values["wape"],
            rmse=values["rmse"],
            mape=values["mape"],
            mase=values["mase"],
            average_weighted_quantile_loss=values["average_wql"],
        )

    def summary(self, seconds: float) -> PredictorSummary:
        results = [
            AlgorithmResult(
                name,
                [self._metrics(w, self._candidate_sums[w.index][i]) for w in self.plan.windows],
            )
            for i, name in enumerate(self.plan.candidates)
        ]
        if self.config.auto:
            results.append(
                AlgorithmResult(
                    AUTO_PREDICTOR,
                    [self._metrics(w, self._ensemble_sums[w.index]) for w in self.plan.windows],
                )
            )
        return PredictorSummary(
            results=results,
            chosen_algorithms=dict(self.builder.chosen.most_common()),
            item_count=self.items,
            training_seconds=round(seconds, 3),
            explanation=self.builder.explanation(self.items, len(self.plan.windows)),
        )


def _in_memory_global(
    items: list[Series],
    config: ForecastJobConfig,
    candidates: list[str],
    windows: list[Window],
    info: DatasetInfo,
    log: Callable[[str], None],
) -> GlobalBacktest | None:
    """The global candidates' backtest (None: none asked for, or too little data)."""
    wanted = global_names(candidates)
    if not wanted:
        return None
    note = ""
    if config.auto:
        eligible, note = deep_eligibility(info, wanted)
        if not eligible:
            log(note)
            return None
    names = sorted({name for s in items for name in (*s.related_names, *s.past_names)})
    deep = GlobalBacktest(
        config,
        wanted,
        windows,
        quantile_levels(config.forecast_types),
        related_fields=names,
        log=log,
        note=note,
    )
    deep.backtest(items, final_fits=len(wanted))
    return deep


class _Collect:
    """A sink that keeps only the weights (the in-memory API)."""

    def __init__(self) -> None:
        self.weights: dict[str, np.ndarray] = {}

    def item(self, item, weights, final, metrics) -> None:
        self.weights[item.key] = weights


def run_in_memory(
    series: Iterable[Series],
    config: ForecastJobConfig,
    *,
    workers: int | None = None,
    params: EnsembleParams | None = None,
    model_factory: Callable | None = None,
    batch_items: int = 32,
    keep_candidates: bool = False,
) -> AutoPredictorResult:
    """Backtest, ensemble and forecast series held in memory (benchmarks, notebooks).

    The future is forecast only by candidates with a weight, unless
    ``keep_candidates`` asks for every candidate's forecast too.
    """
    items = list(series)
    if not items:
        raise DataError("no series to train on")
    candidates = list(dict.fromkeys(config.algorithms)) or list(DEFAULT_CANDIDATES)
    end = max(s.start + len(s) - 1 for s in items)
    if any(s.start + len(s) - 1 != end for s in items):
        raise DataError("every series must end at the same grid point (the global end)")
    observed = sum(int(np.isfinite(s.y).sum()) for s in items)
    keys = {s.key for s in items}
    info = DatasetInfo(min(s.start for s in items), end, observed, keys, [()], len(keys))
    windows = plan_windows(info, config)
    log = functools.partial(print, file=sys.stderr, flush=True)
    deep = _in_memory_global(items, config, candidates, windows, info, log)
    if deep is None:
        candidates = [name for name in candidates if not is_global(name)]
    trainer = Trainer(
        config,
        candidates,
        windows,
        params=params,
        model_factory=model_factory,
        workers=workers,
        log=log,
        global_backtest=deep,
    )
    collect = _Collect()
    batches = [items[i : i + batch_items] for i in range(0, len(items), batch_items)]
    summary = trainer.run(batches, collect)
    global_forecasts: dict[str, dict[str, np.ndarray]] = {}
    if deep is not None:
        weights = dict(zip(candidates, trainer.builder.global_weights, strict=True))
        final = [n for n in deep.names if keep_candidates or weights[n] > 0]
        models = deep.fit_final(items, final)
        forecaster = GlobalForecaster(models, config, trainer.levels, deep.series_sets())
        global_forecasts = forecaster.forecast(items)
        summary.explanation = f"{summary.explanation} {deep.describe()}".strip()
    plan = ForecastPlan(
        trainer.plan,
        {key: tuple(w) for key, w in collect.weights.items()},
        tuple(trainer.builder.global_weights),
        keep_candidates=keep_candidates,
    )
    forecasts: dict[str, np.ndarray] = {}
    per_candidate: dict[str, dict[str, np.ndarray]] = {name: {} for name in candidates}
    work = functools.partial(forecast_batch, plan=plan, global_forecasts=global_forecasts)
    for results in map_batches(work, batches, workers):
        for result in results:
            forecasts[result.key] = result.forecast
            for name, array in (result.candidates or {}).items():
                per_candidate[name][result.key] = array
    return AutoPredictorResult(
        forecasts=forecasts,
        candidate_forecasts=per_candidate,
        weights={
            key: dict(zip(candidates, map(float, w), strict=True))
            for key, w in collect.weights.items()
        },
        summary=summary,
        columns=["mean", *[t for t in config.forecast_types if t != "mean"]],
    )
