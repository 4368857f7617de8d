"""A trained Next-Best-Action model on disk, and how it scores a user (NumPy and stdlib only).

The personalization container writes these files for ``aws-next-best-action``;
serving (GetActionRecommendations) loads them with :func:`load_action_model`.
Like ``recommender_artifacts``, nothing here imports torch or pandas, and no
file is a pickle.

Layout::

    recommender.json      the manifest: kind "actions" (read first, as for every model)
    actions.json          action IDs; an action's index is its position
    items.json            item IDs; rows of item_factors
    item_factors.npy      float32 items x K: each item's direction in the users' item space
    users.json            user IDs known at training time
    user_metadata.json    how a Users row becomes features: each categorical field's
                          values, each numeric field's mean and spread
    user_items_offsets.npy / user_items.npy    each user's items (catalog indices)
    user_taken_offsets.npy / user_taken.npy    each user's TAKEN actions (action indices)
    user_taken_times.npy  float64, beside user_taken: when the user last took it
    trained.npy           int64: the actions with a model (indices into actions.json),
                          at most 1,000; every other action scores 0.0
    weights.npy           float64 trained x (K + trained): one logistic model per trained action
    bias.npy              float64 per trained action

A user's features are the mean of their items' (unit-length) factors, their
Users metadata (``metadata_vector``), then one indicator per trained action they
have taken. A trained action's propensity is
``sigmoid(bias + weights · features)``: the probability that the user takes the
action once shown it. Only actions with enough interactions are trained (Amazon
scores an action once it has 50 TAKEN and 50 other interactions); the others
score 0.0, as Amazon's do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["KIND", "ActionModel", "load_action_model", "write_action_model"]

KIND = "actions"
MANIFEST_FILE = "recommender.json"
FORMAT_VERSION = 1


class ActionModel:
    """A loaded Next-Best-Action model: propensities for any user, known or not."""

    def __init__(self, model_dir: Path, manifest: Mapping[str, Any]) -> None:
        self.manifest = dict(manifest)
        self.recipe = str(manifest.get("recipe", ""))
        self.recipe_type = "PERSONALIZED_ACTIONS"
        self.action_ids: list[str] = _read_json(model_dir / "actions.json")
        self.item_ids: list[str] = _read_json(model_dir / "items.json")
        self.user_ids: list[str] = _read_json(model_dir / "users.json")
        self._actions = {action: i for i, action in enumerate(self.action_ids)}
        self._items = {item: i for i, item in enumerate(self.item_ids)}
        self._users = {user: i for i, user in enumerate(self.user_ids)}
        self.item_factors = np.load(model_dir / "item_factors.npy")
        self._user_items = (
            np.load(model_dir / "user_items_offsets.npy"),
            np.load(model_dir / "user_items.npy"),
        )
        self._user_taken = (
            np.load(model_dir / "user_taken_offsets.npy"),
            np.load(model_dir / "user_taken.npy"),
        )
        self._user_taken_times = np.load(model_dir / "user_taken_times.npy")
        self.trained = np.load(model_dir / "trained.npy")
        self._position = {int(a): p for p, a in enumerate(self.trained)}
        self.weights = np.load(model_dir / "weights.npy")
        self.bias = np.load(model_dir / "bias.npy")
        spec_file = model_dir / "user_metadata.json"
        self.user_metadata: list[dict[str, Any]] = (
            _read_json(spec_file) if spec_file.is_file() else []
        )

    def __repr__(self) -> str:
        return f"ActionModel({self.recipe}, {len(self.action_ids)} actions)"

    def action_index(self, action_id: str) -> int | None:
        return self._actions.get(action_id)

    def knows_user(self, user_id: str) -> bool:
        return user_id in self._users

    def taken(self, user_id: str) -> dict[str, float]:
        """Action ID → when the user last took it, as of training."""
        row = self._users.get(user_id)
        if row is None:
            return {}
        offsets, taken = self._user_taken
        start, end = int(offsets[row]), int(offsets[row + 1])
        times = self._user_taken_times[start:end]
        return {
            self.action_ids[int(a)]: float(t) for a, t in zip(taken[start:end], times, strict=True)
        }

    def features(
        self,
        user_id: str | None,
        recent_items: Sequence[str],
        recent_taken: Sequence[str],
        user_row: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """The user's feature vector: items, metadata (their Users row, upper-cased
        columns), then taken actions; training's and recent ones."""
        items = {self._items[i] for i in recent_items if i in self._items}
        taken = {self._actions[a] for a in recent_taken if a in self._actions}
        row = self._users.get(user_id) if user_id else None
        if row is not None:
            offsets, stored = self._user_items
            items.update(int(i) for i in stored[offsets[row] : offsets[row + 1]])
            offsets, stored = self._user_taken
            taken.update(int(a) for a in stored[offsets[row] : offsets[row + 1]])
        positions = sorted(self._position[a] for a in taken if a in self._position)
        metadata = metadata_vector(user_row, self.user_metadata)
        return user_features(
            self.item_factors, sorted(items), positions, len(self.trained), metadata
        )

    def propensities(
        self,
        user_id: str | None,
        recent_items: Sequence[str],
        recent_taken: Sequence[str],
        user_row: Mapping[str, Any] | None = None,
    ) -> np.ndarray:
        """One probability per action (``action_ids`` order); 0.0 for untrained actions."""
        x = self.features(user_id, recent_items, recent_taken, user_row)
        return propensities(self.weights, self.bias, self.trained, len(self.action_ids), x)


def user_features(
    item_factors: np.ndarray,
    items: Sequence[int],
    taken: Sequence[int],
    n_trained: int,
    metadata: np.ndarray | None = None,
) -> np.ndarray:
    """Mean of the items' factors, then the user's metadata (``metadata_vector``), then an
    indicator per taken trained action (by its position among the trained). Training and
    serving build features with this one function, so they cannot drift apart."""
    k = item_factors.shape[1]
    meta = np.zeros(0) if metadata is None else np.asarray(metadata, dtype=np.float64)
    out = np.zeros(k + len(meta) + n_trained, dtype=np.float64)
    if len(items):
        out[:k] = item_factors[np.asarray(items, dtype=np.int64)].mean(axis=0)
    out[k : k + len(meta)] = meta
    if len(taken):
        out[k + len(meta) + np.asarray(taken, dtype=np.int64)] = 1.0
    return out


def metadata_width(spec: Sequence[Mapping[str, Any]]) -> int:
    """How many features ``metadata_vector`` makes."""
    return sum(len(field["values"]) if field["kind"] == "categorical" else 1 for field in spec)


def metadata_vector(row: Mapping[str, Any] | None, spec: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """A Users row (upper-cased columns) as features: one indicator per known categorical
    value (``|`` separates several), each numeric field standardised; unknown is 0."""
    out = np.zeros(metadata_width(spec), dtype=np.float64)
    at = 0
    for field in spec:
        value = (row or {}).get(field["name"])
        if field["kind"] == "categorical":
            values = field["values"]
            if value is not None:
                present = set(str(value).split("|"))
                for offset, known in enumerate(values):
                    if known in present:
                        out[at + offset] = 1.0
            at += len(values)
            continue
        try:
            number = float(value) if value is not None else float("nan")
        except (TypeError, ValueError):
            number = float("nan")
        if number == number:
            out[at] = (number - field["mean"]) / field["std"]
        at += 1
    return out


def propensities(
    weights: np.ndarray, bias: np.ndarray, trained: np.ndarray, n_actions: int, x: np.ndarray
) -> np.ndarray:
    """Every action's propensity: the trained ones' logistic models, 0.0 for the rest."""
    out = np.zeros(n_actions, dtype=np.float64)
    if len(trained):
        logits = bias + weights @ x
        out[trained] = 1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0)))
    return out


def load_action_model(model_dir: Path) -> ActionModel:
    model_dir = Path(model_dir)
    manifest = _read_json(model_dir / MANIFEST_FILE)
    if manifest.get("kind") != KIND:
        raise ValueError(f"{MANIFEST_FILE} is a {manifest.get('kind')!r} model, not {KIND!r}")
    if int(manifest.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
        raise ValueError(f"{MANIFEST_FILE} is newer than this reader (format {FORMAT_VERSION})")
    return ActionModel(model_dir, manifest)


def write_action_model(
    model_dir: Path,
    manifest: Mapping[str, Any],
    *,
    action_ids: Sequence[str],
    item_ids: Sequence[str],
    item_factors: np.ndarray,
    user_ids: Sequence[str],
    user_items: Sequence[np.ndarray],
    user_taken: Sequence[np.ndarray],
    user_taken_times: Sequence[np.ndarray],
    trained: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    user_metadata: Sequence[Mapping[str, Any]] = (),
) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "format_version": FORMAT_VERSION,
        **manifest,
        "kind": KIND,
        "n_actions": len(action_ids),
        "n_items": len(item_ids),
        "n_users": len(user_ids),
    }
    _write_json(model_dir / MANIFEST_FILE, document)
    _write_json(model_dir / "actions.json", list(action_ids))
    _write_json(model_dir / "items.json", list(item_ids))
    _write_json(model_dir / "users.json", list(user_ids))
    np.save(model_dir / "item_factors.npy", np.asarray(item_factors, dtype=np.float32))
    for name, lists, dtype in (
        ("user_items", user_items, np.int32),
        ("user_taken", user_taken, np.int32),
    ):
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(values) for values in lists])
        flat = np.concatenate(list(lists)) if len(lists) else np.zeros(0)
        np.save(model_dir / f"{name}_offsets.npy", offsets)
        np.save(model_dir / f"{name}.npy", flat.astype(dtype))
    times = np.concatenate(list(user_taken_times)) if len(user_taken_times) else np.zeros(0)
    np.save(model_dir / "user_taken_times.npy", times.astype(np.float64))
    np.save(model_dir / "trained.npy", np.asarray(trained, dtype=np.int64))
    np.save(model_dir / "weights.npy", np.asarray(weights, dtype=np.float64))
    np.save(model_dir / "bias.npy", np.asarray(bias, dtype=np.float64))
    _write_json(model_dir / "user_metadata.json", [dict(field) for field in user_metadata])


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
