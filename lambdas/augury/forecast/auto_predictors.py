"""CreateAutoPredictor and DescribeAutoPredictor.

An AutoPredictor backtests every candidate algorithm on each time series and
forecasts each series with the ensemble that scores best on the optimization
metric (the container does the work; see ``augury.forecast.job_config``).

Retraining and upgrading follow the API reference: with ReferencePredictorArn,
only PredictorName (and Tags) may be given; the new predictor keeps the
reference's settings, trains on the group's current data, and may forecast up
to 1/3 of the target series' length instead of 1/4.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast import predictor_records, predictor_rules
from augury.forecast.access_config import checked_encryption
from augury.forecast.group_data import GroupData, load_group
from augury.forecast.job_config import (
    SPEC_ATTRIBUTE,
    PredictorSpec,
    auto_candidates,
)
from augury.resources.errors import InvalidInput
from augury.resources.record import Resource

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecast")

DEFAULT_METRIC = "AverageWeightedQuantileLoss"
RETRAIN_FRACTION = 3
NEW_FRACTION = 4
_RETRAIN_ONLY = ("PredictorName", "ReferencePredictorArn", "Tags")


@operations("CreateAutoPredictor")
def create_auto_predictor(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("ExplainPredictor"):
        raise InvalidInput(
            "ExplainPredictor is not available in Augury yet: predictor explainability is not "
            "implemented. Create the predictor without it"
        )
    if request.get("MonitorConfig"):
        raise InvalidInput(
            "MonitorConfig is not available in Augury yet: predictor monitoring is not "
            "implemented. Create the predictor without it"
        )
    reference = request.get("ReferencePredictorArn")
    if reference:
        return {"PredictorArn": _retrain(runtime, request, reference)}
    data_config = request.get("DataConfig")
    if not data_config:
        raise InvalidInput(
            "DataConfig is required when creating a new predictor: give its DatasetGroupArn "
            "(only a retrain or upgrade with ReferencePredictorArn may omit it)"
        )
    group = load_group(runtime, data_config["DatasetGroupArn"])
    spec, attributes = _new_spec(request, data_config, group)
    arn = predictor_records.create_predictor(
        runtime, request, group_arn=group.group_arn, spec=spec, attributes=attributes
    )
    return {"PredictorArn": arn}


@operations("DescribeAutoPredictor")
def describe_auto_predictor(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return predictor_records.describe(runtime, request["PredictorArn"], auto=True)


def _new_spec(
    request: Mapping[str, Any], data_config: Mapping[str, Any], group: GroupData
) -> tuple[PredictorSpec, dict[str, Any]]:
    horizon = predictor_rules.check_horizon(request.get("ForecastHorizon"))
    frequency = predictor_rules.check_frequency(request.get("ForecastFrequency"), group)
    forecast_types = predictor_rules.check_forecast_types(request.get("ForecastTypes"))
    dimensions = predictor_rules.check_dimensions(request.get("ForecastDimensions"), group)
    boundary = predictor_rules.check_time_alignment(request.get("TimeAlignmentBoundary"), frequency)
    featurizations = []
    seen: set[str] = set()
    for config in data_config.get("AttributeConfigs") or []:
        name = config["AttributeName"]
        if name in seen:
            raise InvalidInput(f"AttributeConfigs lists attribute {name} twice")
        seen.add(name)
        featurizations.append(
            predictor_rules.featurization(
                name, config.get("Transformations") or {}, group, "AttributeConfigs"
            )
        )
    holiday = _holiday(data_config.get("AdditionalDatasets") or [])
    metric = request.get("OptimizationMetric") or DEFAULT_METRIC
    spec = PredictorSpec(
        frequency=frequency,
        horizon=horizon,
        forecast_types=forecast_types,
        algorithms=auto_candidates(group, holiday),
        auto=True,
        dimensions=dimensions,
        optimization_metric=metric,
        featurizations=featurizations,
        holiday_country=holiday,
        time_alignment_boundary=boundary,
        horizon_fraction=NEW_FRACTION,
    )
    attributes: dict[str, Any] = {
        "ForecastHorizon": horizon,
        "ForecastTypes": forecast_types,
        "ForecastFrequency": frequency,
        "DataConfig": dict(data_config),
        "OptimizationMetric": metric,
        "IsAutoPredictor": True,
    }
    if dimensions:
        attributes["ForecastDimensions"] = dimensions
    if boundary:
        attributes["TimeAlignmentBoundary"] = boundary
    encryption = checked_encryption(request.get("EncryptionConfig"))
    if encryption:
        attributes["EncryptionConfig"] = encryption
    return spec, attributes


def _holiday(additional: Sequence[Mapping[str, Any]]) -> str | None:
    """The holiday country from AdditionalDatasets; the Weather Index is refused."""
    country = None
    for dataset in additional:
        name = dataset["Name"]
        configuration = dataset.get("Configuration") or {}
        if name == "weather":
            predictor_rules.refuse_weather("AdditionalDatasets")
        if name != "holiday":
            raise InvalidInput(
                f"AdditionalDatasets: {name} is not a built-in dataset; valid names are "
                "holiday and weather"
            )
        codes = configuration.get("CountryCode") or []
        unknown = sorted(set(configuration) - {"CountryCode"})
        if unknown or len(codes) != 1 or country is not None:
            raise InvalidInput(
                "AdditionalDatasets: the holiday dataset takes one configuration, CountryCode, "
                'with one country code, as in {"Name": "holiday", "Configuration": '
                '{"CountryCode": ["US"]}}'
            )
        country = predictor_rules.holiday_country(codes[0], "AdditionalDatasets")
    return country


def _retrain(runtime: Runtime, request: Mapping[str, Any], reference_arn: str) -> str:
    """Retrain an AutoPredictor, or upgrade a legacy predictor, on the group's current data."""
    extra = [k for k, v in request.items() if k not in _RETRAIN_ONLY and v not in (None, [], {})]
    if extra:
        raise InvalidInput(
            "When upgrading or retraining a predictor, only specify values for the "
            f"ReferencePredictorArn and PredictorName; remove {', '.join(sorted(extra))}"
        )
    reference = predictor_records.usable_predictor(
        runtime, reference_arn, "it can be retrained or upgraded"
    )
    group = load_group(runtime, str(reference.parent_arn))
    old = PredictorSpec.from_dict(reference.attributes[SPEC_ATTRIBUTE])
    if reference.attributes.get("IsAutoPredictor"):
        attributes = _kept(reference)
        algorithms = old.algorithms
    else:
        attributes = _upgraded(reference, old)
        algorithms = auto_candidates(group, old.holiday_country)
    spec = PredictorSpec(
        **{
            **old.to_dict(),
            "featurizations": old.featurizations,
            "algorithms": algorithms,
            "auto": True,
            "backtest_windows": 1,
            "backtest_offset": None,
            "hyperparameters": {},
            "horizon_fraction": RETRAIN_FRACTION,
        }
    )
    attributes[predictor_records.REFERENCE] = reference_arn
    return predictor_records.create_predictor(
        runtime, request, group_arn=group.group_arn, spec=spec, attributes=attributes
    )


_AUTO_MEMBERS = (
    "ForecastHorizon",
    "ForecastTypes",
    "ForecastFrequency",
    "ForecastDimensions",
    "DataConfig",
    "OptimizationMetric",
    "TimeAlignmentBoundary",
    "EncryptionConfig",
)


def _kept(reference: Resource) -> dict[str, Any]:
    attributes = {k: reference.attributes[k] for k in _AUTO_MEMBERS if k in reference.attributes}
    attributes["IsAutoPredictor"] = True
    return attributes


def _upgraded(reference: Resource, spec: PredictorSpec) -> dict[str, Any]:
    """A legacy predictor's settings in CreateAutoPredictor's vocabulary."""
    data_config: dict[str, Any] = {"DatasetGroupArn": reference.parent_arn}
    if spec.holiday_country:
        data_config["AdditionalDatasets"] = [
            {"Name": "holiday", "Configuration": {"CountryCode": [spec.holiday_country]}}
        ]
    attributes: dict[str, Any] = {
        "ForecastHorizon": spec.horizon,
        "ForecastTypes": spec.forecast_types,
        "ForecastFrequency": spec.frequency,
        "DataConfig": data_config,
        "OptimizationMetric": spec.optimization_metric,
        "IsAutoPredictor": True,
    }
    if spec.dimensions:
        attributes["ForecastDimensions"] = spec.dimensions
    if reference.attributes.get("EncryptionConfig"):
        attributes["EncryptionConfig"] = reference.attributes["EncryptionConfig"]
    return attributes
