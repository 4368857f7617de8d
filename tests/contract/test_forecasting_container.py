"""The forecasting container's real entry point, run as SageMaker would run it.

``ProcessTrainer`` lays out ``/opt/ml`` under a temporary root, downloads the
channels from a ``FileBlobStore`` and runs ``python -m augury_training.forecasting``;
the tests read back ``model.tar.gz`` and check it against an independent
computation from the raw data.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from augury.local.file_blobs import FileBlobStore
from augury.local.process_trainer import ProcessTrainer
from augury.ports import TRAINING_COMPLETED, TRAINING_FAILED, TrainingJobSpec
from augury_training.forecast_contract import (
    FORECAST_SHARDS,
    ForecastJobConfig,
    PredictorSummary,
    shard_of,
)

CONTAINER = [sys.executable, "-m", "augury_training.forecasting"]
START = datetime(2024, 1, 1)
DAYS = 84
HORIZON = 7
ITEMS = {"cola": "drinks", "water": "drinks", "chips": "snacks"}
STORES = ("north", "south")
CHANNELS = {"target": "data/target", "related": "data/related", "metadata": "data/metadata"}


def retail_tables() -> dict[str, pa.Table]:
    """Daily demand with weekly seasonality and price effects, plus a new item."""
    rng = np.random.default_rng(3)
    target, related = [], []
    for index, item in enumerate(ITEMS):
        for store_index, store in enumerate(STORES):
            level = 20.0 + 10 * index + 5 * store_index
            for day in range(DAYS + HORIZON):
                when = START + timedelta(days=day)
                price = 2.0 + 0.5 * index - 0.3 * (day % 28 < 7)
                related.append((item, store, when, price))
                if day >= DAYS or (item == "chips" and store == "south" and day in (40, 41)):
                    continue  # the future, and two missing days (filled with zero)
                weekly = 1.0 + 0.4 * (when.weekday() >= 5)
                demand = level * weekly * (2.6 - 0.3 * price) + rng.normal(0, 1.5)
                target.append((item, store, when, round(max(demand, 0.0), 2)))

    def table(rows, names, types):
        columns = list(zip(*rows, strict=True))
        return pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})

    ids = (pa.string(), pa.string(), pa.timestamp("ms"))
    return {
        "target": table(target, ("item_id", "store", "timestamp", "demand"), (*ids, pa.float64())),
        "related": table(related, ("item_id", "store", "timestamp", "price"), (*ids, pa.float64())),
        "metadata": pa.table(
            {
                "item_id": [*ITEMS, "lemonade"],  # lemonade: metadata only, a cold start
                "category": [*ITEMS.values(), "drinks"],
            }
        ),
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("forecasting")
    blobs = FileBlobStore(root / "blobs")
    for channel, table in retail_tables().items():
        sink = io.BytesIO()
        pq.write_table(table, sink)
        blobs.put_bytes(f"{CHANNELS[channel]}/part-0.parquet", sink.getvalue())
    trainer = ProcessTrainer(blobs, root / "work", {"forecasting": CONTAINER})
    return blobs, trainer


def config(mode: str = "train", **changes) -> ForecastJobConfig:
    values = {
        "mode": mode,
        "frequency": "D",
        "horizon": HORIZON,
        "item_field": "item_id",
        "target_field": "demand",
        "dimensions": ["store"],
        "algorithms": ["ETS", "Theta", "NPTS", "SeasonalNaive"],
        "backtest_windows": 2,
        "related_fields": ["price"],
        "metadata_fields": ["category"],
    }
    return ForecastJobConfig(**{**values, **changes})


def run_job(workspace, name: str, job_config: ForecastJobConfig, channels=None):
    blobs, trainer = workspace
    spec = TrainingJobSpec(
        name=name,
        container="forecasting",
        hyperparameters=job_config.to_hyperparameters(),
        channels=channels or CHANNELS,
        output_prefix=f"models/{name}",
    )
    trainer.start(spec)
    state = trainer.wait(name, timeout=120)
    files = {}
    if state.model_key:
        with tarfile.open(fileobj=io.BytesIO(blobs.get_bytes(state.model_key)), mode="r:gz") as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    log = blobs.get_bytes(f"models/{name}/job.log").decode()
    return state, files, log


def parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


@pytest.fixture(scope="module")
def auto_predictor(workspace):
    state, files, log = run_job(workspace, "auto", config())
    assert state.status == TRAINING_COMPLETED, (state, log)
    return files, log


def test_train_mode_writes_the_predictor(auto_predictor):
    files, log = auto_predictor
    summary = PredictorSummary.from_json(files["predictor.json"].decode())
    assert [r.algorithm for r in summary.results] == [
        "ETS",
        "Theta",
        "NPTS",
        "SeasonalNaive",
        "AutoPredictor",
    ]
    assert summary.item_count == 6
    assert sum(summary.chosen_algorithms.values()) == 6
    assert "AutoPredictor" not in summary.chosen_algorithms and summary.explanation
    for result in summary.results:
        windows = result.windows
        assert [(w.test_window_start, w.test_window_end) for w in windows] == [
            ("2024-03-11T00:00:00", "2024-03-18T00:00:00"),
            ("2024-03-18T00:00:00", "2024-03-25T00:00:00"),
        ]
        for window in windows:
            assert set(window.weighted_quantile_losses) == {"0.1", "0.5", "0.9"}
            assert window.wape > 0 and window.mase > 0
            assert window.item_count == 6 * 7  # data points: 6 items, 7 days
    assert "backtest batch 1" in log
    assert {"backtest/window=0/part-0.parquet", "backtest/window=1/part-0.parquet"} <= set(files)
    weights = parquet(files["model/weights.parquet"]).to_pylist()
    assert len(weights) == 6
    for row in weights:
        assert sum(row[name] for name in ("ETS", "Theta", "NPTS", "SeasonalNaive")) == (
            pytest.approx(1.0)
        )
    metrics = parquet(files["backtest/item_metrics.parquet"])
    assert metrics.num_rows == 6 * 2 * 5  # items x windows x (candidates + AutoPredictor)


def recompute(table: pa.Table, actual: str, series_scale: dict) -> dict:
    """Amazon's metric definitions, computed afresh from a backtest window file."""
    y = np.array(table.column(actual).to_pylist())
    result = {}
    for column, tau in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        q = np.array(table.column(column).to_pylist())
        loss = np.where(y >= q, tau * (y - q), (1 - tau) * (q - y))
        result[str(tau)] = 2 * loss.sum() / np.abs(y).sum()
    items = table.column("item_id").to_pylist(), table.column("store").to_pylist()
    keys = list(zip(*items, strict=True))
    error = y - np.array(table.column("mean").to_pylist())
    result["wape"] = np.abs(error).sum() / np.abs(y).sum()
    result["rmse"] = np.sqrt((error**2).mean())
    per_item: dict = {}
    for key, e, actual in zip(keys, np.abs(error), y, strict=True):
        per_item.setdefault(key, []).append((e, actual))
    # MAPE and MASE are per item, then averaged over items
    result["mape"] = np.mean([np.mean([e / a for e, a in v]) for v in per_item.values()])
    result["mase"] = np.mean(
        [np.mean([e for e, _ in v]) / series_scale[k] for k, v in per_item.items()]
    )
    return result


def history() -> dict:
    table = retail_tables()["target"]
    series = {}
    for row in table.to_pylist():
        key = (row["item_id"], row["store"])
        series.setdefault(key, {})[row["timestamp"]] = row["demand"]
    return {
        key: np.array([values.get(START + timedelta(days=d), 0.0) for d in range(DAYS)])
        for key, values in series.items()
    }


def test_metrics_match_an_independent_computation(workspace):
    """A single-algorithm predictor: seasonal naive forecasts and their metrics from scratch."""
    job = config(algorithms=["SeasonalNaive"], auto=False)
    state, files, log = run_job(workspace, "naive", job)
    assert state.status == TRAINING_COMPLETED, (state, log)
    summary = PredictorSummary.from_json(files["predictor.json"].decode())
    [result] = summary.results
    assert result.algorithm == "SeasonalNaive"
    data = history()
    for index, window in enumerate(result.windows):
        table = parquet(files[f"backtest/window={index}/part-0.parquet"])
        cutoff = DAYS - HORIZON * (2 - index)
        expected_mean = []
        scales = {}
        for item, store, stamp in zip(
            table.column("item_id").to_pylist(),
            table.column("store").to_pylist(),
            table.column("timestamp").to_pylist(),
            strict=True,
        ):
            y = data[(item, store)]
            day = (stamp - START).days
            expected_mean.append(y[day - 7 * ((day - cutoff) // 7 + 1)])  # same weekday, last week
            train = y[:cutoff]
            scales[(item, store)] = np.abs(train[7:] - train[:-7]).mean()
        np.testing.assert_allclose(table.column("mean").to_pylist(), expected_mean)
        ours = recompute(table, "demand", scales)
        # chips/south has filled (missing) days only before the windows: every item counts
        assert window.weighted_quantile_losses["0.1"] == pytest.approx(ours["0.1"])
        assert window.weighted_quantile_losses["0.5"] == pytest.approx(ours["0.5"])
        assert window.weighted_quantile_losses["0.9"] == pytest.approx(ours["0.9"])
        assert window.average_weighted_quantile_loss == pytest.approx(
            np.mean([ours["0.1"], ours["0.5"], ours["0.9"]])
        )
        assert window.wape == pytest.approx(ours["wape"])
        assert window.rmse == pytest.approx(ours["rmse"])
        assert window.mape == pytest.approx(ours["mape"])
        assert window.mase == pytest.approx(ours["mase"])
    assert summary.chosen_algorithms == {"SeasonalNaive": 6}


def test_forecast_mode_writes_every_item_to_its_shard(workspace, auto_predictor):
    # juice has target rows but not one value in them (nor metadata): a new item too;
    # chips sells in both stores, but in the south only until the rows go empty
    blobs, _ = workspace
    target = retail_tables()["target"]
    chips_south = pc.and_(
        pc.equal(target.column("item_id"), "chips"), pc.equal(target.column("store"), "south")
    )
    target = target.set_column(
        3, "demand", pc.if_else(chips_south, pa.scalar(None, pa.float64()), target["demand"])
    )
    empty = pa.table(
        {
            "item_id": ["juice"] * 2,
            "store": list(STORES),
            "timestamp": pa.array([START, START + timedelta(days=1)], pa.timestamp("ms")),
            "demand": pa.nulls(2, pa.float64()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(pa.concat_tables([target, empty]), sink)
    blobs.put_bytes("data/target-with-empty/part-0.parquet", sink.getvalue())
    channels = {**CHANNELS, "target": "data/target-with-empty", "model": "models/auto"}
    state, files, log = run_job(workspace, "forecast", config("forecast"), channels)
    assert state.status == TRAINING_COMPLETED, (state, log)
    shards = {name for name in files if name.startswith("forecast/")}
    assert shards == {f"forecast/shard={k}.parquet" for k in range(FORECAST_SHARDS)}
    rows = []
    for k in range(FORECAST_SHARDS):
        table = parquet(files[f"forecast/shard={k}.parquet"])
        assert table.column_names == ["item_id", "store", "date", "p10", "p50", "p90"]
        for row in table.to_pylist():
            assert shard_of(f"{row['item_id']}\x1f{row['store']}") == k
            rows.append(row)
    items = {(r["item_id"], r["store"]) for r in rows}
    expected = {(i, s) for i in [*ITEMS, "lemonade", "juice"] for s in STORES}
    assert items == expected
    assert len(rows) == len(expected) * HORIZON
    first_day = START + timedelta(days=DAYS)
    for row in rows:
        assert row["p10"] <= row["p50"] <= row["p90"]
        assert first_day <= row["date"] < first_day + timedelta(days=HORIZON)
    # the new drink looks like the other drinks in its store, not like chips
    cold = np.mean([r["p50"] for r in rows if r["item_id"] == "lemonade"])
    drinks = np.mean([r["p50"] for r in rows if r["item_id"] in ("cola", "water")])
    assert abs(cold - drinks) < 0.5 * drinks
    assert (
        "forecasting 3 item ids from 2024-03-25T00:00:00 (7 steps), 2 new item(s) from "
        "metadata (1 of them in the target without a value), 1 empty series of other items"
    ) in log


def test_bad_configuration_fails_with_a_readable_reason(workspace):
    state, _, _ = run_job(workspace, "too-long", config(horizon=60))
    assert state.status == TRAINING_FAILED
    assert "The maximum forecast horizon is the lesser of 500 time-steps or 1/4" in (
        state.failure_reason
    )
    assert "ForecastHorizon 60 must be at most 21" in state.failure_reason
    state, _, _ = run_job(workspace, "bad-type", config(forecast_types=["0.1", "p95"]))
    assert state.status == TRAINING_FAILED
    assert "ForecastTypes value 'p95' is not valid" in state.failure_reason
    state, _, _ = run_job(workspace, "no-column", config(target_field="sales"))
    assert "the target time series has no column 'sales'" in state.failure_reason


def test_predictor_json_is_valid_json(auto_predictor):
    files, _ = auto_predictor
    document = json.loads(files["predictor.json"])
    assert document["results"][-1]["algorithm"] == "AutoPredictor"
    ensemble = json.loads(files["model/ensemble.json"])
    assert ensemble["candidates"] == ["ETS", "Theta", "NPTS", "SeasonalNaive"]


def test_a_forecast_whose_related_data_stops_before_its_horizon_fails(workspace, auto_predictor):
    """The target grew after training (three more days); the prices, which DeepAR+ and
    Prophet read over the horizon, did not: the forecast fails with the reason, as
    CreatePredictor would, instead of forecasting without them."""
    blobs, _ = workspace
    tables = retail_tables()
    grown = [
        {**row, "timestamp": START + timedelta(days=DAYS + extra)}
        for row in tables["target"].slice(0, 1).to_pylist()
        for extra in range(3)
    ]
    sink = io.BytesIO()
    grown_table = pa.Table.from_pylist(grown, schema=tables["target"].schema)
    pq.write_table(pa.concat_tables([tables["target"], grown_table]), sink)
    blobs.put_bytes("data/target-grown/part-0.parquet", sink.getvalue())
    channels = {**CHANNELS, "target": "data/target-grown", "model": "models/auto"}
    legacy = config("forecast", algorithms=["Prophet"], auto=False)
    state, _, log = run_job(workspace, "forecast-grown", legacy, channels)
    assert state.status == TRAINING_FAILED, log
    assert "does not cover the forecast horizon in every series, which Prophet needs" in (
        state.failure_reason
    )


def forecast_rows(workspace, name: str, channels: dict, **changes) -> dict:
    """``(item, store) -> {forecast column: values over the horizon}`` of one forecast job."""
    state, files, log = run_job(workspace, name, config("forecast", **changes), channels)
    assert state.status == TRAINING_COMPLETED, (state, log)
    found: dict = {}
    for k in range(FORECAST_SHARDS):
        for row in parquet(files[f"forecast/shard={k}.parquet"]).to_pylist():
            series = found.setdefault((row["item_id"], row["store"]), {})
            for column, value in row.items():
                if column not in ("item_id", "store", "date"):
                    series.setdefault(column, []).append(value)
    return found


def test_a_quantile_does_not_move_with_the_other_levels_asked_for(workspace, auto_predictor):
    """A new item's P50 is the same whether P10/P90 or P30 are asked for beside it, and
    forecasting new items changes nothing for the items with history."""
    blobs, _ = workspace
    channels = {**CHANNELS, "model": "models/auto"}
    wide = forecast_rows(workspace, "levels-wide", channels, forecast_types=["0.1", "0.5", "0.9"])
    narrow = forecast_rows(workspace, "levels-narrow", channels, forecast_types=["0.5", "0.3"])
    for series in wide:
        np.testing.assert_allclose(narrow[series]["p50"], wide[series]["p50"], rtol=1e-12)
        assert np.all(np.array(narrow[series]["p30"]) <= np.array(narrow[series]["p50"]))
    metadata = retail_tables()["metadata"].slice(0, len(ITEMS))  # no lemonade: no new item
    sink = io.BytesIO()
    pq.write_table(metadata, sink)
    blobs.put_bytes("data/metadata-no-new/part-0.parquet", sink.getvalue())
    warm_only = forecast_rows(
        workspace,
        "levels-warm-only",
        {**channels, "metadata": "data/metadata-no-new"},
        forecast_types=["0.1", "0.5", "0.9"],
    )
    assert set(warm_only) == {(item, store) for item in ITEMS for store in STORES}
    for series, columns in warm_only.items():
        for column, values in columns.items():
            np.testing.assert_allclose(values, wide[series][column], rtol=1e-12)
