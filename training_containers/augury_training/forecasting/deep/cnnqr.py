"""CNN-QR (``arn:aws:forecast:::algorithm/CNN-QR``): causal convolutions, quantile regression.

A sequence-to-sequence model of the MQ-CNN family, trained across all series
at once. Why it is built this way:

* **Encoder: causal dilated convolutions over the raw context.** Per context
  step it reads the scaled target and its observed mask (missing values are
  masked zeros, never filled), calendar and age features, the related series
  (both kinds) and the item's static features (metadata embeddings,
  standardised log scale). Convolutions are left-padded, so a step only sees
  its past, and dilations double per layer, so a few layers cover a long
  context. Unlike DeepAR+ it reads no lags: the context is the history.
* **Decoder: multi-horizon, no recursion.** A *global* MLP maps the encoder's
  last state, the flattened known future features (calendar, age, related
  series with future values) and the static features to one context vector
  per horizon step plus one shared by all steps; a *local* MLP, the same for
  every step, maps a step's contexts and its own known features to one value
  per training quantile. The whole horizon comes out of one forward pass, so
  predicting is as cheap as training, and a promotion flagged at step t acts
  at step t. The global MLP also reads the scaled context, its mask and the
  past-only related values directly, a skip around the encoder: level, trend
  and season then reach the forecast through a nearly linear path (what
  exponential smoothing exploits), and the convolutions learn what is left.
  On M3 monthly this skip is worth about 0.005 of mean wQL.
* **Seasons divided out where that validates better** (:mod:`.seasonal_adjustment`,
  the ``seasonal_adjustment`` hyperparameter). Each series whose season passes
  the Theta method's test, with three seasons of positive history, can be
  divided by its multiplicative seasonal indices before it is windowed, its
  forecasts multiplied by them after: the networks then learn level, trend
  and what the series share, not each one's seasonal shape. That took M3
  monthly's mean wQL from 0.0781 to 0.0760 but made Tourism's and M1's monthly
  series worse, so by default (``auto``) the whole fit is made both ways and
  the adjusted one kept only when it forecasts the held-out horizons better in
  the data's units; ``always`` and ``none`` fit once.
* **Quantile regression on a fixed grid.** The network is trained with the
  pinball loss, averaged over observed target points, quantiles and steps,
  on :data:`.quantile_grid.QUANTILE_GRID` (0.01 ... 0.99), which covers every ForecastType.
  Outputs cannot cross: the median is free and the other levels are reached
  by adding (above) or subtracting (below) cumulative softplus increments.
  :meth:`CNNQR.predict` answers any level in (0, 1) by linear interpolation
  between grid outputs (linear extrapolation by the edge slope outside
  0.01-0.99), which is monotone in the level. The **mean** is the integral
  of that piecewise-linear quantile function over (0, 1): the mean of a
  distribution is the average of its quantiles.
* **Related data, as Amazon's CNN-QR takes it.** Related series with future
  values (``SeriesSet.related``) feed the encoder and the decoder; related
  series without them (``SeriesSet.past_related``) feed the encoder only.
  ``use_related_data`` chooses ALL, NONE, HISTORICAL (past-only series) or
  FORWARD_LOOKING (series with future values).
* **Shared with DeepAR+** (:mod:`.windows`, :mod:`.common`): per-window mean
  scaling with a metadata-derived fallback, cold-start items forecast from
  windows that start at a series' first point and from metadata embeddings
  (5% of codes dropped to "unknown" in training), early stopping on held-out
  last horizons keeping the best epoch, a time budget checked between
  batches, CUDA with autocast or deterministic float32 on the CPU, and the
  caller's torch RNG left untouched. Non-negative training data give
  non-negative forecasts.
* **Training choices measured on M3 monthly** (mean wQL, 1428 series): only a
  quarter of the long-enough series (at least 200) lend their last horizon to
  validation, so the others train on their most recent points; the weights
  validated and kept are a moving average (:data:`WEIGHT_AVERAGE`) of the
  optimiser's, which smooths small-batch noise; the learning rate halves
  after :data:`DECAY_AFTER` epochs without progress; no dropout by default.
  Each was worth up to 0.002.
* **An average of networks that look back different distances.** By default
  three networks are trained (``num_averaged_models``), reading all, the
  last three quarters and the last half of ``context_length``, and their quantile
  grids are averaged level by level. Each member errs in its own way, so the
  average is better than any of them and better than as many seeds of one
  context (:func:`member_contexts` has the figures). It costs one training
  per member; under a time budget the first network gets all of it, and
  another is added only when the time left would train it in full.

Amazon's hyperparameter names are accepted (strings, as in TrainingParameters):
``context_length`` (default: four horizons, at most the longest history and
500, or one horizon where the first network forecasts the validation horizons
clearly better with it: :mod:`.context_choice`), ``use_related_data``,
``use_item_metadata`` (ALL or NONE) and ``epochs``.
Augury adds ``learning_rate``, ``mini_batch_size``, ``early_stopping_patience``,
``max_batches_per_epoch``, ``mixed_precision``, ``num_filters`` (convolution
channels), ``num_layers``, ``kernel_size``, ``decoder_width``, ``dropout_rate``,
``num_averaged_models`` (1 to 5; the name DeepAR+ uses) and
``seasonal_adjustment`` (``auto``, ``always`` or ``none``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from augury_training.forecasting.deep import seasonal_adjustment
from augury_training.forecasting.deep.cnnqr_net import CNNQRNet, NetShapes
from augury_training.forecasting.deep.common import (
    DeepForecast,
    LogScale,
    ScaleFallback,
    TrainingOutcome,
    cardinalities_of,
    drop_codes,
    map_codes,
    train_members,
    train_with_early_stopping,
    validation_split,
)
from augury_training.forecasting.deep.context_choice import (
    DEFAULT_CONTEXT_HORIZONS,
    context_candidates,
    pinball_sums,
    prefers_short,
    room_to_try,
)
from augury_training.forecasting.deep.quantile_grid import (
    QUANTILE_GRID,
    level_from_grid,
    mean_from_grid,
)
from augury_training.forecasting.deep.windows import (
    ContextWindows,
    PreparedSet,
    SeriesSet,
    gather_context_windows,
    past_related_statistics,
    prepare,
    related_statistics,
    series_levels,
    training_starts,
)
from augury_training.forecasting.models.hyperparameters import (
    HyperparameterError,
    bounded_int,
    get_bool,
    get_choice,
    get_float,
    get_int,
)
from augury_training.torch_runtime import (
    autocast,
    deterministic_on_cpu,
    mixed_precision_dtype,
    training_device,
)

__all__ = [
    "CNNQR",
    "QUANTILE_GRID",
    "CNNQRHyperparameters",
    "DeepForecast",
    "HyperparameterError",
    "SeriesSet",
    "parse_hyperparameters",
]


ALL, NONE, HISTORICAL, FORWARD_LOOKING = "ALL", "NONE", "HISTORICAL", "FORWARD_LOOKING"
RELATED_CHOICES = (ALL, NONE, HISTORICAL, FORWARD_LOOKING)
MAX_CONTEXT = 500
VALIDATION_SHARE = 0.25
"""Share of the long-enough series whose last horizon is held out for early stopping."""
DECAY_AFTER = 3
"""Epochs without validation progress after which the learning rate is halved."""
WEIGHT_AVERAGE = 0.99
"""Decay of the moving average of the weights that is validated and kept."""
DEFAULT_MEMBERS = 3
"""Networks averaged by default, reading all, 3/4 and 1/2 of the context (see
:func:`member_contexts`)."""
MAX_MEMBERS = 5
PREDICT_CHUNK = 4096


@dataclass(frozen=True)
class CNNQRHyperparameters:
    """CNN-QR's settings, parsed from string hyperparameters (see the module docstring)."""

    context_length: int | None = None
    use_related_data: str = ALL
    use_item_metadata: str = ALL
    epochs: int = 100
    learning_rate: float = 3e-3
    mini_batch_size: int = 128
    early_stopping_patience: int = 10
    max_batches_per_epoch: int = 50
    mixed_precision: bool = True
    num_filters: int = 32
    num_layers: int = 5
    kernel_size: int = 3
    decoder_width: int = 32
    dropout_rate: float = 0.0
    num_averaged_models: int = DEFAULT_MEMBERS
    seasonal_adjustment: str = seasonal_adjustment.AUTO
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def parse_hyperparameters(values: Mapping[str, str]) -> CNNQRHyperparameters:
    """Check and parse string hyperparameters; unknown names are ignored.

    Raises :class:`HyperparameterError` (a ``ValueError``) naming the parameter
    and what it accepts, so a training job fails before any work.
    """
    return CNNQRHyperparameters(
        context_length=get_int(values, "context_length", None, minimum=1, maximum=MAX_CONTEXT),
        use_related_data=get_choice(values, "use_related_data", ALL, RELATED_CHOICES),
        use_item_metadata=get_choice(values, "use_item_metadata", ALL, (ALL, NONE)),
        epochs=bounded_int(values, "epochs", 100, 1, 1000),
        learning_rate=get_float(values, "learning_rate", 3e-3, minimum=1e-5, maximum=1e-1),
        mini_batch_size=bounded_int(values, "mini_batch_size", 128, 1, 4096),
        early_stopping_patience=bounded_int(values, "early_stopping_patience", 10, 1, 1000),
        max_batches_per_epoch=bounded_int(values, "max_batches_per_epoch", 50, 1, 100_000),
        mixed_precision=get_bool(values, "mixed_precision", True),
        num_filters=bounded_int(values, "num_filters", 32, 4, 512),
        num_layers=bounded_int(values, "num_layers", 5, 1, 10),
        kernel_size=bounded_int(values, "kernel_size", 3, 2, 9),
        decoder_width=bounded_int(values, "decoder_width", 32, 4, 512),
        dropout_rate=get_float(values, "dropout_rate", 0.0, minimum=0.0, maximum=0.9),
        num_averaged_models=bounded_int(
            values, "num_averaged_models", DEFAULT_MEMBERS, 1, MAX_MEMBERS
        ),
        seasonal_adjustment=get_choice(
            values, "seasonal_adjustment", seasonal_adjustment.AUTO, seasonal_adjustment.CHOICES
        ),
        extra={key: str(value) for key, value in values.items()},
    )


@dataclass(frozen=True)
class _Member:
    """One of the averaged networks and how many context steps it reads."""

    context: int
    net: CNNQRNet


def member_contexts(context: int, members: int) -> tuple[int, ...]:
    """The context each averaged network reads, in training order: evenly from all of
    ``context`` down to half of it, the whole context first (the best single network,
    and the one kept when a time budget leaves room for only one). Networks that look
    back different distances err differently, so their average beats as many networks
    of one context (M3 monthly mean wQL: 0.0788 for one, 0.0782 for three seeds of one
    context, 0.0778 for 72, 54 and 36 months)."""
    if members == 1:
        return (context,)
    return tuple(max(1, round(context * (1.0 - 0.5 * k / (members - 1)))) for k in range(members))


# ------------------------------------------------------------------------ model


class CNNQR:
    """CNN-QR as a library: ``fit(series, horizon)`` then ``predict(series, quantiles)``.

    Hyperparameters are validated when the object is built (raising
    :class:`HyperparameterError`), before any data is read.
    """

    name = "CNN-QR"

    def __init__(self, hyperparameters: Mapping[str, str] | None = None) -> None:
        self.params = parse_hyperparameters(dict(hyperparameters or {}))
        self.summary: dict[str, object] = {}
        self._members: list[_Member] = []
        self.seasonal_adjustment = seasonal_adjustment.NONE
        """How the fitted networks read the series (:mod:`.seasonal_adjustment`): ``always``
        (seasonal series divided by their indices) or ``none``; a model saved before the
        adjustment existed loads with ``none``."""

    # ----------------------------------------------------------------- fit

    def fit(
        self,
        data: SeriesSet,
        horizon: int,
        *,
        seed: int = 0,
        time_budget_seconds: float | None = None,
        log: Callable[[str], None] = print,
    ) -> CNNQR:
        """Train on every series of ``data`` to forecast ``horizon`` steps; returns ``self``.

        With ``seasonal_adjustment`` ``auto`` (the default) the networks are trained on
        the series as they are and again with their seasons divided out, and the second
        fit is kept only when it forecasts the held-out horizons better, in the data's
        units (:meth:`_keep_better_adjustment`). Under a time budget the second fit is
        tried only when the time left would train the first again.

        Raises ``ValueError`` for data that cannot train (no history anywhere,
        related columns of the wrong shape).
        """
        began = time.monotonic()
        deadline = None if time_budget_seconds is None else began + float(time_budget_seconds)
        if horizon < 1:
            raise ValueError(f"the horizon must be at least 1, got {horizon}")
        if data.lengths.size == 0 or not any(
            np.isfinite(np.asarray(t, dtype=float)).any() for t in data.targets
        ):
            raise ValueError("no series has any observed value to learn from")
        setting = self.params.seasonal_adjustment
        first = seasonal_adjustment.NONE if setting == seasonal_adjustment.AUTO else setting
        self._fit_as(seasonal_adjustment.adjust(data, horizon, first, horizon), seed, deadline, log)
        if setting == seasonal_adjustment.AUTO:
            self._try_adjusting(data, horizon, seed, deadline, time.monotonic() - began, log)
        self.summary["seconds"] = round(time.monotonic() - began, 3)
        return self

    def _try_adjusting(
        self,
        data: SeriesSet,
        horizon: int,
        seed: int,
        deadline: float | None,
        first_seconds: float,
        log: Callable[[str], None],
    ) -> None:
        """Fit again with the seasons divided out, where any series has one and there is
        room, and keep the better of the two fits."""
        adjusted = seasonal_adjustment.adjust(data, horizon, seasonal_adjustment.ALWAYS, horizon)
        if not adjusted.count:
            return
        comparable = self.summary.get("validation_wql") is not None
        what = "seasonally adjusted series"
        if not room_to_try("CNN-QR", what, comparable, deadline, first_seconds, log):
            return
        log(f"CNN-QR: trying {what}")
        trial = CNNQR(self.params.extra)
        trial._fit_as(adjusted, seed, deadline, log)
        self._keep_better_adjustment(trial, log)

    def _keep_better_adjustment(self, trial: CNNQR, log: Callable[[str], None]) -> None:
        """Become ``trial`` (the same networks trained on seasonally adjusted series) when its
        validation wQL, in the data's units, is lower; either way the summary records both.

        Both fits hold out the same series' last horizon, and the adjusted fit estimated
        its indices without it, so neither has seen what it is scored on.
        """
        tried = {
            self.seasonal_adjustment: self.summary.get("validation_wql"),
            trial.seasonal_adjustment: trial.summary.get("validation_wql"),
        }
        if seasonal_adjustment.prefers_adjusted(
            tried[self.seasonal_adjustment], tried[trial.seasonal_adjustment]
        ):
            self.__dict__.update(trial.__dict__)
        log(
            f"CNN-QR: validation wQL by seasonal adjustment {tried}; keeping "
            f"{self.seasonal_adjustment}"
        )
        self.summary = {**self.summary, "seasonal_adjustments_tried": tried}

    def _fit_as(
        self,
        adjusted: seasonal_adjustment.Adjusted,
        seed: int,
        deadline: float | None,
        log: Callable[[str], None],
    ) -> None:
        """Fit every network on ``adjusted`` series (adjusted or not, with the indices of
        each series' held-out last horizon)."""
        data, horizon, mode = adjusted.data, adjusted.future.shape[1], adjusted.mode
        self.seasonal_adjustment = mode
        if mode == seasonal_adjustment.ALWAYS:
            log(f"CNN-QR: {adjusted.describe()}")
        self._setup(data, horizon, log)
        prepared = self._prepare(data)
        levels = series_levels(prepared)
        codes = self._codes(prepared)
        self._fallback = ScaleFallback.fit(levels, codes, self._cardinalities)
        self._log_scale = LogScale.fit(levels)

        device = training_device()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            with deterministic_on_cpu(device):
                self._train(
                    prepared,
                    codes,
                    device,
                    np.random.default_rng(seed),
                    deadline,
                    log,
                    adjusted.held_out,
                )
        self.summary["seasonal_adjustment"] = mode
        self.summary["seasonally_adjusted_series"] = adjusted.count

    @property
    def reads_item_metadata(self) -> bool:
        """Whether the network embeds item metadata: without it, a new item gets the
        typical level of all items, whatever its category."""
        return bool(self._cardinalities)

    def chosen_hyperparameters(self) -> dict[str, str]:
        """What this fit trained with, chosen on its held-out horizons or given, as
        hyperparameters: a model built with them trains once, with the same context and
        seasonal adjustment. DescribeAutoPredictor's explanation names them."""
        return {
            "context_length": str(self.context_length),
            "seasonal_adjustment": self.seasonal_adjustment,
        }

    def _setup(self, data: SeriesSet, horizon: int, log: Callable[[str], None]) -> None:
        """Everything fixed by the training data: shapes, statistics, what is used."""
        params = self.params
        self.frequency = data.frequency
        self.horizon = horizon
        longest = int(data.lengths.max())
        default = max(horizon, min(DEFAULT_CONTEXT_HORIZONS * horizon, longest, MAX_CONTEXT))
        self._candidates = context_candidates(default, horizon, params.context_length)
        self.context_length = self._candidates[0]
        values = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in data.targets])
        self.non_negative = bool((values[np.isfinite(values)] >= 0).all())
        related = params.use_related_data
        use_future = related in (ALL, FORWARD_LOOKING)
        use_past = related in (ALL, HISTORICAL)
        self._related_stats = related_statistics(data) if use_future else None
        self._past_stats = past_related_statistics(data) if use_past else None
        self._n_related = 0 if self._related_stats is None else int(self._related_stats[0].size)
        self._n_past = 0 if self._past_stats is None else int(self._past_stats[0].size)
        self._use_metadata = params.use_item_metadata == ALL
        self._cardinalities = cardinalities_of(data.categories if self._use_metadata else None)
        for given, used, what in (
            (data.related, use_future, "related series with future values"),
            (data.past_related, use_past, "past-only related series"),
            (data.categories, self._use_metadata, "item metadata"),
        ):
            if given is not None and not used:
                log(
                    f"CNN-QR: {what} ignored (use_related_data={related}, "
                    f"use_item_metadata={params.use_item_metadata})"
                )

    def _prepare(self, data: SeriesSet) -> PreparedSet:
        return prepare(
            data,
            self.horizon,
            self.context_length,
            None,
            self._related_stats,
            self._n_related,
            past_related_stats=self._past_stats,
            n_past_related=self._n_past,
        )

    def _codes(self, prepared: PreparedSet) -> np.ndarray:
        codes = prepared.codes if self._use_metadata else prepared.codes[:, :0]
        return map_codes(codes, self._cardinalities)

    def _train(
        self,
        prepared: PreparedSet,
        codes: np.ndarray,
        device: torch.device,
        rng: np.random.Generator,
        deadline: float | None,
        log: Callable[[str], None],
        held_out_indices: np.ndarray,
    ) -> None:
        """Train one network per :func:`member_contexts` entry on the same validation
        split; under a time budget, only as many as it trains in full
        (:func:`.common.train_members`). ``held_out_indices`` (series, horizon) turn
        validation forecasts of seasonally adjusted series back into the data's units.

        Without a ``context_length`` the first network is trained for each of the
        candidate contexts (:mod:`.context_choice`) and the better on the held-out
        horizons sets the context of the others: one extra network, not a second
        average of them.
        """
        fallback = self._fallback.scales(codes)
        probe = self._gather(
            prepared, codes, fallback, np.array([0]), np.array([prepared.pad]), self.context_length
        )
        self._n_known = int(probe.known.shape[2])
        self._device = device
        self._autocast = mixed_precision_dtype(device, self.params.mixed_precision)
        usable, validation = validation_split(
            prepared.lengths, self.horizon, rng, share=VALIDATION_SHARE
        )
        members = self.params.num_averaged_models
        log(
            f"CNN-QR: {prepared.n_series} series, horizon {self.horizon}, context "
            f"{' or '.join(map(str, self._candidates))}, {members} model(s), {self._n_known} "
            f"known and {self._n_past} past-only features, {len(validation)} validation "
            f"series, device {device.type}" + (f" ({self._autocast})" if self._autocast else "")
        )

        def train_network(
            context: int, generator: np.random.Generator = rng
        ) -> tuple[_Member, TrainingOutcome]:
            member = _Member(context, self._build_net(device, context))
            outcome = self._train_member(
                member, prepared, codes, fallback, usable, validation, generator, deadline, log
            )
            return member, outcome

        def validation_wql(member: _Member) -> float | None:
            if not validation.size:
                return None
            return round(
                self._validate(
                    member, prepared, codes, fallback, validation, held_out_indices[validation]
                ),
                6,
            )

        began = time.monotonic()
        if members > 1:
            log(f"CNN-QR model 1 of {members}: context {self.context_length}")
        first, outcome = train_network(self.context_length)
        first_seconds = time.monotonic() - began
        tried = {str(first.context): validation_wql(first)}
        for context in self._candidates[1:]:
            comparable = validation.size > 0
            if not room_to_try(
                "CNN-QR", f"a context of {context}", comparable, deadline, first_seconds, log
            ):
                break
            log(f"CNN-QR: trying a context of {context}")
            # its own random streams, so the default's networks train as they would alone
            generator = rng.spawn(1)[0]
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(int(generator.integers(2**31)))
                trial, trial_outcome = train_network(context, generator)
            tried[str(context)] = validation_wql(trial)
            if prefers_short(tried[str(first.context)], tried[str(context)]):
                first, outcome = trial, trial_outcome
        if len(tried) > 1:
            log(f"CNN-QR: validation wQL by context {tried}; keeping context {first.context}")
        self.context_length = first.context
        contexts = member_contexts(self.context_length, members)
        self._members = [first]

        def train_one(index: int) -> TrainingOutcome:
            if not index:
                return outcome
            log(f"CNN-QR model {index + 1} of {members}: context {contexts[index]}")
            member, result = train_network(contexts[index])
            self._members.append(member)
            return result

        self.summary = {
            **train_members(
                "CNN-QR", members, train_one, deadline, log, first_seconds=first_seconds
            ),
            "context_length": self.context_length,
            "validation_wql": tried[str(self.context_length)],
            "device": device.type,
        }
        if len(tried) > 1:
            self.summary["contexts_tried"] = tried

    def _train_member(
        self,
        member: _Member,
        prepared: PreparedSet,
        codes: np.ndarray,
        fallback: np.ndarray,
        usable: np.ndarray,
        validation: np.ndarray,
        rng: np.random.Generator,
        deadline: float | None,
        log: Callable[[str], None],
    ) -> TrainingOutcome:
        params, context = self.params, member.context
        optimizer = torch.optim.Adam(member.net.parameters(), lr=params.learning_rate)
        scaler = torch.amp.GradScaler(self._device.type, enabled=self._autocast == torch.float16)
        batch = params.mini_batch_size

        def batches() -> Iterator[ContextWindows]:
            rows, starts = training_starts(
                prepared, usable, rng, params.max_batches_per_epoch * batch
            )
            order = rng.permutation(rows.size)
            for begin in range(0, order.size, batch):
                chosen = order[begin : begin + batch]
                yield self._gather(prepared, codes, fallback, rows[chosen], starts[chosen], context)

        def validate() -> float:
            return self._validate(member, prepared, codes, fallback, validation)

        return train_with_early_stopping(
            member.net,
            optimizer,
            scaler,
            name="CNN-QR",
            epochs=params.epochs,
            patience=params.early_stopping_patience,
            batches=batches,
            loss=lambda windows: self._loss(member, windows, rng),
            validate=validate if validation.size else None,
            deadline=deadline,
            log=log,
            decay_after=DECAY_AFTER,
            average=WEIGHT_AVERAGE,
        )

    def _build_net(self, device: torch.device, context: int) -> CNNQRNet:
        """A network reading ``context`` steps, for the fitted shapes, on ``device``."""
        shapes = NetShapes(
            horizon=self.horizon,
            context=context,
            n_known=self._n_known,
            n_past=self._n_past,
            cardinalities=tuple(self._cardinalities),
            n_quantiles=len(QUANTILE_GRID),
        )
        return CNNQRNet(shapes, self.params).to(device)

    # --------------------------------------------------------- persistence

    _STATE = (
        "frequency",
        "horizon",
        "context_length",
        "non_negative",
        "_related_stats",
        "_past_stats",
        "_n_related",
        "_n_past",
        "_use_metadata",
        "_cardinalities",
        "_fallback",
        "_log_scale",
        "_n_known",
        "summary",
    )

    def to_state(self) -> dict[str, object]:
        """Everything :meth:`from_state` needs: settings, fitted statistics, weights (CPU)."""
        if not self._members:
            raise RuntimeError("only a fitted CNNQR can be saved")
        state: dict[str, object] = {name: getattr(self, name) for name in self._STATE}
        state["hyperparameters"] = dict(self.params.extra)
        state["seasonal_adjustment"] = self.seasonal_adjustment
        state["contexts"] = [member.context for member in self._members]
        state["weights"] = [
            {k: v.detach().cpu() for k, v in member.net.state_dict().items()}
            for member in self._members
        ]
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, object]) -> CNNQR:
        """A fitted model from :meth:`to_state`'s output, on this machine's device.

        A state saved before CNN-QR averaged networks (one ``weights`` dict, no
        ``contexts``) loads as one network reading ``context_length``, so
        predictors trained by an earlier Augury keep forecasting.
        """
        model = cls(state["hyperparameters"])  # type: ignore[arg-type]
        for name in cls._STATE:
            setattr(model, name, state[name])
        model.seasonal_adjustment = str(state.get("seasonal_adjustment", seasonal_adjustment.NONE))
        device = training_device()
        model._device = device
        model._autocast = mixed_precision_dtype(device, model.params.mixed_precision)
        contexts, members = state.get("contexts"), state["weights"]
        if contexts is None:
            contexts, members = [model.context_length], [members]
        for context, weights in zip(contexts, members, strict=True):  # type: ignore[call-overload]
            net = model._build_net(device, int(context))
            net.load_state_dict(weights)
            net.eval()
            model._members.append(_Member(int(context), net))
        return model

    # ------------------------------------------------------------ batches

    def _gather(
        self,
        prepared: PreparedSet,
        codes: np.ndarray,
        fallback: np.ndarray,
        rows: np.ndarray,
        starts: np.ndarray,
        context: int,
    ) -> ContextWindows:
        """Windows of ``rows`` with ``context`` steps, the mapped ``codes`` and the
        per-series ``fallback`` scale (both computed once per set, not per batch)."""
        windows = gather_context_windows(
            prepared, rows, starts, context, fallback, self._fallback.quiet
        )
        windows.codes = codes[rows]
        return windows

    def _forward(
        self, member: _Member, windows: ContextWindows, rng: np.random.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``member``'s quantiles in scaled units ``(B, horizon, Q)`` and the scale ``(B,)``;
        ``rng`` given (training) drops some codes to unknown."""
        net, device, context = member.net, self._device, member.context
        codes = windows.codes
        if rng is not None:
            codes = drop_codes(codes, self._cardinalities, rng)
        history = windows.targets[:, :context]
        observed = np.isfinite(history)
        scale = windows.scale
        scaled = np.where(observed, history / scale[:, None], 0.0).astype(np.float32)
        past = None
        if windows.past_related is not None:
            past = torch.from_numpy(windows.past_related).to(device)
        with autocast(device, self._autocast):
            static = net.static(
                torch.from_numpy(codes).to(device),
                torch.from_numpy(self._log_scale(scale)).to(device),
            )
            quantiles = net(
                torch.from_numpy(scaled).to(device),
                torch.from_numpy(observed.astype(np.float32)).to(device),
                torch.from_numpy(windows.known).to(device),
                past,
                static,
            )
        return quantiles, torch.from_numpy(scale).to(device)

    def _loss(
        self, member: _Member, windows: ContextWindows, rng: np.random.Generator | None
    ) -> torch.Tensor:
        """Pinball loss in scaled units, averaged over observed horizon points and levels."""
        quantiles, scale = self._forward(member, windows, rng)
        targets = torch.from_numpy(windows.targets[:, member.context :]).to(self._device)
        observed = torch.isfinite(targets)
        scaled = torch.where(observed, targets, 0.0) / scale[:, None]
        error = scaled[:, :, None] - quantiles
        levels = torch.tensor(QUANTILE_GRID, device=self._device)
        pinball = torch.maximum(levels * error, (levels - 1.0) * error).mean(dim=-1)
        return (pinball * observed).sum() / observed.sum().clamp(min=1)

    @torch.no_grad()
    def _validate(
        self,
        member: _Member,
        prepared: PreparedSet,
        codes: np.ndarray,
        fallback: np.ndarray,
        series: np.ndarray,
        indices: np.ndarray | None = None,
    ) -> float:
        """``member``'s mean pinball loss over the observed points of the held-out last
        horizons, in scaled units (early stopping); given the seasonal ``indices`` of
        those points (``(len(series), horizon)``, ones where not adjusted), their mean
        wQL at the grid's levels from 0.1 to 0.9, pooled in the data's units, which
        depend neither on the context that set each window's scale nor on whether the
        series were seasonally adjusted."""
        total, weight = 0.0, 0.0
        starts = prepared.pad + prepared.lengths[series] - self.horizon
        levels = [i for i, q in enumerate(QUANTILE_GRID) if 0.1 - 1e-9 <= q <= 0.9 + 1e-9]
        for begin in range(0, series.size, PREDICT_CHUNK):
            rows = series[begin : begin + PREDICT_CHUNK]
            chosen = starts[begin : begin + PREDICT_CHUNK]
            windows = self._gather(prepared, codes, fallback, rows, chosen, member.context)
            actual = windows.targets[:, member.context :]
            if indices is not None:
                factors = indices[begin : begin + PREDICT_CHUNK]
                actual = actual * factors
                scaled, scale = self._forward(member, windows, None)
                grid = (scaled * scale[:, None, None]).float().cpu().numpy() * factors[..., None]
                loss, points = pinball_sums(
                    actual, np.moveaxis(grid[..., levels], -1, 0), np.take(QUANTILE_GRID, levels)
                )
            else:
                points = float(np.isfinite(actual).sum())
                loss = float(self._loss(member, windows, None)) * points
            total += loss
            weight += points
        return total / max(weight, 1e-12)

    # ------------------------------------------------------------- predict

    def predict(
        self,
        data: SeriesSet,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        *,
        seed: int = 0,
    ) -> DeepForecast:
        """Forecast the ``horizon`` points after each series of ``data`` (its history is
        the context; empty histories are cold-start items, forecast from their metadata).

        Deterministic: one forward pass per member gives its quantile grid; the grids
        are averaged level by level (the quantile average of the members'
        distributions), and every requested level and the mean are read from the
        average (see the module docstring); ``seed`` is accepted for the common
        interface and changes nothing.
        """
        del seed
        if not self._members:
            raise RuntimeError("CNNQR.predict needs a fitted model: call fit first")
        levels = [float(q) for q in quantiles]
        if any(not 0.0 < q < 1.0 for q in levels):
            raise ValueError(f"quantile levels must lie strictly between 0 and 1, got {levels}")
        if data.frequency != self.frequency:
            raise ValueError(f"the model forecasts {self.frequency!r} data, got {data.frequency!r}")
        adjusted = seasonal_adjustment.adjust(data, self.horizon, self.seasonal_adjustment)
        prepared = self._prepare(adjusted.data)
        codes = self._codes(prepared)
        fallback = self._fallback.scales(codes)
        grid = np.zeros((prepared.n_series, self.horizon, len(QUANTILE_GRID)), np.float32)
        with torch.no_grad():
            for member in self._members:
                member.net.eval()
                for begin in range(0, prepared.n_series, PREDICT_CHUNK):
                    rows = np.arange(begin, min(begin + PREDICT_CHUNK, prepared.n_series))
                    starts = prepared.pad + prepared.lengths[rows]
                    windows = self._gather(prepared, codes, fallback, rows, starts, member.context)
                    scaled, scale = self._forward(member, windows, None)
                    grid[rows] += (scaled * scale[:, None, None]).float().cpu().numpy()
        grid = np.nan_to_num(grid / len(self._members), nan=0.0)
        if self.non_negative:
            grid = np.maximum(grid, 0.0)
        grid = np.sort(grid, axis=-1)  # a no-op in exact arithmetic; guards rounding
        forecast = DeepForecast(
            mean=mean_from_grid(grid, self.non_negative),
            quantiles={q: level_from_grid(grid, q, self.non_negative) for q in levels},
        )
        return adjusted.reseasonalise(forecast)
