"""Forecast mode: refit every item with its weights, forecast the horizon, write shards.

The ``model`` channel holds what train mode wrote (the predictor's
``model.tar.gz`` contents, or the archive itself). Every item of the target
gets its ensemble's forecast; items trained after the predictor was (new in
the data) get the global combination; new items known only from the item
metadata, and items whose target rows hold no value, get a cold-start forecast
(``coldstart``). Output:
``forecast/shard=<k>.parquet`` with ``k = shard_of(item key)``, all shards
written even when empty.
"""

from __future__ import annotations

import functools
import json
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from augury_training.contract import TrainPaths
from augury_training.forecast_contract import MODEL_CHANNEL, ForecastJobConfig
from augury_training.forecasting.backtest import BacktestPlan, check_limits, quantile_levels
from augury_training.forecasting.coldstart import ColdStart, job_levels, level_columns, mixture
from augury_training.forecasting.data import DataError, ForecastData, Series, batch_items_for
from augury_training.forecasting.ensemble import combine
from augury_training.forecasting.global_candidates import (
    GlobalForecaster,
    load_models,
)
from augury_training.forecasting.grid import Grid
from augury_training.forecasting.outputs import ENSEMBLE_FILE, WEIGHTS_FILE, ShardWriter
from augury_training.forecasting.parallel import map_batches, worker_count
from augury_training.forecasting.partition import KEY_SEPARATOR
from augury_training.forecasting.pipeline import progress
from augury_training.forecasting.predict import ForecastPlan, ItemForecast, forecast_batch
from augury_training.forecasting.related import check_future_values

NETWORK_SHARE = 1 / 3
"""The global models' part in a new item's mixture with its neighbours' (the rest).

The network's forecast alone is the weaker of the two (0.4059 against 0.3191 from
the neighbours, retail check, CNN-QR, 60 new items), and an equal mixture of two
forecasts is wider than either. New items' mean wQL on the retail check
(``scripts/check_forecast_deep.py --items 200 --days 400 --epochs 40``, CNN-QR),
with 20 new items / 60 / 60 on another seed: a third 0.3171 / 0.3084 / 0.3584,
half 0.3358 / 0.3155 / 0.3641, the neighbours alone 0.3307 / 0.3191 / 0.3542.
The share was chosen on the first two datasets; the last was run after the choice.
"""


class TrainedModel:
    """The predictor's ensemble: candidates, global weights, per-item weights."""

    def __init__(self, directory: Path, config: ForecastJobConfig) -> None:
        ensemble = directory / ENSEMBLE_FILE
        if not ensemble.exists():
            raise DataError(
                f"the model channel has no {ENSEMBLE_FILE}: it must hold the files of a "
                "predictor trained by this container"
            )
        document = json.loads(ensemble.read_text(encoding="utf-8"))
        self.candidates: list[str] = document["candidates"]
        self.global_weights = tuple(float(w) for w in document["global_weights"])
        self.global_models, self.inputs = load_models(
            directory, document.get("global_models", []), config
        )
        self._rows: dict[str, int] = {}
        self._matrix = np.zeros((0, len(self.candidates)))
        weights = directory / WEIGHTS_FILE
        if weights.exists():
            table = pq.read_table(weights, columns=["item_key", *self.candidates])
            self._rows = {key: row for row, key in enumerate(table.column("item_key").to_pylist())}
            self._matrix = np.column_stack(
                [table.column(name).to_numpy() for name in self.candidates]
            ).reshape(table.num_rows, len(self.candidates))

    def weights_for(self, batch: list[Series]) -> dict[str, tuple[float, ...]]:
        """The trained weights of the batch's items (items unknown at training are absent)."""
        return {s.key: tuple(self._matrix[self._rows[s.key]]) for s in batch if s.key in self._rows}


def model_directory(channel: Path, scratch: Path) -> Path:
    """Where the trained files are: the channel itself, or its extracted model.tar.gz."""
    if (channel / ENSEMBLE_FILE).exists():
        return channel
    archive = channel / "model.tar.gz"
    if archive.exists():
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(scratch, filter="data")
        return scratch
    return channel


def _task(task: tuple[list[Series], dict, dict], plan: ForecastPlan):
    batch, weights, global_forecasts = task
    return forecast_batch(batch, plan, weights, global_forecasts)


def blend_cold_start(
    neighbours: list[tuple[tuple[str, ...], np.ndarray]],
    models: list[tuple[tuple[str, ...], np.ndarray]],
    grid: Sequence[float],
    levels: Sequence[float],
) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """New items' forecasts at ``levels``: the mixture (:func:`.coldstart.mixture`) of
    the statistical cold start (items sharing the metadata) and the global models'
    own, where both exist; both come at the mixture's ``grid`` of levels.

    The two err differently: the network learns what a category sells from every
    series but gives a new item its category's typical level, while the neighbours'
    mixture copies the nearest items and spans their levels. A mixture keeps both
    as possible outcomes, the network's in a smaller part (:data:`NETWORK_SHARE`),
    which protects a new item whose neighbours are a poor guide. Taken on the grid,
    the mixture does not depend on the levels asked for (:mod:`.coldstart`).
    """
    members = {identity: [(array, NETWORK_SHARE)] for identity, array in models}
    for identity, array in neighbours:
        members.setdefault(identity, []).append((array, 1.0 - NETWORK_SHARE))
    grid_levels, wanted = np.asarray(grid, dtype=float), np.asarray(levels, dtype=float)
    blended = []
    for identity, pairs in members.items():
        arrays, shares = zip(*pairs, strict=True)
        blended.append((identity, mixture(np.stack(arrays), grid_levels, wanted, shares)))
    return blended


def _cold_from_models(
    forecaster: GlobalForecaster,
    model: TrainedModel,
    cold: ColdStart,
    data: ForecastData,
) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """New items (and empty series) forecast by the predictor's global models from their
    metadata and their related features over the horizon, combined with the models'
    global weights (equal weights if none has any), at the cold start's levels."""
    info = data.info
    targets = cold.targets
    keys = [KEY_SEPARATOR.join((item, *dims)) for item, dims in targets]
    related = data.new_item_related(keys)
    per_item = forecaster.cold(
        [cold.metadata[item] for item, _ in targets],
        info.global_end + 1,
        [related.get(key, (None, ())) for key in keys],
    )
    names = [n for n in model.candidates if n in per_item[0]] if per_item else []
    if not names:
        return []
    weights = np.array([model.global_weights[model.candidates.index(n)] for n in names])
    if weights.sum() <= 0:
        weights = np.ones(len(names))
    columns = level_columns(forecaster.levels, cold.levels)
    return [
        ((item, *dims), combine(forecasts, names, weights)[:, columns])
        for (item, dims), forecasts in zip(targets, per_item, strict=True)
    ]


def forecast(paths: TrainPaths, config: ForecastJobConfig, *, workers: int | None = None) -> None:
    """Write every item's (and every new item's) forecast of the horizon."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="augury-model-") as scratch:
        model = TrainedModel(model_directory(paths.channel(MODEL_CHANNEL), Path(scratch)), config)
    grid = Grid(config.frequency, config.time_alignment_boundary)
    with ForecastData(paths, config) as data:
        info = data.info
        check_limits(info, config, backtest=False)
        # the target may have grown since training: its horizon must still be covered
        check_future_values(config, info.related_ends, data.related_fillings, info.global_end, grid)
        data.batch_items = batch_items_for(info, config.horizon, 0, worker_count(workers))
        dates = grid.timestamps(info.global_end + 1 + np.arange(config.horizon))
        new_items = {i: m for i, m in data.metadata.items() if i not in info.item_ids}
        # target rows without one value give no history: forecast such items as new ones,
        # and an item's empty series (one store of several) as new in that store
        new_items.update({i: data.metadata.get(i, {}) for i in info.items_without_values})
        empty_series = {s: data.metadata.get(s[0], {}) for s in info.series_without_values}
        levels = quantile_levels(config.forecast_types)
        computed = job_levels(levels, bool(new_items or empty_series))
        computing = replace(config, forecast_types=[f"{level:g}" for level in computed])
        plan = ForecastPlan(
            BacktestPlan(computing, tuple(model.candidates)), {}, model.global_weights
        )
        written = level_columns(computed, levels)
        cold = ColdStart(new_items, info.dimension_values, computed, empty_series=empty_series)
        forecaster = GlobalForecaster(model.global_models, computing, computed, model.inputs)
        unvalued = (
            f" ({len(info.items_without_values)} of them in the target without a value)"
            if info.items_without_values
            else ""
        )
        empty = f", {len(empty_series)} empty series of other items" if empty_series else ""
        progress(
            f"forecasting {len(info.item_ids - info.items_without_values)} item ids from "
            f"{dates[0]!s:.19} ({config.horizon} steps), {len(new_items)} new item(s) from "
            f"metadata{unvalued}{empty}"
        )
        shards = ShardWriter(paths.model_dir, config.identity_fields, list(config.forecast_types))
        tasks = (
            (batch, model.weights_for(batch), forecaster.forecast(batch))
            for batch in data.batches()
        )
        results: list[ItemForecast]
        for number, results in enumerate(
            map_batches(functools.partial(_task, plan=plan), tasks, workers), 1
        ):
            for result in results:
                shards.add(result.identity, dates, result.forecast[:, written])
            cold.observe(results)
            progress(
                f"forecast batch {number}: {shards.items} items, {time.monotonic() - started:.1f} s"
            )
        if shards.items == 0:
            raise DataError("the target time series has no item with a value to forecast from")
        from_models = (
            _cold_from_models(forecaster, model, cold, data)
            if model.global_models and cold.targets
            else []
        )
        cold_forecasts = blend_cold_start(cold.forecasts(), from_models, cold.levels, levels)
        for identity, array in cold_forecasts:
            shards.add(identity, dates, array)
        shards.close()
    progress(f"wrote forecasts of {shards.items} items in {time.monotonic() - started:.1f} s")
