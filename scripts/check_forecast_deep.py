"""DeepAR+ and CNN-QR through stock boto3 on retail data with promotions, metadata and new items.

What the deep models are for, checked as a user would meet it: many related
series, a related time series whose future is known (a promotion calendar),
item metadata, and new items that have metadata but no history. The script
generates such data (seeded, nothing downloaded), starts ``augury serve`` on a
fresh data directory and, through the ``forecast`` and ``forecastquery``
clients:

1. imports the target, related and item-metadata datasets (CUSTOM domain, CSV);
2. trains three legacy predictors (CreatePredictor): ``Deep_AR_Plus``,
   ``CNN-QR`` and ``ETS`` (the per-series baseline, which cannot use the
   promotions or the metadata);
3. creates a forecast from each and reads every item's forecast back with
   QueryForecast, the new items included;
4. scores the forecasts on the held-out horizon (mean wQL over P10/P50/P90,
   sMAPE of P50): on all established items, on the days they are promoted,
   and on the new items.

The generated demand: four categories with their own weekly shape and level,
items scattered around their category's level, a yearly cycle, promotions on
about 8% of days that double demand, and a quarter of the items slow movers
(Poisson counts around 1 a day). New items follow their category exactly like
established ones. A deep model should win on promoted days (it knows the
promotion calendar) and on new items (it knows their category).

Usage: ``.venv/bin/python scripts/check_forecast_deep.py`` (about 20 minutes on
2 CPU cores); ``--items``, ``--days`` and ``--epochs`` make it smaller or larger.
The table is printed as Markdown.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd

from check_forecast_public import serve
from demo_support import CLIENT_ARGS, wait_until_finished

QUANTILES = (0.1, 0.5, 0.9)
ROLE = "arn:aws:iam::000000000000:role/check"
BUCKET = "retail"
START = pd.Timestamp("2023-01-02")
CATEGORIES = {
    "produce": (40.0, (1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 1.4)),
    "dairy": (25.0, (1.1, 1.0, 1.0, 1.0, 1.1, 1.3, 0.8)),
    "bakery": (15.0, (0.8, 0.8, 0.9, 1.0, 1.3, 1.8, 1.6)),
    "household": (8.0, (1.2, 1.1, 1.0, 1.0, 0.9, 0.7, 0.6)),
}
ALGORITHMS = ("Deep_AR_Plus", "CNN-QR", "ETS")


@dataclass
class Retail:
    """Generated data: the history, the held-out horizon, promotions, categories."""

    items: list[str]
    categories: dict[str, str]
    history: dict[str, np.ndarray]
    future: dict[str, np.ndarray]
    promotions: dict[str, np.ndarray]
    """Over history and horizon: 1 on promoted days."""
    new_items: list[str]


def generate(items: int, new_items: int, days: int, horizon: int, seed: int) -> Retail:
    rng = np.random.default_rng(seed)
    names = list(CATEGORIES)
    total = days + horizon
    weekday = (START.dayofweek + np.arange(total)) % 7
    yearly = 1.0 + 0.15 * np.sin(2 * np.pi * np.arange(total) / 365.25)
    retail = Retail([], {}, {}, {}, {}, [])
    for index in range(items + new_items):
        item = f"sku{index:04d}"
        category = names[index % len(names)]
        level, shape = CATEGORIES[category]
        slow = rng.random() < 0.25
        base = (1.0 if slow else level * rng.lognormal(0.0, 0.35)) * np.asarray(shape)[weekday]
        promo = (rng.random(total) < 0.08).astype(float)
        mean = base * yearly * (1.0 + promo)
        demand = rng.poisson(mean) if slow else np.maximum(rng.normal(mean, 0.12 * mean), 0.0)
        demand = np.round(demand, 2)
        retail.categories[item] = category
        retail.promotions[item] = promo
        retail.future[item] = demand[days:]
        if index < items:
            retail.items.append(item)
            retail.history[item] = demand[:days]
        else:
            retail.new_items.append(item)
    return retail


def write_files(retail: Retail, days: int, horizon: int, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamps = (START + pd.to_timedelta(np.arange(days + horizon), unit="D")).strftime("%Y-%m-%d")
    target = pd.concat(
        pd.DataFrame({"item_id": i, "timestamp": stamps[:days], "target_value": retail.history[i]})
        for i in retail.items
    )
    target.to_csv(folder / "target.csv", header=False, index=False)
    related = pd.concat(
        pd.DataFrame({"item_id": i, "timestamp": stamps, "promo": retail.promotions[i]})
        for i in [*retail.items, *retail.new_items]
    )
    related.to_csv(folder / "related.csv", header=False, index=False)
    metadata = pd.DataFrame(
        {"item_id": list(retail.categories), "category": list(retail.categories.values())}
    )
    metadata.to_csv(folder / "metadata.csv", header=False, index=False)


def attributes(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"Attributes": [{"AttributeName": n, "AttributeType": t} for n, t in pairs]}


def import_data(forecast: Any) -> str:
    group = forecast.create_dataset_group(DatasetGroupName="retail", Domain="CUSTOM")[
        "DatasetGroupArn"
    ]
    datasets = []
    for kind, file, schema in (
        (
            "TARGET_TIME_SERIES",
            "target.csv",
            attributes(
                ("item_id", "string"), ("timestamp", "timestamp"), ("target_value", "float")
            ),
        ),
        (
            "RELATED_TIME_SERIES",
            "related.csv",
            attributes(("item_id", "string"), ("timestamp", "timestamp"), ("promo", "float")),
        ),
        (
            "ITEM_METADATA",
            "metadata.csv",
            attributes(("item_id", "string"), ("category", "string")),
        ),
    ):
        extra = {} if kind == "ITEM_METADATA" else {"DataFrequency": "D"}
        arn = forecast.create_dataset(
            DatasetName=f"retail_{kind.lower()}",
            Domain="CUSTOM",
            DatasetType=kind,
            Schema=schema,
            **extra,
        )["DatasetArn"]
        datasets.append(arn)
        stamps = {} if kind == "ITEM_METADATA" else {"TimestampFormat": "yyyy-MM-dd"}
        job = forecast.create_dataset_import_job(
            DatasetImportJobName=f"retail_{kind.lower()}",
            DatasetArn=arn,
            DataSource={"S3Config": {"Path": f"s3://{BUCKET}/{file}", "RoleArn": ROLE}},
            **stamps,
        )["DatasetImportJobArn"]
        wait_until_finished(
            f"import {file}",
            lambda j=job: forecast.describe_dataset_import_job(DatasetImportJobArn=j),
        )
    forecast.update_dataset_group(DatasetGroupArn=group, DatasetArns=datasets)
    return group


def train_and_forecast(
    forecast: Any, group: str, algorithm: str, horizon: int, parameters: dict[str, str]
) -> tuple[str, float, dict[str, Any]]:
    started = time.monotonic()
    key = algorithm.replace("-", "_").lower()
    request: dict[str, Any] = {
        "PredictorName": f"retail_{key}",
        "AlgorithmArn": f"arn:aws:forecast:::algorithm/{algorithm}",
        "ForecastHorizon": horizon,
        "ForecastTypes": [str(q) for q in QUANTILES],
        "InputDataConfig": {"DatasetGroupArn": group},
        "FeaturizationConfig": {"ForecastFrequency": "D"},
    }
    if parameters:
        request["TrainingParameters"] = parameters
    predictor = forecast.create_predictor(**request)["PredictorArn"]
    described = wait_until_finished(
        algorithm, lambda: forecast.describe_predictor(PredictorArn=predictor), timeout=7200
    )
    seconds = time.monotonic() - started
    forecast_arn = forecast.create_forecast(ForecastName=f"retail_{key}", PredictorArn=predictor)[
        "ForecastArn"
    ]
    wait_until_finished(
        f"{algorithm} forecast", lambda: forecast.describe_forecast(ForecastArn=forecast_arn)
    )
    return forecast_arn, seconds, described


def query_all(query: Any, arn: str, items: list[str]) -> dict[str, dict[float, np.ndarray]]:
    out = {}
    for item in items:
        predictions = query.query_forecast(ForecastArn=arn, Filters={"item_id": item})["Forecast"][
            "Predictions"
        ]
        out[item] = {
            q: np.array([point["Value"] for point in predictions[f"p{round(q * 100)}"]])
            for q in QUANTILES
        }
    return out


def wql(actual: np.ndarray, forecasts: dict[float, np.ndarray]) -> float:
    denominator = np.abs(actual).sum()
    losses = [
        2 * np.maximum(q * (actual - forecasts[q]), (q - 1) * (actual - forecasts[q])).sum()
        for q in QUANTILES
    ]
    return float(np.mean(losses) / denominator)


def scores(
    retail: Retail, days: int, forecasts: dict[str, dict[float, np.ndarray]]
) -> dict[str, float]:
    """Mean wQL on established items, on their promoted days, and on new items; sMAPE."""

    def pooled(items: list[str], mask=None) -> float:
        actual, bands = [], {q: [] for q in QUANTILES}
        for item in items:
            keep = np.ones(retail.future[item].size, bool) if mask is None else mask(item)
            actual.append(retail.future[item][keep])
            for q in QUANTILES:
                bands[q].append(forecasts[item][q][keep])
        return wql(np.concatenate(actual), {q: np.concatenate(v) for q, v in bands.items()})

    promoted = lambda item: retail.promotions[item][days:] > 0  # noqa: E731
    smape = np.mean(
        [
            np.mean(
                200
                * np.abs(retail.future[i] - forecasts[i][0.5])
                / np.maximum(np.abs(retail.future[i]) + np.abs(forecasts[i][0.5]), 1e-9)
            )
            for i in retail.items
        ]
    )
    return {
        "established": pooled(retail.items),
        "promoted days": pooled(retail.items, promoted),
        "new items": pooled(retail.new_items),
        "sMAPE": float(smape),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--new-items", type=int, default=20)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--epochs", type=int, default=60, help="DeepAR+ and CNN-QR epochs")
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS))
    args = parser.parse_args()
    retail = generate(args.items, args.new_items, args.days, args.horizon, seed=7)
    data_dir = Path(tempfile.mkdtemp(prefix="augury-retail-"))
    write_files(retail, args.days, args.horizon, data_dir / "s3" / BUCKET)
    process, base = serve(data_dir)
    rows = []
    try:
        forecast = boto3.client("forecast", endpoint_url=f"{base}/forecast", **CLIENT_ARGS)
        query = boto3.client("forecastquery", endpoint_url=f"{base}/forecastquery", **CLIENT_ARGS)
        group = import_data(forecast)
        for algorithm in args.algorithms:
            parameters = {} if algorithm == "ETS" else {"epochs": str(args.epochs)}
            arn, seconds, described = train_and_forecast(
                forecast, group, algorithm, args.horizon, parameters
            )
            print(f"  {algorithm}: {described.get('Message', '')[:400]}")
            answers = query_all(query, arn, [*retail.items, *retail.new_items])
            rows.append((algorithm, scores(retail, args.days, answers), seconds))
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"\n{args.items} items + {args.new_items} new items, {args.days} days of history, "
        f"horizon {args.horizon}; mean wQL over P10/P50/P90 (lower is better)\n"
    )
    print(
        "| predictor | established items | promoted days | new items | sMAPE (P50) | training (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for algorithm, values, seconds in rows:
        print(
            f"| {algorithm} | {values['established']:.4f} | {values['promoted days']:.4f} "
            f"| {values['new items']:.4f} | {values['sMAPE']:.2f} | {seconds:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
