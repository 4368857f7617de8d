"""The mixed-precision path every deep model takes on a GPU, run on the CPU.

CI has no GPU, and on the CPU the models train in float32, so without this the
code that only a GPU reaches (autocast to bf16 or fp16, fp16's gradient scaler,
sampling and scoring from half-precision outputs) would run for the first time
on a user's GPU instance. torch autocasts to both dtypes on the CPU too, so each
model is trained here with the dtype ``mixed_precision_dtype`` would pick on an
Ampere GPU (bf16) or on a T4 or V100 (fp16 with the scaler): it must train, stop,
forecast or score finitely, record the dtype it trained in, and forecast about as
well as the same fit in float32.

DeepAR+ is checked in bf16 only: the CPU's oneDNN kernels have no fp16 LSTM
("could not create a primitive descriptor"), which cuDNN does have, so fp16 there
says nothing about a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from augury_training.forecasting.deep import cnnqr, deepar
from augury_training.forecasting.deep.cnnqr import CNNQR
from augury_training.forecasting.deep.deepar import DeepARPlus
from augury_training.personalization import sequence_model
from augury_training.personalization.sequence_model import (
    SequenceTrainingData,
    train_sequence_model,
)
from tests.unit.deep_series import HORIZON, monthly, one_thread, quiet, seasonal

__all__ = ["one_thread"]  # the autouse fixture

LEVELS = (0.1, 0.5, 0.9)
HALF_PRECISION = [torch.bfloat16, torch.float16]


def _force(monkeypatch: pytest.MonkeyPatch, module: object, dtype: torch.dtype) -> None:
    """Make ``module`` choose ``dtype`` as it would on a GPU, whatever the device."""
    monkeypatch.setattr(module, "mixed_precision_dtype", lambda device, wanted: dtype)


def _forecast_error(model, history: np.ndarray, future: np.ndarray, **predict) -> float:
    """The P50's mean absolute error, after checking the forecast is finite and ordered."""
    forecast = model.predict(monthly(history), LEVELS, **predict)
    quantiles = np.stack([forecast.quantiles[q] for q in LEVELS])
    assert np.isfinite(quantiles).all() and np.isfinite(forecast.mean).all()
    assert (np.diff(quantiles, axis=0) >= 0).all()
    return float(np.abs(forecast.quantiles[0.5] - future).mean())


def test_deepar_trains_and_samples_in_bf16(monkeypatch) -> None:
    history, future = seasonal(n=12, length=48)
    settings = {"epochs": "10", "num_cells": "8", "num_layers": "1", "learning_rate": "0.01"}
    settings |= {"context_length": "12", "mini_batch_size": "16"}
    full = DeepARPlus(settings).fit(monthly(history), HORIZON, seed=0, log=quiet)
    _force(monkeypatch, deepar, torch.bfloat16)
    half = DeepARPlus(settings).fit(monthly(history), HORIZON, seed=0, log=quiet)
    assert full._autocast is None and half._autocast == torch.bfloat16
    full_error = _forecast_error(full, history, future, num_samples=50)
    assert _forecast_error(half, history, future, num_samples=50) < 1.3 * full_error


@pytest.mark.parametrize("dtype", HALF_PRECISION, ids=str)
def test_cnn_qr_trains_and_forecasts_in_half_precision(monkeypatch, dtype) -> None:
    history, future = seasonal(n=12, length=48)
    settings = {"epochs": "10", "num_filters": "8", "num_layers": "2", "decoder_width": "8"}
    settings |= {"context_length": "24", "num_averaged_models": "1", "mini_batch_size": "16"}
    settings |= {"seasonal_adjustment": "none", "learning_rate": "0.02"}
    full = CNNQR(settings).fit(monthly(history), HORIZON, seed=0, log=quiet)
    _force(monkeypatch, cnnqr, dtype)
    half = CNNQR(settings).fit(monthly(history), HORIZON, seed=0, log=quiet)
    assert full._autocast is None and half._autocast == dtype
    assert _forecast_error(half, history, future) < 1.3 * _forecast_error(full, history, future)


@pytest.mark.parametrize(
    ("encoder", "dtype"),
    [(encoder, dtype) for encoder in ("gru", "transformer") for dtype in HALF_PRECISION],
    ids=str,
)
def test_the_sequence_model_trains_in_half_precision(monkeypatch, encoder, dtype) -> None:
    _force(monkeypatch, sequence_model, dtype)
    rng = np.random.default_rng(0)
    n_items = 20
    sequences = [(start + np.arange(8)) % n_items for start in rng.integers(0, n_items, 60)]
    data = SequenceTrainingData(
        sequences=sequences,
        weights=None,
        user_rows=np.full(len(sequences), -1),
        item_features=None,
        user_features=None,
        item_age_days=None,
        n_items=n_items,
    )
    lines: list[str] = []
    settings = {"encoder": encoder, "hidden_dimension": "16", "bptt": "8", "epochs": "2"}
    settings |= {"num_averaged_models": "1", "batch_size": "16"}
    encoder_np = train_sequence_model(
        data, settings, seed=0, time_budget_seconds=None, log=lines.append
    )
    assert any(f"({dtype})" in line for line in lines), lines
    scores = encoder_np.score(np.array([1, 2, 3]))
    assert scores.shape == (n_items,) and np.isfinite(scores).all()
