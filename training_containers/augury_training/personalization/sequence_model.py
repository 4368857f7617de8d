"""The deep recipes' model: next-item prediction over each user's history, in PyTorch.

``aws-user-personalization(-v2)`` and ``aws-personalized-ranking(-v2)`` train
this model and serve its NumPy export (``augury_training.sequence_encoder``,
whose docstring states the forward pass both sides compute). The v1 recipes use
a GRU over the history, in the spirit of Amazon's original hierarchical-RNN
recipe; the v2 recipes a small causal transformer (SASRec-style). The
container picks by recipe through
:func:`~augury_training.personalization.sequence_hyperparameters.recipe_defaults`,
which holds the settings and their defaults.

Why it is built this way:

* Items are an ID embedding plus a linear projection of their metadata, and
  the same vectors embed the history and score the catalog (tied weights: half
  the parameters, better on small catalogs). During training a random
  ``item_id_dropout`` share of the catalog is, batch by batch, represented by
  the shared "unknown ID" embedding instead of its own, so the projection and
  the unknown vector learn to stand for items seen by features alone: cold
  items of the Items dataset and the new items ``with_new_items`` adds after a
  trainingMode=UPDATE.
* Every position of every history is a training example (predict item t+1
  from items up to t), with a start token so an empty history also predicts
  something sensible (popular items, shaped by the user's metadata). The loss
  is the softmax cross-entropy over the whole catalog while it has at most
  ``full_softmax_max_items`` items, sampled softmax with a log-frequency
  correction above that, each target weighted by its interaction's weight
  (eventsConfig).
* Histories are cut into windows of ``bptt`` positions ending at each user's
  latest interaction, so the newest items are always learned with their full
  context; earlier windows move by a random offset each epoch.
* ``recency_mask`` (Amazon's name; default on) adds each item's age as a
  feature when ages are known, so the model can learn how much this catalog
  favours new items. Users whose history length lies outside the
  ``min/max_user_history_length_percentile`` range are left out of training,
  as Amazon does (defaults 0.0 and 0.99: the longest 1% are often bots).
* Early stopping: the last interaction of a sample of users is held out and
  the model is scored on it (NDCG@10 among items the user has not seen) after
  every epoch; training stops after ``early_stopping_patience`` epochs without
  improvement, or when ``time_budget_seconds`` is spent, and the best epoch's
  weights are exported.
* Context (Amazon's contextual metadata: the Interactions schema's own
  categorical, boolean and numeric fields, such as DEVICE or HOUR; numbers in
  bins, ``context_features``) is one learned vector per field value,
  added to the state that predicts an interaction from the context that
  interaction happened in; at serving the request's ``context`` picks the
  vectors. During training each value is hidden (read as "not given", row 0)
  with probability ``CONTEXT_DROPOUT``, so a request without context gets what
  users do whatever their context.
* ``num_averaged_models`` networks (default 3) train from consecutive seeds
  and serve as one (``augury_training.encoder_ensemble``): networks from
  different seeds disagree where the data says little, and their average
  cancels much of it. On ml-100k (seed 42) three GRUs scored NDCG@10 0.2162
  where one scored 0.2003; on its liked ratings (seeds 0-2) 0.1466, 0.1318
  and 0.1490 where one scored 0.1291, 0.1222 and 0.1382. Each network costs
  one training; under a time budget the first gets all of it.
* The same code runs on a CUDA GPU (with bf16, or fp16 with a gradient scaler,
  autocast) and on the CPU (float32, deterministic kernels): a seed gives the
  same weights on the same CPU build.

Defaults were tuned on MovieLens 100K (every rating an interaction, no
metadata) under Amazon's evaluation split (``evaluation.amazon_split``, seeds
0-2, seen items excluded from the lists), on one CPU thread, one network each
(before networks were averaged):

===========================  ==========  ============  ===================
model                        NDCG@10     precision@10  training (CPU time)
===========================  ==========  ============  ===================
GRU (v1 defaults)            0.197       0.138         50-116 s
transformer (v2 defaults)    0.189       0.133         120-180 s
EASE, lambda 250 (peer)      0.149       0.103         (closed form)
===========================  ==========  ============  ===================

Per seed (GRU / transformer / EASE): 0.216 / 0.213 / 0.161, 0.188 / 0.191 /
0.136, 0.186 / 0.163 / 0.151. Genres and release years as item features moved
the GRU's seed 0 from 0.216 to 0.225.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from augury_training.encoder_ensemble import EncoderEnsemble
from augury_training.personalization.sequence_hyperparameters import (
    SequenceHyperparameters,
    parse_hyperparameters,
)
from augury_training.personalization.sequence_net import SequenceNet
from augury_training.sequence_encoder import GRU, SequenceEncoder
from augury_training.time_budget import room_for_another
from augury_training.torch_runtime import (
    autocast,
    deterministic_on_cpu,
    mixed_precision_dtype,
    training_device,
)

__all__ = [
    "SequenceTrainingData",
    "export_encoder",
    "train_sequence_model",
]

VALIDATION_CUTOFF = 10
CONTEXT_DROPOUT = 0.25
"""Share of training interactions whose context values are hidden (see the module)."""


@dataclass
class SequenceTrainingData:
    """What the container hands the model: histories as catalog indices, and metadata.

    ``sequences[u]`` is one user's items, oldest first (int64 indices into the
    catalog of ``n_items``); ``weights[u]`` the matching per-interaction loss
    weights (None: all 1). ``user_rows[u]`` is that user's row in
    ``user_features`` (-1: none). ``item_features`` has one row per catalog
    item, ``item_age_days`` one age per item (NaN: unknown). ``contexts[u]``
    holds the context codes of each of the user's interactions (len x fields,
    0: unknown) for the ``context_fields``, whose code ``i + 1`` is the value
    ``context_values[f][i]``, or for a numeric field (``context_edges[f]``, its cut
    points; None for a categorical one) bin ``i``.
    """

    sequences: list[np.ndarray]
    weights: list[np.ndarray] | None
    user_rows: np.ndarray
    item_features: np.ndarray | None
    user_features: np.ndarray | None
    item_age_days: np.ndarray | None
    n_items: int
    contexts: list[np.ndarray] | None = None
    context_fields: tuple[str, ...] = ()
    context_values: tuple[tuple[str, ...], ...] = ()
    context_edges: tuple[tuple[float, ...] | None, ...] = ()

    @property
    def context_sizes(self) -> tuple[int, ...]:
        return tuple(len(values) for values in self.context_values) if self.contexts else ()


# --------------------------------------------------------------------- features


@dataclass
class _Features:
    """Model-ready metadata: columns scaled to [-1, 1] by their largest magnitude.

    Zero stays zero ("nothing known"), which is what ``with_new_items`` feeds
    for a new item without features. ``item_scale`` covers the item columns
    and, when ``age_feature``, a last ``log1p(age in days)`` column.
    """

    items: np.ndarray | None
    item_scale: np.ndarray | None
    item_feature_dim: int
    age_feature: bool
    users: np.ndarray | None


def _prepare_features(data: SequenceTrainingData, params: SequenceHyperparameters) -> _Features:
    columns: list[np.ndarray] = []
    width = 0
    if data.item_features is not None:
        given = np.asarray(data.item_features, dtype=np.float32)
        if given.shape[0] != data.n_items:
            raise ValueError(
                f"item_features has {given.shape[0]} rows for a catalog of {data.n_items} items"
            )
        width = given.shape[1]
        columns.append(np.nan_to_num(given, nan=0.0, posinf=0.0, neginf=0.0))
    age_feature = False
    if params.recency_mask and data.item_age_days is not None:
        ages = np.asarray(data.item_age_days, dtype=np.float64).reshape(-1)
        known = np.isfinite(ages)
        if ages.shape[0] == data.n_items and known.any() and np.ptp(ages[known]) > 0:
            filled = np.where(known, ages, np.median(ages[known]))
            columns.append(np.log1p(np.maximum(filled, 0.0)).astype(np.float32)[:, None])
            age_feature = True
    items = scale = None
    if columns:
        matrix = np.concatenate(columns, axis=1).astype(np.float32)
        if matrix.shape[1]:
            scale = _inverse_max_abs(matrix)
            items = matrix * scale
    users = None
    if data.user_features is not None and np.asarray(data.user_features).size:
        raw = np.nan_to_num(np.asarray(data.user_features, dtype=np.float32))
        users = raw * _inverse_max_abs(raw)
    return _Features(items, scale, width, age_feature, users)


def _inverse_max_abs(matrix: np.ndarray) -> np.ndarray:
    largest = np.abs(matrix).max(axis=0) if matrix.shape[0] else np.zeros(matrix.shape[1])
    return np.where(largest > 0, 1.0 / np.maximum(largest, 1e-12), 1.0).astype(np.float32)


# ---------------------------------------------------------------------- network


def build_network(
    data: SequenceTrainingData, params: SequenceHyperparameters
) -> tuple[SequenceNet, _Features]:
    """A freshly initialised network for ``data`` (the caller seeds torch first)."""
    features = _prepare_features(data, params)
    item_width = 0 if features.items is None else features.items.shape[1]
    user_width = 0 if features.users is None else features.users.shape[1]
    network = SequenceNet(data.n_items, params, item_width, user_width, data.context_sizes)
    return network, features


# ------------------------------------------------------------------------ data


@dataclass
class _Flat:
    """Training histories laid end to end, so a window is (offset, length)."""

    inputs: np.ndarray  # token before each target: the start token or the previous item
    targets: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray  # per user
    lengths: np.ndarray  # per user
    rows: np.ndarray  # per user, into user_features (-1: none)
    contexts: np.ndarray | None = None  # per target: its context codes (targets x fields)


def _flatten(
    sequences: Sequence[np.ndarray],
    weights: Sequence[np.ndarray] | None,
    rows: np.ndarray,
    bos: int,
    contexts: Sequence[np.ndarray] | None = None,
) -> _Flat:
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    targets = np.concatenate(sequences).astype(np.int64) if len(sequences) else np.zeros(0, int)
    inputs = np.concatenate([np.concatenate([[bos], s[:-1]]) for s in sequences]).astype(np.int64)
    if weights is None:
        flat_weights = np.ones(targets.shape[0], dtype=np.float32)
    else:
        flat_weights = np.concatenate(weights).astype(np.float32)
    flat_contexts = None
    if contexts is not None and len(contexts):
        flat_contexts = np.concatenate(contexts).astype(np.int64)
    return _Flat(
        inputs, targets, flat_weights, offsets, lengths, rows.astype(np.int64), flat_contexts
    )


def _windows(flat: _Flat, bptt: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """This epoch's (start, length) windows: each user's newest ``bptt`` positions, then
    earlier windows behind a random offset, so context cuts move from epoch to epoch."""
    starts: list[int] = []
    sizes: list[int] = []
    shifts = rng.integers(1, bptt + 1, size=flat.lengths.shape[0])
    for offset, n, shift in zip(
        flat.offsets.tolist(), flat.lengths.tolist(), shifts.tolist(), strict=True
    ):
        end, window = n, 0
        while end > 0:
            start = max(0, end - (shift if window == 1 else bptt))
            starts.append(offset + start)
            sizes.append(end - start)
            end, window = start, window + 1
    return np.array(starts, dtype=np.int64), np.array(sizes, dtype=np.int64)


def _user_of(flat: _Flat, starts: np.ndarray) -> np.ndarray:
    return np.searchsorted(flat.offsets, starts, side="right") - 1


def _batches(sizes: np.ndarray, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Window indices per batch: shuffled, then sorted by length in groups to limit padding."""
    order = rng.permutation(sizes.shape[0])
    group = batch_size * 32
    batches: list[np.ndarray] = []
    for begin in range(0, order.shape[0], group):
        chunk = order[begin : begin + group]
        chunk = chunk[np.argsort(-sizes[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, chunk.shape[0], batch_size))
    for index in rng.permutation(len(batches)):
        yield batches[index]


def _gather(
    flat: _Flat, starts: np.ndarray, sizes: np.ndarray, pad: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Right-padded tokens, targets (-1 at padding), weights and the targets' context
    codes (0 at padding; None without context) for some windows."""
    width = int(sizes.max())
    steps = np.arange(width)[None, :]
    valid = steps < sizes[:, None]
    positions = np.where(valid, starts[:, None] + steps, 0)
    tokens = np.where(valid, flat.inputs[positions], pad)
    targets = np.where(valid, flat.targets[positions], -1)
    weights = np.where(valid, flat.weights[positions], 0.0).astype(np.float32)
    codes = None
    if flat.contexts is not None:
        codes = np.where(valid[:, :, None], flat.contexts[positions], 0)
    return tokens, targets, weights, codes


def _history_tokens(
    histories: Sequence[np.ndarray], bptt: int, bos: int, pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """The inference input for each history: the last ``bptt`` of ``[BOS] + history``."""
    rows = []
    for history in histories:
        tokens = np.concatenate([[bos], np.asarray(history, dtype=np.int64)])[-bptt:]
        rows.append(tokens)
    sizes = np.array([len(r) for r in rows], dtype=np.int64)
    out = np.full((len(rows), int(sizes.max())), pad, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out, sizes


def _filter_by_length(data: SequenceTrainingData, params: SequenceHyperparameters) -> np.ndarray:
    """Indices of the users that train: a non-empty history inside the percentile range."""
    lengths = np.array([len(s) for s in data.sequences], dtype=np.int64)
    present = np.flatnonzero(lengths > 0)
    if present.size == 0:
        return present
    low = np.quantile(lengths[present], params.min_user_history_length_percentile)
    high = np.quantile(lengths[present], params.max_user_history_length_percentile)
    kept = present[(lengths[present] >= low) & (lengths[present] <= high)]
    return kept if kept.size else present


@dataclass
class _Validation:
    """Held-out last items of a sample of users, with the histories before them."""

    histories: list[np.ndarray]
    targets: np.ndarray
    rows: np.ndarray
    contexts: np.ndarray | None = None  # the held-out interactions' context codes


def _split_validation(
    data: SequenceTrainingData,
    users: np.ndarray,
    params: SequenceHyperparameters,
    rng: np.random.Generator,
) -> tuple[_Flat, _Validation | None]:
    """Training histories (held-out items removed), laid flat, and the validation slice
    (None: too few users to hold any out)."""
    sequences = [np.asarray(data.sequences[u], dtype=np.int64) for u in users]
    weights = (
        None
        if data.weights is None
        else [np.asarray(data.weights[u], dtype=np.float32) for u in users]
    )
    contexts = (
        [np.asarray(data.contexts[u], dtype=np.int64) for u in users]
        if data.context_sizes and data.contexts is not None
        else None
    )
    rows = np.asarray(data.user_rows, dtype=np.int64)[users]
    bos = data.n_items
    eligible = np.flatnonzero(np.array([len(s) >= 3 for s in sequences], dtype=bool))
    count = min(params.validation_users, eligible.size)
    if count < 10:
        return _flatten(sequences, weights, rows, bos, contexts), None
    chosen = np.sort(rng.choice(eligible, size=count, replace=False))
    validation = _Validation(
        histories=[sequences[u][:-1] for u in chosen],
        targets=np.array([sequences[u][-1] for u in chosen], dtype=np.int64),
        rows=rows[chosen],
        contexts=None if contexts is None else np.stack([contexts[u][-1] for u in chosen]),
    )
    for u in chosen:
        sequences[u] = sequences[u][:-1]
        if weights is not None:
            weights[u] = weights[u][:-1]
        if contexts is not None:
            contexts[u] = contexts[u][:-1]
    return _flatten(sequences, weights, rows, bos, contexts), validation


# --------------------------------------------------------------------- training


@dataclass
class _Context:
    """Tensors and settings shared by the training steps."""

    net: SequenceNet
    params: SequenceHyperparameters
    device: torch.device
    item_features: torch.Tensor | None
    user_features: torch.Tensor | None
    autocast_dtype: torch.dtype | None
    sampling_log_q: torch.Tensor | None  # log of the negative-sampling distribution
    sampling_q: torch.Tensor | None
    generator: torch.Generator

    def autocast(self) -> torch.autocast:
        return autocast(self.device, self.autocast_dtype)


def train_sequence_model(
    data: SequenceTrainingData,
    hyperparameters: Mapping[str, str],
    *,
    seed: int,
    time_budget_seconds: float | None,
    log: Callable[[str], None],
) -> EncoderEnsemble:
    """Train ``num_averaged_models`` networks on ``data`` (seeds ``seed``, ``seed + 1``...)
    and return their NumPy encoders, each of its best epoch, as one ensemble.

    Raises ``HyperparameterError`` for a bad hyperparameter and ``ValueError``
    for data that cannot train (no history at all).
    """
    began = time.monotonic()
    deadline = None if time_budget_seconds is None else began + float(time_budget_seconds)
    params = parse_hyperparameters(hyperparameters)
    if data.n_items <= 0:
        raise ValueError("the catalog is empty: there is nothing to recommend")
    if len(data.user_rows) != len(data.sequences) or (
        data.weights is not None and len(data.weights) != len(data.sequences)
    ):
        raise ValueError("sequences, weights and user_rows must have one entry per user")
    if data.contexts is not None and (
        len(data.contexts) != len(data.sequences)
        or any(
            np.shape(codes) != (len(sequence), len(data.context_values))
            for codes, sequence in zip(data.contexts, data.sequences, strict=True)
        )
    ):
        raise ValueError("contexts must hold one row of codes per interaction, one per field")
    users = _filter_by_length(data, params)
    if users.size == 0:
        raise ValueError("no user has any interaction to learn from")

    device = training_device()
    count = params.num_averaged_models
    members: list[SequenceEncoder] = []
    first_seconds = 0.0
    for index in range(count):
        first_ran_out = bool(index and members[0].config["training"]["stopped_by_time_budget"])
        if index and not room_for_another(deadline, first_seconds, first_ran_out):
            log(f"sequence model: the time budget leaves room for {index} of {count} networks")
            break
        member_seed = seed + index
        if count > 1:
            log(f"sequence model: network {index + 1} of {count} (seed {member_seed})")
        started = time.monotonic()
        torch.manual_seed(member_seed)
        rng = np.random.default_rng(member_seed)
        with deterministic_on_cpu(device):
            members.append(
                _train(data, params, users, rng, member_seed, device, deadline, started, log)
            )
        if index == 0:
            first_seconds = time.monotonic() - started
    return EncoderEnsemble(members)


def _train(
    data: SequenceTrainingData,
    params: SequenceHyperparameters,
    users: np.ndarray,
    rng: np.random.Generator,
    seed: int,
    device: torch.device,
    deadline: float | None,
    began: float,
    log: Callable[[str], None],
) -> SequenceEncoder:
    net, features = build_network(data, params)
    net.to(device)
    flat, validation = _split_validation(data, users, params, rng)
    bos, pad = data.n_items, data.n_items + 1
    context = _context(net, params, features, flat, data.n_items, device, seed)
    log(
        f"sequence model: {params.encoder}, {flat.lengths.size} users, {flat.targets.size} "
        f"interactions, {data.n_items} items, dimension {params.hidden_dimension}, "
        f"{'full' if context.sampling_q is None else 'sampled'} softmax, device {device.type}"
        + (f" ({context.autocast_dtype})" if context.autocast_dtype else "")
    )
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    scaler = torch.amp.GradScaler(device.type, enabled=context.autocast_dtype == torch.float16)

    best_metric, best_state, best_epoch, epochs_run = -1.0, None, 0, 0
    stale = 0
    out_of_time = False
    for epoch in range(1, params.epochs + 1):
        started = time.monotonic()
        net.train()
        starts, sizes = _windows(flat, params.bptt, rng)
        window_rows = flat.rows[_user_of(flat, starts)]
        total, count = 0.0, 0
        for batch in _batches(sizes, params.batch_size, rng):
            if deadline is not None and time.monotonic() >= deadline:
                out_of_time = True
                break
            tokens, targets, target_weights, codes = _gather(flat, starts[batch], sizes[batch], pad)
            loss = _step(
                context,
                optimizer,
                scaler,
                tokens,
                targets,
                target_weights,
                window_rows[batch],
                codes,
            )
            total += loss
            count += 1
        if out_of_time and count == 0:  # the budget ran out just as this epoch began
            log(f"epoch {epoch}/{params.epochs}: not started (time budget reached)")
            break
        epochs_run = epoch
        metric = _validate(context, validation, bos, pad) if validation is not None else None
        seconds = time.monotonic() - started
        shown = "n/a" if metric is None else f"{metric:.4f}"
        log(
            f"epoch {epoch}/{params.epochs}: loss {total / max(count, 1):.4f}, "
            f"validation ndcg@{VALIDATION_CUTOFF} {shown}, {seconds:.1f}s"
            + (" (time budget reached)" if out_of_time else "")
        )
        if metric is not None and metric > best_metric:
            best_metric, best_epoch, stale = metric, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in net.state_dict().items()})
        elif metric is not None:
            stale += 1
        if out_of_time or stale >= params.early_stopping_patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    summary = {
        "epochs": epochs_run,
        "best_epoch": best_epoch if best_state is not None else epochs_run,
        "validation_ndcg_at_10": None if best_state is None else round(best_metric, 6),
        "validation_users": 0 if validation is None else int(validation.targets.size),
        "device": device.type,
        "seconds": round(time.monotonic() - began, 3),
        "stopped_by_time_budget": out_of_time,
    }
    log(
        f"sequence model trained: best epoch {summary['best_epoch']} of {epochs_run}, "
        f"validation ndcg@{VALIDATION_CUTOFF} {summary['validation_ndcg_at_10']}, "
        f"{summary['seconds']}s"
    )
    return export_encoder(net, features, params, summary, data)


def _context(
    net: SequenceNet,
    params: SequenceHyperparameters,
    features: _Features,
    flat: _Flat,
    n_items: int,
    device: torch.device,
    seed: int,
) -> _Context:
    autocast_dtype = mixed_precision_dtype(device, params.mixed_precision)
    sampling_q = sampling_log_q = None
    if n_items > params.full_softmax_max_items:
        # Negatives follow frequency^0.75 (word2vec's smoothing); every item stays possible.
        counts = np.bincount(flat.targets, minlength=n_items).astype(np.float64) + 1.0
        q = counts**0.75
        q /= q.sum()
        sampling_q = torch.tensor(q, dtype=torch.float32, device=device)
        sampling_log_q = torch.log(sampling_q * params.num_sampled)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return _Context(
        net=net,
        params=params,
        device=device,
        item_features=None
        if features.items is None
        else torch.tensor(features.items, device=device),
        user_features=None
        if features.users is None
        else torch.tensor(features.users, device=device),
        autocast_dtype=autocast_dtype,
        sampling_log_q=sampling_log_q,
        sampling_q=sampling_q,
        generator=generator,
    )


def _step(
    context: _Context,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    tokens: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    rows: np.ndarray,
    codes: np.ndarray | None = None,
) -> float:
    """One optimisation step on a batch of windows; returns its mean weighted loss."""
    net, params, device = context.net, context.params, context.device
    tokens_t = torch.from_numpy(tokens).to(device)
    targets_t = torch.from_numpy(targets).to(device)
    weights_t = torch.from_numpy(weights).to(device)
    rows_t = torch.from_numpy(rows).to(device)
    codes_t = None
    if codes is not None:
        codes_t = torch.from_numpy(codes).to(device)
        hidden = torch.rand(codes_t.shape, generator=context.generator, device=device)
        codes_t = codes_t.masked_fill(hidden < CONTEXT_DROPOUT, 0)
    dropped = None
    if params.item_id_dropout > 0:
        draw = torch.rand(net.n_items, generator=context.generator, device=device)
        dropped = draw < params.item_id_dropout
    with context.autocast():
        table, bias = net.item_table(context.item_features, dropped)
        users = net.user_vectors(context.user_features, rows_t)
        states = net.states(tokens_t, table, users) + net.context_vectors(codes_t)
        chosen = targets_t >= 0
        hidden, wanted, weight = states[chosen], targets_t[chosen], weights_t[chosen]
        if context.sampling_q is None:
            logits = hidden @ table.T + bias
            losses = F.cross_entropy(logits.float(), wanted, reduction="none")
        else:
            losses = _sampled_losses(context, hidden, wanted, table, bias)
    loss = (losses * weight).sum() / weight.sum().clamp(min=1e-8)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    nn.utils.clip_grad_norm_(net.parameters(), 5.0)
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


def _sampled_losses(
    context: _Context,
    hidden: torch.Tensor,
    wanted: torch.Tensor,
    table: torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    """Sampled softmax: shared negatives, logits corrected by log(expected count)."""
    assert context.sampling_q is not None and context.sampling_log_q is not None
    negatives = torch.multinomial(
        context.sampling_q,
        context.params.num_sampled,
        replacement=True,
        generator=context.generator,
    )
    positive = (hidden * table[wanted]).sum(-1) + bias[wanted] - context.sampling_log_q[wanted]
    negative = hidden @ table[negatives].T + bias[negatives] - context.sampling_log_q[negatives]
    negative = negative.float().masked_fill(negatives[None, :] == wanted[:, None], -torch.inf)
    logits = torch.cat([positive.float()[:, None], negative], dim=1)
    return F.cross_entropy(logits, torch.zeros_like(wanted), reduction="none")


@torch.no_grad()
def _validate(context: _Context, validation: _Validation, bos: int, pad: int) -> float:
    """Mean NDCG@10 of the held-out items, ranked among the items each user has not seen."""
    net = context.net
    net.eval()
    table, bias = net.item_table(context.item_features)
    gains = []
    size = 256
    for begin in range(0, validation.targets.size, size):
        histories = validation.histories[begin : begin + size]
        codes = None if validation.contexts is None else validation.contexts[begin : begin + size]
        scores = _scores(
            context, table, bias, histories, validation.rows[begin : begin + size], bos, pad, codes
        )
        targets = torch.from_numpy(validation.targets[begin : begin + size]).to(context.device)
        picked = scores.gather(1, targets[:, None])
        row_index = np.concatenate([np.full(len(h), i) for i, h in enumerate(histories)])
        seen = torch.from_numpy(np.concatenate(histories)).to(context.device)
        scores[torch.from_numpy(row_index).to(context.device), seen] = -torch.inf
        scores.scatter_(1, targets[:, None], picked)
        rank = (scores > picked).sum(dim=1).cpu().numpy()
        gains.append(np.where(rank < VALIDATION_CUTOFF, 1.0 / np.log2(rank + 2.0), 0.0))
    net.train()
    return float(np.concatenate(gains).mean())


def _scores(
    context: _Context,
    table: torch.Tensor,
    bias: torch.Tensor,
    histories: Sequence[np.ndarray],
    rows: np.ndarray,
    bos: int,
    pad: int,
    codes: np.ndarray | None = None,
) -> torch.Tensor:
    """Scores after each history, in the context ``codes`` (histories x fields) when given."""
    net = context.net
    tokens, sizes = _history_tokens(histories, net.bptt, bos, pad)
    rows_t = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(context.device)
    with context.autocast():
        users = net.user_vectors(context.user_features, rows_t)
        states = net.states(torch.from_numpy(tokens).to(context.device), table, users)
    positions = torch.from_numpy(sizes - 1).to(context.device)
    last = states[torch.arange(len(histories), device=context.device), positions].float()
    if codes is not None:
        last = last + net.context_vectors(torch.from_numpy(codes).to(context.device)).float()
    return last @ table.float().T + bias.float()


def network_scores(
    net: SequenceNet,
    features: _Features,
    histories: Sequence[np.ndarray],
    user_rows: Sequence[int],
    context_codes: np.ndarray | None = None,
) -> np.ndarray:
    """torch's scores for some histories (users x items), in float32 on the CPU; for tests."""
    net = net.cpu().eval()
    context = _Context(
        net=net,
        params=SequenceHyperparameters(),
        device=torch.device("cpu"),
        item_features=None if features.items is None else torch.tensor(features.items),
        user_features=None if features.users is None else torch.tensor(features.users),
        autocast_dtype=None,
        sampling_log_q=None,
        sampling_q=None,
        generator=torch.Generator(),
    )
    with torch.no_grad():
        table, bias = net.item_table(context.item_features)
        scores = _scores(
            context,
            table,
            bias,
            histories,
            np.asarray(user_rows),
            net.n_items,
            net.n_items + 1,
            context_codes,
        )
    return scores.numpy()


# ----------------------------------------------------------------------- export


def export_encoder(
    net: SequenceNet,
    features: _Features,
    params: SequenceHyperparameters,
    summary: Mapping[str, object] | None = None,
    data: SequenceTrainingData | None = None,
) -> SequenceEncoder:
    """The NumPy ``SequenceEncoder`` with ``net``'s weights (float32, eval mode); ``data``
    names the context fields and values behind the network's context tables."""
    net = net.cpu().eval()

    def array(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().float().numpy().copy()

    n = net.n_items
    with torch.no_grad():
        item_features = None if features.items is None else torch.tensor(features.items)
        table, bias = net.item_table(item_features)
        unknown = net.item_id.weight[n].clone()
        if net.item_feature is not None:
            unknown = unknown + net.item_feature.bias
        d = params.hidden_dimension
        arrays: dict[str, np.ndarray] = {
            "item_vectors": array(table),
            "item_bias": array(bias),
            "unknown_vector": array(unknown),
            "unknown_bias": array(net.item_bias[n : n + 1]),
            "bos_vector": array(net.bos),
            "user_default": np.zeros(d, np.float32)
            if net.user_feature is None
            else array(net.user_feature.bias),
        }
        if net.item_feature is not None and features.item_scale is not None:
            arrays["item_feature_weight"] = array(net.item_feature.weight)
            arrays["item_feature_scale"] = features.item_scale.astype(np.float32)
        if net.user_feature is not None and features.users is not None:
            arrays["user_vectors"] = array(net.user_feature(torch.tensor(features.users)))
        for field, table in enumerate(net.context):
            arrays[f"context{field}"] = array(table.weight)
        if params.encoder == GRU:
            for layer in range(params.num_layers):
                for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    arrays[f"gru{layer}.{part}"] = array(getattr(net.gru, f"{part}_l{layer}"))
            arrays["output_weight"] = array(net.output.weight)
            arrays["output_bias"] = array(net.output.bias)
        else:
            arrays["positions"] = array(net.positions.weight)
            for layer, block in enumerate(net.blocks):
                for name, module in (
                    ("norm1", block.norm1),
                    ("qkv", block.qkv),
                    ("out", block.out),
                    ("norm2", block.norm2),
                    ("ff1", block.ff1),
                    ("ff2", block.ff2),
                ):
                    arrays[f"block{layer}.{name}_weight"] = array(module.weight)
                    arrays[f"block{layer}.{name}_bias"] = array(module.bias)
            arrays["final_norm_weight"] = array(net.final_norm.weight)
            arrays["final_norm_bias"] = array(net.final_norm.bias)
    config = {
        "encoder": params.encoder,
        "dimension": params.hidden_dimension,
        "num_layers": params.num_layers,
        "num_heads": params.num_heads,
        "bptt": params.bptt,
        "n_items": n,
        "item_feature_dim": features.item_feature_dim,
        "item_age_feature": features.age_feature,
        "context_fields": list(data.context_fields) if data and len(net.context) else [],
        "context_values": [list(v) for v in data.context_values]
        if data and len(net.context)
        else [],
        "context_edges": [
            None if edges is None else list(edges)
            for edges in (data.context_edges or (None,) * len(data.context_values))
        ]
        if data and len(net.context)
        else [],
        "hyperparameters": {key: value for key, value in vars(params).items() if key != "extra"},
        "training": dict(summary or {}),
    }
    return SequenceEncoder(config, arrays)
