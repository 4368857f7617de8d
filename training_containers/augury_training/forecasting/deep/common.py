"""What every global deep forecaster shares: its output, its scale fallback, its embeddings,
and how a trained model is saved and loaded.

A global model is used through four calls, whatever its network::

    model = Model(hyperparameters)                 # validates, before any data
    model.fit(series_set, horizon, seed=..., time_budget_seconds=..., log=...)
    model.predict(series_set, quantiles, seed=...) # -> DeepForecast
    save_model(model, path) / load_model(path)     # the predictor's artifact

:func:`save_model` stores the network's weights with everything ``fit`` fixed
(shapes, statistics, the likelihood), so a forecast job months later rebuilds
the same network without the training data. ``torch.load`` of the artifact
unpickles Python objects: an artifact is only ever read from the predictor's
own model location, which the training job wrote.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from augury_training.time_budget import room_for_another

__all__ = [
    "CODE_DROPOUT",
    "VALIDATION_SERIES",
    "DeepForecast",
    "GlobalModel",
    "LogScale",
    "ScaleFallback",
    "TrainingOutcome",
    "cardinalities_of",
    "drop_codes",
    "embedding_width",
    "load_model",
    "map_codes",
    "save_model",
    "train_with_early_stopping",
    "validation_split",
]

ARTIFACT_VERSION = 1
CODE_DROPOUT = 0.05
"""Share of metadata codes replaced by the "unknown" row while training (:func:`drop_codes`)."""
VALIDATION_SERIES = 2000
"""At most this many series are scored after every epoch (:func:`validation_split`)."""


@dataclass
class DeepForecast:
    """Forecasts for every series: ``mean`` and each quantile level, shape ``(n, horizon)``.

    Quantiles are non-decreasing in the level. ``samples`` (``(n, num_samples,
    horizon)``) is kept only when asked for, by models that sample.
    """

    mean: np.ndarray
    quantiles: dict[float, np.ndarray]
    samples: np.ndarray | None = None


class GlobalModel(Protocol):
    """The interface the forecasting pipeline drives (see the module docstring)."""

    name: str
    summary: dict[str, object]

    def fit(
        self,
        data: Any,
        horizon: int,
        *,
        seed: int = 0,
        time_budget_seconds: float | None = None,
        log: Callable[[str], None] = print,
    ) -> GlobalModel: ...

    def predict(
        self, data: Any, quantiles: Sequence[float] = (0.1, 0.5, 0.9), *, seed: int = 0
    ) -> DeepForecast: ...

    def to_state(self) -> dict[str, Any]: ...

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> GlobalModel: ...


def save_model(model: GlobalModel, path: Path) -> None:
    """Write a fitted model to ``path`` (one file), with the class that rebuilds it."""
    import torch

    cls = type(model)
    document = {
        "version": ARTIFACT_VERSION,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "state": model.to_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(document, path)


def load_model(path: Path) -> GlobalModel:
    """The model :func:`save_model` wrote, on this machine's device (GPU or CPU)."""
    import torch

    document = torch.load(path, map_location="cpu", weights_only=False)
    if document.get("version") != ARTIFACT_VERSION:
        raise ValueError(
            f"{path.name} was written by another version of the forecasting container "
            f"(artifact version {document.get('version')}, this one reads {ARTIFACT_VERSION}): "
            "retrain the predictor"
        )
    module, _, name = document["class"].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls.from_state(document["state"])


def embedding_width(cardinality: int) -> int:
    """Small tables for small vocabularies, at most 16 dimensions."""
    return int(min(16, max(2, round(np.sqrt(cardinality)) + 1)))


QUIET_LEVEL_QUANTILE = 0.1
"""Which items' level scales a context of observed zeros: a slow item's, so an item that
sells nothing is forecast near zero unless such stretches are usually followed by sales."""


@dataclass
class ScaleFallback:
    """The scale for a window with nothing to scale by, from items with the same metadata.

    ``by_code[j][c]`` is the median log level of the items whose column j is
    code c (NaN: no such item with a level); an item takes the mean over its
    known codes, else the median over all items (``overall``).
    """

    overall: float
    by_code: list[np.ndarray]
    quiet: float = float("nan")
    """The scale of a context that observed only zeros: the level of a slow item, the
    :data:`QUIET_LEVEL_QUANTILE` of the items' levels (NaN in models saved before it)."""

    @classmethod
    def fit(
        cls, levels: np.ndarray, codes: np.ndarray, cardinalities: Sequence[int]
    ) -> ScaleFallback:
        logs = np.log(levels)
        known = np.isfinite(logs)
        overall = float(np.median(logs[known])) if known.any() else 0.0
        quiet = float(np.quantile(logs[known], QUIET_LEVEL_QUANTILE)) if known.any() else 0.0
        by_code = []
        for j, cardinality in enumerate(cardinalities):
            medians = np.full(cardinality, np.nan)
            for code in range(cardinality):
                chosen = known & (codes[:, j] == code)
                if chosen.any():
                    medians[code] = np.median(logs[chosen])
            by_code.append(medians)
        return cls(overall, by_code, float(np.exp(quiet)))

    def scales(self, codes: np.ndarray) -> np.ndarray:
        """One positive scale per item (codes already mapped: unknown = cardinality)."""
        total = np.zeros(codes.shape[0])
        count = np.zeros(codes.shape[0])
        for j, medians in enumerate(self.by_code):
            column = codes[:, j]
            inside = column < medians.shape[0]
            value = np.where(inside, medians[np.minimum(column, medians.shape[0] - 1)], np.nan)
            found = np.isfinite(value)
            total += np.where(found, value, 0.0)
            count += found
        logs = np.where(count > 0, total / np.maximum(count, 1), self.overall)
        return np.exp(logs).astype(np.float32)


# ------------------------------------------------------------ metadata codes


def cardinalities_of(categories: np.ndarray | None) -> list[int]:
    """Each metadata column's vocabulary size as training saw it (codes 0..max)."""
    if categories is None:
        return []
    codes = np.asarray(categories, dtype=np.int64)
    return [max(1, int(codes[:, j].max(initial=0)) + 1) for j in range(codes.shape[1])]


def map_codes(codes: np.ndarray, cardinalities: Sequence[int]) -> np.ndarray:
    """Codes outside what training saw (and -1) become each column's "unknown" row, which
    every embedding table keeps as its last row (index ``cardinality``)."""
    if codes.shape[1] != len(cardinalities):
        raise ValueError(
            f"the model was trained with {len(cardinalities)} metadata columns; "
            f"got {codes.shape[1]}"
        )
    limits = np.array(cardinalities, dtype=np.int64)[None, :]
    return np.where((codes < 0) | (codes >= limits), limits, codes)


def drop_codes(
    codes: np.ndarray,
    cardinalities: Sequence[int],
    rng: np.random.Generator,
    rate: float = CODE_DROPOUT,
) -> np.ndarray:
    """Training-time code dropout: a share ``rate`` of codes become "unknown", so the
    unknown rows are trained and a code first seen at forecast time maps to something
    meaningful."""
    if not codes.size:
        return codes
    limits = np.array(cardinalities, dtype=np.int64)[None, :]
    return np.where(rng.random(codes.shape) < rate, limits, codes)


@dataclass
class LogScale:
    """Standardises a window's log scale into a network input of order one, with the
    mean and standard deviation of the series' log levels fixed at fit."""

    mean: float
    std: float

    @classmethod
    def fit(cls, levels: np.ndarray) -> LogScale:
        finite = np.log(levels[np.isfinite(levels)])
        mean = float(finite.mean()) if finite.size else 0.0
        std = float(finite.std()) if finite.size > 1 and finite.std() > 0 else 1.0
        return cls(mean, std)

    def __call__(self, scale: np.ndarray) -> np.ndarray:
        return ((np.log(scale) - self.mean) / self.std).astype(np.float32)


# ------------------------------------------------------------------ training


def validation_split(
    lengths: np.ndarray,
    horizon: int,
    rng: np.random.Generator,
    limit: int = VALIDATION_SERIES,
    share: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(usable, validation)``: series longer than two horizons lend their last horizon to
    validation (they train on ``usable[i]`` points), at most ``limit`` of them.

    With ``share`` < 1 only that share of them (at least ``min(limit, 200)``
    when there are that many) is held out; the others train on their whole
    history, recent points included, which matter most to the forecast.
    """
    candidates = np.flatnonzero(lengths > 2 * horizon)
    wanted = min(limit, max(int(np.ceil(share * candidates.size)), min(limit, 200)))
    validation = candidates
    if candidates.size > wanted:
        validation = np.sort(rng.choice(candidates, wanted, replace=False))
    usable = lengths.copy()
    usable[validation] -= horizon
    return usable, validation


@dataclass
class TrainingOutcome:
    """What :func:`train_with_early_stopping` did (the model's ``summary`` reports it)."""

    epochs: int
    best_epoch: int
    validation_loss: float | None
    stopped_by_time_budget: bool


def train_members(
    name: str,
    count: int,
    train: Callable[[int], TrainingOutcome],
    deadline: float | None,
    log: Callable[[str], None],
    *,
    first_seconds: float | None = None,
) -> dict[str, object]:
    """Train up to ``count`` averaged networks (``train(i)`` trains the i-th) and return
    the model summary's training part. ``first_seconds`` is how long the first network
    took when ``train(0)`` only hands back one trained before (a choice between contexts).

    Under a time budget another network trains only when
    :func:`augury_training.time_budget.room_for_another` says so. A budget that drops a
    network counts as stopping.
    """
    outcomes: list[TrainingOutcome] = []
    began, measured = time.monotonic(), first_seconds
    for index in range(count):
        if index and not room_for_another(
            deadline, measured or 0.0, outcomes[0].stopped_by_time_budget
        ):
            log(f"{name}: the time budget leaves room for {index} of {count} models")
            break
        outcomes.append(train(index))
        if measured is None:
            measured = time.monotonic() - began
    losses = [o.validation_loss for o in outcomes if o.validation_loss is not None]
    summary: dict[str, object] = {
        "epochs": sum(o.epochs for o in outcomes),
        "best_epoch": outcomes[0].best_epoch,
        "best_epochs": [o.best_epoch for o in outcomes],
        "validation_loss": round(float(np.mean(losses)), 6) if losses else None,
        "models": len(outcomes),
        "stopped_by_time_budget": len(outcomes) < count
        or any(o.stopped_by_time_budget for o in outcomes),
    }
    log(
        f"{name} trained {len(outcomes)} model(s): best epochs {summary['best_epochs']}, "
        f"validation loss {summary['validation_loss']}"
    )
    return summary


def train_with_early_stopping(
    net: Any,
    optimizer: Any,
    scaler: Any,
    *,
    name: str,
    epochs: int,
    patience: int,
    batches: Callable[[], Iterable[Any]],
    loss: Callable[[Any], Any],
    validate: Callable[[], float] | None,
    deadline: float | None,
    log: Callable[[str], None],
    clip: float = 10.0,
    decay_after: int | None = None,
    decay_factor: float = 0.5,
    max_decays: int | None = None,
    average: float | None = None,
) -> TrainingOutcome:
    """The epoch loop every global model shares.

    Each epoch runs ``loss`` on every batch ``batches()`` yields (gradients
    clipped, through the AMP ``scaler``), then scores ``validate()``, logs
    one line, and keeps a CPU copy of the weights whenever validation
    improves. It stops after ``epochs``, after ``patience`` epochs without
    improvement, or when ``deadline`` (``time.monotonic()``) passes, checked
    between batches; the best epoch's weights are loaded back at the end. With
    ``decay_after``, every ``decay_after`` epochs without improvement multiply the
    learning rate by ``decay_factor`` (halve it by default): small steps settle
    where large ones keep overshooting. ``max_decays`` (DeepAR+'s
    ``max_learning_rate_decays``) caps the reductions: once that many were made,
    the next one due stops training instead, as Amazon describes it; 0 never
    reduces the rate.
    With ``average`` (say 0.99), validation scores and keeps an exponential
    moving average of the weights, updated after every batch, which smooths
    out the noise of small batches at no extra forward pass; its decay ramps
    up as ``(1 + t) / (10 + t)`` over the first steps ``t``, so a short run is
    not averaged with its random initial weights.
    """
    import copy
    import time

    import torch

    best, best_state, best_epoch, stale, epochs_run = np.inf, None, 0, 0, 0
    out_of_time = decayed_enough = False
    decays = 0
    averaged, steps = None, 0
    if average:
        averaged = {k: v.detach().clone() for k, v in net.state_dict().items()}
    for epoch in range(1, epochs + 1):
        started = time.monotonic()
        net.train()
        total, count = 0.0, 0
        for batch in batches():
            if deadline is not None and time.monotonic() >= deadline:
                out_of_time = True
                break
            value = loss(batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(value).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            scaler.step(optimizer)
            scaler.update()
            if averaged is not None:
                decay = min(average, (1 + steps) / (10 + steps))
                steps += 1
                with torch.no_grad():
                    for key, tensor in net.state_dict().items():
                        if tensor.is_floating_point():
                            averaged[key].lerp_(tensor, 1.0 - decay)
                        else:
                            averaged[key].copy_(tensor)
            total, count = total + float(value.detach()), count + 1
        if count == 0:
            break
        epochs_run = epoch
        live = None
        if averaged is not None:
            live = {k: v.detach().clone() for k, v in net.state_dict().items()}
            net.load_state_dict(averaged)
        net.eval()
        score = validate() if validate is not None else None
        log(
            f"{name} epoch {epoch}/{epochs}: loss {total / count:.4f}, validation "
            + ("n/a" if score is None else f"{score:.4f}")
            + f", {time.monotonic() - started:.1f}s"
            + (" (time budget reached)" if out_of_time else "")
        )
        if score is not None and score < best:
            best, best_epoch, stale = score, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in net.state_dict().items()})
        if live is not None:
            net.load_state_dict(live)
        if score is not None and best_epoch != epoch:
            stale += 1
            if decay_after and stale % decay_after == 0 and max_decays != 0:
                if max_decays is not None and decays >= max_decays:
                    decayed_enough = True
                else:
                    decays += 1
                    for group in optimizer.param_groups:
                        group["lr"] *= decay_factor
        if out_of_time or decayed_enough or stale >= patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    elif averaged is not None:
        net.load_state_dict(averaged)
    net.eval()
    return TrainingOutcome(
        epochs=epochs_run,
        best_epoch=best_epoch if best_state is not None else epochs_run,
        validation_loss=None if best_state is None else round(float(best), 6),
        stopped_by_time_budget=out_of_time,
    )
