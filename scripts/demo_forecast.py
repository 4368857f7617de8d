"""The seeds' forecast workflow, through the stock boto3 ``forecast`` clients.

Import the bundled retail sample (target demand, related prices and
promotions, item metadata), train an AutoPredictor, print its accuracy,
create a forecast, query one item and draw its P10/P50/P90 fan chart, then
export every forecast.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import boto3

from demo_support import CLIENT_ARGS, show, wait_until_finished

SAMPLE = Path(__file__).resolve().parent / "data" / "retail"
BUCKET = "augury-demo"
HORIZON = 14

SCHEMAS = {
    "TARGET_TIME_SERIES": [
        ("item_id", "string"),
        ("location", "string"),
        ("timestamp", "timestamp"),
        ("demand", "float"),
    ],
    "RELATED_TIME_SERIES": [
        ("item_id", "string"),
        ("location", "string"),
        ("timestamp", "timestamp"),
        ("price", "float"),
        ("promotion", "integer"),
    ],
    "ITEM_METADATA": [("item_id", "string"), ("category", "string"), ("brand", "string")],
}
FILES = {
    "TARGET_TIME_SERIES": "target_time_series.csv",
    "RELATED_TIME_SERIES": "related_time_series.csv",
    "ITEM_METADATA": "item_metadata.csv",
}


def stage_sample(data_dir: Path) -> str:
    """Put the sample where embedded mode reads ``s3://`` paths: ``<data dir>/s3/<bucket>/``."""
    destination = data_dir / "s3" / BUCKET / "retail"
    destination.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        shutil.copy(SAMPLE / name, destination / name)
    print(f"\nStaged the retail sample as s3://{BUCKET}/retail/ (embedded: {destination})")
    return f"s3://{BUCKET}/retail"


def create_datasets(forecast: Any, source: str) -> str:
    dataset_arns = []
    for dataset_type, attributes in SCHEMAS.items():
        arn = forecast.create_dataset(
            DatasetName=f"retail_{dataset_type.lower()}",
            Domain="RETAIL",
            DatasetType=dataset_type,
            **({"DataFrequency": "D"} if dataset_type != "ITEM_METADATA" else {}),
            Schema={
                "Attributes": [{"AttributeName": n, "AttributeType": t} for n, t in attributes]
            },
        )["DatasetArn"]
        dataset_arns.append(arn)
        print(f"  created {dataset_type} dataset {arn}")
    group = forecast.create_dataset_group(
        DatasetGroupName="retail_demo", Domain="RETAIL", DatasetArns=dataset_arns
    )["DatasetGroupArn"]
    print(f"  created dataset group {group}")
    for arn, dataset_type in zip(dataset_arns, SCHEMAS, strict=True):
        job = forecast.create_dataset_import_job(
            DatasetImportJobName=f"import_{dataset_type.lower()}",
            DatasetArn=arn,
            DataSource={
                "S3Config": {
                    "Path": f"{source}/{FILES[dataset_type]}",
                    "RoleArn": "arn:aws:iam::000000000000:role/demo",
                }
            },
            **({"TimestampFormat": "yyyy-MM-dd"} if dataset_type != "ITEM_METADATA" else {}),
        )["DatasetImportJobArn"]
        done = wait_until_finished(
            f"import {dataset_type}",
            lambda job=job: forecast.describe_dataset_import_job(DatasetImportJobArn=job),
        )
        stats = done.get("FieldStatistics", {})
        summary = ", ".join(
            f"{field}: {values.get('Count')} values"
            + (f", mean {float(values['Avg']):.2f}" if values.get("Avg") else "")
            for field, values in stats.items()
        )
        print(f"    {summary}")
    return group


def train(forecast: Any, group: str) -> str:
    predictor = forecast.create_auto_predictor(
        PredictorName="retail_auto",
        ForecastHorizon=HORIZON,
        ForecastFrequency="D",
        ForecastDimensions=["location"],
        ForecastTypes=["0.1", "0.5", "0.9", "mean"],
        DataConfig={
            "DatasetGroupArn": group,
            "AdditionalDatasets": [{"Name": "holiday", "Configuration": {"CountryCode": ["US"]}}],
        },
    )["PredictorArn"]
    wait_until_finished(
        "AutoPredictor", lambda: forecast.describe_auto_predictor(PredictorArn=predictor)
    )
    metrics = forecast.get_accuracy_metrics(PredictorArn=predictor)
    print("\n  Backtest accuracy (lower is better):")
    print(
        f"  {'algorithm':<16}{'avg wQL':>9}{'wQL 0.1':>9}{'wQL 0.5':>9}{'wQL 0.9':>9}"
        f"{'WAPE':>8}{'MASE':>8}"
    )
    for result in metrics["PredictorEvaluationResults"]:
        window = result["TestWindows"][0]["Metrics"]
        losses = {w["Quantile"]: w["LossValue"] for w in window.get("WeightedQuantileLosses", [])}
        errors = (window.get("ErrorMetrics") or [{}])[0]
        print(
            f"  {result.get('AlgorithmArn', 'AutoPredictor').rsplit('/', 1)[-1]:<16}"
            f"{window.get('AverageWeightedQuantileLoss', float('nan')):>9.4f}"
            + "".join(f"{losses.get(q, float('nan')):>9.4f}" for q in (0.1, 0.5, 0.9))
            + f"{errors.get('WAPE', float('nan')):>8.4f}{errors.get('MASE', float('nan')):>8.3f}"
        )
    return predictor


def history(item: str, location: str) -> list[tuple[str, float]]:
    with (SAMPLE / FILES["TARGET_TIME_SERIES"]).open() as handle:
        rows = [
            (r[2], float(r[3])) for r in csv.reader(handle) if r[0] == item and r[1] == location
        ]
    return rows[-60:]


def fan_chart(item: str, location: str, predictions: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    past = history(item, location)
    stamp = lambda text: datetime.fromisoformat(text[:19])  # noqa: E731
    figure, axis = plt.subplots(figsize=(10, 4.5))
    axis.plot([stamp(d) for d, _ in past], [v for _, v in past], color="black", label="history")
    dates = [stamp(point["Timestamp"]) for point in predictions["p50"]]
    axis.fill_between(
        dates,
        [p["Value"] for p in predictions["p10"]],
        [p["Value"] for p in predictions["p90"]],
        alpha=0.3,
        label="P10-P90",
    )
    axis.plot(dates, [p["Value"] for p in predictions["p50"]], label="P50")
    axis.set_title(f"{item} at {location}: {HORIZON}-day forecast")
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def forecast_and_query(forecast: Any, query: Any, predictor: str, out_dir: Path) -> str:
    forecast_arn = forecast.create_forecast(ForecastName="retail_forecast", PredictorArn=predictor)[
        "ForecastArn"
    ]
    wait_until_finished("forecast", lambda: forecast.describe_forecast(ForecastArn=forecast_arn))
    item, location = "item_000", "store_north"
    answer = query.query_forecast(
        ForecastArn=forecast_arn, Filters={"item_id": item, "location": location}
    )
    predictions = answer["Forecast"]["Predictions"]
    print(f"\n> query_forecast({item}, {location}): first 3 days")
    for index in range(3):
        values = "  ".join(
            f"{name}={points[index]['Value']:.1f}" for name, points in sorted(predictions.items())
        )
        print(f"  {predictions['p50'][index]['Timestamp']}  {values}")
    chart = out_dir / "forecast_item_000_store_north.png"
    fan_chart(item, location, predictions, chart)
    print(f"  fan chart written to {chart}")
    return forecast_arn


def export(forecast: Any, forecast_arn: str, data_dir: Path) -> None:
    job = forecast.create_forecast_export_job(
        ForecastExportJobName="retail_export",
        ForecastArn=forecast_arn,
        Destination={
            "S3Config": {
                "Path": f"s3://{BUCKET}/exports/",
                "RoleArn": "arn:aws:iam::000000000000:role/demo",
            }
        },
    )["ForecastExportJobArn"]
    wait_until_finished(
        "export", lambda: forecast.describe_forecast_export_job(ForecastExportJobArn=job)
    )
    files = sorted((data_dir / "s3" / BUCKET / "exports").rglob("*.csv"))
    print(
        f"  exported {len(files)} file(s) to s3://{BUCKET}/exports/: "
        + ", ".join(path.name for path in files[:3])
    )


def run(base_url: str, data_dir: Path) -> None:
    forecast = boto3.client("forecast", endpoint_url=f"{base_url}/forecast", **CLIENT_ARGS)
    query = boto3.client("forecastquery", endpoint_url=f"{base_url}/forecastquery", **CLIENT_ARGS)
    print("\n=== Amazon Forecast: import, train, forecast, query, export ===")
    source = stage_sample(data_dir)
    group = create_datasets(forecast, source)
    show("describe_dataset_group", forecast.describe_dataset_group(DatasetGroupArn=group))
    predictor = train(forecast, group)
    forecast_arn = forecast_and_query(forecast, query, predictor, data_dir)
    export(forecast, forecast_arn, data_dir)
