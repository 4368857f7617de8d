"""Defensive preparation of the one series a model sees.

The orchestrator fills missing values before a model runs, but a model must
never raise on its input (one bad item must not fail a training job of
millions), so each model passes ``y`` through :func:`prepare` first: floats,
leading gaps dropped, inner gaps interpolated, trailing gaps carried forward.
"""

from __future__ import annotations

import numpy as np


def prepare(y: np.ndarray) -> np.ndarray:
    """A finite float copy of ``y`` (possibly shorter, when it starts with gaps)."""
    values = np.asarray(y, dtype=float).ravel()
    finite = np.isfinite(values)
    if finite.all():
        return values.copy()
    if not finite.any():
        return np.zeros(0)
    first = int(np.argmax(finite))
    values = values[first:]
    finite = finite[first:]
    index = np.arange(values.shape[0])
    # np.interp carries the last known value forward past the final observation.
    return np.interp(index, index[finite], values[finite])


def is_constant(y: np.ndarray) -> bool:
    """True for empty, one-point or flat series (nothing for a model to learn)."""
    return y.shape[0] == 0 or bool(np.all(y == y[0]))


def is_non_negative(y: np.ndarray) -> bool:
    """Whether forecasts should be clipped at zero (demand, counts, traffic)."""
    return y.shape[0] > 0 and bool(np.min(y) >= 0)


def prepare_regressors(
    X: np.ndarray | None, X_future: np.ndarray | None, n: int, h: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Related features a regression can use, or ``(None, None)``.

    Keeps the columns that are finite everywhere and vary over the history (a
    constant column makes a design matrix singular and carries no signal).
    Shapes must match ``(n, k)`` and ``(h, k)``; ``X`` may be longer than ``y``
    when :func:`prepare` dropped leading gaps, so its last ``n`` rows are used.
    """
    if X is None or X_future is None:
        return None, None
    X = np.asarray(X, dtype=float)
    X_future = np.asarray(X_future, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X_future.ndim == 1:
        X_future = X_future[:, None]
    if X.shape[0] < n or X_future.shape[0] < h or X.shape[1] != X_future.shape[1]:
        return None, None
    X = X[X.shape[0] - n :]
    X_future = X_future[:h]
    keep = (
        np.isfinite(X).all(axis=0)
        & np.isfinite(X_future).all(axis=0)
        & (np.ptp(X, axis=0) > 0 if n > 0 else False)
    )
    if not np.any(keep):
        return None, None
    return X[:, keep], X_future[:, keep]
