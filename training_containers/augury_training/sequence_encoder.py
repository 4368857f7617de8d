"""The trained sequence recommender's forward pass in NumPy alone.

``aws-user-personalization(-v2)`` and ``aws-personalized-ranking(-v2)`` train a
PyTorch model (``augury_training.personalization.sequence_model``) and export it
as this class: a JSON configuration plus ``.npy`` arrays. Serving loads it
without the training framework (the runtime image has NumPy, not torch) and
runs the same arithmetic; ``tests/unit/test_sequence_encoder.py`` checks the
scores equal torch's.

The model, as both sides compute it:

* Every catalog item ``i`` has a vector ``V[i]`` (its learned ID embedding plus
  a linear projection of its metadata features) and a bias ``b[i]``. Items known
  only by their features (``with_new_items``) get the learned "unknown ID"
  embedding plus their feature projection, so they rank by what they look like.
* A user's history (catalog indices, oldest first) becomes the token sequence
  ``[BOS, i0, i1, ...]`` whose last ``bptt`` tokens are embedded with ``V`` (the
  input and output item vectors are tied) and run through the encoder: a GRU
  (``encoder="gru"``, the v1 recipes) or a causal pre-norm transformer
  (``encoder="transformer"``, the v2 recipes: learned positions, multi-head
  self-attention, a tanh-approximated GELU feed-forward block, layer norms).
  Only the last position's output is needed here, so the last transformer block
  computes one query instead of all of them.
* The user state is that output (through a linear layer for the GRU, a final
  layer norm for the transformer) plus the projection of the user's metadata
  (``user_row``; a learned default vector when there is none) plus, when the
  Interactions schema has context fields (``config["context_fields"]``), one
  learned vector per field for the request's value of it (``context``; row 0,
  "not given or never seen", otherwise).
* ``score = V @ state + b``: one raw score per catalog item, higher is better.
"""

from __future__ import annotations

import bisect
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "sequence_encoder.json"
ARRAY_PREFIX = "sequence_encoder."
FORMAT_VERSION = 1

GRU = "gru"
TRANSFORMER = "transformer"
ENCODERS = (GRU, TRANSFORMER)

LAYER_NORM_EPSILON = 1e-5


def context_key(name: str) -> str:
    """A context field name as requests may spell it: case and underscores ignored."""
    return str(name).replace("_", "").lower()


def context_value(value: Any) -> str | None:
    """A context value as training and serving both compare it: trimmed, lower-cased,
    booleans as ``true``/``false``; None when nothing is given."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    pandas = sys.modules.get("pandas")  # serving never imports it; training may pass pd.NA
    if pandas is not None and value is pandas.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    text = str(value).strip().lower()
    return text or None


class SequenceEncoder:
    """A trained sequence recommender: history (and user row) in, item scores out.

    ``config`` holds the shapes and choices (``encoder``, ``dimension``,
    ``num_layers``, ``num_heads``, ``bptt``, ``n_items``, ``item_feature_dim``,
    ``item_age_feature``) and a ``training`` summary; ``arrays`` the weights by
    name (see ``sequence_model.export_encoder`` for the list). Instances are
    immutable in use: ``with_new_items`` returns a new one.
    """

    def __init__(self, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        if config.get("encoder") not in ENCODERS:
            raise ValueError(f"unknown sequence encoder {config.get('encoder')!r}")
        self.config: dict[str, Any] = dict(config)
        self.arrays: dict[str, np.ndarray] = {
            name: np.asarray(value, dtype=np.float32) for name, value in arrays.items()
        }
        self._item_vectors = self.arrays["item_vectors"]
        self._item_bias = self.arrays["item_bias"]
        fields = list(self.config.get("context_fields") or ())
        edges = list(self.config.get("context_edges") or [None] * len(fields))
        self._context_codes: list[tuple[str, dict[str, int], list[float] | None]] = [
            (str(name), {value: code + 1 for code, value in enumerate(values)}, cuts)
            for name, values, cuts in zip(
                fields, self.config.get("context_values") or (), edges, strict=True
            )
        ]

    # ----------------------------------------------------------------- shapes

    @property
    def encoder(self) -> str:
        return str(self.config["encoder"])

    @property
    def n_items(self) -> int:
        return int(self._item_vectors.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.config["dimension"])

    @property
    def bptt(self) -> int:
        return int(self.config["bptt"])

    @property
    def n_user_rows(self) -> int:
        users = self.arrays.get("user_vectors")
        return 0 if users is None else int(users.shape[0])

    @property
    def context_fields(self) -> tuple[str, ...]:
        """The Interactions fields the model reads from a request's ``context``."""
        return tuple(name for name, _, _ in self._context_codes)

    @property
    def item_vectors(self) -> np.ndarray:
        """``V``: one row per catalog item (read-only use: related-item similarity)."""
        return self._item_vectors

    @property
    def item_bias(self) -> np.ndarray:
        return self._item_bias

    # ----------------------------------------------------------------- storage

    def save(self, directory: Path) -> None:
        """Write ``sequence_encoder.json`` and one ``sequence_encoder.<name>.npy`` per array."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        document = {**self.config, "format_version": FORMAT_VERSION, "arrays": sorted(self.arrays)}
        (directory / CONFIG_FILE).write_text(json.dumps(document, indent=1, sort_keys=True))
        for name, value in self.arrays.items():
            np.save(directory / f"{ARRAY_PREFIX}{name}.npy", value, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> SequenceEncoder:
        directory = Path(directory)
        document = json.loads((directory / CONFIG_FILE).read_text())
        version = document.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{directory / CONFIG_FILE} has sequence encoder format {version!r}; "
                f"this code reads format {FORMAT_VERSION}"
            )
        names = document.pop("arrays")
        arrays = {
            name: np.load(directory / f"{ARRAY_PREFIX}{name}.npy", allow_pickle=False)
            for name in names
        }
        return cls(document, arrays)

    # --------------------------------------------------------------- inference

    def encode(
        self,
        item_indices: np.ndarray,
        user_row: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """The user state (``dimension`` floats) after the history ``item_indices``.

        Indices outside the catalog (e.g. -1 for an item the model does not
        know) are skipped; only the last ``bptt`` tokens count. ``user_row`` is
        the user's row in the training ``user_features`` (None or -1: none).
        ``context`` maps Interactions field names (any case) to the request's
        values; fields the model does not use are ignored.
        """
        tokens = self._token_vectors(item_indices)
        if self.encoder == GRU:
            hidden = self._gru(tokens)
            state = hidden @ self.arrays["output_weight"].T + self.arrays["output_bias"]
        else:
            state = self._transformer_last(tokens)
        return (state + self._user_vector(user_row) + self.context_vector(context)).astype(
            np.float32
        )

    def score(
        self,
        item_indices: np.ndarray,
        user_row: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """One raw score per catalog item (``n_items`` floats), higher is better."""
        state = self.encode(item_indices, user_row, context)
        return self._item_vectors @ state + self._item_bias

    # ------------------------------------------------------------ new items

    def with_new_items(self, item_features: np.ndarray | None, count: int) -> SequenceEncoder:
        """The catalog grown by ``count`` items known only by their features (or nothing).

        ``item_features`` has one row per new item and the training feature
        columns (``item_feature_dim``); ``None`` means nothing is known (and
        features are ignored by a model trained without any). A new
        item's vector is the learned unknown-ID embedding plus its feature
        projection (its age, when the model uses ages, is zero days: new), and
        its bias the unknown-ID bias, so it can be scored, recommended and used
        as history at once.
        """
        if count < 0:
            raise ValueError(f"count must be at least 0, got {count}")
        if count == 0:
            return self
        vectors = np.repeat(self.arrays["unknown_vector"][None, :], count, axis=0)
        projection = self.arrays.get("item_feature_weight")
        if projection is not None:
            width = int(self.config["item_feature_dim"])
            features = np.zeros((count, projection.shape[1]), dtype=np.float32)
            if item_features is not None and width > 0:
                given = np.asarray(item_features, dtype=np.float32)
                if given.ndim != 2 or given.shape != (count, width):
                    raise ValueError(
                        f"item_features must have shape ({count}, {width}), got {given.shape}"
                    )
                features[:, :width] = np.nan_to_num(given, nan=0.0, posinf=0.0, neginf=0.0)
            features *= self.arrays["item_feature_scale"]
            vectors = vectors + features @ projection.T
        arrays = dict(self.arrays)
        arrays["item_vectors"] = np.concatenate([self._item_vectors, vectors]).astype(np.float32)
        arrays["item_bias"] = np.concatenate(
            [self._item_bias, np.full(count, float(self.arrays["unknown_bias"][0]), np.float32)]
        )
        config = {**self.config, "n_items": self.n_items + count}
        return SequenceEncoder(config, arrays)

    # ---------------------------------------------------------------- helpers

    def _token_vectors(self, item_indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(item_indices, dtype=np.int64).reshape(-1)
        indices = indices[(indices >= 0) & (indices < self.n_items)]
        bptt = self.bptt
        rows = [self.arrays["bos_vector"][None, :]] if indices.size < bptt else []
        keep = indices[-bptt:] if indices.size >= bptt else indices
        rows.append(self._item_vectors[keep])
        return np.concatenate(rows).astype(np.float32)

    def context_codes(self, context: Mapping[str, Any] | None) -> list[int]:
        """Each context field's code for ``context`` (0: not given or never seen). Keys
        match field names as PutEvents properties do: ``loggedIn``, ``LOGGED_IN`` and
        ``logged_in`` all name the LOGGED_IN field."""
        given = {context_key(key): value for key, value in (context or {}).items()}
        found = []
        for name, codes, edges in self._context_codes:
            value = context_value(given.get(context_key(name)))
            if edges is None:
                found.append(codes.get(value or "", 0))
            else:
                number = _number(value)
                found.append(0 if number is None else bisect.bisect_right(edges, number) + 1)
        return found

    def context_vector(self, context: Mapping[str, Any] | None) -> np.ndarray:
        """The sum of each context field's vector for ``context`` (zeros: no fields)."""
        total = np.zeros(self.dimension, dtype=np.float32)
        for field, code in enumerate(self.context_codes(context)):
            total = total + self.arrays[f"context{field}"][code]
        return total

    def _user_vector(self, user_row: int | None) -> np.ndarray:
        users = self.arrays.get("user_vectors")
        if user_row is None or users is None or not 0 <= int(user_row) < users.shape[0]:
            return self.arrays["user_default"]
        return users[int(user_row)]

    def _gru(self, tokens: np.ndarray) -> np.ndarray:
        """The last hidden state of the top GRU layer (PyTorch's gate equations)."""
        layers = [tuple(w[None] for w in self._gru_weights(layer)) for layer in range(self.layers)]
        return _gru_last(layers, tokens[None])[0]

    @property
    def layers(self) -> int:
        return int(self.config["num_layers"])

    def _gru_weights(self, layer: int) -> tuple[np.ndarray, ...]:
        return tuple(
            self.arrays[f"gru{layer}.{part}"]
            for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )

    def _transformer_last(self, tokens: np.ndarray) -> np.ndarray:
        a = self.arrays
        x = tokens + a["positions"][: tokens.shape[0]]
        layers = int(self.config["num_layers"])
        for layer in range(layers):
            p = f"block{layer}."
            last_only = layer == layers - 1
            normed = _layer_norm(x, a[p + "norm1_weight"], a[p + "norm1_bias"])
            x = (x[-1:] if last_only else x) + self._attention(normed, p, last_only)
            normed = _layer_norm(x, a[p + "norm2_weight"], a[p + "norm2_bias"])
            hidden = _gelu(normed @ a[p + "ff1_weight"].T + a[p + "ff1_bias"])
            x = x + hidden @ a[p + "ff2_weight"].T + a[p + "ff2_bias"]
        return _layer_norm(x[-1], a["final_norm_weight"], a["final_norm_bias"])

    def _attention(self, x: np.ndarray, prefix: str, last_only: bool) -> np.ndarray:
        """Causal multi-head self-attention; with ``last_only`` just the last query."""
        a = self.arrays
        heads = int(self.config["num_heads"])
        length, d = x.shape
        width = d // heads
        qkv = x @ a[prefix + "qkv_weight"].T + a[prefix + "qkv_bias"]
        q, k, v = (qkv[:, i * d : (i + 1) * d].reshape(length, heads, width) for i in range(3))
        q = q.transpose(1, 0, 2)
        k = k.transpose(1, 0, 2)
        v = v.transpose(1, 0, 2)
        if last_only:
            q = q[:, -1:, :]
        logits = q @ k.transpose(0, 2, 1) / math.sqrt(width)
        if not last_only:
            future = np.triu(np.ones((length, length), dtype=bool), k=1)
            logits = np.where(future[None, :, :], -np.inf, logits)
        logits = logits - logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=-1, keepdims=True)
        mixed = (weights @ v).transpose(1, 0, 2).reshape(q.shape[1], d)
        return mixed @ a[prefix + "out_weight"].T + a[prefix + "out_bias"]


class SideBySide:
    """GRU encoders of one shape (an ensemble's networks) that run their recurrences
    side by side, one step of all of them per NumPy call: a history's steps are a
    Python loop, so three networks cost about what one costs. The weights are stacked
    once here, not on every call. Build it with :meth:`of`."""

    def __init__(self, encoders: Sequence[SequenceEncoder]) -> None:
        self.encoders = tuple(encoders)
        self.gru_layers = []
        for layer in range(encoders[0].layers):
            weights = [e._gru_weights(layer) for e in encoders]
            self.gru_layers.append(tuple(np.stack([w[i] for w in weights]) for i in range(4)))

    @classmethod
    def of(cls, encoders: Sequence[SequenceEncoder]) -> SideBySide | None:
        """Side by side when every encoder is a GRU of the first one's shape, else None."""
        first = encoders[0]
        shape = ("encoder", "dimension", "num_layers", "bptt", "n_items")
        same = all(
            [e.config.get(key) for key in shape] == [first.config.get(key) for key in shape]
            for e in encoders
        )
        return cls(encoders) if first.encoder == GRU and same else None

    def encode(
        self,
        item_indices: np.ndarray,
        user_row: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """Each encoder's ``encode`` of one history, one row per encoder."""
        tokens = np.stack([e._token_vectors(item_indices) for e in self.encoders])
        hidden = _gru_last(self.gru_layers, tokens)
        states = [
            h @ e.arrays["output_weight"].T
            + e.arrays["output_bias"]
            + e._user_vector(user_row)
            + e.context_vector(context)
            for e, h in zip(self.encoders, hidden, strict=True)
        ]
        return np.stack(states).astype(np.float32)


def _gru_last(layers: Sequence[tuple[np.ndarray, ...]], tokens: np.ndarray) -> np.ndarray:
    """The last hidden state of the top GRU layer of each network (PyTorch's gate
    equations). ``tokens`` is ``(networks, steps, dimension)``; each layer's
    ``(weight_ih, weight_hh, bias_ih, bias_hh)`` has the networks on its first axis."""
    sequence = tokens
    count, steps = tokens.shape[0], tokens.shape[1]
    hidden = np.zeros((count, tokens.shape[2]), dtype=np.float32)
    for w_ih, w_hh, b_ih, b_hh in layers:
        d = w_hh.shape[2]
        inputs = sequence @ np.swapaxes(w_ih, 1, 2) + b_ih[:, None, :]
        recurrent_weights = np.swapaxes(w_hh, 1, 2)
        hidden = np.zeros((count, d), dtype=np.float32)
        outputs = np.empty((count, steps, d), dtype=np.float32)
        for t in range(steps):
            recurrent = (hidden[:, None, :] @ recurrent_weights)[:, 0, :] + b_hh
            reset = _sigmoid(inputs[:, t, :d] + recurrent[:, :d])
            update = _sigmoid(inputs[:, t, d : 2 * d] + recurrent[:, d : 2 * d])
            candidate = np.tanh(inputs[:, t, 2 * d :] + reset * recurrent[:, 2 * d :])
            hidden = (1.0 - update) * candidate + update * hidden
            outputs[:, t] = hidden
        sequence = outputs
    return hidden


def _number(text: str | None) -> float | None:
    """A numeric context value from its text (None: missing or not a finite number)."""
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (torch's ``approximate="tanh"``)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + LAYER_NORM_EPSILON) * weight + bias
