"""Legacy predictors (CreatePredictor) and what every predictor shares.

CreatePredictor trains one chosen algorithm (ARIMA, ETS, NPTS, Prophet, or the
deep DeepAR+ and CNN-QR), or with PerformAutoML lets the candidates compete. DescribePredictor,
ListPredictors, DeletePredictor and GetAccuracyMetrics serve both kinds of
predictor (DescribePredictor only legacy ones, as in Amazon Forecast).

Rules from the API reference (CreatePredictor): AlgorithmArn is required unless
PerformAutoML is true; with AutoML, AlgorithmArn, HPOConfig, PerformHPO and
TrainingParameters are disallowed; HPO is supported for DeepAR+ and CNN-QR only,
and HPOConfig requires PerformHPO. HPOConfig's ranges are checked here (names the
algorithm tunes, the kind of range each needs, bounds within the values the model
accepts, scaling), and so are TrainingParameters' names (those the algorithm
takes), so a bad request never starts a training job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast import accuracy, predictor_records, predictor_rules
from augury.forecast.access_config import checked_encryption
from augury.forecast.group_data import GroupData, load_group
from augury.forecast.job_config import (
    AUTOML_CANDIDATES,
    SPEC_ATTRIBUTE,
    PredictorSpec,
    algorithm_name,
)
from augury.forecast.resource_types import FORECAST, PREDICTOR
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.status import Status
from augury_training.forecast_contract import GLOBAL_ALGORITHMS
from augury_training.forecast_hpo import TUNABLE, SearchError, parse_ranges

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecast")

ALGORITHM_PREFIX = "arn:aws:forecast:::algorithm/"
AVAILABLE_ALGORITHMS = ("ARIMA", "ETS", "NPTS", "Prophet", *GLOBAL_ALGORITHMS)
HPO_ALGORITHMS = tuple(TUNABLE)
DEFAULT_METRIC = "AverageWeightedQuantileLoss"


@operations("CreatePredictor")
def create_predictor(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    auto_ml = bool(request.get("PerformAutoML"))
    algorithm = _algorithm(request, auto_ml)
    group = load_group(runtime, request["InputDataConfig"]["DatasetGroupArn"])
    horizon = predictor_rules.check_horizon(request.get("ForecastHorizon"))
    forecast_types = predictor_rules.check_forecast_types(request.get("ForecastTypes"))
    featurization_config = request["FeaturizationConfig"]
    frequency = predictor_rules.check_frequency(
        featurization_config.get("ForecastFrequency"), group
    )
    dimensions = predictor_rules.check_dimensions(
        featurization_config.get("ForecastDimensions"), group
    )
    featurizations = _featurizations(featurization_config.get("Featurizations") or [], group)
    if algorithm is not None:
        predictor_rules.check_related_horizon(algorithm, group, horizon, featurizations)
    windows, offset = predictor_rules.check_backtests(request.get("EvaluationParameters"), horizon)
    holiday = _holiday(request["InputDataConfig"].get("SupplementaryFeatures") or [])
    metric = request.get("OptimizationMetric") or DEFAULT_METRIC
    spec = PredictorSpec(
        frequency=frequency,
        horizon=horizon,
        forecast_types=forecast_types,
        algorithms=list(AUTOML_CANDIDATES) if auto_ml else [str(algorithm)],
        auto=auto_ml,
        dimensions=dimensions,
        optimization_metric=metric,
        backtest_windows=windows,
        backtest_offset=offset,
        featurizations=featurizations,
        holiday_country=holiday,
        hyperparameters=_training_parameters(request, algorithm),
        horizon_fraction=3,
        perform_hpo=bool(request.get("PerformHPO")),
        hpo_ranges=_hpo_ranges(request, algorithm),
    )
    attributes: dict[str, Any] = {
        "ForecastHorizon": horizon,
        "ForecastTypes": forecast_types,
        "PerformAutoML": auto_ml,
        "PerformHPO": bool(request.get("PerformHPO")),
        "EvaluationParameters": {
            "NumberOfBacktestWindows": windows,
            "BackTestWindowOffset": offset if offset is not None else horizon,
        },
        "InputDataConfig": dict(request["InputDataConfig"]),
        "FeaturizationConfig": dict(featurization_config),
        "OptimizationMetric": metric,
        "IsAutoPredictor": False,
    }
    if algorithm:
        attributes["AlgorithmArn"] = request["AlgorithmArn"]
    for member in ("AutoMLOverrideStrategy", "TrainingParameters", "HPOConfig"):
        if request.get(member):
            attributes[member] = request[member]
    encryption = checked_encryption(request.get("EncryptionConfig"))
    if encryption:
        attributes["EncryptionConfig"] = encryption
    arn = predictor_records.create_predictor(
        runtime, request, group_arn=group.group_arn, spec=spec, attributes=attributes
    )
    return {"PredictorArn": arn}


def _algorithm(request: Mapping[str, Any], auto_ml: bool) -> str | None:
    """The chosen algorithm's name, after AutoML's and HPO's rules."""
    if auto_ml:
        predictor_records.refuse_members(
            request,
            ("AlgorithmArn", "HPOConfig", "PerformHPO", "TrainingParameters"),
            "when PerformAutoML is true",
        )
        return None
    if request.get("AutoMLOverrideStrategy"):
        raise InvalidInput(
            "AutoMLOverrideStrategy can be specified only when PerformAutoML is true"
        )
    arn = request.get("AlgorithmArn")
    if not arn:
        raise InvalidInput("AlgorithmArn is required when PerformAutoML is not set to true")
    name = algorithm_name(arn)
    if not arn.startswith(ALGORITHM_PREFIX) or name not in AVAILABLE_ALGORITHMS:
        raise InvalidInput(
            f"AlgorithmArn {arn} is not a supported algorithm; use one of "
            + ", ".join(ALGORITHM_PREFIX + n for n in AVAILABLE_ALGORITHMS)
        )
    if request.get("PerformHPO") and name not in HPO_ALGORITHMS:
        raise InvalidInput(
            f"PerformHPO is not supported for the {name} algorithm: hyperparameter optimization "
            f"is supported for {' and '.join(HPO_ALGORITHMS)} only"
        )
    if request.get("HPOConfig") and not request.get("PerformHPO"):
        raise InvalidInput("If you include HPOConfig, you must set PerformHPO to true")
    return name


def _training_parameters(request: Mapping[str, Any], algorithm: str | None) -> dict[str, str]:
    """TrainingParameters, each name one the chosen algorithm takes."""
    if algorithm is None:  # AutoML: refused with TrainingParameters already
        return {}
    return predictor_rules.check_training_parameters(
        algorithm, request["AlgorithmArn"], request.get("TrainingParameters")
    )


def _hpo_ranges(request: Mapping[str, Any], algorithm: str | None) -> dict[str, Any] | None:
    """HPOConfig's ParameterRanges, checked against what ``algorithm`` tunes."""
    ranges = (request.get("HPOConfig") or {}).get("ParameterRanges")
    if not ranges or algorithm is None:
        return None
    try:
        parse_ranges(algorithm, ranges)
    except SearchError as error:
        raise InvalidInput(f"HPOConfig.ParameterRanges.{error}") from None
    return dict(ranges)


def _featurizations(featurizations: Sequence[Mapping[str, Any]], group: GroupData) -> list[Any]:
    result = []
    seen: set[str] = set()
    for entry in featurizations:
        name = entry["AttributeName"]
        if name in seen:
            raise InvalidInput(f"Featurizations lists attribute {name} twice")
        seen.add(name)
        parameters: dict[str, str] = {}
        for method in entry.get("FeaturizationPipeline") or []:
            if method["FeaturizationMethodName"] != "filling":
                raise InvalidInput(
                    f"Featurization method {method['FeaturizationMethodName']} is not valid; "
                    "filling is the only supported method"
                )
            parameters.update(method.get("FeaturizationMethodParameters") or {})
        result.append(predictor_rules.featurization(name, parameters, group, "Featurizations"))
    return result


def _holiday(features: Sequence[Mapping[str, str]]) -> str | None:
    country = None
    for feature in features:
        if feature["Name"] == "weather":
            predictor_rules.refuse_weather("SupplementaryFeatures")
        if feature["Name"] != "holiday":
            raise InvalidInput(
                f"SupplementaryFeatures: {feature['Name']} is not valid; valid names are "
                "holiday and weather"
            )
        if country is not None:
            raise InvalidInput("SupplementaryFeatures: specify one holiday country only")
        country = predictor_rules.holiday_country(feature["Value"], "SupplementaryFeatures")
    return country


@operations("DescribePredictor")
def describe_predictor(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return predictor_records.describe(runtime, request["PredictorArn"], auto=False)


@operations("ListPredictors")
def list_predictors(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return predictor_records.list_predictors(runtime, request)


@operations("DeletePredictor")
def delete_predictor(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Delete a finished predictor once its forecasts are deleted.

    Finished backtest export jobs are history, not work: they go with it (their
    exported files stay in the user's storage); one still running blocks.
    """
    arn = request["PredictorArn"]
    crud.get_record(runtime, PREDICTOR, arn)
    cursor = None
    while True:
        page = runtime.metadata.list(parent_arn=arn, limit=100, cursor=cursor)
        for child in page.items:
            if child.kind == FORECAST.kind or Status(child.status).working:
                raise ResourceInUse(
                    f"Predictor {arn} is in use by {child.arn} ({child.status}); delete its "
                    "forecasts (or use DeleteResourceTree) and let its export jobs finish first"
                )
        cursor = page.cursor
        if cursor is None:
            break
    crud.request_delete(runtime, PREDICTOR, arn, blocking_children=False)
    return {}


@operations("GetAccuracyMetrics")
def get_accuracy_metrics(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    record = predictor_records.usable_predictor(
        runtime, request["PredictorArn"], "its accuracy metrics are available"
    )
    spec = PredictorSpec.from_dict(record.attributes[SPEC_ATTRIBUTE])
    return accuracy.accuracy_metrics(record, spec)
