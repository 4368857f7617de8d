"""Global candidates in the per-item pipeline: data handed to them, their place in the
AutoPredictor, and the data rule that keeps them out of small problems.

A stand-in global model (NumPy only, registered under DeepAR+'s name) makes the
pipeline's behaviour exact and fast; the real networks are tested in
``test_deepar``/``test_cnnqr`` and through the container in
``tests/contract/test_forecasting_deep.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from augury_training.forecast_contract import ForecastJobConfig
from augury_training.forecasting import global_candidates
from augury_training.forecasting.data import DatasetInfo, make_series
from augury_training.forecasting.deep.common import DeepForecast
from augury_training.forecasting.ensemble import run_autopredictor
from augury_training.forecasting.global_candidates import (
    MetadataVocabulary,
    SeriesSets,
    deep_eligibility,
)

HORIZON = 6


class Oracle:
    """A 'global model' that forecasts each series' true continuation (``TRUTH``)."""

    name = "Deep_AR_Plus"
    fitted_on: list[int] = []
    built_with: list[dict[str, str]] = []

    def __init__(self, hyperparameters) -> None:
        Oracle.built_with.append(dict(hyperparameters))
        self.hyperparameters = dict(hyperparameters)
        self.summary = {"epochs": 1, "best_epoch": 1, "device": "cpu"}

    def fit(self, data, horizon, *, seed=0, time_budget_seconds=None, log=print):
        Oracle.fitted_on.append(max(len(t) for t in data.targets))
        return self

    def chosen_hyperparameters(self):
        """As the real models answer: the context given, else the one they chose (100)."""
        return {"context_length": self.hyperparameters.get("context_length", "100")}

    def predict(self, data, quantiles=(0.1, 0.5, 0.9), *, seed=0):
        rows = []
        for target in data.targets:
            index = round(float(target[-1])) if len(target) else 0
            rows.append(np.arange(index + 1, index + 1 + HORIZON, dtype=float))
        mean = np.array(rows)
        return DeepForecast(mean=mean, quantiles={float(q): mean for q in quantiles})


@pytest.fixture
def oracle(monkeypatch):
    monkeypatch.setattr(global_candidates, "GLOBAL_MODELS", {"Deep_AR_Plus": (__name__, "Oracle")})
    Oracle.fitted_on = []
    Oracle.built_with = []
    return Oracle


def ramps(count: int, length: int) -> list:
    """Series 0, 1, 2, ... with noise: the oracle is exact, a statistical model is not."""
    rng = np.random.default_rng(0)
    return [
        make_series(f"item{i}", np.arange(length) + rng.normal(0, 3, length) * (i % 2))
        for i in range(count)
    ]


def config(**changes) -> ForecastJobConfig:
    values = {
        "mode": "train",
        "frequency": "D",
        "horizon": HORIZON,
        "item_field": "item_id",
        "target_field": "target",
        "algorithms": ["SeasonalNaive", "Deep_AR_Plus"],
        "backtest_windows": 2,
    }
    return ForecastJobConfig(**{**values, **changes})


def test_an_eligible_autopredictor_backtests_the_global_model_without_look_ahead(oracle):
    series = ramps(120, 90)
    result = run_autopredictor(series, config(), workers=1)
    names = [r.algorithm for r in result.summary.results]
    assert names == ["SeasonalNaive", "Deep_AR_Plus", "AutoPredictor"]
    # fitted once before the earliest window (90 - 2 * 6 points), then on everything
    assert oracle.fitted_on == [90 - 2 * HORIZON, 90]
    deep = result.summary.results[1].windows
    naive = result.summary.results[0].windows
    assert all(d.wape < n.wape for d, n in zip(deep, naive, strict=True))
    assert "The deep model Deep_AR_Plus was a candidate because the data has 120 series" in (
        result.summary.explanation
    )
    assert "Deep_AR_Plus trained 1 epoch(s) on the cpu" in result.summary.explanation
    # the future forecast: the oracle's continuation carries the weight
    assert result.weights["item0"]["Deep_AR_Plus"] > 0.5


def test_the_final_fit_chooses_again_and_the_explanation_names_its_settings(oracle):
    """The predictor's model is built as the backtest's was (its choices are made again,
    on more recent held-out horizons), and the explanation says what it trained with."""
    result = run_autopredictor(ramps(120, 90), config(hyperparameters={"epochs": "7"}), workers=1)
    assert oracle.built_with[-2:] == [{"epochs": "7"}, {"epochs": "7"}]
    assert oracle.fitted_on == [90 - 2 * HORIZON, 90]
    assert (
        "The predictor's Deep_AR_Plus model was trained again on all the data, with "
        "context_length=100." in result.summary.explanation
    )


def _explanation_after_a_fit_summarised_as(summary: dict, monkeypatch) -> str:
    """The AutoPredictor's explanation when the deep model's fit leaves ``summary``."""

    def fit(self, *args, **kwargs):
        self.summary = dict(summary)
        return self

    monkeypatch.setattr(Oracle, "fit", fit)
    return run_autopredictor(ramps(120, 90), config(), workers=1).summary.explanation


def test_the_explanation_names_the_fits_pooled_with_the_kept_one(oracle, monkeypatch):
    """A deep model whose near ties forecast beside the fit it kept says which they are."""
    pooled = [{"context_length": 6, "learning_rate": 0.003, "validation_wql": 0.1012}]
    summary = {"epochs": 1, "best_epoch": 1, "device": "cpu", "pooled_with": pooled}
    assert (
        "with context_length=100. Its sample paths are pooled with those of the fits that "
        "validated within 5% of it: context_length=6, learning_rate=0.003 (validation wQL "
        "0.1012)." in _explanation_after_a_fit_summarised_as(summary, monkeypatch)
    )


def test_the_explanation_says_what_the_seasonal_adjustment_choice_found(oracle, monkeypatch):
    """A deep model that fitted both ways says how each validated and which it kept."""
    summary = {
        "epochs": 3,
        "best_epoch": 2,
        "device": "cpu",
        "seasonally_adjusted_series": 120,
        "seasonal_adjustments_tried": {"none": 0.1036, "always": 0.102},
    }
    assert (
        "Deep_AR_Plus trained 3 epoch(s) on the cpu (best epoch 2); a fit on seasonally "
        "adjusted series validated at wQL 0.102 against 0.1036 for the series as they are, "
        "and was kept." in _explanation_after_a_fit_summarised_as(summary, monkeypatch)
    )


def test_a_small_problem_leaves_the_global_model_out_and_says_why(oracle):
    result = run_autopredictor(ramps(20, 60), config(), workers=1)
    assert [r.algorithm for r in result.summary.results] == ["SeasonalNaive", "AutoPredictor"]
    assert oracle.fitted_on == []


def test_a_legacy_predictor_trains_the_named_global_model_on_any_data(oracle):
    result = run_autopredictor(
        ramps(5, 60), config(algorithms=["Deep_AR_Plus"], auto=False), workers=1
    )
    assert [r.algorithm for r in result.summary.results] == ["Deep_AR_Plus"]
    np.testing.assert_allclose(result.forecasts["item0"][:, 0], np.arange(60, 66), atol=1e-9)


def test_perform_hpo_stays_in_the_ranges_and_names_its_choice_when_the_first_trial_wins(oracle):
    # the oracle scores the same whatever its settings, so the first trial wins; the
    # default context (four horizons, 24) lies outside the range and must not be used
    ranges = {"IntegerParameterRanges": [{"Name": "context_length", "MinValue": 7, "MaxValue": 12}]}
    result = run_autopredictor(
        ramps(5, 60),
        config(algorithms=["Deep_AR_Plus"], auto=False, perform_hpo=True, hpo_ranges=ranges),
        workers=1,
    )
    trained = [values for values in Oracle.built_with if values]  # not the defaults' probe
    assert len(trained) > 1 and all(7 <= int(v["context_length"]) <= 12 for v in trained)
    assert "PerformHPO tuned Deep_AR_Plus: context_length=12." in result.summary.explanation


def test_eligibility_counts_series_and_observations():
    def info(items: int, rows: int) -> DatasetInfo:
        return DatasetInfo(0, 99, rows, {f"i{k}" for k in range(items)}, [()], items)

    assert deep_eligibility(info(100, 10_000))[0]
    assert not deep_eligibility(info(99, 50_000))[0]
    assert not deep_eligibility(info(500, 9_999))[0]
    _, note = deep_eligibility(info(40, 4_000))
    assert "were not candidates because the data has 40 series and 4000 observations" in note


def test_eligibility_counts_the_series_that_occur_not_items_times_dimension_values():
    # ten items, each sold in its own one of ten stores: ten series, not a hundred
    stores = [(f"store{k}",) for k in range(10)]
    info = DatasetInfo(0, 99, 20_000, {f"i{k}" for k in range(10)}, stores, 10)
    eligible, note = deep_eligibility(info)
    assert not eligible
    assert "the data has 10 series and 20000 observations" in note


def test_metadata_codes_are_fixed_at_training_and_unknown_values_are_minus_one():
    vocabulary = MetadataVocabulary.fit(
        [{"color": "red", "size": "S"}, {"color": "blue", "size": ""}], ["color", "size"]
    )
    codes = vocabulary.encode([{"color": "blue", "size": "S"}, {"color": "green"}, {}])
    assert codes.tolist() == [[0, 0], [-1, -1], [-1, -1]]
    assert MetadataVocabulary([]).encode([{"color": "red"}]) is None


def test_series_sets_cut_history_and_align_related_columns_by_name():
    grid_config = config()
    first = make_series("a", np.arange(10.0), X=np.arange(32.0).reshape(16, 2))
    first.related_names = ("price", "promo")
    second = make_series("b", np.arange(4.0), start=-4)
    second.X = np.ones((10, 1))
    second.related_names = ("promo",)
    sets = SeriesSets(grid_config, ["promo", "price"], MetadataVocabulary([]))
    data, kept = sets.build([first, second], cutoff=-6)
    # "b" starts at -4: nothing before the cutoff, so it is left out
    assert kept == [0]
    np.testing.assert_array_equal(data.targets[0], np.arange(4.0))
    related = data.related[0]
    assert related.shape == (4 + HORIZON, 2)
    np.testing.assert_array_equal(related[:, 0], np.arange(1.0, 20.0, 2)[:10])  # promo
    np.testing.assert_array_equal(related[:, 1], np.arange(0.0, 20.0, 2)[:10])  # price
    data, kept = sets.build([first, second])
    assert kept == [0, 1]
    assert np.isnan(data.related[1][:, 1]).all()  # "b" has no price: NaN, the mean to models
    cold = sets.cold([{"category": "x"}], forecast_start=0)
    assert len(cold.targets[0]) == 0 and cold.related[0].shape == (HORIZON, 2)


def test_features_known_only_over_the_history_reach_cnn_qr_as_past_related():
    from augury_training.forecasting.filling import FieldFilling
    from augury_training.forecasting.related import align_related, past_only_related

    # "footfall" is known over the 8 points of history only; "price" over the horizon too
    ordinals = np.arange(8 + HORIZON)
    matrix = np.column_stack([np.arange(14.0), np.r_[np.arange(8.0) * 10, [np.nan] * HORIZON]])
    rows = (ordinals, matrix)
    fillings = [FieldFilling.for_related(name, []) for name in ("price", "footfall")]
    X, names = align_related(rows, 0, 8, HORIZON, fillings)
    assert names == ("price",) and X.shape == (8 + HORIZON, 1)
    X_past, past_names = past_only_related(rows, 0, 8, fillings, names)
    assert past_names == ("footfall",)
    np.testing.assert_array_equal(X_past[:, 0], np.arange(8.0) * 10)

    item = make_series("a", np.arange(8.0), X=X)
    item.related_names, item.X_past, item.past_names = names, X_past, past_names
    sets = SeriesSets(config(), ["price"], MetadataVocabulary([]), ["footfall"])
    data, _ = sets.build([item], cutoff=-2)
    assert data.related[0].shape == (6 + HORIZON, 1)
    np.testing.assert_array_equal(data.past_related[0][:, 0], np.arange(6.0) * 10)
    assert sets.cold([{}], 0).past_related[0].shape == (0, 1)


class _BlindOracle(Oracle):
    """The oracle, trained without the item metadata (CNN-QR's ``use_item_metadata=NONE``)."""

    reads_item_metadata = False


def test_new_items_with_metadata_are_forecast_only_by_models_that_read_it():
    vocabulary = MetadataVocabulary.fit([{"category": "big"}, {"category": "small"}], ["category"])
    forecaster = global_candidates.GlobalForecaster(
        {"Deep_AR_Plus": Oracle({}), "CNN-QR": _BlindOracle({})},
        config(),
        np.array([0.1, 0.5, 0.9]),
        SeriesSets(config(), [], vocabulary),
    )
    with_metadata = forecaster.cold([{"category": "big"}, {"category": "small"}], 0)
    assert [sorted(forecasts) for forecasts in with_metadata] == [["Deep_AR_Plus"]] * 2
    # with nothing to read, every model's forecast is as informed as the neighbours'
    without = forecaster.cold([{}], 0)
    assert sorted(without[0]) == ["CNN-QR", "Deep_AR_Plus"]
    alone = global_candidates.GlobalForecaster(
        {"CNN-QR": _BlindOracle({})},
        config(),
        np.array([0.5]),
        SeriesSets(config(), [], vocabulary),
    )
    assert alone.cold([{"category": "big"}], 0) == [{}]
