"""From a predictor's request to the container's ForecastJobConfig, without a server.

The config is the one contract with the forecasting container, so each field is
checked against what the request and the dataset group say.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from augury.forecast import frequencies, predictor_rules
from augury.forecast.domains import domain
from augury.forecast.group_data import DatasetData, GroupData
from augury.forecast.job_config import (
    AUTO_CANDIDATES,
    PredictorSpec,
    auto_candidates,
    config_from_json,
    config_to_json,
    forecast_config,
    training_config,
)
from augury.resources.errors import InvalidInput
from augury_training.forecast_contract import Featurization, ForecastJobConfig

ARN = "arn:aws:forecast:us-east-1:000000000000:{}/{}"


def dataset(kind: str, name: str, *schema: tuple[str, str], frequency: str | None = "D"):
    return DatasetData(
        arn=ARN.format("dataset", name),
        dataset_type=kind,
        schema=schema,
        frequency=frequency,
        data_prefix=f"resources/forecast/dataset/{name}/data/v1/",
    )


def retail_group(related: bool = True, metadata: bool = True) -> GroupData:
    return GroupData(
        group_arn=ARN.format("dataset-group", "shop"),
        domain=domain("RETAIL"),
        target=dataset(
            "TARGET_TIME_SERIES",
            "sales",
            ("item_id", "string"),
            ("store", "string"),
            ("timestamp", "timestamp"),
            ("demand", "float"),
        ),
        related=dataset(
            "RELATED_TIME_SERIES",
            "prices",
            ("item_id", "string"),
            ("store", "string"),
            ("timestamp", "timestamp"),
            ("price", "float"),
            ("promotion_applied", "integer"),
        )
        if related
        else None,
        metadata=dataset(
            "ITEM_METADATA", "items", ("item_id", "string"), ("brand", "string"), frequency=None
        )
        if metadata
        else None,
    )


def spec(**changes) -> PredictorSpec:
    values = {
        "frequency": "W",
        "horizon": 8,
        "forecast_types": ["0.1", "0.5", "0.9", "mean"],
        "algorithms": ["ETS", "Theta"],
        "auto": True,
        "dimensions": ["store"],
        "featurizations": [Featurization("demand", middlefill="nan", aggregation="max")],
        "holiday_country": "DE",
        "time_alignment_boundary": {"DayOfWeek": "SUNDAY"},
        **changes,
    }
    return PredictorSpec(**values)


def test_training_config_joins_the_request_and_the_groups_fields():
    config = training_config(spec(), retail_group(), seed=7)
    assert config == ForecastJobConfig(
        mode="train",
        frequency="W",
        horizon=8,
        item_field="item_id",
        target_field="demand",
        dimensions=["store"],
        forecast_types=["0.1", "0.5", "0.9", "mean"],
        algorithms=["ETS", "Theta"],
        auto=True,
        optimization_metric="AverageWeightedQuantileLoss",
        backtest_windows=1,
        backtest_offset=None,
        featurizations=[Featurization("demand", middlefill="nan", aggregation="max")],
        holiday_country="DE",
        related_fields=["price", "promotion_applied"],
        metadata_fields=["brand"],
        time_alignment_boundary={"DayOfWeek": "SUNDAY"},
        hyperparameters={},
        seed=7,
    )
    assert config.identity_fields == ["item_id", "store"]


def test_the_domain_names_the_item_and_target_fields():
    group = GroupData(
        group_arn=ARN.format("dataset-group", "fleet"),
        domain=domain("EC2_CAPACITY"),
        target=dataset(
            "TARGET_TIME_SERIES",
            "fleet",
            ("instance_type", "string"),
            ("timestamp", "timestamp"),
            ("number_of_instances", "integer"),
        ),
    )
    config = training_config(spec(dimensions=[]), group)
    assert (config.item_field, config.target_field) == ("instance_type", "number_of_instances")
    assert config.related_fields == [] and config.metadata_fields == []
    assert group.channels() == {"target": "resources/forecast/dataset/fleet/data/v1/"}


def test_the_config_survives_the_hyperparameter_round_trip_and_fits_sagemakers_limit():
    config = training_config(spec(), retail_group())
    text = config_to_json(config)
    assert len(text) <= 2500  # SageMaker's limit for one hyperparameter value
    assert config_from_json(text) == config


def test_forecast_mode_changes_only_the_mode_and_the_types():
    trained = training_config(spec(), retail_group())
    generating = forecast_config(trained, ["0.25", "mean"])
    assert generating.mode == "forecast" and generating.forecast_types == ["0.25", "mean"]
    assert {**vars(generating), "mode": "train", "forecast_types": trained.forecast_types} == vars(
        trained
    )
    assert trained.mode == "train"


def test_prophet_joins_the_auto_candidates_only_with_related_data_or_holidays():
    assert auto_candidates(retail_group(related=False), None) == list(AUTO_CANDIDATES)
    assert auto_candidates(retail_group(related=False), "US")[-1] == "Prophet"
    assert auto_candidates(retail_group(), None)[-1] == "Prophet"


def test_a_spec_round_trips_through_the_record():
    original = spec()
    assert PredictorSpec.from_dict(original.to_dict()) == original


@pytest.mark.parametrize(
    ("types", "accepted"),
    [
        (None, ["0.1", "0.5", "0.9"]),
        (["0.01", "0.99", "mean"], ["0.01", "0.99", "mean"]),
        (["0.0"], None),
        (["1.0"], None),
        (["0.1", "0.10"], None),
        (["0.1", "0.2", "0.3", "0.4", "0.5", "mean"], None),
    ],
)
def test_forecast_types(types, accepted):
    if accepted is None:
        with pytest.raises(InvalidInput):
            predictor_rules.check_forecast_types(types)
    else:
        assert predictor_rules.check_forecast_types(types) == accepted


def test_the_forecast_frequency_is_at_least_the_targets_and_equals_the_related():
    group = retail_group()
    assert predictor_rules.check_frequency("D", group) == "D"
    with pytest.raises(InvalidInput, match="equal to its frequency"):
        predictor_rules.check_frequency("W", group)
    target_only = retail_group(related=False)
    assert predictor_rules.check_frequency("1M", target_only) == "1M"
    with pytest.raises(InvalidInput, match="greater than or equal"):
        predictor_rules.check_frequency("12H", target_only)


def test_related_data_must_go_on_after_the_target_for_deepar_and_prophet():
    def group(related_end: datetime | None) -> GroupData:
        base = retail_group()
        target = dataclasses.replace(base.target, end=datetime(2024, 3, 30))
        related = dataclasses.replace(base.related, end=related_end)
        return dataclasses.replace(base, target=target, related=related)

    stopped = group(datetime(2024, 3, 30))
    with pytest.raises(InvalidInput, match=r"price, promotion_applied \(or give them"):
        predictor_rules.check_related_horizon("Prophet", stopped, 7, [])
    predictor_rules.check_related_horizon("CNN-QR", stopped, 7, [])
    predictor_rules.check_related_horizon("NPTS", stopped, 7, [])
    filled = [Featurization(name, futurefill="zero") for name in ("price", "promotion_applied")]
    predictor_rules.check_related_horizon("Deep_AR_Plus", stopped, 7, filled)
    # data that goes on, or whose end no import recorded: the training job checks the horizon
    predictor_rules.check_related_horizon("Deep_AR_Plus", group(datetime(2024, 4, 2)), 7, [])
    predictor_rules.check_related_horizon("Deep_AR_Plus", group(None), 7, [])


def test_dimensions_are_string_attributes_of_the_target():
    group = retail_group()
    assert predictor_rules.check_dimensions(["store"], group) == ["store"]
    for wrong in (["item_id"], ["demand"], ["brand"], ["store", "store"]):
        with pytest.raises(InvalidInput):
            predictor_rules.check_dimensions(wrong, group)


def test_filling_parameters_follow_amazons_tables():
    group = retail_group()
    target = predictor_rules.featurization(
        "demand", {"backfill": "value", "backfill_value": "3.5"}, group, "AttributeConfigs"
    )
    assert (target.backfill, target.backfill_value) == ("value", 3.5)
    related = predictor_rules.featurization(
        "price", {"futurefill": "max"}, group, "AttributeConfigs"
    )
    assert related.futurefill == "max"
    refused = [
        ("demand", {"futurefill": "zero"}),  # only related fields have a future
        ("price", {"aggregation": "sum"}),  # related fields are not aggregated
        ("price", {"middlefill": "nan"}),  # nan is not a related fill
        ("demand", {"middlefill": "value"}),  # value needs middlefill_value
        ("demand", {"aggregation": "median"}),
        ("brand", {"middlefill": "zero"}),  # not a target or related field
    ]
    for name, parameters in refused:
        with pytest.raises(InvalidInput):
            predictor_rules.featurization(name, parameters, group, "AttributeConfigs")


def test_time_boundaries_use_the_forecast_frequencys_unit():
    assert predictor_rules.check_time_alignment({"DayOfMonth": 15}, "3M") == {"DayOfMonth": 15}
    assert predictor_rules.check_time_alignment({"Hour": 6, "Month": None}, "D") == {"Hour": 6}
    assert predictor_rules.check_time_alignment({}, "D") is None
    for boundary, frequency in (({"Hour": 6}, "W"), ({"Month": "MAY"}, "H")):
        with pytest.raises(InvalidInput):
            predictor_rules.check_time_alignment(boundary, frequency)


def test_horizon_limits():
    assert predictor_rules.horizon_limit(40, 4) == 10
    assert predictor_rules.horizon_limit(40, 3) == 13
    assert predictor_rules.horizon_limit(10_000, 4) == 500
    with pytest.raises(InvalidInput, match="lesser of 500"):
        predictor_rules.check_horizon(501)
    assert predictor_rules.check_backtests({"NumberOfBacktestWindows": 5}, 7) == (5, None)
    with pytest.raises(InvalidInput):
        predictor_rules.check_backtests({"BackTestWindowOffset": 6}, 7)


@pytest.mark.parametrize(
    ("frequency", "start", "end", "length"),
    [
        ("D", datetime(2024, 1, 1), datetime(2024, 2, 9), 40),
        ("W", datetime(2024, 1, 1), datetime(2024, 2, 9), 6),
        ("M", datetime(2023, 1, 31), datetime(2023, 12, 31), 12),
        ("3M", datetime(2023, 1, 1), datetime(2023, 12, 1), 4),
        ("Y", datetime(2000, 1, 1), datetime(2009, 6, 1), 10),
        ("15min", datetime(2024, 1, 1), datetime(2024, 1, 1, 2), 9),
    ],
)
def test_series_lengths_count_time_steps_on_the_calendar(frequency, start, end, length):
    assert frequencies.parse(frequency).length(start, end) == length


@pytest.mark.parametrize("text", ["60min", "24H", "7D", "5W", "12M", "2Y", "min", "1d", "D1"])
def test_frequencies_amazon_does_not_accept(text):
    with pytest.raises(InvalidInput):
        frequencies.parse(text)


def test_the_estimated_training_time_weighs_deep_models_and_their_hpo_trials():
    from augury.forecast.predictor_records import MINIMUM_ESTIMATE_SECONDS, estimate_seconds

    rows = 200_000
    statistical = estimate_seconds(rows, spec(algorithms=["ETS", "Theta"]))
    deepar = estimate_seconds(rows, spec(algorithms=["Deep_AR_Plus"], auto=False))
    tuned = estimate_seconds(rows, spec(algorithms=["Deep_AR_Plus"], auto=False, perform_hpo=True))
    # M3's 199,196 points: DeepAR+ took 2,128 s a fit on 2 cores, ETS and Theta 76 s
    assert 2 * 2_000 < deepar < 2 * 2_500 and statistical < 500
    assert tuned > 4 * deepar
    # an AutoPredictor considers its deep candidates only on enough data
    auto = spec(algorithms=["ETS", "Deep_AR_Plus", "CNN-QR"])
    assert estimate_seconds(rows, auto) > 10 * statistical
    assert estimate_seconds(5_000, auto) == MINIMUM_ESTIMATE_SECONDS
