"""One contract every registered forecasting algorithm meets (statsforecast's test idea).

Each test runs for every name in the registry, so a new algorithm is covered
the moment it is registered. Prophet is slow per fit, so it gets few
uncertainty samples here; every series is tiny.
"""

from __future__ import annotations

import numpy as np
import pytest

from augury_training.forecast_contract import ALGORITHMS
from augury_training.forecasting.models.base import SeriesContext, SeriesForecast
from augury_training.forecasting.models.hyperparameters import HyperparameterError
from augury_training.forecasting.models.registry import (
    MODELS,
    UnsupportedAlgorithmError,
    get_model,
)

NAMES = sorted(MODELS)
LEVELS = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
FAST = {"Prophet": {"uncertainty_samples": "30"}, "NPTS": {"num_samples": "200"}}
USES_RELATED_DATA = {"ARIMA", "Prophet", "NPTS"}


def model(name: str, **extra: str):
    return get_model(name, {**FAST.get(name, {}), **extra})


def context(season_length: int = 12, **kwargs) -> SeriesContext:
    return SeriesContext(season_length=season_length, frequency="M", **kwargs)


def seasonal_series(seasons: int = 6, seed: int = 1) -> np.ndarray:
    """Monthly-like: a level, a gentle trend, a strong yearly cycle, a little noise."""
    t = np.arange(12 * seasons)
    noise = np.random.default_rng(seed).normal(0.0, 1.0, t.shape[0])
    return 100.0 + 0.2 * t + 20.0 * np.sin(2 * np.pi * t / 12) + noise


def check_forecast(result: SeriesForecast, h: int, levels: list[float]) -> None:
    assert result.mean.shape == (h,)
    assert np.all(np.isfinite(result.mean))
    assert sorted(result.quantiles) == sorted(levels)
    stacked = np.vstack([result.quantiles[q] for q in sorted(levels)])
    assert stacked.shape == (len(levels), h)
    assert np.all(np.isfinite(stacked))
    assert np.all(np.diff(stacked, axis=0) >= -1e-9), "quantiles cross"


def test_registry_names_are_amazons() -> None:
    assert set(NAMES) <= set(ALGORITHMS)
    assert {"ETS", "ARIMA", "Theta", "NPTS", "Prophet", "SeasonalNaive"} <= set(NAMES)


def test_deep_and_unknown_algorithms_fail_cleanly() -> None:
    with pytest.raises(UnsupportedAlgorithmError, match="Deep_AR_Plus"):
        get_model("Deep_AR_Plus")
    with pytest.raises(UnsupportedAlgorithmError, match="available"):
        get_model("NoSuchAlgorithm")


@pytest.mark.parametrize("name", NAMES)
def test_seasonal_forecast_shape_quantiles_and_accuracy(name: str) -> None:
    """h points, every requested level, monotone and finite, and better than the mean."""
    y = seasonal_series()
    train, test = y[:-12], y[-12:]
    result = model(name).forecast(train, 12, LEVELS, context())
    check_forecast(result, 12, LEVELS)
    mean_error = np.mean(np.abs(test - train.mean()))
    assert np.mean(np.abs(test - result.mean)) < mean_error


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "series",
    [
        pytest.param([], id="empty"),
        pytest.param([7.0], id="one-point"),
        pytest.param([3.0, 4.0, 5.0], id="three-points"),
        pytest.param([5.0] * 30, id="constant"),
        pytest.param([0.0] * 30, id="all-zero"),
        pytest.param([0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 5, 0, 0, 0, 1, 0] * 2, id="sparse"),
        pytest.param([-5.0, 2.0, -1.0, 4.0, -3.0, 0.5, 1.5, -2.0, 3.0, -4.0], id="negative"),
        pytest.param([np.nan, 2.0, np.nan, 4.0, 5.0, np.nan], id="gaps"),
    ],
)
def test_awkward_series_do_not_raise(name: str, series: list[float]) -> None:
    result = model(name).forecast(np.asarray(series, dtype=float), 5, [0.1, 0.5, 0.9], context())
    check_forecast(result, 5, [0.1, 0.5, 0.9])


@pytest.mark.parametrize("name", NAMES)
def test_flat_series_forecast_is_the_level(name: str) -> None:
    for level in (0.0, 5.0):
        result = model(name).forecast(np.full(24, level), 4, [0.1, 0.9], context())
        np.testing.assert_allclose(result.mean, level)
        np.testing.assert_allclose(result.quantiles[0.1], level)
        np.testing.assert_allclose(result.quantiles[0.9], level)


@pytest.mark.parametrize("name", NAMES)
def test_non_negative_history_gives_non_negative_forecasts(name: str) -> None:
    y = np.array([0, 0, 3, 0, 0, 0, 1, 0, 0, 9, 0, 2, 0, 0, 5, 0, 0, 0, 1, 0] * 2, dtype=float)
    result = model(name).forecast(y, 6, [0.01, 0.5, 0.99], context())
    assert result.mean.min() >= 0
    assert min(q.min() for q in result.quantiles.values()) >= 0


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_forecast(name: str) -> None:
    y = seasonal_series(seasons=4, seed=3)
    first = model(name).forecast(y, 6, [0.1, 0.5, 0.9], context(seed=7))
    second = model(name).forecast(y, 6, [0.1, 0.5, 0.9], context(seed=7))
    np.testing.assert_array_equal(first.mean, second.mean)
    for q in first.quantiles:
        np.testing.assert_array_equal(first.quantiles[q], second.quantiles[q])


@pytest.mark.parametrize("name", NAMES)
def test_related_regressors_are_accepted(name: str) -> None:
    """Every model takes X/X_future; those that use related data follow a strong one."""
    rng = np.random.default_rng(5)
    n, h = 60, 8
    promo = (rng.random(n + h) < 0.3).astype(float)
    y = 50.0 + 30.0 * promo[:n] + rng.normal(0.0, 1.0, n)
    X, X_future = promo[:n, None], promo[n:, None]
    if not X_future[:, 0].any() or X_future[:, 0].all():
        X_future[0, 0], X_future[1, 0] = 1.0, 0.0
    result = model(name).forecast(y, h, [0.1, 0.5, 0.9], context(1, X=X, X_future=X_future))
    check_forecast(result, h, [0.1, 0.5, 0.9])
    if name in USES_RELATED_DATA:
        on, off = X_future[:, 0] == 1, X_future[:, 0] == 0
        assert result.mean[on].mean() - result.mean[off].mean() > 15.0


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_regressors_are_ignored(name: str) -> None:
    y = seasonal_series(seasons=3)
    ctx = context(X=np.ones((5, 2)), X_future=np.ones((3, 1)))
    check_forecast(model(name).forecast(y, 4, [0.5], ctx), 4, [0.5])


@pytest.mark.parametrize("name", NAMES)
def test_long_season_is_handled(name: str) -> None:
    """Sub-daily data: 96 quarter-hours per day, a week of history."""
    t = np.arange(96 * 7)
    y = 10.0 + 5.0 * np.sin(2 * np.pi * t / 96) + np.random.default_rng(2).normal(0, 0.5, t.size)
    result = model(name).forecast(
        y, 96, [0.1, 0.5, 0.9], SeriesContext(season_length=96, frequency="15min")
    )
    check_forecast(result, 96, [0.1, 0.5, 0.9])
    assert np.mean(np.abs(result.mean - (10.0 + 5.0 * np.sin(2 * np.pi * t[:96] / 96)))) < 2.5


@pytest.mark.parametrize(
    ("name", "hyperparameters"),
    [
        ("ETS", {"model": "XYZ"}),
        ("ETS", {"damped": "maybe"}),
        ("ARIMA", {"max_p": "-1"}),
        ("ARIMA", {"ic": "hqic"}),
        ("Theta", {"model": "FAST"}),
        ("NPTS", {"kernel_type": "gaussian"}),
        ("NPTS", {"exp_kernel_weights": "0"}),
        ("NPTS", {"num_samples": "many"}),
        ("Prophet", {"seasonality_mode": "cubic"}),
        ("Prophet", {"yearly_seasonality": "sometimes"}),
        ("SeasonalNaive", {"season_length": "0"}),
    ],
)
def test_bad_hyperparameters_are_rejected_with_their_name(
    name: str, hyperparameters: dict[str, str]
) -> None:
    key = next(iter(hyperparameters))
    with pytest.raises(HyperparameterError, match=key):
        get_model(name, hyperparameters)


def test_amazon_hyperparameter_spellings_are_accepted() -> None:
    get_model("NPTS", {"kernel_type": "uniform", "use_seasonal_model": "False"})
    get_model("NPTS", {"exp_kernel_weights": "0.5", "use_default_time_features": "True"})
    get_model("ETS", {"model": "ZZN", "damped": "true"})
    get_model("ARIMA", {"approximation": "auto", "seasonal": "FALSE", "max_order": "4"})
    get_model("Theta", {"model": "auto", "decomposition_type": "additive"})
    get_model("Prophet", {"yearly_seasonality": "6", "changepoint_prior_scale": "0.5"})


class TestNPTSVariants:
    """The four variants differ in which past values they sample, and how."""

    y = np.array([1.0, 100.0, 2.0, 200.0, 3.0, 300.0, 4.0, 400.0, 5.0, 500.0])

    def draw(self, **params: str) -> np.ndarray:
        npts = get_model("NPTS", {"num_samples": "2000", **params})
        return npts.sample_paths(self.y, 2, SeriesContext(season_length=2, frequency="M"))

    def test_seasonal_variants_sample_only_the_same_season(self) -> None:
        for kernel in ("exponential", "uniform"):
            paths = self.draw(kernel_type=kernel)
            assert set(np.unique(paths[:, 0])) <= {1.0, 2.0, 3.0, 4.0, 5.0}
            assert set(np.unique(paths[:, 1])) <= {100.0, 200.0, 300.0, 400.0, 500.0}

    def test_climatological_samples_every_value_uniformly(self) -> None:
        paths = self.draw(kernel_type="uniform", use_seasonal_model="False")
        counts = np.array([np.sum(paths[:, 0] == v) for v in self.y])
        assert counts.min() > 120  # 2000 draws over 10 values: about 200 each

    def test_exponential_kernel_prefers_recent_values(self) -> None:
        paths = self.draw(use_seasonal_model="False", exp_kernel_weights="20")
        assert np.mean(paths[:, 0] == 500.0) > np.mean(paths[:, 0] == 1.0) * 10
        flat = self.draw(use_seasonal_model="False", exp_kernel_weights="0.001")
        assert abs(np.mean(flat[:, 0] == 500.0) - np.mean(flat[:, 0] == 1.0)) < 0.05

    def test_forecasts_stay_inside_the_observed_range(self) -> None:
        result = get_model("NPTS").forecast(self.y, 6, [0.01, 0.99], context(2))
        assert result.quantiles[0.01].min() >= 1.0
        assert result.quantiles[0.99].max() <= 500.0


def test_seasonal_naive_repeats_the_last_season_with_empirical_quantiles() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 2.0, 3.0, 4.0, 5.0, 3.0, 4.0, 5.0, 6.0])
    result = get_model("SeasonalNaive").forecast(y, 6, [0.1, 0.5, 0.9], context(4))
    np.testing.assert_array_equal(result.mean, [3.0, 4.0, 5.0, 6.0, 3.0, 4.0])
    np.testing.assert_array_equal(result.quantiles[0.5], result.mean)
    # Every seasonal difference is 1: no spread, whatever the horizon.
    np.testing.assert_array_equal(result.quantiles[0.9], result.mean)


def test_seasonal_naive_widens_by_the_square_root_of_seasons_ahead() -> None:
    y = np.array([10.0, 12.0, 9.0, 13.0, 8.0, 14.0, 10.0, 11.0])
    result = get_model("SeasonalNaive").forecast(y, 4, [0.1, 0.9], context(1))
    width = result.quantiles[0.9] - result.quantiles[0.1]
    np.testing.assert_allclose(width / width[0], np.sqrt([1.0, 2.0, 3.0, 4.0]))


def test_prophet_uses_country_holidays_on_daily_data() -> None:
    dates = np.arange("2022-01-01", "2023-12-31", dtype="datetime64[D]")
    future = np.arange("2023-12-31", "2024-01-08", dtype="datetime64[D]")
    day = (dates - dates[0]).astype(int)
    is_new_year = np.array([str(d).endswith("-01-01") or str(d).endswith("-12-25") for d in dates])
    y = 100.0 + 10.0 * np.sin(2 * np.pi * day / 7) + 80.0 * is_new_year
    ctx = SeriesContext(
        season_length=7,
        frequency="D",
        timestamps=dates,
        future_timestamps=future,
        holiday_country="US",
    )
    result = model("Prophet").forecast(y, future.size, [0.5], ctx)
    # 2024-01-01 is the second future day: it should stand out like past New Years.
    assert result.mean[1] - np.delete(result.mean, 1).max() > 30.0


def test_prophet_ignores_an_unknown_country() -> None:
    y = seasonal_series(seasons=3)
    ctx = SeriesContext(season_length=12, frequency="D", holiday_country="ZZ")
    check_forecast(model("Prophet").forecast(y, 5, [0.1, 0.9], ctx), 5, [0.1, 0.9])
