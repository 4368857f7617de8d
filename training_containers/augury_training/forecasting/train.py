"""The forecasting container's ``main``: read the job's configuration, train or forecast.

``python -m augury_training.forecasting`` runs :func:`main` under the SageMaker
contract (``run_training``): any exception becomes ``output/failure`` and a
non-zero exit, so the control plane shows the message as the predictor's (or
forecast's) FailureReason. Problems with the configuration or the data raise
:class:`ConfigError` / ``DataError`` with a message meant for the user.

Train mode writes, under ``model/`` (see ``forecast_contract``)::

    predictor.json                       PredictorSummary
    backtest/window=<i>/part-0.parquet   the final predictor's backtest forecasts
    backtest/item_metrics.parquet        per item, window and algorithm
    model/weights.parquet                per item: the weight of every candidate
    model/ensemble.json                  candidates, global weights, the scheme
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from augury_training.contract import ClientError, TrainPaths
from augury_training.forecast_contract import (
    ALGORITHMS,
    CONFIG_HYPERPARAMETER,
    MEAN,
    PREDICTOR_SUMMARY_FILE,
    ForecastJobConfig,
)
from augury_training.forecasting.backtest import (
    backtest_offset,
    check_limits,
    plan_windows,
    quantile_levels,
)
from augury_training.forecasting.data import ForecastData, batch_items_for
from augury_training.forecasting.ensemble import DEFAULT_CANDIDATES, EnsembleParams
from augury_training.forecasting.global_candidates import (
    GlobalBacktest,
    deep_eligibility,
    global_names,
    is_global,
    new_model,
    save_models,
)
from augury_training.forecasting.grid import Frequency
from augury_training.forecasting.models.registry import get_model
from augury_training.forecasting.outputs import ENSEMBLE_FILE, BacktestWriter
from augury_training.forecasting.parallel import worker_count
from augury_training.forecasting.pipeline import Trainer, progress
from augury_training.forecasting.related import check_future_values
from augury_training.forecasting.scoring import OPTIMIZATION_METRICS

MAX_FORECAST_TYPES = 5


class ConfigError(ClientError):
    """The job's configuration is unusable; the message says which field and why."""


def load_config(hyperparameters: dict[str, str]) -> ForecastJobConfig:
    """The job configuration from its one hyperparameter, checked field by field."""
    if CONFIG_HYPERPARAMETER not in hyperparameters:
        raise ConfigError(
            f"the training job has no {CONFIG_HYPERPARAMETER!r} hyperparameter: the forecasting "
            "container needs the predictor configuration as JSON"
        )
    try:
        config = ForecastJobConfig.from_hyperparameters(hyperparameters)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"the {CONFIG_HYPERPARAMETER!r} hyperparameter is not JSON: {exc}"
        ) from exc
    except TypeError as exc:
        raise ConfigError(f"the job configuration is not valid: {exc}") from exc
    validate(config)
    return config


def validate(config: ForecastJobConfig) -> None:
    """Amazon's rules on the predictor's settings that need no data."""
    if config.mode not in ("train", "forecast"):
        raise ConfigError(f"mode must be 'train' or 'forecast', not {config.mode!r}")
    try:
        Frequency.parse(config.frequency)
    except ValueError as exc:
        raise ConfigError(f"ForecastFrequency: {exc}") from exc
    if not isinstance(config.horizon, int) or config.horizon < 1:
        raise ConfigError(f"ForecastHorizon must be a positive integer, not {config.horizon!r}")
    types = list(config.forecast_types)
    if not types or len(set(types)) != len(types):
        raise ConfigError(f"ForecastTypes must be distinct and not empty: {types}")
    if len([t for t in types if t != MEAN]) > MAX_FORECAST_TYPES:
        raise ConfigError(f"ForecastTypes holds at most {MAX_FORECAST_TYPES} quantiles: {types}")
    for forecast_type in types:
        if forecast_type == MEAN:
            continue
        try:
            level = float(forecast_type)
        except ValueError:
            level = -1.0
        if not 0.01 <= level <= 0.99 or len(forecast_type.split(".")[-1]) > 2:
            raise ConfigError(
                f"ForecastTypes value {forecast_type!r} is not valid: use 'mean' or a quantile "
                "from 0.01 to 0.99 with at most two decimals"
            )
    if config.optimization_metric not in OPTIMIZATION_METRICS:
        raise ConfigError(
            f"OptimizationMetric {config.optimization_metric!r} is not one of "
            f"{', '.join(OPTIMIZATION_METRICS)}"
        )
    for name in candidates(config):
        if name not in ALGORITHMS:
            raise ConfigError(f"algorithm {name!r} is not one of {', '.join(ALGORITHMS)}")
        try:  # bad names and hyperparameters fail now, before any data is read
            if is_global(name):
                new_model(name, config.hyperparameters)
            else:
                get_model(name, config.hyperparameters)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc


def candidates(config: ForecastJobConfig) -> list[str]:
    """The algorithms to backtest: the configured ones, else Augury's defaults."""
    return list(dict.fromkeys(config.algorithms)) or list(DEFAULT_CANDIDATES)


def main(paths: TrainPaths, hyperparameters: dict[str, str]) -> None:
    """The container's entry point (see ``__main__``)."""
    config = load_config(hyperparameters)
    progress(
        f"{config.mode} job: frequency {config.frequency}, horizon {config.horizon}, "
        f"algorithms {', '.join(candidates(config))}"
    )
    if config.mode == "train":
        train(paths, config)
    else:
        from augury_training.forecasting.forecast_job import forecast

        forecast(paths, config)


def train(
    paths: TrainPaths,
    config: ForecastJobConfig,
    *,
    params: EnsembleParams | None = None,
    workers: int | None = None,
) -> None:
    """Backtest every candidate, build the ensemble, write ``model/``."""
    started = time.monotonic()
    names = candidates(config)
    with ForecastData(paths, config) as data:
        info = data.info
        progress(
            f"read {info.rows} rows: {len(info.item_ids)} item ids over {info.length} "
            f"{config.frequency} steps, {len(data.related_fields)} related feature(s), "
            f"{len(data.metadata)} metadata rows"
        )
        check_limits(info, config, backtest=True)
        check_future_values(
            config, info.related_ends, data.related_fillings, info.global_end, data.grid
        )
        windows = plan_windows(info, config)
        data.batch_items = batch_items_for(
            info, config.horizon, len(windows), worker_count(workers)
        )
        names, deep, note = _global_candidates(config, names, windows, data)
        trainer = Trainer(
            config, names, windows, params=params, workers=workers, global_backtest=deep
        )
        writer = BacktestWriter(
            paths.model_dir,
            config.identity_fields,
            config.target_field,
            list(config.forecast_types),
            names,
            windows,
            {w.index: trainer.window_bounds(w) for w in windows},
        )
        for window in windows:
            ordinals = window.cutoff + np.arange(window.horizon)
            writer.set_timestamps(window.index, trainer.grid.timestamps(ordinals))
        try:
            summary = trainer.run(data.batches(), writer)
        finally:
            writer.close()
        global_models: list[str] = []
        if deep is None and note:
            summary.explanation = f"{summary.explanation} {note}".strip()
        if deep is not None:
            weights = dict(zip(names, trainer.builder.global_weights, strict=True))
            global_models = [name for name in deep.names if weights[name] > 0]
            series = [s for batch in data.batches() for s in batch]
            save_models(deep.fit_final(series, global_models), deep.series_sets(), paths.model_dir)
            summary.explanation = " ".join(
                part for part in (summary.explanation, deep.describe()) if part
            )
            if not config.auto and len(deep.names) == 1:
                # what the user (or PerformHPO) set, and what the fit chose on its held-out
                # horizons (context, learning rate...): DescribePredictor shows both
                name = deep.names[0]
                summary.training_parameters = {
                    **deep.hyperparameters[name],
                    **deep.refitted.get(name, {}),
                }
    summary.training_seconds = round(time.monotonic() - started, 3)
    _write_json(
        paths.model_dir / ENSEMBLE_FILE,
        {
            "candidates": names,
            "global_weights": [float(w) for w in trainer.builder.global_weights],
            "params": asdict(trainer.builder.params),
            "optimization_metric": config.optimization_metric,
            "auto": config.auto,
            "frequency": config.frequency,
            "horizon": config.horizon,
            "backtest_windows": len(windows),
            "backtest_offset": backtest_offset(config),
            "global_models": global_models,
        },
    )
    (paths.model_dir / PREDICTOR_SUMMARY_FILE).write_text(summary.to_json(), encoding="utf-8")
    progress(f"trained on {summary.item_count} items in {summary.training_seconds:.1f} s")


def _global_candidates(
    config: ForecastJobConfig, names: list[str], windows: list, data: ForecastData
) -> tuple[list[str], GlobalBacktest | None, str]:
    """The candidates after the deep models' data rule, their backtest when any runs, and
    why they run or sit out (for the explanation).

    An AutoPredictor backtests DeepAR+ and CNN-QR only on data large enough for a
    global model to learn from (``deep_eligibility``); a predictor that names one
    (CreatePredictor's AlgorithmArn) always trains it.
    """
    wanted = global_names(names)
    if not wanted:
        return names, None, ""
    note = ""
    if config.auto:
        eligible, note = deep_eligibility(data.info, wanted)
        if not eligible:
            progress(note)
            kept = [name for name in names if name not in wanted]
            return kept, None, note
    series = [s for batch in data.batches() for s in batch]
    deep = GlobalBacktest(
        config,
        wanted,
        windows,
        quantile_levels(config.forecast_types),
        related_fields=data.related_fields,
        log=progress,
        note=note,
    )
    deep.backtest(series, final_fits=len(wanted))
    return names, deep, ""


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
