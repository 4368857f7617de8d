"""Backtest windows and limits, streamed metrics, the ensemble and cold starts.

Models are stand-ins defined here (naive and seasonal naive), so these tests
exercise the orchestration, not the algorithms.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from augury_training.forecast_contract import ForecastJobConfig
from augury_training.forecasting import metrics
from augury_training.forecasting.backtest import (
    ItemBacktest,
    WindowResult,
    check_limits,
    plan_windows,
)
from augury_training.forecasting.coldstart import (
    MIXTURE_LEVELS,
    ColdStart,
    job_levels,
    level_columns,
    mixture,
)
from augury_training.forecasting.data import DataError, DatasetInfo, make_series
from augury_training.forecasting.ensemble import (
    AUTO_PREDICTOR,
    EnsembleBuilder,
    run_autopredictor,
)
from augury_training.forecasting.forecast_job import blend_cold_start
from augury_training.forecasting.models.base import SeriesContext, SeriesForecast
from augury_training.forecasting.predict import ItemForecast
from augury_training.forecasting.scoring import Sums, finalize, objective, window_sums

TYPES = ["0.1", "0.5", "0.9"]
LEVELS = np.array([0.1, 0.5, 0.9])


class StandIn:
    """Naive (last value) or seasonal naive, with normal quantiles from the residuals."""

    def __init__(self, name: str, hyperparameters: dict[str, str]) -> None:
        self.name = name
        self.seasonal = name == "SeasonalNaive"

    def forecast(self, y, h, quantiles, context: SeriesContext) -> SeriesForecast:
        m = context.season_length if self.seasonal and y.size >= context.season_length else 1
        mean = np.resize(y[-m:], h)
        spread = np.std(y[m:] - y[:-m]) if y.size > m else 0.0
        z = {0.1: -1.2816, 0.5: 0.0, 0.9: 1.2816}
        return SeriesForecast(mean, {q: mean + z[round(q, 1)] * spread for q in quantiles})


def config(**changes) -> ForecastJobConfig:
    values = {
        "mode": "train",
        "frequency": "D",
        "horizon": 7,
        "item_field": "item_id",
        "target_field": "y",
        "algorithms": ["SeasonalNaive", "ETS"],  # "ETS" is the naive stand-in here
    }
    return ForecastJobConfig(**{**values, **changes})


def info(length: int, end: int = 99) -> DatasetInfo:
    return DatasetInfo(end - length + 1, end, 0, set(), [()], 0)


# -- windows and limits ------------------------------------------------------------------


def test_windows_tile_the_end_of_the_data():
    windows = plan_windows(info(100), config(backtest_windows=3))
    assert [(w.index, w.cutoff) for w in windows] == [(0, 79), (1, 86), (2, 93)]
    offset = plan_windows(info(100), config(backtest_windows=2, backtest_offset=10))
    assert [w.cutoff for w in offset] == [83, 90]  # the last window starts 10 before the end


@pytest.mark.parametrize(
    ("changes", "length", "message"),
    [
        ({"horizon": 26}, 100, "lesser of 500 time-steps or 1/4 .* must be at most 25"),
        ({"horizon": 34, "auto": False}, 100, "or 1/3 .* must be at most 33"),
        ({"horizon": 501}, 4000, "must be at most 500"),
        ({"backtest_windows": 6}, 100, "NumberOfBacktestWindows must be between 1 and 5"),
        ({"backtest_offset": 5}, 100, "ForecastHorizon <= BackTestWindowOffset"),
        ({"backtest_offset": 50}, 100, "less than half"),
        ({"horizon": 14, "backtest_windows": 5, "backtest_offset": 45}, 100, "fewer windows"),
    ],
)
def test_amazon_limits(changes, length, message):
    with pytest.raises(DataError, match=message):
        check_limits(info(length), config(**changes), backtest=True)


def test_limits_that_hold():
    check_limits(info(100), config(horizon=25), backtest=True)
    check_limits(info(100), config(horizon=33, auto=False), backtest=True)
    check_limits(info(30), config(horizon=7, backtest_windows=5), backtest=False)


# -- streamed metrics agree with the shared definitions ------------------------------------


def test_streamed_sums_equal_the_metrics_module():
    rng = np.random.default_rng(1)
    items, h = 12, 6
    y = rng.gamma(2.0, 5.0, size=(items, h))
    y[0, 2] = 0.0  # a zero actual: no percentage error there
    forecast = y + rng.normal(0, 2, size=(items, h))
    quantiles = {q: forecast + z for q, z in zip(LEVELS, (-3.0, 0.0, 3.0), strict=True)}
    scales = rng.uniform(0.5, 2.0, size=items)
    scales[1] = np.nan  # no MASE for this item
    total = Sums.zeros((), LEVELS.size)
    for i in range(items):
        array = np.column_stack([forecast[i], *(quantiles[q][i] for q in LEVELS)])
        total += window_sums(y[i], array, scales[i], LEVELS)
    ours = finalize(total, TYPES)
    theirs = metrics.window_metrics(y, forecast, quantiles, scales)
    for t, q in zip(TYPES, LEVELS, strict=True):
        assert ours["wql"][t] == pytest.approx(theirs["weighted_quantile_losses"][q])
    for name in ("wape", "rmse", "mape", "mase"):
        assert ours[name] == pytest.approx(theirs[name]), name
    assert ours["average_wql"] == pytest.approx(theirs["average_weighted_quantile_loss"])
    assert ours["items"] == items
    assert ours["points"] == items * h  # Amazon's ItemCount: the data points in the window


def test_which_items_count_follows_the_filling_as_amazon_documents_it():
    """GetAccuracyMetrics: "If you want all items to contribute, specify zero. If you want
    only those items that have complete data in the range being evaluated to contribute,
    specify nan." A zero-filled gap is an actual 0 in every metric; a nan one leaves the
    item out of all of them."""
    array = np.column_stack([np.full(3, 5.0)] * 4)
    zero_filled = finalize(window_sums(np.array([4.0, 0.0, 6.0]), array, 1.0, LEVELS), TYPES)
    assert zero_filled["wql"]["0.5"] == pytest.approx(2 * 0.5 * 7.0 / 10.0)
    assert zero_filled["wape"] == pytest.approx(7.0 / 10.0)  # the filled 0 counts here too
    assert zero_filled["rmse"] == pytest.approx(np.sqrt((1 + 25 + 1) / 3))
    assert (zero_filled["items"], zero_filled["points"]) == (1, 3)
    nan_filled = finalize(window_sums(np.array([4.0, np.nan, 6.0]), array, 1.0, LEVELS), TYPES)
    assert nan_filled["wql"]["0.5"] is nan_filled["wape"] is nan_filled["rmse"] is None
    assert (nan_filled["items"], nan_filled["points"]) == (0, 0)
    zeros = finalize(window_sums(np.zeros(3), array, 1.0, LEVELS), TYPES)
    assert zeros["wql"]["0.5"] == pytest.approx(2 * 0.5 * 15.0)  # numerator alone, as Amazon


# -- the ensemble ----------------------------------------------------------------------------


def item(key: str, actual: np.ndarray, forecasts: dict[str, float]) -> ItemBacktest:
    result = WindowResult(0, actual, 1.0)
    for name, value in forecasts.items():
        result.forecasts[name] = np.full((actual.size, 4), value)
    return ItemBacktest(key, (key,), [result])


def test_global_combination_trims_bad_candidates_and_items_lean_to_their_best():
    builder = EnsembleBuilder(["good", "fine", "bad"], LEVELS, "WAPE")
    items = [
        item("a", np.full(4, 10.0), {"good": 10.5, "fine": 11.0, "bad": 20.0}),
        item("b", np.full(4, 10.0), {"good": 9.5, "fine": 10.2, "bad": 30.0}),
    ]
    for it in items:
        builder.observe(it)
    assert builder.choose_global().tolist() == [0.5, 0.5, 0.0]
    weights = builder.item_weights(items[1])
    assert weights.sum() == pytest.approx(1.0)
    assert weights[1] > weights[0] > weights[2]  # item b's own backtest favours "fine"
    explanation = builder.explanation(2, 1)
    assert "Kept good, fine (within 20% of the best either way) and left out bad" in explanation


def test_a_few_large_series_cannot_decide_the_candidates_for_every_item():
    """Pooled, the one large item makes "flat" the only good candidate; item by item,
    "steady" is far better on the nine others, so both are kept."""
    builder = EnsembleBuilder(["steady", "flat"], LEVELS, "WAPE")
    builder.observe(item("large", np.full(4, 1000.0), {"steady": 1300.0, "flat": 1010.0}))
    for number in range(9):
        builder.observe(item(f"small{number}", np.full(4, 10.0), {"steady": 10.1, "flat": 15.0}))
    assert builder.choose_global().tolist() == [0.5, 0.5]
    assert builder.scores[1] < builder.scores[0] / 3  # the pooled score alone would drop steady
    assert builder.relative_scores[0] < builder.relative_scores[1]
    assert "On the typical item" in builder.explanation(10, 1)


def test_items_without_a_usable_backtest_keep_the_global_weights():
    builder = EnsembleBuilder(["x", "y"], LEVELS, "MAPE")
    useful = item("a", np.full(3, 5.0), {"x": 5.0, "y": 7.0})
    zeros = item("z", np.zeros(3), {"x": 1.0, "y": 2.0})  # no MAPE on zero actuals
    for it in (useful, zeros):
        builder.observe(it)
    global_weights = builder.choose_global()
    assert builder.item_weights(zeros).tolist() == global_weights.tolist()
    assert builder.item_weights(ItemBacktest("new", ("new",), [])).tolist() == (
        global_weights.tolist()
    )


def test_objective_ranks_every_metric():
    sums = Sums.zeros((2,), 3)
    sums.ql[:] = [[1, 1, 1], [2, 2, 2]]
    sums.ql_actual[:] = 10
    sums.items[:] = 1
    assert objective(sums, "AverageWeightedQuantileLoss").tolist() == [0.2, 0.4]
    assert np.isnan(objective(sums, "MASE")).all()


# -- the in-memory pipeline, across worker processes ----------------------------------------


def seasonal_series(count: int, length: int = 70) -> list:
    rng = np.random.default_rng(0)
    t = np.arange(length)
    return [
        make_series(f"s{i}", 50 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 1, length))
        for i in range(count)
    ]


def test_run_autopredictor_in_two_processes():
    series = seasonal_series(40)
    result = run_autopredictor(series, config(backtest_windows=2), workers=2, model_factory=StandIn)
    assert set(result.forecasts) == {s.key for s in series}
    assert result.columns == ["mean", "0.1", "0.5", "0.9"]
    forecast = result.forecasts["s0"]
    assert forecast.shape == (7, 4)
    assert (np.diff(forecast[:, 1:], axis=1) >= 0).all()
    names = [r.algorithm for r in result.summary.results]
    assert names == ["SeasonalNaive", "ETS", AUTO_PREDICTOR]
    seasonal, naive, auto = (r.windows[0].wape for r in result.summary.results)
    assert seasonal < naive and auto <= naive  # the weekly pattern is what matters here
    assert result.summary.chosen_algorithms == {"SeasonalNaive": 40}
    assert all(w["SeasonalNaive"] > 0.5 for w in result.weights.values())


def test_series_too_short_for_every_window_fail_with_the_reason():
    series = [make_series("long", np.ones(30)), make_series("short", np.ones(3))]
    with pytest.raises(DataError, match=r"longest item, 'long', has 30 points; the horizon is 7"):
        run_autopredictor(series, config(backtest_windows=5), workers=1, model_factory=StandIn)


def test_legacy_predictor_uses_one_algorithm_everywhere():
    result = run_autopredictor(
        seasonal_series(6),
        config(algorithms=["ETS"], auto=False),
        workers=1,
        model_factory=StandIn,
    )
    assert [r.algorithm for r in result.summary.results] == ["ETS"]
    assert all(w == {"ETS": 1.0} for w in result.weights.values())


# -- cold start ----------------------------------------------------------------------------


def warm(key: str, store: str, category: str, level: float) -> ItemForecast:
    shape = np.array([[1.0, 0.8, 1.0, 1.2], [2.0, 1.6, 2.0, 2.4]])
    return ItemForecast(key, (key, store), shape * level, level, {"category": category})


def test_cold_start_follows_items_with_the_same_metadata_and_store():
    cold = ColdStart({"new": {"category": "drinks"}}, [("north",), ("south",)], [0.1, 0.5, 0.9])
    cold.observe(
        [
            warm("cola", "north", "drinks", 10.0),
            warm("water", "north", "drinks", 30.0),
            warm("tea", "south", "drinks", 100.0),
            warm("chips", "north", "snacks", 1000.0),
        ]
    )
    result = dict(cold.forecasts())
    north, south = result[("new", "north")], result[("new", "south")]
    # the mixture of cola (P10/P50/P90 8, 10, 12) and water (24, 30, 36): it may sell like
    # either, so its median lies between them and its band spans both
    np.testing.assert_allclose(north[0], [20.0, 8 + 2 / 7, 18.0, 30 + 6 * 6 / 7])
    np.testing.assert_allclose(north[1], 2 * north[0])
    np.testing.assert_allclose(south[:, 1:], [[80, 100, 120], [160, 200, 240]])  # tea alone
    assert (np.diff(north[:, 1:], axis=1) >= 0).all()


def test_a_mixture_of_one_forecast_is_that_forecast_and_means_average():
    one = np.array([[[5.0, 1.0, 4.0, 9.0], [6.0, 2.0, 5.0, 9.5]]])
    np.testing.assert_allclose(mixture(one, np.array([0.1, 0.5, 0.9])), one[0])
    two = np.concatenate([one, one * 3])
    mixed = mixture(two, np.array([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(mixed[:, 0], [10.0, 12.0])
    assert mixed[0, 1] <= 3.0 and mixed[0, 3] >= 9.0  # both items' bands inside
    np.testing.assert_allclose(mixture(two[:, :, :1], np.array([])), [[10.0], [12.0]])


def test_a_new_item_mixes_the_networks_forecast_with_its_neighbours():
    levels = (0.1, 0.5, 0.9)
    network = [(("new",), np.array([[10.0, 8.0, 10.0, 12.0]]))]
    neighbours = [
        (("new",), np.array([[100.0, 80.0, 100.0, 120.0]])),
        (("only-neighbours",), np.array([[5.0, 4.0, 5.0, 6.0]])),
    ]
    blended = dict(blend_cold_start(neighbours, network, levels, levels))
    # either level may turn out right: the band spans both, the mean is between,
    # nearer the neighbours' (the network weighs a third)
    mean, low, _, high = blended[("new",)][0]
    assert mean == pytest.approx(10.0 / 3 + 100.0 * 2 / 3)
    assert low < 12.0 and high > 80.0
    np.testing.assert_allclose(blended[("only-neighbours",)], neighbours[1][1])


def test_new_items_are_mixed_on_a_fixed_grid_whatever_levels_are_asked_for():
    """The job forecasts the items with history at the grid's levels as well; the cold
    start pools those columns only, so the levels asked for cannot change the mixture."""
    asked = [0.3, 0.5]
    computed = job_levels(asked, new_items=True)
    assert set(MIXTURE_LEVELS) <= set(computed) and {0.3, 0.5} <= set(computed)
    np.testing.assert_array_equal(job_levels(asked, new_items=False), asked)
    np.testing.assert_array_equal(
        level_columns(computed, [0.5]), [0, 1 + list(computed).index(0.5)]
    )

    def warm_at(levels: np.ndarray, key: str, level: float) -> ItemForecast:
        normal = np.array([NormalDist(level, level / 4).inv_cdf(q) for q in levels])
        return ItemForecast(key, (key,), np.array([[level, *normal]]), level, {"kind": "x"})

    medians = []
    for wanted in ([0.1, 0.5, 0.9], [0.33, 0.5]):
        levels = job_levels(wanted, new_items=True)
        cold = ColdStart({"new": {"kind": "x"}}, [()], levels)
        cold.observe([warm_at(levels, "a", 10.0), warm_at(levels, "b", 40.0)])
        np.testing.assert_array_equal(cold.levels, MIXTURE_LEVELS)
        ((_, grid_forecast),) = cold.forecasts()
        mixed = mixture(grid_forecast[None], cold.levels, np.array(wanted))
        medians.append(mixed[0, 1 + wanted.index(0.5)])
        assert np.all(np.diff(mixed[0, 1:]) >= 0)
    assert medians[0] == pytest.approx(medians[1], rel=1e-12)
    assert 10.0 < medians[0] < 40.0  # between the two: it may sell like either


def test_a_mixture_reads_any_level_and_one_forecast_on_the_grid_is_itself():
    grid = np.array(MIXTURE_LEVELS)
    one = np.concatenate([[5.0], 10.0 + 20.0 * grid])[None, None, :]
    np.testing.assert_allclose(mixture(one, grid, np.array([0.1, 0.5, 0.9]))[0], [5, 12, 20, 28])
    np.testing.assert_allclose(mixture(one, grid, np.array([0.33]))[0], [5, 16.6])
    with pytest.raises(ValueError, match="no quantile levels"):
        mixture(one[:, :, :1], np.array([]), np.array([0.5]))


def test_new_items_with_the_same_neighbours_share_one_copy_of_each_forecast():
    """Memory must not grow with new items times neighbours: a category's thousand new items
    keep references to the same sliced forecasts."""
    levels = job_levels([0.5], new_items=True)
    cold = ColdStart({f"new-{n}": {"kind": "x"} for n in range(3)}, [()], levels)
    forecast = np.tile(np.arange(1.0 + levels.size), (2, 1))
    cold.observe(
        [ItemForecast(f"w{k}", (f"w{k}",), forecast, 1.0, {"kind": "x"}) for k in range(2)]
    )
    pools = [pool.forecasts for pool in cold._pools]
    assert all(len(kept) == 2 for kept in pools)
    assert all(kept[k] is pools[0][k] for kept in pools for k in range(2))


def test_a_weighted_mixture_leans_to_the_heavier_forecast():
    grid = np.array(MIXTURE_LEVELS)
    low = np.concatenate([[10.0], 10.0 + 2.0 * (grid - 0.5)])[None, :]
    high = np.concatenate([[100.0], 100.0 + 2.0 * (grid - 0.5)])[None, :]
    both = np.stack([low, high])
    mixed = mixture(both, grid, np.array([0.2, 0.5, 0.8]), weights=[1.0, 3.0])
    assert mixed[0, 0] == pytest.approx(77.5)
    assert mixed[0, 1] < 15.0 < 95.0 < mixed[0, 2]  # a quarter of the mass stays low
    np.testing.assert_allclose(mixture(both, grid, weights=[1, 1]), mixture(both, grid))
    with pytest.raises(ValueError, match="weights"):
        mixture(both, grid, weights=[1.0])
