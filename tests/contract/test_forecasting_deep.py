"""The deep algorithms through the forecasting container's real entry point.

The same retail data as ``test_forecasting_container`` (weekly seasonality, a
price that moves demand, two stores, a new item known only from its metadata),
trained as a legacy predictor that names DeepAR+ or CNN-QR, then forecast from
the saved model. Networks are tiny and train for a few batches: these tests
check the plumbing (artifacts, logs, cold starts, HPO, failures), the accuracy
is measured by ``scripts/benchmark_m3.py``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from augury.ports import TRAINING_COMPLETED, TRAINING_FAILED
from tests.contract.test_forecasting_container import (
    CHANNELS,
    DAYS,
    FORECAST_SHARDS,
    HORIZON,
    ITEMS,
    START,
    STORES,
    config,
    parquet,
    run_job,
    workspace,
)

__all__ = ["workspace"]  # the module-scoped fixture, shared with the container tests

TINY = {
    "Deep_AR_Plus": {"epochs": "3", "max_batches_per_epoch": "4", "num_cells": "8"},
    "CNN-QR": {"epochs": "3", "max_batches_per_epoch": "4"},
}


def job_name(prefix: str, algorithm: str) -> str:
    """A SageMaker-valid job name (letters, digits, hyphens)."""
    return f"{prefix}-{algorithm.replace('_', '-').lower()}"


def deep_config(name: str, mode: str = "train", **changes):
    return config(
        mode,
        algorithms=[name],
        auto=False,
        hyperparameters={**TINY[name], "num_samples": "20"},
        **changes,
    )


@pytest.fixture(scope="module", params=["Deep_AR_Plus", "CNN-QR"])
def deep_predictor(request, workspace):
    name = request.param
    state, files, log = run_job(workspace, job_name("deep", name), deep_config(name))
    assert state.status == TRAINING_COMPLETED, (state, log)
    return name, files, log


def test_a_deep_predictor_saves_its_model_and_explains_its_training(deep_predictor):
    name, files, log = deep_predictor
    assert f"model/deep/{name}.pt" in files
    assert "model/deep/vocabulary.json" in files
    vocabulary = json.loads(files["model/deep/vocabulary.json"])
    assert vocabulary["fields"] == ["category"]
    summary = json.loads(files["predictor.json"])
    assert [r["algorithm"] for r in summary["results"]] == [name]
    windows = summary["results"][0]["windows"]
    assert len(windows) == 2 and all(w["item_count"] == 6 * 7 for w in windows)  # data points
    assert all(np.isfinite(w["average_weighted_quantile_loss"]) for w in windows)
    assert f"{name} trained " in summary["explanation"]
    assert "epoch 1/3" in log  # progress per epoch in the job log
    ensemble = json.loads(files["model/ensemble.json"])
    assert ensemble["global_models"] == [name]


def test_a_deep_predictor_forecasts_every_item_and_the_cold_start(workspace, deep_predictor):
    name, _, _ = deep_predictor
    channels = {**CHANNELS, "model": f"models/{job_name('deep', name)}"}
    job = deep_config(name, "forecast")
    state, files, log = run_job(workspace, job_name("forecast", name), job, channels)
    assert state.status == TRAINING_COMPLETED, (state, log)
    rows = [
        row
        for k in range(FORECAST_SHARDS)
        for row in parquet(files[f"forecast/shard={k}.parquet"]).to_pylist()
    ]
    items = {(r["item_id"], r["store"]) for r in rows}
    assert items == {(i, s) for i in [*ITEMS, "lemonade"] for s in STORES}
    first_day = START + timedelta(days=DAYS)
    for row in rows:
        assert np.isfinite([row["p10"], row["p50"], row["p90"]]).all()
        assert row["p10"] <= row["p50"] <= row["p90"]
        assert row["p10"] >= 0  # demand was never negative
        assert first_day <= row["date"] < first_day + timedelta(days=HORIZON)
    # the new drink gets a forecast of the model's own, at the scale of the data
    cold = np.mean([r["p50"] for r in rows if r["item_id"] == "lemonade"])
    warm = np.mean([r["p50"] for r in rows if r["item_id"] != "lemonade"])
    assert 0.1 * warm < cold < 10 * warm


def test_perform_hpo_searches_the_ranges_and_reports_the_values_it_chose(workspace):
    ranges = {
        "ContinuousParameterRanges": [
            {
                "Name": "learning_rate",
                "MinValue": 0.0005,
                "MaxValue": 0.05,
                "ScalingType": "Logarithmic",
            }
        ],
        "IntegerParameterRanges": [{"Name": "context_length", "MinValue": 7, "MaxValue": 21}],
    }
    job = deep_config("Deep_AR_Plus", perform_hpo=True, hpo_ranges=ranges)
    state, files, log = run_job(workspace, "deep-hpo", job)
    assert state.status == TRAINING_COMPLETED, (state, log)
    assert log.count("HPO trial ") == 8
    summary = json.loads(files["predictor.json"])
    chosen = summary["training_parameters"]
    assert 0.0005 <= float(chosen["learning_rate"]) <= 0.05
    assert 7 <= int(chosen["context_length"]) <= 21
    assert chosen["num_cells"] == "8"  # what was not tuned is kept
    assert "PerformHPO tuned Deep_AR_Plus: context_length=" in summary["explanation"]


def test_a_bad_deep_hyperparameter_fails_before_any_training(workspace):
    job = config(algorithms=["Deep_AR_Plus"], auto=False, hyperparameters={"num_layers": "99"})
    state, _, log = run_job(workspace, "deep-bad", job)
    assert state.status == TRAINING_FAILED
    assert "num_layers" in state.failure_reason
    assert "epoch" not in log


def test_an_auto_predictor_on_small_data_explains_why_the_deep_models_sat_out(workspace):
    job = config(algorithms=["ETS", "Theta", "Deep_AR_Plus", "CNN-QR"])
    state, files, log = run_job(workspace, "auto-small", job)
    assert state.status == TRAINING_COMPLETED, (state, log)
    summary = json.loads(files["predictor.json"])
    assert [r["algorithm"] for r in summary["results"]] == ["ETS", "Theta", "AutoPredictor"]
    note = (
        "The deep models Deep_AR_Plus and CNN-QR were not candidates because the data has 6 series"
    )
    assert note in summary["explanation"]
    assert note in log
