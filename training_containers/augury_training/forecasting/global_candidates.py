"""Global candidates (DeepAR+, CNN-QR) in a pipeline built for per-item models.

The classical candidates fit one item at a time in worker processes. A global
model learns from every item at once, so it runs in the parent instead, before
the per-item pass, and its forecasts join each item's backtest as if a worker
had made them (:meth:`GlobalBacktest.inject`). Why it is done this way:

* **No look-ahead.** One model per candidate is fitted on the data before the
  *earliest* backtest window, then forecasts every window from the history up
  to that window's start. No window's test values (or anything after them)
  were seen in training, and the candidates are fitted once, not once per window.
* **The predictor's model.** After the ensemble is chosen, each global
  candidate with any weight is refitted on all the data and saved under
  ``model/deep/<name>.pt`` with the metadata vocabulary it was trained with.
  The forecast job loads it and forecasts from the current data, as Amazon's
  CreateForecast uses the predictor's trained model; cold-start items
  (metadata, no history) are forecast by the model from their metadata.
* **Choices made again.** A deep model without a given context (and, for
  DeepAR+, learning rate; for CNN-QR, seasonal adjustment) fits each candidate
  setting and keeps the one that forecasts its held-out horizons best. The
  final fit chooses again, on held-out horizons one horizon more recent than
  the backtest fit's. Reusing the backtest fit's choices instead halved the
  time of an AutoPredictor on M3 but kept DeepAR+'s slower learning rate on
  its monthly series and forecast worse (sMAPE 12.235 against 12.080,
  docs/benchmarks/forecast_deep.md). The explanation names the settings the
  predictor's models trained with (``chosen_hyperparameters``).
* **Time.** A job's ``time_budget_seconds`` is shared between the fits
  (each model stops between two batches when its share is spent).

Deep models import PyTorch; this module imports it only when a global
candidate is asked for, so classical-only jobs never pay for it.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augury_training.forecast_contract import (
    DEEP_MIN_ITEMS,
    DEEP_MIN_OBSERVATIONS,
    GLOBAL_ALGORITHMS,
    ForecastJobConfig,
)
from augury_training.forecast_hpo import TUNABLE
from augury_training.forecasting.backtest import ItemBacktest, Window, fallback_forecast
from augury_training.forecasting.data import DatasetInfo, Series
from augury_training.forecasting.deep.context_choice import DEFAULT_CONTEXT_HORIZONS, SWITCH_MARGIN
from augury_training.forecasting.grid import Grid

GLOBAL_MODELS: dict[str, tuple[str, str]] = {
    "Deep_AR_Plus": ("augury_training.forecasting.deep.deepar", "DeepARPlus"),
    "CNN-QR": ("augury_training.forecasting.deep.cnnqr", "CNNQR"),
}
"""Amazon algorithm name → (module, class) of the global model that implements it."""

DEEP_DIR = "model/deep"
VOCABULARY_FILE = "model/deep/vocabulary.json"
INPUTS_FILE = "model/deep/inputs.json"


def is_global(name: str) -> bool:
    return name in GLOBAL_ALGORITHMS


def global_names(candidates: Iterable[str]) -> list[str]:
    return [name for name in candidates if is_global(name)]


def deep_eligibility(
    info: DatasetInfo, candidates: Sequence[str] = GLOBAL_ALGORITHMS
) -> tuple[bool, str]:
    """Whether an AutoPredictor's data is large enough for its deep ``candidates``, and why."""
    series, observations = info.series, info.rows
    eligible = series >= DEEP_MIN_ITEMS and observations >= DEEP_MIN_OBSERVATIONS
    one = len(candidates) == 1
    subject = (
        f"The deep model{'' if one else 's'} {' and '.join(candidates)} "
        f"{'was a candidate' if one else 'were candidates'}"
    )
    facts = f"the data has {series} series and {observations} observations"
    if eligible:
        return True, f"{subject} because {facts}."
    return False, (
        f"{subject.replace(' was ', ' was not ').replace(' were ', ' were not ')} because "
        f"{facts}; the deep models join from {DEEP_MIN_ITEMS} series and "
        f"{DEEP_MIN_OBSERVATIONS} observations, below which the statistical models fit each "
        "series better."
    )


def new_model(name: str, hyperparameters: Mapping[str, str]) -> Any:
    """A global model, its hyperparameters validated (``HyperparameterError`` if bad)."""
    from augury_training.torch_runtime import use_all_cores

    use_all_cores()
    module, cls = GLOBAL_MODELS[name]
    return getattr(importlib.import_module(module), cls)(dict(hyperparameters))


def tuning_defaults(name: str, horizon: int) -> dict[str, str]:
    """What the global model ``name`` trains with, for each hyperparameter PerformHPO may
    tune, when TrainingParameters do not say: where its search starts.

    ``context_length`` has no single default (the model tries four horizons and
    one, :mod:`.deep.context_choice`); the search starts from four horizons, the
    one tried first, within the most the model reads.
    """
    params = getattr(new_model(name, {}), "params", None)
    values = {
        key: str(getattr(params, key))
        for key in TUNABLE[name]
        if getattr(params, key, None) is not None
    }
    longest = int(TUNABLE[name]["context_length"].high)
    values.setdefault("context_length", str(min(DEFAULT_CONTEXT_HORIZONS * horizon, longest)))
    return values


def model_path(model_dir: Path, name: str) -> Path:
    return model_dir / DEEP_DIR / f"{name}.pt"


@dataclass
class MetadataVocabulary:
    """Item metadata values → integer codes per field, fixed at training.

    Empty values and values first seen after training map to -1 (the models'
    "unknown" embedding), so a forecast job never fails on a new category.
    """

    fields: list[str]
    values: list[list[str]] = field(default_factory=list)

    @classmethod
    def fit(
        cls, metadata: Iterable[Mapping[str, str]], fields: Sequence[str]
    ) -> MetadataVocabulary:
        seen: list[dict[str, None]] = [{} for _ in fields]
        for row in metadata:
            for j, name in enumerate(fields):
                value = _text(row, name)
                if value:
                    seen[j].setdefault(value, None)
        return cls(list(fields), [sorted(values) for values in seen])

    def encode(self, rows: Sequence[Mapping[str, str]]) -> np.ndarray | None:
        """``(len(rows), fields)`` codes, or ``None`` when there is no metadata field."""
        if not self.fields:
            return None
        lookups = [{value: code for code, value in enumerate(v)} for v in self.values]
        return np.array(
            [
                [
                    lookups[j].get(str(row.get(name, "") or ""), -1)
                    for j, name in enumerate(self.fields)
                ]
                for row in rows
            ],
            dtype=np.int64,
        ).reshape(len(rows), len(self.fields))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fields": self.fields, "values": self.values}), "utf-8")

    @classmethod
    def load(cls, path: Path) -> MetadataVocabulary:
        document = json.loads(path.read_text("utf-8"))
        return cls(document["fields"], document["values"])


def _text(row: Mapping[str, str], name: str) -> str:
    return str(row.get(name, "") or "")


class SeriesSets:
    """Pipeline :class:`Series` → the models' ``SeriesSet``, cut at a grid point."""

    def __init__(
        self,
        config: ForecastJobConfig,
        related_fields: Sequence[str],
        vocabulary: MetadataVocabulary,
        past_fields: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.grid = Grid(config.frequency, config.time_alignment_boundary)
        self.related_fields = list(related_fields)
        """Related features known over the horizon too (every global model reads them)."""
        self.past_fields = list(past_fields)
        """Related features known over the history only (CNN-QR's encoder reads them)."""
        self.vocabulary = vocabulary

    def build(self, series: Sequence[Series], cutoff: int | None = None) -> tuple[Any, list[int]]:
        """The ``SeriesSet`` of every series with an observed value before ``cutoff``
        (all of each series when ``None``), and the indices of the series it holds."""
        from augury_training.forecasting.deep.windows import SeriesSet

        horizon = self.config.horizon
        kept, targets, related, past = [], [], [], []
        for index, item in enumerate(series):
            length = len(item) if cutoff is None else cutoff - item.start
            if length < 1 or np.isnan(item.y[:length]).all():
                continue
            kept.append(index)
            targets.append(np.asarray(item.y[:length], dtype=np.float32))
            related.append(self._related(item, length + horizon))
            past.append(self._past(item, length))
        chosen = [series[i] for i in kept]
        starts = self.grid.timestamps(np.array([s.start for s in chosen], dtype=np.int64))
        return (
            SeriesSet(
                targets,
                self.config.frequency,
                starts=np.asarray(starts).astype("datetime64[ns]"),
                related=related if self.related_fields else None,
                categories=self.vocabulary.encode([s.metadata for s in chosen]),
                past_related=past if self.past_fields else None,
            ),
            kept,
        )

    def cold(
        self,
        metadata: Sequence[Mapping[str, str]],
        forecast_start: int,
        related: Sequence[tuple[np.ndarray | None, tuple[str, ...]]] | None = None,
    ) -> Any:
        """Items with metadata and no history, to be forecast from ``forecast_start``;
        ``related`` holds each one's features over the horizon (and their names), when
        the related dataset has rows for it."""
        from augury_training.forecasting.deep.windows import SeriesSet

        horizon = self.config.horizon
        stamp = self.grid.timestamps(np.array([forecast_start], dtype=np.int64))
        matrices = None
        if self.related_fields:
            features = related or [(None, ())] * len(metadata)
            matrices = [self._columns(X, names, horizon) for X, names in features]
        return SeriesSet(
            [np.zeros(0, dtype=np.float32) for _ in metadata],
            self.config.frequency,
            starts=np.repeat(np.asarray(stamp).astype("datetime64[ns]"), len(metadata)),
            related=matrices,
            categories=self.vocabulary.encode(metadata),
            past_related=(
                [np.zeros((0, len(self.past_fields)), np.float32) for _ in metadata]
                if self.past_fields
                else None
            ),
        )

    def _related(self, item: Series, rows: int) -> np.ndarray:
        return self._columns(item.X, item.related_names, rows)

    def _past(self, item: Series, rows: int) -> np.ndarray:
        """The item's past-only features over its first ``rows`` points (a feature the
        item knows over the horizon too serves here by its history)."""
        matrix = self._columns(item.X, item.related_names, rows, self.past_fields)
        known = self._columns(item.X_past, item.past_names, rows, self.past_fields)
        return np.where(np.isnan(known), matrix, known)

    def _columns(
        self,
        X: np.ndarray | None,
        names: Sequence[str],
        rows: int,
        fields: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Features named ``names`` over ``rows`` points, in the training's column order
        for ``fields`` (default: the related fields); NaN where the item lacks a
        feature, which the models read as the feature's mean."""
        fields = self.related_fields if fields is None else list(fields)
        matrix = np.full((rows, len(fields)), np.nan, dtype=np.float32)
        if X is not None:
            for column, name in enumerate(names):
                if name in fields:
                    matrix[:, fields.index(name)] = X[:rows, column]
        return matrix


def forecast_arrays(forecast: Any, levels: np.ndarray) -> np.ndarray:
    """A model's ``DeepForecast`` as ``(n, h, 1 + L)``: mean, then the quantile levels."""
    columns = [forecast.mean, *[forecast.quantiles[float(q)] for q in levels]]
    return np.stack(columns, axis=2).astype(float)


def usable(array: np.ndarray, history: np.ndarray, levels: np.ndarray, season: int) -> np.ndarray:
    """``array`` with quantiles sorted, or a seasonal naive forecast if it is not finite."""
    if not np.isfinite(array).all():
        history = history[~np.isnan(history)]
        return fallback_forecast(history, array.shape[0], levels, season)
    if levels.size > 1:
        array = array.copy()
        array[:, 1:] = np.sort(array[:, 1:], axis=1)
    return array


class GlobalBacktest:
    """Fits the global candidates, forecasts the backtest windows, fits the final models."""

    def __init__(
        self,
        config: ForecastJobConfig,
        names: Sequence[str],
        windows: Sequence[Window],
        levels: np.ndarray,
        *,
        related_fields: Sequence[str] = (),
        hyperparameters: Mapping[str, Mapping[str, str]] | None = None,
        log: Callable[[str], None] = print,
        note: str = "",
    ) -> None:
        self.config = config
        self.names = list(names)
        self.windows = list(windows)
        self.levels = levels
        self.related_fields = list(related_fields)
        self.past_fields: list[str] = []
        self.hyperparameters = {
            name: dict((hyperparameters or {}).get(name, config.hyperparameters))
            for name in self.names
        }
        self.log = log
        self.grid = Grid(config.frequency, config.time_alignment_boundary)
        self.forecasts: dict[str, dict[int, dict[str, np.ndarray]]] = {}
        """Item key → window index → candidate → ``(h, 1 + L)``."""
        self.summaries: dict[str, dict[str, object]] = {}
        self.tuned: dict[str, dict[str, str]] = {}
        """PerformHPO's choice per candidate (the tuned names only)."""
        self.refitted: dict[str, dict[str, str]] = {}
        """The candidates :meth:`fit_final` trained again, with the settings they chose."""
        self.pooled: dict[str, list[dict[str, object]]] = {}
        """The fits each refitted model pools with the one it kept (DeepAR+'s near ties)."""
        self.notes: list[str] = [note] if note else []
        """Why these candidates ran and how tuning went, for the explanation."""
        self.vocabulary = MetadataVocabulary([])
        self._began = time.monotonic()

    def _budget(self, fits_left: int) -> float | None:
        """This fit's share of what is left of the job's time budget."""
        total = self.config.time_budget_seconds
        if total is None:
            return None
        remaining = total - (time.monotonic() - self._began)
        return max(1.0, remaining / max(1, fits_left))

    def backtest(self, series: Sequence[Series], final_fits: int) -> None:
        """Fit each candidate before the earliest window and forecast every window.

        ``final_fits`` is how many final fits will follow (for the time budget).
        """
        fields = sorted({name for s in series for name in s.metadata})
        self.vocabulary = MetadataVocabulary.fit((s.metadata for s in series), fields)
        offered = self.related_fields
        self.related_fields = [f for f in offered if any(f in s.related_names for s in series)]
        self.past_fields = [f for f in offered if any(f in s.past_names for s in series)]
        sets = self.series_sets()
        earliest = min(w.cutoff for w in self.windows)
        training, _ = sets.build(series, earliest)
        if not training.targets:
            return  # no item has history before the windows; the pipeline reports it
        by_window = {w.index: sets.build(series, w.cutoff) for w in self.windows}
        season = self.grid.frequency.season_length
        for position, name in enumerate(self.names):
            fits_left = len(self.names) - position + final_fits
            if self.config.perform_hpo:
                self._tune(name, series, sets, earliest, fits_left)
                fits_left -= 1
            model = new_model(name, self.hyperparameters[name])
            self.log(f"{name}: fitting on {len(training.targets)} items before the backtest")
            model.fit(
                training,
                self.config.horizon,
                seed=self.config.seed,
                time_budget_seconds=self._budget(fits_left),
                log=self.log,
            )
            self.summaries[name] = dict(model.summary)
            for window in self.windows:
                data, kept = by_window[window.index]
                arrays = forecast_arrays(
                    model.predict(data, list(self.levels), seed=self.config.seed), self.levels
                )
                for row, index in enumerate(kept):
                    item = series[index]
                    history = item.y[: window.cutoff - item.start]
                    per_window = self.forecasts.setdefault(item.key, {})
                    per_window.setdefault(window.index, {})[name] = usable(
                        arrays[row], history, self.levels, season
                    )

    def _tune(
        self,
        name: str,
        series: Sequence[Series],
        sets: SeriesSets,
        earliest: int,
        fits_left: int,
    ) -> None:
        """PerformHPO: search ``name``'s ranges on a validation window before the backtest."""
        from augury_training.forecasting import hpo

        horizon = self.config.horizon
        cutoff = earliest - horizon
        data, kept = sets.build(series, cutoff)
        scored = [
            i for i in kept if np.isfinite(series[i].y[cutoff - series[i].start :][:horizon]).any()
        ]
        if not scored:
            self.notes.append(
                f"PerformHPO: {name} kept its hyperparameters, because no item has data both "
                "before and in a validation window ahead of the backtest"
            )
            self.log(self.notes[-1])
            return
        dimensions = (
            hpo.parse_ranges(name, self.config.hpo_ranges)
            if self.config.hpo_ranges
            else hpo.default_ranges(name, horizon, bool(self.related_fields))
        )

        def evaluate(parameters: dict[str, str], seconds: float | None) -> float:
            model = new_model(name, parameters)
            model.fit(
                data,
                horizon,
                seed=self.config.seed,
                time_budget_seconds=seconds,
                log=lambda _: None,
            )
            arrays = forecast_arrays(
                model.predict(data, list(self.levels), seed=self.config.seed), self.levels
            )
            return self._score([series[i] for i in kept], arrays, cutoff)

        budget = self._budget(fits_left)
        best, trials = hpo.search(
            evaluate,
            self.hyperparameters[name],
            dimensions,
            seed=self.config.seed,
            time_budget_seconds=None if budget is None else budget * 0.5,
            defaults=tuning_defaults(name, horizon),
            log=self.log,
        )
        self.hyperparameters[name] = best
        self.tuned[name] = {d.name: best[d.name] for d in dimensions}
        self.log(f"PerformHPO: {name} chose {self.tuned[name]} after {len(trials)} trial(s)")

    def _score(self, series: Sequence[Series], arrays: np.ndarray, cutoff: int) -> float:
        """The optimization metric of ``series``' forecasts made at ``cutoff`` (lower is
        better; NaN when no item has a value to score)."""
        from augury_training.forecasting.metrics import mase_seasonality, seasonal_scale
        from augury_training.forecasting.scoring import Sums, objective, window_sums

        horizon = self.config.horizon
        season = mase_seasonality(self.config.frequency)
        grid_season = self.grid.frequency.season_length
        sums = Sums.zeros((), self.levels.size)
        for item, array in zip(series, arrays, strict=True):
            length = cutoff - item.start
            test = slice(length, length + horizon)
            actual = item.y[test]
            if np.isnan(actual).all():
                continue
            history = item.y[:length]
            forecast = usable(array, history, self.levels, grid_season)
            scale = seasonal_scale(history, season)
            sums += window_sums(actual, forecast, scale, self.levels)
        return float(objective(sums, self.config.optimization_metric))

    def describe(self) -> str:
        """How each global candidate trained, for DescribePredictor / DescribeAutoPredictor."""
        parts = list(self.notes)
        for name, values in self.tuned.items():
            parts.append(f"PerformHPO tuned {name}: {_settings_text(values)}.")
        for name, summary in self.summaries.items():
            text = (
                f"{name} trained {summary.get('epochs')} epoch(s) on the "
                f"{summary.get('device', 'cpu')} (best epoch {summary.get('best_epoch')}"
            )
            if summary.get("validation_loss") is not None:
                text += f", validation loss {summary['validation_loss']}"
            if summary.get("stopped_by_time_budget"):
                text += ", stopped by the time budget"
            parts.append(text + ")" + _seasonal_adjustment_note(summary) + ".")
            if self.refitted.get(name):
                parts.append(
                    f"The predictor's {name} model was trained again on all the data, with "
                    f"{_settings_text(self.refitted[name])}.{_pooled_note(self.pooled.get(name))}"
                )
        return " ".join(parts)

    def inject(self, item: ItemBacktest) -> None:
        """Add the global candidates' forecasts to an item's windows (seasonal naive where
        a model had nothing for the item, which the per-item pass never lets happen)."""
        per_window = self.forecasts.get(item.key, {})
        for result in item.windows:
            found = per_window.get(result.window, {})
            for name in self.names:
                if name not in found:
                    found[name] = fallback_forecast(np.zeros(0), result.actual.size, self.levels, 1)
                result.forecasts[name] = found[name]
        self.forecasts.pop(item.key, None)

    def series_sets(self) -> SeriesSets:
        """How series become the models' input, as this backtest decided it."""
        return SeriesSets(self.config, self.related_fields, self.vocabulary, self.past_fields)

    def fit_final(self, series: Sequence[Series], names: Sequence[str]) -> dict[str, Any]:
        """Refit ``names`` on all the data: the predictor's models."""
        data, _ = self.series_sets().build(series)
        models = {}
        for position, name in enumerate(names):
            model = new_model(name, self.hyperparameters[name])
            self.log(f"{name}: fitting the predictor's model on {len(data.targets)} items")
            model.fit(
                data,
                self.config.horizon,
                seed=self.config.seed,
                time_budget_seconds=self._budget(len(names) - position),
                log=self.log,
            )
            models[name] = model
            self.refitted[name] = model.chosen_hyperparameters()
            self.pooled[name] = list(model.summary.get("pooled_with") or [])
        return models


def _settings_text(values: Mapping[str, str]) -> str:
    """``a=1, b=2``: hyperparameters as the explanation lists them, sorted by name."""
    return ", ".join(f"{key}={value}" for key, value in sorted(values.items()))


def _pooled_note(pooled: Sequence[Mapping[str, object]] | None) -> str:
    """The fits a model forecasts with beside the one it kept, for the explanation: those
    whose validation wQL was within the margin of its own (``.deep.context_choice``)."""
    if not pooled:
        return ""
    fits = "; ".join(
        f"context_length={fit['context_length']}, learning_rate={fit['learning_rate']!r}"
        f" (validation wQL {fit['validation_wql']})"
        for fit in pooled
    )
    return (
        f" Its sample paths are pooled with those of the fits that validated within "
        f"{SWITCH_MARGIN:.0%} of it: {fits}."
    )


def _seasonal_adjustment_note(summary: Mapping[str, object]) -> str:
    """What a deep model did with the seasons (``.deep.seasonal_adjustment``), for the
    explanation: how many series it adjusted and, where it tried both, how each scored."""
    adjusted = summary.get("seasonally_adjusted_series") or 0
    tried = summary.get("seasonal_adjustments_tried")
    if isinstance(tried, Mapping):
        verdict = "kept" if adjusted else "not kept"
        return (
            f"; a fit on seasonally adjusted series validated at wQL {tried.get('always')} "
            f"against {tried.get('none')} for the series as they are, and was {verdict}"
        )
    if adjusted:
        return f"; {adjusted} series seasonally adjusted"
    return ""


def save_models(models: Mapping[str, Any], sets: SeriesSets, model_dir: Path) -> None:
    """Write the predictor's global models under ``model/``, with what turns series into
    their input (metadata vocabulary, related and past-only fields)."""
    from augury_training.forecasting.deep.common import save_model

    sets.vocabulary.save(model_dir / VOCABULARY_FILE)
    layout = {"related_fields": sets.related_fields, "past_fields": sets.past_fields}
    (model_dir / INPUTS_FILE).write_text(json.dumps(layout), "utf-8")
    for name, model in models.items():
        save_model(model, model_path(model_dir, name))


def load_models(
    model_dir: Path, names: Sequence[str], config: ForecastJobConfig
) -> tuple[dict[str, Any], SeriesSets]:
    """The models :func:`save_models` wrote for ``names`` (absent ones had no weight), and
    the input layout they were trained with."""
    from augury_training.forecasting.deep.common import load_model

    models = {
        name: load_model(model_path(model_dir, name))
        for name in names
        if model_path(model_dir, name).exists()
    }
    vocabulary_file, inputs_file = model_dir / VOCABULARY_FILE, model_dir / INPUTS_FILE
    if not models or not vocabulary_file.exists():
        return models, SeriesSets(config, [], MetadataVocabulary([]))
    layout = json.loads(inputs_file.read_text("utf-8")) if inputs_file.exists() else {}
    return models, SeriesSets(
        config,
        layout.get("related_fields", []),
        MetadataVocabulary.load(vocabulary_file),
        layout.get("past_fields", []),
    )


class GlobalForecaster:
    """The predictor's global models forecasting the horizon after the data."""

    def __init__(
        self,
        models: Mapping[str, Any],
        config: ForecastJobConfig,
        levels: np.ndarray,
        sets: SeriesSets,
    ) -> None:
        self.models = dict(models)
        self.config = config
        self.levels = levels
        self.sets = sets

    def forecast(self, series: Sequence[Series]) -> dict[str, dict[str, np.ndarray]]:
        """Item key → candidate → ``(h, 1 + L)`` for every series with history."""
        out: dict[str, dict[str, np.ndarray]] = {}
        if not self.models or not series:
            return out
        data, kept = self.sets.build(series)
        season = self.sets.grid.frequency.season_length
        for name, model in self.models.items():
            arrays = forecast_arrays(
                model.predict(data, list(self.levels), seed=self.config.seed), self.levels
            )
            for row, index in enumerate(kept):
                item = series[index]
                out.setdefault(item.key, {})[name] = usable(
                    arrays[row], item.y, self.levels, season
                )
        return out

    def cold_start_models(self, with_metadata: bool) -> dict[str, Any]:
        """The models whose forecasts of new items say something about them.

        When new items carry metadata, a network that does not read it (CNN-QR with
        ``use_item_metadata=NONE``) would forecast every one at the typical level of
        all items: on a check with categories an order of magnitude apart, such
        forecasts pulled the "big" category's new items to a third of their level.
        The items sharing their metadata (``coldstart``) forecast them alone then.
        """
        if not with_metadata:
            return dict(self.models)
        return {
            name: model
            for name, model in self.models.items()
            if getattr(model, "reads_item_metadata", True)
        }

    def cold(
        self,
        metadata: Sequence[Mapping[str, str]],
        forecast_start: int,
        related: Sequence[tuple[np.ndarray | None, tuple[str, ...]]] | None = None,
    ) -> list[dict[str, np.ndarray]]:
        """Per cold-start item (metadata, and related features if any), candidate →
        ``(h, 1 + L)``."""
        out: list[dict[str, np.ndarray]] = [{} for _ in metadata]
        readers = self.cold_start_models(any(metadata))
        if not readers or not metadata:
            return out
        data = self.sets.cold(metadata, forecast_start, related)
        for name, model in readers.items():
            arrays = forecast_arrays(
                model.predict(data, list(self.levels), seed=self.config.seed), self.levels
            )
            for row in range(len(metadata)):
                out[row][name] = usable(arrays[row], np.zeros(0), self.levels, 1)
        return out
