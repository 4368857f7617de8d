"""What CreateAutoPredictor and CreatePredictor refuse, with Amazon's rules and messages.

Every case is refused by the call itself (InvalidInputException), before any
training starts; the cases that need the data are in test_forecast_predictors.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.embedded.server import EmbeddedServer
from tests.embedded.forecast_helpers import (
    START,
    client_for,
    daily_rows,
    error_of,
    make_group,
    schema,
    start_server,
    wait_for,
)

ITEMS = {"apple": "paris", "pear": "lyon"}
ALGORITHM = "arn:aws:forecast:::algorithm/"
ROLE = "arn:aws:iam::000000000000:role/ForecastImport"
KEY = "arn:aws:kms:us-east-1:000000000000:key/forecast"


@pytest.fixture
def server(tmp_path) -> Iterator[EmbeddedServer]:
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def forecast(server: EmbeddedServer) -> Any:
    return client_for(server, "forecast")


def auto_predictor(forecast: Any, group: str) -> str:
    return forecast.create_auto_predictor(
        PredictorName="refused",
        ForecastHorizon=5,
        ForecastFrequency="D",
        DataConfig={"DatasetGroupArn": group},
    )["PredictorArn"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"ForecastHorizon": 501}, "lesser of 500 time-steps"),
        ({"ForecastTypes": ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"]}, "up to 5"),
        ({"ForecastTypes": ["0.0"]}, "0.01 to 0.99"),
        ({"ForecastTypes": ["0.5", ".50"]}, "twice"),
        ({"ForecastDimensions": ["store"]}, "not a string attribute"),
        ({"ForecastFrequency": "90min"}, "is not valid"),
        ({"ExplainPredictor": True}, "ExplainPredictor"),
        ({"TimeAlignmentBoundary": {"DayOfWeek": "MONDAY"}}, "takes Hour only"),
        (
            {"DataConfig": {"AdditionalDatasets": [{"Name": "weather"}]}},
            "Weather Index is not available",
        ),
        (
            {
                "DataConfig": {
                    "AdditionalDatasets": [
                        {"Name": "holiday", "Configuration": {"CountryCode": ["XX"]}}
                    ]
                }
            },
            "not a supported holiday country",
        ),
        (
            {
                "DataConfig": {
                    "AttributeConfigs": [
                        {"AttributeName": "demand", "Transformations": {"futurefill": "zero"}}
                    ]
                }
            },
            "parameter futurefill is not valid for a target field",
        ),
        ({"EncryptionConfig": {"RoleArn": "x", "KMSKeyArn": KEY}}, "RoleArn x is not an IAM role"),
    ],
)
def test_create_auto_predictor_refuses_what_amazon_refuses(forecast, server, change, expected):
    group, _ = make_group(forecast, server, "rules", daily_rows(ITEMS, 40))
    request = {
        "PredictorName": "refused",
        "ForecastHorizon": 5,
        "ForecastFrequency": "D",
        "DataConfig": {"DatasetGroupArn": group},
    }
    for key, value in change.items():
        if key == "DataConfig":
            request["DataConfig"] = {**request["DataConfig"], **value}
        else:
            request[key] = value
    with pytest.raises(ClientError) as raised:
        forecast.create_auto_predictor(**request)
    code, message = error_of(raised)
    assert code == "InvalidInputException"
    assert expected in message


def test_the_group_must_hold_target_data_at_a_coarse_enough_frequency(forecast, server):
    empty = forecast.create_dataset_group(DatasetGroupName="empty", Domain="RETAIL")
    with pytest.raises(ClientError) as raised:
        auto_predictor(forecast, empty["DatasetGroupArn"])
    assert "has no TARGET_TIME_SERIES dataset" in error_of(raised)[1]

    no_data, dataset = make_group(forecast, server, "nodata", None)
    with pytest.raises(ClientError) as raised:
        auto_predictor(forecast, no_data)
    code, message = error_of(raised)
    assert code == "InvalidInputException"
    assert f"Dataset {dataset} has no imported data" in message

    weekly, _ = make_group(forecast, server, "weekly", daily_rows(ITEMS, 40), frequency="W")
    with pytest.raises(ClientError) as raised:
        auto_predictor(forecast, weekly)
    assert (
        "must be greater than or equal to the TARGET_TIME_SERIES dataset frequency"
        in (error_of(raised)[1])
    )


DEEPAR_RANGES = {
    "ParameterRanges": {
        "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": 1e-4, "MaxValue": 1e-2}]
    }
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"AlgorithmArn": ALGORITHM + "Deep_AR_Plus", "HPOConfig": DEEPAR_RANGES},
            "If you include HPOConfig, you must set PerformHPO to true",
        ),
        (
            {
                "AlgorithmArn": ALGORITHM + "Deep_AR_Plus",
                "PerformHPO": True,
                "HPOConfig": {
                    "ParameterRanges": {
                        "IntegerParameterRanges": [
                            {"Name": "num_layers", "MinValue": 1, "MaxValue": 3}
                        ]
                    }
                },
            },
            "'num_layers' is not a tunable hyperparameter of Deep_AR_Plus",
        ),
        (
            {
                "AlgorithmArn": ALGORITHM + "CNN-QR",
                "PerformHPO": True,
                "HPOConfig": {
                    "ParameterRanges": {
                        "IntegerParameterRanges": [
                            {"Name": "context_length", "MinValue": 30, "MaxValue": 10}
                        ]
                    }
                },
            },
            "context_length MinValue 30 is above MaxValue 10",
        ),
        (
            {
                "AlgorithmArn": ALGORITHM + "Deep_AR_Plus",
                "PerformHPO": True,
                "HPOConfig": {
                    "ParameterRanges": {
                        "ContinuousParameterRanges": [
                            {
                                "Name": "learning_rate",
                                "MinValue": 0.0,
                                "MaxValue": 0.1,
                                "ScalingType": "Logarithmic",
                            }
                        ]
                    }
                },
            },
            "Logarithmic scaling, which needs MinValue > 0",
        ),
        (
            {
                "AlgorithmArn": ALGORITHM + "Deep_AR_Plus",
                "PerformHPO": True,
                "HPOConfig": {
                    "ParameterRanges": {
                        "IntegerParameterRanges": [
                            {"Name": "learning_rate", "MinValue": 1, "MaxValue": 3}
                        ]
                    }
                },
            },
            "learning_rate of Deep_AR_Plus is a continuous hyperparameter; give it in "
            "ContinuousParameterRanges, with MinValue and MaxValue within its valid values "
            "1e-05 to 0.1",
        ),
        (
            {
                "AlgorithmArn": ALGORITHM + "CNN-QR",
                "PerformHPO": True,
                "HPOConfig": {
                    "ParameterRanges": {
                        "CategoricalParameterRanges": [
                            {"Name": "use_item_metadata", "Values": ["ALL", "SOMETIMES"]}
                        ]
                    }
                },
            },
            "use_item_metadata value SOMETIMES is not valid; its valid values are ALL, NONE",
        ),
        (
            {"AlgorithmArn": ALGORITHM + "Deep_AR_Plus", "TrainingParameters": {"epoch": "1"}},
            "Invalid Training parameter: epoch (did you mean epochs?) specified for algorithmArn: "
            "arn:aws:forecast:::algorithm/Deep_AR_Plus. Deep_AR_Plus takes context_length, ",
        ),
        (
            {"AlgorithmArn": ALGORITHM + "Prophet", "TrainingParameters": {"epochs": "5"}},
            "Invalid Training parameter: epochs specified for algorithmArn: "
            "arn:aws:forecast:::algorithm/Prophet",
        ),
        (
            # a value the model cannot use fails here, not in a (GPU) training job
            {"AlgorithmArn": ALGORITHM + "Deep_AR_Plus", "TrainingParameters": {"epochs": "0"}},
            "Invalid Training parameter value for algorithmArn: "
            "arn:aws:forecast:::algorithm/Deep_AR_Plus. epochs must be at least 1, got 0",
        ),
        (
            {
                "AlgorithmArn": ALGORITHM + "CNN-QR",
                "TrainingParameters": {"use_related_data": "MAYBE"},
            },
            "use_related_data must be one of ALL, NONE, HISTORICAL, FORWARD_LOOKING; got 'MAYBE'",
        ),
        (
            {
                "AlgorithmArn": ALGORITHM + "NPTS",
                "TrainingParameters": {"kernel_type": "gaussian"},
            },
            "kernel_type must be one of exponential, uniform; got 'gaussian'",
        ),
        ({"AlgorithmArn": ALGORITHM + "Magic"}, "not a supported algorithm"),
        ({"PerformHPO": True}, "PerformHPO is not supported for the ARIMA algorithm"),
        ({"AlgorithmArn": None}, "AlgorithmArn is required"),
        ({"PerformAutoML": True}, "AlgorithmArn cannot be specified when PerformAutoML"),
        ({"EvaluationParameters": {"NumberOfBacktestWindows": 6}}, "1 through 5"),
        ({"EvaluationParameters": {"BackTestWindowOffset": 3}}, "less than ForecastHorizon"),
        ({"EncryptionConfig": {"RoleArn": "x", "KMSKeyArn": KEY}}, "RoleArn x is not an IAM role"),
    ],
)
def test_create_predictor_refuses_what_amazon_refuses(forecast, server, change, expected):
    group, _ = make_group(forecast, server, "legacy_rules", daily_rows(ITEMS, 40))
    request = {
        "PredictorName": "refused",
        "AlgorithmArn": ALGORITHM + "ARIMA",
        "ForecastHorizon": 5,
        "InputDataConfig": {"DatasetGroupArn": group},
        "FeaturizationConfig": {"ForecastFrequency": "D"},
        **change,
    }
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(ClientError) as raised:
        forecast.create_predictor(**request)
    code, message = error_of(raised)
    assert code == "InvalidInputException"
    assert expected in message


def import_csv(forecast: Any, server: EmbeddedServer, dataset: str, name: str, rows) -> None:
    """Import ``rows`` into ``dataset`` through a dataset import job, and wait for it."""
    folder = Path(server.runtime.settings.data_dir) / "s3" / "bucket" / name
    folder.mkdir(parents=True)
    with (folder / f"{name}.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    job = forecast.create_dataset_import_job(
        DatasetImportJobName=name,
        DatasetArn=dataset,
        DataSource={"S3Config": {"Path": f"s3://bucket/{name}/", "RoleArn": ROLE}},
        TimestampFormat="yyyy-MM-dd",
    )["DatasetImportJobArn"]
    done = wait_for(lambda: forecast.describe_dataset_import_job(DatasetImportJobArn=job))
    assert done["Status"] == "ACTIVE", done.get("Message")


def test_deepar_and_prophet_refuse_related_data_that_stops_with_the_target(forecast, server):
    days = [(START + timedelta(days=d)).date().isoformat() for d in range(40)]
    target = forecast.create_dataset(
        DatasetName="sales",
        Domain="RETAIL",
        DatasetType="TARGET_TIME_SERIES",
        DataFrequency="D",
        Schema=schema([("item_id", "string"), ("timestamp", "timestamp"), ("demand", "float")]),
    )["DatasetArn"]
    related = forecast.create_dataset(
        DatasetName="promotions",
        Domain="RETAIL",
        DatasetType="RELATED_TIME_SERIES",
        DataFrequency="D",
        Schema=schema([("item_id", "string"), ("timestamp", "timestamp"), ("promo", "integer")]),
    )["DatasetArn"]
    group = forecast.create_dataset_group(
        DatasetGroupName="history_only", Domain="RETAIL", DatasetArns=[target, related]
    )["DatasetGroupArn"]
    import_csv(forecast, server, target, "sales", [("apple", day, 5.0) for day in days])
    import_csv(forecast, server, related, "promotions", [("apple", day, 0) for day in days])

    def create(algorithm: str, **extra: Any) -> str:
        return forecast.create_predictor(
            PredictorName=f"history_only_{algorithm.replace('-', '_')}_{len(extra)}",
            AlgorithmArn=ALGORITHM + algorithm,
            ForecastHorizon=5,
            InputDataConfig={"DatasetGroupArn": group},
            FeaturizationConfig={"ForecastFrequency": "D", **extra},
        )["PredictorArn"]

    for algorithm in ("Deep_AR_Plus", "Prophet"):
        with pytest.raises(ClientError) as raised:
            create(algorithm)
        code, message = error_of(raised)
        assert code == "InvalidInputException"
        assert message.startswith(
            f"The RELATED_TIME_SERIES dataset {related} has no future values: its data ends at "
            "2024-02-09 00:00:00, and the TARGET_TIME_SERIES dataset's at 2024-02-09 00:00:00. "
            f"{algorithm} uses related time series only when they extend over the forecast "
            "horizon, the 5 time steps after the target's last timestamp. Import the future "
            "values of promo (or give it a futurefill), or use CNN-QR"
        )
    # CNN-QR takes history-only related data, ARIMA none; a futurefill fills the horizon
    assert create("CNN-QR") and create("ARIMA")
    future = {
        "Featurizations": [
            {
                "AttributeName": "promo",
                "FeaturizationPipeline": [
                    {
                        "FeaturizationMethodName": "filling",
                        "FeaturizationMethodParameters": {"futurefill": "zero"},
                    }
                ],
            }
        ]
    }
    assert create("Deep_AR_Plus", **future)
