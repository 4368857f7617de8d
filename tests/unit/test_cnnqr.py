"""CNN-QR as a library: it learns across series, reads both kinds of related data, answers
any quantile, repeats itself, and obeys its limits.

Everything is tiny (a few dozen series, 8-16 channels, one thread, a few dozen
small batches) so the whole file runs in seconds on a CPU.
"""

from __future__ import annotations

import copy
import itertools
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from augury_training.forecasting.deep import cnnqr
from augury_training.forecasting.deep.cnnqr import (
    CNNQR,
    HyperparameterError,
    member_contexts,
    parse_hyperparameters,
)
from augury_training.forecasting.deep.common import load_model, save_model
from augury_training.forecasting.deep.quantile_grid import (
    QUANTILE_GRID,
    level_from_grid,
    mean_from_grid,
)
from augury_training.forecasting.deep.windows import SeriesSet
from augury_training.forecasting.metrics import average_weighted_quantile_loss
from tests.unit.deep_series import (
    HORIZON,
    assert_the_margin_chose,
    monthly,
    one_thread,
    quiet,
    seasonal,
)

TINY = {
    "epochs": "40",
    "num_filters": "16",
    "num_layers": "3",
    "decoder_width": "16",
    "learning_rate": "0.02",
    "mini_batch_size": "32",
    "max_batches_per_epoch": "8",
    "dropout_rate": "0",
    "early_stopping_patience": "40",
    "num_averaged_models": "1",
    "seasonal_adjustment": "none",
}
LEVELS = (0.1, 0.5, 0.9)


__all__ = ["one_thread"]  # the autouse fixture, shared with the other deep tests


def _seasonal(n: int = 30, length: int = 72, seed: int = 0):
    return seasonal(n, length, seed)


_series, _quiet = monthly, quiet


def _fit(data: SeriesSet, **overrides: str) -> CNNQR:
    return CNNQR({**TINY, **overrides}).fit(data, HORIZON, seed=0, log=_quiet)


@pytest.fixture(scope="module")
def seasonal_fit() -> tuple[CNNQR, np.ndarray, np.ndarray]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        history, future = _seasonal()
        model = _fit(_series(history))
    finally:
        torch.set_num_threads(threads)
    return model, history, future


def test_learns_the_season_better_than_naive_baselines(seasonal_fit) -> None:
    model, history, future = seasonal_fit
    forecast = model.predict(_series(history), LEVELS)
    flat = np.repeat(history.mean(axis=1, keepdims=True), HORIZON, axis=1)
    last = np.repeat(history[:, -1:], HORIZON, axis=1)
    error = np.abs(forecast.quantiles[0.5] - future).mean()
    assert error < 0.4 * np.abs(flat - future).mean()
    assert error < 0.4 * np.abs(last - future).mean()
    deep_wql = average_weighted_quantile_loss(future, forecast.quantiles)
    flat_wql = average_weighted_quantile_loss(future, dict.fromkeys(LEVELS, flat))
    assert deep_wql < 0.5 * flat_wql
    assert model.name == "CNN-QR"
    assert set(model.summary) >= {
        "epochs",
        "best_epoch",
        "validation_loss",
        "device",
        "stopped_by_time_budget",
    }
    assert model.summary["device"] == "cpu" and model.summary["epochs"] >= 1


def test_quantiles_are_ordered_calibrated_and_any_level_is_answered(seasonal_fit) -> None:
    model, history, future = seasonal_fit
    levels = (0.9, 0.001, 0.1, 0.37, 0.5, 0.99, 0.999)
    forecast = model.predict(_series(history), levels)
    assert forecast.mean.shape == (30, HORIZON) and np.isfinite(forecast.mean).all()
    ordered = [forecast.quantiles[q] for q in sorted(levels)]
    for lower, upper in itertools.pairwise(ordered):
        assert (lower <= upper).all()
    assert (forecast.quantiles[0.1] < forecast.quantiles[0.9]).mean() > 0.95
    below_p10 = (future <= forecast.quantiles[0.1]).mean()
    below_p90 = (future <= forecast.quantiles[0.9]).mean()
    assert below_p10 < 0.35 and below_p90 > 0.65
    centre = np.abs(forecast.mean - forecast.quantiles[0.5]).mean()
    assert centre < 0.1 * np.abs(forecast.quantiles[0.5]).mean()
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        model.predict(_series(history), (0.5, 1.0))


def test_grid_interpolation_and_mean_follow_the_quantile_function() -> None:
    levels = np.asarray(QUANTILE_GRID)
    uniform = np.broadcast_to(levels * 10.0, (2, 3, levels.size))  # U(0, 10)'s quantiles
    assert np.allclose(level_from_grid(uniform, 0.37, False), 3.7)
    assert np.allclose(level_from_grid(uniform, 0.001, False), 0.01)  # edge slope extrapolated
    assert np.allclose(level_from_grid(uniform, 0.999, False), 9.99)
    assert np.allclose(mean_from_grid(uniform, False), 5.0)
    skewed = np.broadcast_to(-np.log1p(-levels), (1, 1, levels.size))  # Exp(1)'s quantiles
    assert abs(float(mean_from_grid(skewed, True)[0, 0]) - 1.0) < 0.1


def test_cold_start_items_are_forecast_at_their_groups_level() -> None:
    history, _ = _seasonal(n=20, length=48)
    history[10:] *= 20.0  # group 1 sells twenty times more than group 0
    groups = np.repeat([[0], [1]], 10, axis=0)
    model = _fit(_series(history, categories=groups), epochs="10")
    assert model.reads_item_metadata
    new_items = SeriesSet(
        [np.array([]), np.array([]), np.array([])],
        "M",
        starts=np.full(3, np.datetime64("2014-01-01")),
        categories=np.array([[0], [1], [5]]),  # 5: a code training never saw
    )
    forecast = model.predict(new_items, LEVELS)
    assert np.isfinite(forecast.mean).all()
    low, high = forecast.quantiles[0.5][0].mean(), forecast.quantiles[0.5][1].mean()
    assert 0.3 * history[:10].mean() < low < 3 * history[:10].mean()
    assert 0.3 * history[10:].mean() < high < 3 * history[10:].mean()
    assert high > 5 * low


def _driven_by_the_past(n: int = 40, length: int = 60, seed: int = 1):
    """Targets that repeat a past-only signal ``HORIZON`` steps later: the last horizon of
    the signal in the history says exactly what the forecast horizon holds."""
    rng = np.random.default_rng(seed)
    signal = rng.choice([-1.0, 1.0], (n, length + HORIZON))
    target = 10.0 + 4.0 * np.roll(signal, HORIZON, axis=1) + rng.normal(0, 0.2, signal.shape)
    target[:, :HORIZON] = 10.0
    return target[:, :length], target[:, length:], signal[:, :length]


def test_past_only_related_series_are_read_and_help() -> None:
    history, future, signal = _driven_by_the_past()
    past = [row[:, None] for row in signal]
    with_signal = _fit(_series(history, past_related=past), epochs="30")
    without = _fit(_series(history), epochs="30")
    informed = with_signal.predict(_series(history, past_related=past), (0.5,))
    blind = without.predict(_series(history), (0.5,))
    informed_error = np.abs(informed.quantiles[0.5] - future).mean()
    assert informed_error < 0.6 * np.abs(blind.quantiles[0.5] - future).mean()
    flipped = with_signal.predict(_series(history, past_related=[-p for p in past]), (0.5,))
    assert np.abs(flipped.quantiles[0.5] - informed.quantiles[0.5]).mean() > 1.0
    ignored = _fit(_series(history, past_related=past), epochs="1", use_related_data="NONE")
    one = ignored.predict(_series(history, past_related=past), (0.5,))
    other = ignored.predict(_series(history, past_related=[-p for p in past]), (0.5,))
    np.testing.assert_array_equal(one.quantiles[0.5], other.quantiles[0.5])


def test_a_future_promotion_flag_lifts_the_flagged_step() -> None:
    rng = np.random.default_rng(3)
    n, length = 30, 60
    flags = (rng.random((n, length + HORIZON)) < 0.15).astype(float)
    levels = rng.uniform(5, 20, n)[:, None]
    target = levels * (1 + flags) * (1 + rng.normal(0, 0.03, flags.shape))
    related = [row[:, None] for row in flags]
    model = _fit(_series(target[:, :length], related=related), epochs="30")
    quiet = np.zeros_like(flags)
    quiet[:, :length] = flags[:, :length]
    promoted = quiet.copy()
    promoted[:, length + 4] = 1.0
    base = model.predict(_series(target[:, :length], related=[r[:, None] for r in quiet]))
    lifted = model.predict(_series(target[:, :length], related=[r[:, None] for r in promoted]))
    ratio = lifted.quantiles[0.5] / base.quantiles[0.5]
    assert np.median(ratio[:, 4]) > 1.5
    others = np.delete(ratio, 4, axis=1)
    assert np.abs(np.median(others) - 1.0) < 0.15


def test_missing_values_and_young_series_are_handled() -> None:
    history, _ = _seasonal(n=12, length=48)
    rng = np.random.default_rng(1)
    history[rng.random(history.shape) < 0.15] = np.nan
    history[0, -5:] = np.nan  # a series whose latest points are all missing
    history[1, :40] = np.nan  # a young series
    model = _fit(_series(history), epochs="2")
    forecast = model.predict(_series(history), LEVELS)
    assert np.isfinite(forecast.mean).all()
    assert all(np.isfinite(q).all() for q in forecast.quantiles.values())


def test_non_negative_data_get_non_negative_forecasts() -> None:
    rng = np.random.default_rng(2)
    rates = rng.uniform(0.05, 2.0, 20)  # intermittent: mostly zeros
    history = rng.poisson(rates[:, None], (20, 48)).astype(float)
    history[:, -HORIZON:] = 0.0  # all-zero recent context: the model is pushed below zero
    model = _fit(_series(history), epochs="3")
    forecast = model.predict(_series(history), (0.01, 0.1, 0.5, 0.9))
    assert (forecast.mean >= 0).all()
    assert all((q >= 0).all() for q in forecast.quantiles.values())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "many"}, "epochs must be an integer"),
        ({"epochs": "0"}, "epochs must be at least 1"),
        ({"learning_rate": "2"}, "learning_rate must be at most"),
        ({"use_related_data": "SOME"}, "use_related_data must be one of"),
        ({"use_item_metadata": "PART"}, "use_item_metadata must be one of"),
        ({"num_filters": "10.5"}, "num_filters must be an integer"),
        ({"kernel_size": "1"}, "kernel_size must be at least 2"),
        ({"dropout_rate": "nan"}, "dropout_rate must be a finite number"),
        ({"context_length": "0"}, "context_length must be at least 1"),
        ({"context_length": "501"}, "context_length must be at most 500"),
        ({"seasonal_adjustment": "often"}, "seasonal_adjustment must be one of auto, always"),
    ],
)
def test_bad_hyperparameters_fail_with_their_name(values: dict, message: str) -> None:
    with pytest.raises(HyperparameterError, match=message):
        CNNQR(values)


def test_amazon_names_and_spellings_are_accepted() -> None:
    params = parse_hyperparameters(
        {"use_related_data": "forward_looking", "use_item_metadata": "none", "context_length": "24"}
    )
    assert params.use_related_data == "FORWARD_LOOKING" and params.use_item_metadata == "NONE"
    assert params.context_length == 24 and parse_hyperparameters({}).epochs == 100
    lines: list[str] = []
    history, _ = _seasonal(n=6, length=60)
    settings = {**TINY, "epochs": "1", "use_item_metadata": "NONE", "seasonal_adjustment": "Always"}
    blind = CNNQR(settings).fit(
        _series(history, categories=np.zeros((6, 1), dtype=int)), HORIZON, log=lines.append
    )
    assert any("item metadata ignored" in line for line in lines)
    assert not blind.reads_item_metadata  # so new items are forecast by their neighbours
    assert "CNN-QR: 6 of 6 series divided by their seasonal indices" in lines
    assert any(line.startswith("CNN-QR epoch 1/1") for line in lines)


def test_same_seed_same_forecasts() -> None:
    history, _ = _seasonal(n=12, length=48)
    params = {**TINY, "epochs": "2", "dropout_rate": "0.2"}
    first = CNNQR(params).fit(_series(history), HORIZON, seed=7, log=_quiet)
    before = torch.random.get_rng_state()
    second = CNNQR(params).fit(_series(history), HORIZON, seed=7, log=_quiet)
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's RNG is untouched
    a, b = first.predict(_series(history)), second.predict(_series(history))
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.quantiles[0.9], b.quantiles[0.9])
    other = CNNQR(params).fit(_series(history), HORIZON, seed=8, log=_quiet)
    assert not np.array_equal(a.mean, other.predict(_series(history)).mean)


@pytest.mark.parametrize("members", ["1", "3"])
def test_the_time_budget_stops_training(members: str) -> None:
    history, _ = _seasonal(n=30, length=96)
    began = time.monotonic()
    model = CNNQR(
        {
            **TINY,
            "epochs": "1000",
            "early_stopping_patience": "1000",
            "num_averaged_models": members,
        }
    )
    model.fit(_series(history), HORIZON, time_budget_seconds=0.5, log=_quiet)
    assert time.monotonic() - began < 5.0
    assert model.summary["stopped_by_time_budget"] is True
    assert model.summary["epochs"] < 1000
    assert model.summary["models"] == 1  # the first network took the whole budget
    assert np.isfinite(model.predict(_series(history), LEVELS).mean).all()


def test_save_and_load_give_identical_forecasts(tmp_path: Path) -> None:
    history, _ = _seasonal(n=10, length=36)
    rng = np.random.default_rng(4)
    related = [rng.normal(size=(36 + HORIZON, 1)) for _ in range(10)]
    past = [rng.normal(size=(36, 2)) for _ in range(10)]
    data = _series(history, related=related, past_related=past, categories=np.eye(10, 1, dtype=int))
    model = _fit(data, epochs="1", num_averaged_models="2")
    path = tmp_path / "model" / "cnnqr.pt"
    save_model(model, path)
    loaded = load_model(path)
    assert isinstance(loaded, CNNQR) and loaded.summary == model.summary
    a, b = model.predict(data, (0.05, 0.5)), loaded.predict(data, (0.05, 0.5))
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.quantiles[0.05], b.quantiles[0.05])


def test_a_single_network_state_from_before_averaging_still_loads() -> None:
    history, _ = _seasonal(n=10, length=36)
    model = _fit(_series(history), epochs="1")
    state = model.to_state()
    older = {k: v for k, v in state.items() if k != "contexts"}
    older["weights"] = state["weights"][0]
    loaded = CNNQR.from_state(older)
    np.testing.assert_array_equal(
        loaded.predict(_series(history)).mean, model.predict(_series(history)).mean
    )


def test_by_default_a_fit_on_seasonally_adjusted_series_competes_on_validation() -> None:
    """``auto`` trains on the series as they are and with their seasons divided out, and
    keeps the adjusted fit only when it forecasts the held-out horizons better. Both are
    scored in the data's units: the kept score is the wQL of forecasting those horizons
    from the shorter history, whose indices the adjusted fit estimated without them."""
    history, _ = _seasonal()
    model = _fit(_series(history), seasonal_adjustment="auto", context_length=str(2 * HORIZON))
    tried = model.summary["seasonal_adjustments_tried"]
    assert set(tried) == {"none", "always"}
    assert all(score is not None and score > 0 for score in tried.values())
    kept = "always" if tried["always"] < tried["none"] else "none"
    assert model.seasonal_adjustment == model.summary["seasonal_adjustment"] == kept
    assert model.summary["seasonally_adjusted_series"] == (len(history) if kept == "always" else 0)
    before, held_out = history[:, :-HORIZON], history[:, -HORIZON:]
    levels = [q for q in QUANTILE_GRID if 0.1 <= q <= 0.9]
    forecast = model.predict(_series(before), levels)
    expected = average_weighted_quantile_loss(held_out, forecast.quantiles)
    assert tried[kept] == pytest.approx(expected, rel=0.01)
    # built with what this one chose, a model fits once, that way
    refit = _fit(_series(history), **model.chosen_hyperparameters())
    assert refit.seasonal_adjustment == kept and "seasonal_adjustments_tried" not in refit.summary
    assert refit.context_length == model.context_length
    yearly = CNNQR({**TINY, "seasonal_adjustment": "auto", "epochs": "1"})
    yearly.fit(SeriesSet(list(history), "Y"), HORIZON, log=_quiet)
    assert "seasonal_adjustments_tried" not in yearly.summary  # nothing to adjust: one fit


def test_always_adjusts_and_a_model_saved_before_the_adjustment_does_not(tmp_path: Path) -> None:
    """``always`` divides each seasonal series by its indices (all of these pass the test)
    and puts them back on the forecast after a save and load; a model saved before the
    adjustment existed keeps forecasting the series as they are, as it was trained to."""
    history, _ = _seasonal(n=10, length=60)
    adjusted = _fit(_series(history), epochs="1", seasonal_adjustment="always")
    assert adjusted.summary["seasonally_adjusted_series"] == 10
    save_model(adjusted, tmp_path / "cnnqr.pt")
    np.testing.assert_array_equal(
        load_model(tmp_path / "cnnqr.pt").predict(_series(history)).mean,
        adjusted.predict(_series(history)).mean,
    )
    older = _fit(_series(history), epochs="1")
    state = older.to_state()
    del state["seasonal_adjustment"]
    state["hyperparameters"] = {
        k: v for k, v in state["hyperparameters"].items() if k != "seasonal_adjustment"
    }
    loaded = CNNQR.from_state(state)
    assert loaded.seasonal_adjustment == "none"
    np.testing.assert_array_equal(
        loaded.predict(_series(history)).mean, older.predict(_series(history)).mean
    )


def test_members_read_spread_contexts_and_their_grids_are_averaged() -> None:
    assert member_contexts(72, 3) == (72, 54, 36)
    assert member_contexts(72, 1) == (72,) and member_contexts(1, 3) == (1, 1, 1)
    assert parse_hyperparameters({}).num_averaged_models == 3
    history, _ = _seasonal(n=12, length=48)
    lines: list[str] = []
    model = CNNQR({**TINY, "epochs": "2", "num_averaged_models": "3", "context_length": "24"})
    model.fit(_series(history), HORIZON, time_budget_seconds=120, log=lines.append)
    assert model.summary["models"] == 3  # a budget with room trains every network
    assert (
        model.summary["stopped_by_time_budget"] is False and len(model.summary["best_epochs"]) == 3
    )
    assert [line for line in lines if line.startswith("CNN-QR model")][:3] == [
        f"CNN-QR model {k} of 3: context {c}" for k, c in ((1, 24), (2, 18), (3, 12))
    ]
    together = model.predict(_series(history), LEVELS)
    alone = []
    for member in model._members:
        single = copy.copy(model)
        single._members = [member]
        alone.append(single.predict(_series(history), LEVELS))
    np.testing.assert_allclose(
        together.quantiles[0.5], np.mean([a.quantiles[0.5] for a in alone], axis=0), rtol=1e-5
    )
    assert not np.allclose(alone[0].quantiles[0.5], alone[2].quantiles[0.5])


def test_without_a_context_length_the_first_network_chooses_between_two() -> None:
    """Four horizons of context or one: the first network is trained with each, and one
    horizon is kept only when its wQL on the held-out horizons, in the data's units, is
    lower by the margin. The score kept is the wQL of forecasting those horizons (without
    the seasonal adjustment, whose indices are estimated on the whole history, so that a
    forecast from the shorter history divides by slightly different ones)."""
    history, _ = _seasonal()
    model = _fit(_series(history), seasonal_adjustment="none")
    tried = assert_the_margin_chose(model)
    assert [member.context for member in model._members] == [model.context_length]
    # all 30 series lend their last horizon to validation, and the kept network alone
    # forecasts them (TINY trains one), so its score is that forecast's wQL
    before, held_out = history[:, :-HORIZON], history[:, -HORIZON:]
    levels = [q for q in QUANTILE_GRID if 0.1 <= q <= 0.9]
    forecast = model.predict(_series(before), levels)
    expected = average_weighted_quantile_loss(held_out, forecast.quantiles)
    assert model.summary["validation_wql"] == pytest.approx(expected, rel=0.01)
    assert tried[str(model.context_length)] == model.summary["validation_wql"]


@pytest.mark.parametrize("short_wins", [False, True])
def test_the_context_chosen_sets_every_network_and_the_default_trains_as_alone(
    monkeypatch: pytest.MonkeyPatch, short_wins: bool
) -> None:
    """Whichever context wins reads for all the averaged networks; when the default is
    kept, trying the other did not disturb its networks' random streams."""
    monkeypatch.setattr(cnnqr, "prefers_short", lambda default, short: short_wins)
    history, _ = _seasonal(n=12, length=60)
    settings = {**TINY, "epochs": "3", "num_averaged_models": "2"}
    chosen = _fit(_series(history), **settings)
    assert set(chosen.summary["contexts_tried"]) == {str(4 * HORIZON), str(HORIZON)}
    kept = HORIZON if short_wins else 4 * HORIZON
    assert [member.context for member in chosen._members] == list(member_contexts(kept, 2))
    assert chosen.summary["models"] == 2
    assert chosen.chosen_hyperparameters() == {
        "context_length": str(kept),
        "seasonal_adjustment": "none",
    }
    if not short_wins:
        alone = _fit(_series(history), **settings, context_length=str(4 * HORIZON))
        assert "contexts_tried" not in alone.summary
        np.testing.assert_array_equal(
            chosen.predict(_series(history)).mean, alone.predict(_series(history)).mean
        )


def test_series_too_short_to_validate_train_one_context_only() -> None:
    history, _ = _seasonal(n=8, length=2 * HORIZON)  # none can spare a horizon
    lines: list[str] = []
    model = CNNQR({**TINY, "epochs": "1"}).fit(_series(history), HORIZON, log=lines.append)
    assert "contexts_tried" not in model.summary and model.summary["validation_wql"] is None
    assert model.context_length == 2 * HORIZON  # four horizons, at most the longest series
    assert sum("epoch 1/1" in line for line in lines) == 1


def test_related_data_shapes_are_checked() -> None:
    history, _ = _seasonal(n=4, length=24)
    with pytest.raises(ValueError, match="one row per history point"):
        _series(history, past_related=[np.ones((25, 1)) for _ in range(4)])
    with pytest.raises(ValueError, match="column counts"):
        _series(history, past_related=[np.ones((24, 1 + i % 2)) for i in range(4)])
    with pytest.raises(ValueError, match="past_related has 3 arrays"):
        _series(history, past_related=[np.ones(24) for _ in range(3)])
    model = _fit(_series(history, past_related=[np.ones(24) for _ in range(4)]), epochs="1")
    with pytest.raises(ValueError, match="past-only related"):
        model.predict(_series(history))
    new_items = SeriesSet(
        [np.array([]), np.array([])],
        "M",
        starts=np.full(2, np.datetime64("2014-01-01")),
        past_related=[np.array([]), np.zeros((0, 1))],  # nothing known yet: cold start
    )
    assert np.isfinite(model.predict(new_items).mean).all()
