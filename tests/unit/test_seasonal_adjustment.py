"""The deep models' seasonal adjustment: which series it touches, and that it is undone exactly."""

from __future__ import annotations

import numpy as np
import pytest

from augury_training.forecasting.deep.common import DeepForecast
from augury_training.forecasting.deep.seasonal_adjustment import (
    ALWAYS,
    AUTO,
    NONE,
    adjust,
    prefers_adjusted,
    seasonal_indices,
)
from augury_training.forecasting.deep.windows import SeriesSet

PATTERN = np.array([0.7, 0.8, 0.9, 1.0, 1.1, 1.3, 1.4, 1.3, 1.1, 0.9, 0.8, 0.7])


def _monthly(length: int = 72, seed: int = 0, level: float = 100.0) -> np.ndarray:
    """A trending monthly series with the multiplicative season ``PATTERN`` and 3% noise."""
    rng = np.random.default_rng(seed)
    steps = np.arange(length)
    trend = level * (1 + 0.01 * steps)
    return trend * PATTERN[steps % 12] * rng.lognormal(0.0, 0.03, length)


def test_the_indices_of_a_seasonal_series_are_its_pattern() -> None:
    indices = seasonal_indices(_monthly(), 12)
    assert indices is not None
    assert indices.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(indices, PATTERN / PATTERN.mean(), atol=0.03)


def test_the_phase_counts_from_the_first_point() -> None:
    """A series starting in April has April's index first."""
    shifted = seasonal_indices(_monthly(75)[3:], 12)
    assert shifted is not None
    np.testing.assert_allclose(shifted, np.roll(PATTERN / PATTERN.mean(), -3), atol=0.03)


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(np.random.default_rng(1).lognormal(3.0, 0.2, 96), id="noise, no season"),
        pytest.param(_monthly(35), id="under three seasons"),
        pytest.param(np.where(np.arange(72) == 40, 0.0, _monthly()), id="a zero"),
        pytest.param(_monthly() - 120.0, id="negative values"),
        pytest.param(np.full(72, np.nan), id="nothing observed"),
    ],
)
def test_series_that_cannot_be_adjusted_safely_are_left_alone(history: np.ndarray) -> None:
    assert seasonal_indices(history, 12) is None


def test_gaps_are_tolerated_and_stay_gaps() -> None:
    history = _monthly()
    history[[5, 30, 31]] = np.nan
    indices = seasonal_indices(history, 12)
    assert indices is not None
    np.testing.assert_allclose(indices, PATTERN / PATTERN.mean(), atol=0.04)
    adjusted = adjust(SeriesSet([history], "M"), 6, ALWAYS)
    assert np.isnan(adjusted.data.targets[0][[5, 30, 31]]).all()


def test_adjusting_divides_by_the_indices_and_the_forecast_gets_them_back() -> None:
    seasonal, flat = _monthly(), np.random.default_rng(2).lognormal(3.0, 0.2, 72)
    data = SeriesSet([seasonal, flat, np.array([])], "M")
    adjusted = adjust(data, 18, ALWAYS)
    assert adjusted.count == 1
    assert adjusted.describe() == "1 of 3 series divided by their seasonal indices"
    indices = seasonal_indices(seasonal, 12)
    assert indices is not None
    np.testing.assert_allclose(adjusted.data.targets[0] * indices[np.arange(72) % 12], seasonal)
    assert adjusted.data.targets[1] is flat  # untouched, not copied
    assert len(adjusted.data.targets[2]) == 0  # a cold-start item stays one
    np.testing.assert_allclose(adjusted.future[0], indices[np.arange(72, 90) % 12])
    assert (adjusted.future[1:] == 1.0).all()

    ones = np.ones((3, 18))
    forecast = DeepForecast(
        mean=ones, quantiles={0.1: 0.5 * ones, 0.9: 2 * ones}, samples=np.ones((3, 4, 18))
    )
    back = adjusted.reseasonalise(forecast)
    np.testing.assert_allclose(back.mean, adjusted.future)
    np.testing.assert_allclose(back.quantiles[0.9], 2 * adjusted.future)
    assert (back.quantiles[0.1] < back.quantiles[0.9]).all()
    assert back.samples is not None
    np.testing.assert_allclose(back.samples[:, 2], adjusted.future)


def test_none_and_frequencies_without_a_season_change_nothing() -> None:
    data = SeriesSet([_monthly()], "M")
    assert adjust(data, 6, NONE).count == 0
    assert adjust(data, 6, NONE).data is data
    yearly = adjust(SeriesSet([_monthly()], "Y"), 6, ALWAYS)
    assert yearly.count == 0
    assert (yearly.future == 1.0).all()


def test_integer_counts_become_fractions_not_truncated_integers() -> None:
    counts = np.round(_monthly(level=1000.0)).astype(np.int64)
    adjusted = adjust(SeriesSet([counts], "M"), 6, ALWAYS)
    assert adjusted.count == 1
    assert np.issubdtype(adjusted.data.targets[0].dtype, np.floating)
    assert not np.allclose(adjusted.data.targets[0], np.round(adjusted.data.targets[0]))


def test_held_out_points_do_not_inform_the_indices_that_score_them() -> None:
    """Validation forecasts the last points; indices estimated with them would flatter the
    adjusted fit, so ``hold_out`` leaves them out and says which index each one gets."""
    history = _monthly(84)
    history[-12:] *= np.linspace(1.0, 3.0, 12)  # a last year unlike the others
    adjusted = adjust(SeriesSet([history], "M"), 6, ALWAYS, hold_out=12)
    earlier = seasonal_indices(history[:-12], 12)
    assert earlier is not None
    np.testing.assert_allclose(adjusted.held_out[0], earlier[np.arange(72, 84) % 12])
    np.testing.assert_allclose(adjusted.future[0], earlier[np.arange(84, 90) % 12])
    np.testing.assert_allclose(adjusted.data.targets[0] * earlier[np.arange(84) % 12], history)
    assert adjust(SeriesSet([history], "M"), 6, NONE, hold_out=12).held_out.shape == (1, 12)


def test_the_choice_is_the_models_and_the_adjusted_fit_must_validate_better() -> None:
    with pytest.raises(ValueError, match="the model resolves 'auto'"):
        adjust(SeriesSet([_monthly()], "M"), 6, AUTO)
    assert prefers_adjusted(0.10, 0.09)
    assert not prefers_adjusted(0.10, 0.10)
    assert not prefers_adjusted(None, 0.09) and not prefers_adjusted(0.10, None)
