"""PerformHPO for the deep forecasters: HPOConfig's ranges and the search over them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from augury_training.forecast_hpo import (
    TUNABLE,
    Dimension,
    SearchError,
    default_ranges,
    parse_ranges,
)
from augury_training.forecasting.deep import cnnqr, deepar
from augury_training.forecasting.hpo import search
from augury_training.forecasting.models.hyperparameters import HyperparameterError


def draws(dimension: Dimension, count: int = 4000) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.array([float(dimension.sample(rng)) for _ in range(count)])


def test_scaling_types_spread_draws_as_amazon_describes():
    linear = draws(Dimension("x", "continuous", 0.0001, 0.1, "Linear"))
    logarithmic = draws(Dimension("x", "continuous", 0.0001, 0.1, "Logarithmic"))
    reverse = draws(Dimension("x", "continuous", 0.5, 0.999, "ReverseLogarithmic"))
    for values, low, high in ((linear, 1e-4, 0.1), (logarithmic, 1e-4, 0.1), (reverse, 0.5, 0.999)):
        assert values.min() >= low and values.max() <= high
    # a linear range puts almost nothing below 1e-3; a logarithmic one a third of its draws
    assert np.mean(linear < 1e-3) < 0.02
    assert 0.25 < np.mean(logarithmic < 1e-3) < 0.42
    # reverse-logarithmic crowds towards the top: half the draws above 0.97
    assert np.median(reverse) > 0.95
    # Auto picks logarithmic for a range spanning orders of magnitude
    auto = draws(Dimension("x", "continuous", 0.0001, 0.1, "Auto"))
    assert 0.25 < np.mean(auto < 1e-3) < 0.42


def test_integer_ranges_draw_integers_inside_the_bounds():
    values = draws(Dimension("context_length", "integer", 7, 21, "Linear"), 500)
    assert set(values) <= set(range(7, 22)) and {7, 21} <= set(values)


def test_categorical_ranges_draw_their_values():
    dimension = Dimension("use_item_metadata", "categorical", values=("ALL", "NONE"))
    rng = np.random.default_rng(1)
    assert {dimension.sample(rng) for _ in range(50)} == {"ALL", "NONE"}


@pytest.mark.parametrize(
    ("algorithm", "ranges", "message"),
    [
        (
            "Deep_AR_Plus",
            {"IntegerParameterRanges": [{"Name": "epochs", "MinValue": 1, "MaxValue": 9}]},
            "'epochs' is not a tunable hyperparameter of Deep_AR_Plus",
        ),
        (
            "CNN-QR",
            {"CategoricalParameterRanges": [{"Name": "use_item_metadata", "Values": []}]},
            "use_item_metadata needs at least one value",
        ),
        (
            "Deep_AR_Plus",
            {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": 0.1, "MaxValue": 0.01}
                ]
            },
            "learning_rate MinValue 0.1 is above MaxValue 0.01",
        ),
        (
            "Deep_AR_Plus",
            {
                "ContinuousParameterRanges": [
                    {
                        "Name": "learning_rate",
                        "MinValue": 0.5,
                        "MaxValue": 1.0,
                        "ScalingType": "ReverseLogarithmic",
                    }
                ]
            },
            "ReverseLogarithmic scaling, which needs 0 <= MinValue and MaxValue < 1",
        ),
        (
            "Deep_AR_Plus",
            {
                "IntegerParameterRanges": [
                    {"Name": "context_length", "MinValue": 5, "MaxValue": 10},
                    {"Name": "context_length", "MinValue": 5, "MaxValue": 12},
                ]
            },
            "IntegerParameterRanges: context_length appears in more than one range",
        ),
        (
            "Deep_AR_Plus",
            {"IntegerParameterRanges": [{"Name": "learning_rate", "MinValue": 1, "MaxValue": 3}]},
            "learning_rate of Deep_AR_Plus is a continuous hyperparameter; give it in "
            "ContinuousParameterRanges, with MinValue and MaxValue within its valid values "
            "1e-05 to 0.1",
        ),
        (
            "Deep_AR_Plus",
            {
                "ContinuousParameterRanges": [
                    {"Name": "context_length", "MinValue": 7.2, "MaxValue": 9.7}
                ]
            },
            "context_length of Deep_AR_Plus is an integer hyperparameter; give it in "
            "IntegerParameterRanges",
        ),
        (
            "Deep_AR_Plus",
            {
                "IntegerParameterRanges": [
                    {"Name": "context_length", "MinValue": -5, "MaxValue": -1}
                ]
            },
            "context_length from MinValue -5 to MaxValue -1 leaves its valid values, 1 to 500",
        ),
        (
            "Deep_AR_Plus",
            {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": 0.5, "MaxValue": 50.0}
                ]
            },
            "learning_rate from MinValue 0.5 to MaxValue 50 leaves its valid values, 1e-05 to 0.1",
        ),
        (
            "CNN-QR",
            {
                "CategoricalParameterRanges": [
                    {"Name": "use_item_metadata", "Values": ["SOMETIMES"]}
                ]
            },
            "use_item_metadata value SOMETIMES is not valid; its valid values are ALL, NONE",
        ),
    ],
)
def test_bad_ranges_are_refused_with_the_reason(algorithm, ranges, message):
    with pytest.raises(SearchError) as raised:
        parse_ranges(algorithm, ranges)
    assert message in str(raised.value)


PARSERS = {"Deep_AR_Plus": deepar.parse_hyperparameters, "CNN-QR": cnnqr.parse_hyperparameters}


@pytest.mark.parametrize(
    ("algorithm", "name"), [(a, n) for a, names in TUNABLE.items() for n in names]
)
def test_the_valid_values_of_a_range_are_exactly_what_the_model_accepts(algorithm, name):
    parse, tunable = PARSERS[algorithm], TUNABLE[algorithm][name]
    if tunable.kind == "categorical":
        for value in tunable.values:
            assert getattr(parse({name: value}), name) == value
        with pytest.raises(HyperparameterError):
            parse({name: "SOMETIMES"})
        return
    step = 1 if tunable.kind == "integer" else tunable.low * 0.01
    text = (lambda v: str(int(v))) if tunable.kind == "integer" else repr
    for inside in (tunable.low, tunable.high):
        parse({name: text(inside)})
    for outside in (tunable.low - step, tunable.high + step):
        with pytest.raises(HyperparameterError):
            parse({name: text(outside)})


def test_default_ranges_cover_what_each_algorithm_tunes():
    deepar = {d.name: d for d in default_ranges("Deep_AR_Plus", 18, has_related=False)}
    assert set(deepar) == {"context_length", "learning_rate"}
    assert (deepar["context_length"].low, deepar["context_length"].high) == (18, 72)
    cnnqr = {d.name for d in default_ranges("CNN-QR", 18, has_related=True)}
    assert cnnqr == {"context_length", "use_item_metadata", "use_related_data"}
    assert "use_related_data" not in {d.name for d in default_ranges("CNN-QR", 18, False)}


def test_the_search_starts_from_the_current_values_and_keeps_the_best():
    dimension = Dimension("learning_rate", "continuous", 0.001, 0.1, "Logarithmic")
    seen: list[dict[str, str]] = []

    def loss(parameters: dict[str, str]) -> float:
        return abs(math.log10(float(parameters["learning_rate"])) + 1.5)  # best at 10^-1.5

    def evaluate(parameters: dict[str, str], seconds: float | None) -> float:
        seen.append(parameters)
        return loss(parameters)

    best, trials = search(
        evaluate,
        {"learning_rate": "0.001", "epochs": "5"},
        [dimension],
        seed=3,
        time_budget_seconds=None,
        log=lambda _: None,
    )
    assert seen[0] == {"learning_rate": "0.001", "epochs": "5"}
    assert len(trials) == 8
    assert all(p["epochs"] == "5" for p in seen)  # untuned values are kept
    assert best == min(seen, key=loss)
    assert loss(best) < 0.5


def test_no_trial_leaves_the_ranges_not_even_the_first():
    # CNN-QR's defaults: four horizons of 7 (28) and ALL, neither of which the ranges allow
    dimensions = [
        Dimension("context_length", "integer", 7, 21, "Linear"),
        Dimension("use_item_metadata", "categorical", values=("NONE",)),
    ]
    seen: list[dict[str, str]] = []
    best, _ = search(
        lambda parameters, seconds: seen.append(parameters) or 1.0,  # the first trial wins
        {"epochs": "2"},
        dimensions,
        seed=0,
        time_budget_seconds=None,
        defaults={"context_length": "28", "use_item_metadata": "ALL"},
        log=lambda _: None,
    )
    assert seen[0] == {"epochs": "2", "context_length": "21", "use_item_metadata": "NONE"}
    assert all(7 <= int(p["context_length"]) <= 21 for p in seen)
    assert best == seen[0]  # the values chosen are named even when the first trial wins


def test_nearest_moves_a_setting_into_its_range():
    rate = Dimension("learning_rate", "continuous", 1e-4, 1e-2, "Logarithmic")
    assert (rate.nearest("0.5"), rate.nearest("0.001"), rate.nearest(None)) == (
        "0.01",
        "0.001",
        "0.0001",
    )
    flags = Dimension("use_related_data", "categorical", values=("NONE", "ALL"))
    assert (flags.nearest("all"), flags.nearest("HISTORICAL")) == ("ALL", "NONE")


def test_a_failed_trial_never_wins():
    dimension = Dimension("context_length", "integer", 5, 50, "Linear")
    scores = iter([0.5, float("nan"), 0.4, float("nan"), 0.6, 0.7, 0.8, 0.9])
    best, trials = search(
        lambda parameters, seconds: next(scores),
        {"context_length": "10"},
        [dimension],
        seed=0,
        time_budget_seconds=None,
        log=lambda _: None,
    )
    assert best == trials[2].parameters


def test_the_time_budget_is_shared_between_trials():
    dimension = Dimension("context_length", "integer", 5, 50, "Linear")
    shares: list[float | None] = []
    search(
        lambda parameters, seconds: shares.append(seconds) or 1.0,
        {"context_length": "10"},
        [dimension],
        seed=0,
        time_budget_seconds=80.0,
        log=lambda _: None,
    )
    assert len(shares) == 8
    assert all(share is not None and 9.0 <= share <= 10.0 for share in shares[:1])
