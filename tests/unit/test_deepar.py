"""DeepAR+ as a library: it learns across series, repeats itself, and obeys its limits.

Everything is tiny (30 series, 20 LSTM cells, one thread, a few dozen small
batches) so the whole file runs in seconds on a CPU.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from augury_training.forecasting.deep import context_choice
from augury_training.forecasting.deep.common import train_with_early_stopping
from augury_training.forecasting.deep.deepar import (
    VALIDATION_LEVELS,
    DeepARPlus,
    HyperparameterError,
    _climb_paid,
    context_candidates,
    learning_rate_candidates,
    parse_hyperparameters,
)
from augury_training.forecasting.deep.windows import (
    SeriesSet,
    calendar_features,
    lags_for_frequency,
)
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
    "epochs": "20",
    "num_cells": "20",
    "num_layers": "1",
    "learning_rate": "0.01",
    "mini_batch_size": "32",
    "dropout_rate": "0",
}
LEVELS = (0.1, 0.5, 0.9)


__all__ = ["one_thread"]  # the autouse fixture, shared with the other deep tests


def _seasonal(n: int = 30, length: int = 96, seed: int = 0):
    return seasonal(n, length, seed)


_series, _quiet = monthly, quiet


@pytest.fixture(scope="module")
def seasonal_fit() -> tuple[DeepARPlus, np.ndarray, np.ndarray]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        history, future = _seasonal()
        model = DeepARPlus(TINY).fit(_series(history), HORIZON, seed=0, log=_quiet)
    finally:
        torch.set_num_threads(threads)
    return model, history, future


def test_learns_the_season_better_than_a_flat_mean(seasonal_fit) -> None:
    model, history, future = seasonal_fit
    forecast = model.predict(_series(history), LEVELS, num_samples=50)
    flat = np.repeat(history.mean(axis=1, keepdims=True), HORIZON, axis=1)
    assert np.abs(forecast.quantiles[0.5] - future).mean() < 0.4 * np.abs(flat - future).mean()
    deep_wql = average_weighted_quantile_loss(future, forecast.quantiles)
    flat_wql = average_weighted_quantile_loss(future, dict.fromkeys(LEVELS, flat))
    assert deep_wql < 0.5 * flat_wql
    assert model.summary["epochs"] >= 1 and model.summary["likelihood"] == "student-t"


def test_early_stopping_scores_the_forecasts_of_the_held_out_horizons(seasonal_fit) -> None:
    """The validation loss kept is the quantile loss of what the model forecasts for the
    last horizon of each series from the points before it, not the one-step likelihood
    of teacher forcing, which can prefer a model that only knows the context's mean."""
    model, history, _ = seasonal_fit
    before, held_out = history[:, :-HORIZON], history[:, -HORIZON:]
    forecast = model.predict(_series(before), VALIDATION_LEVELS, num_samples=400, seed=3)
    scale = np.abs(before[:, -model.context_length :]).mean(axis=1)[:, None]
    losses = [
        np.maximum(q * error, (q - 1) * error)
        for q in VALIDATION_LEVELS
        for error in [(held_out - forecast.quantiles[q]) / scale]
    ]
    kept = model.summary["validation_loss"]
    assert kept > 0
    assert kept == pytest.approx(float(np.mean(losses)), rel=0.1)


def test_without_a_context_length_the_context_that_forecasts_validation_better_is_kept(
    seasonal_fit,
) -> None:
    """Four horizons of context or one: the fit tries both and keeps one horizon only
    when its wQL on the held-out horizons, in the data's own units (scaled losses depend
    on the context), is lower by the margin."""
    model, history, _ = seasonal_fit
    tried = assert_the_margin_chose(model)
    # every series is long enough to lend its last horizon, so the kept score is the
    # wQL of forecasting those horizons from the points before them
    before, held_out = history[:, :-HORIZON], history[:, -HORIZON:]
    forecast = model.predict(_series(before), VALIDATION_LEVELS, num_samples=400, seed=3)
    expected = average_weighted_quantile_loss(held_out, forecast.quantiles)
    assert model.summary["validation_wql"] == pytest.approx(expected, rel=0.15)
    assert tried[str(model.context_length)] == model.summary["validation_wql"]
    refit = parse_hyperparameters({**TINY, **model.chosen_hyperparameters()})
    assert context_candidates(HORIZON, refit.context_length) == (model.context_length,)


def test_series_too_short_to_validate_train_one_context_only() -> None:
    """With nothing held out the contexts cannot be compared, so the second is not trained."""
    history, _ = _seasonal(n=8, length=2 * HORIZON)  # none longer than two horizons
    lines: list[str] = []
    model = DeepARPlus({**TINY, "epochs": "1"}).fit(_series(history), HORIZON, log=lines.append)
    assert model.context_length == 4 * HORIZON and "contexts_tried" not in model.summary
    assert sum("epoch 1/1" in line for line in lines) == 1


def test_the_contexts_tried_are_four_horizons_then_one_unless_one_is_given() -> None:
    assert context_candidates(12) == (48, 12)
    assert context_candidates(200) == (500, 200)  # at most 500 points
    assert context_candidates(500) == (500,)
    assert context_candidates(12, chosen=30) == (30,)


@pytest.mark.parametrize("faster_wins", [False, True])
def test_without_a_learning_rate_the_faster_one_is_kept_only_when_it_validates_better(
    monkeypatch: pytest.MonkeyPatch, faster_wins: bool
) -> None:
    """Amazon's 1e-3 and a faster 3e-3 are both fitted (each choosing its context); the
    faster is kept only by the margin rule, and the model saved trains and forecasts as
    the rate kept."""
    monkeypatch.setattr(context_choice, "clearly_better", lambda default, other: faster_wins)
    history, _ = _seasonal(n=12, length=48)
    settings = {k: v for k, v in TINY.items() if k != "learning_rate"}
    settings.update(epochs="1", context_length="12")
    model = DeepARPlus(settings).fit(_series(history), HORIZON, log=_quiet)
    tried = model.summary["learning_rates_tried"]
    # the climb goes on to 1e-2 only when 3e-3 validated clearly better than 1e-3
    assert set(tried) == ({"0.001", "0.003", "0.01"} if faster_wins else {"0.001", "0.003"})
    kept = 0.01 if faster_wins else 0.001
    assert model.params.learning_rate == kept
    assert model.summary["validation_wql"] == tried[f"{kept:g}"]["validation_wql"]
    restored = DeepARPlus.from_state(model.to_state())
    assert restored.params.learning_rate == kept
    # what the explanation names, and what would train once with that rate and context
    chosen = model.chosen_hyperparameters()
    assert chosen == {"context_length": "12", "learning_rate": repr(kept)}
    assert learning_rate_candidates(parse_hyperparameters({**settings, **chosen})) == (kept,)
    np.testing.assert_array_equal(
        restored.predict(_series(history), LEVELS, seed=1).quantiles[0.5],
        model.predict(_series(history), LEVELS, seed=1).quantiles[0.5],
    )


@pytest.mark.parametrize("tie", [False, True])
def test_fits_that_validated_within_the_margin_forecast_beside_the_kept_one(
    monkeypatch: pytest.MonkeyPatch, tie: bool
) -> None:
    """Every other (learning rate, context) fit that validated within the margin of the
    kept one pools its sample paths with it, as many as the kept one draws; a saved
    model brings them back and forecasts the same."""
    monkeypatch.setattr(context_choice, "near_tie", lambda kept, other: tie)
    monkeypatch.setattr(context_choice, "clearly_better", lambda default, other: False)
    history, _ = _seasonal(n=12, length=48)
    settings = {k: v for k, v in TINY.items() if k != "learning_rate"}
    settings.update(epochs="1")
    lines: list[str] = []
    model = DeepARPlus(settings).fit(_series(history), HORIZON, log=lines.append)
    kept = (model.context_length, model.params.learning_rate)
    pooled = model.summary.get("pooled_with", [])
    assert len(pooled) == (3 if tie else 0)  # two contexts at each of two rates, less the kept
    fits = {kept, *((fit["context_length"], fit["learning_rate"]) for fit in pooled)}
    assert len(fits) == len(pooled) + 1
    assert any("pooling the sample paths" in line for line in lines) == tie
    forecast = model.predict(_series(history), LEVELS, num_samples=10, seed=1, keep_samples=True)
    assert forecast.samples is not None and forecast.samples.shape == (12, 10 * len(fits), HORIZON)
    restored = DeepARPlus.from_state(model.to_state())
    again = restored.predict(_series(history), LEVELS, num_samples=10, seed=1)
    np.testing.assert_array_equal(again.quantiles[0.5], forecast.quantiles[0.5])
    if tie:  # without its companions the kept fit forecasts on its own
        state = model.to_state()
        del state["companions"]
        alone = DeepARPlus.from_state(state).predict(_series(history), LEVELS, num_samples=10)
        assert not np.array_equal(alone.quantiles[0.5], forecast.quantiles[0.5])


def test_the_climb_goes_on_only_when_the_faster_rate_validated_clearly_better() -> None:
    def fits(*validation: float) -> list[DeepARPlus]:
        made = []
        for wql in validation:
            fit = DeepARPlus({})
            fit._validation_wql = wql
            made.append(fit)
        return made

    # each rate keeps its default context unless the other is 5% better: 0.10 and 0.12
    assert _climb_paid(fits(0.12, 0.121), fits(0.10, 0.099))
    assert not _climb_paid(fits(0.10, 0.099), fits(0.12, 0.121))  # slower
    assert not _climb_paid(fits(0.100), fits(0.097))  # within the margin
    assert _climb_paid(fits(0.100, 0.200), fits(0.200, 0.090))  # the short context won


def test_a_learning_rate_given_is_the_only_one_tried() -> None:
    assert learning_rate_candidates(parse_hyperparameters({})) == (1e-3, 3e-3, 1e-2)
    assert learning_rate_candidates(parse_hyperparameters({"learning_rate": "0.001"})) == (1e-3,)
    history, _ = _seasonal(n=12, length=48)
    model = DeepARPlus({**TINY, "epochs": "1", "context_length": "12"})
    model.fit(_series(history), HORIZON, log=_quiet)
    assert "learning_rates_tried" not in model.summary


def test_a_context_length_given_is_the_only_one_trained() -> None:
    history, _ = _seasonal(n=12, length=48)
    lines: list[str] = []
    model = DeepARPlus({**TINY, "epochs": "1", "context_length": "7"})
    model.fit(_series(history), HORIZON, log=lines.append)
    assert model.context_length == 7 and "contexts_tried" not in model.summary
    assert sum("epoch 1/1" in line for line in lines) == 1


def test_quantiles_are_ordered_and_the_mean_is_finite(seasonal_fit) -> None:
    model, history, _ = seasonal_fit
    forecast = model.predict(_series(history), (0.9, 0.1, 0.5, 0.99), num_samples=40)
    assert forecast.mean.shape == (30, HORIZON) and np.isfinite(forecast.mean).all()
    assert (forecast.quantiles[0.1] <= forecast.quantiles[0.5]).all()
    assert (forecast.quantiles[0.5] <= forecast.quantiles[0.9]).all()
    assert (forecast.quantiles[0.9] <= forecast.quantiles[0.99]).all()
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        model.predict(_series(history), (0.5, 1.0))


def test_same_seed_same_forecasts() -> None:
    history, _ = _seasonal(n=12, length=48)
    params = {**TINY, "epochs": "2"}
    first = DeepARPlus(params).fit(_series(history), HORIZON, seed=7, log=_quiet)
    second = DeepARPlus(params).fit(_series(history), HORIZON, seed=7, log=_quiet)
    a = first.predict(_series(history), LEVELS, num_samples=20, seed=3)
    b = second.predict(_series(history), LEVELS, num_samples=20, seed=3)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.quantiles[0.9], b.quantiles[0.9])
    other = first.predict(_series(history), LEVELS, num_samples=20, seed=4)
    assert not np.array_equal(a.mean, other.mean)


def test_missing_values_in_history_are_handled() -> None:
    history, _ = _seasonal(n=12, length=48)
    rng = np.random.default_rng(1)
    history[rng.random(history.shape) < 0.15] = np.nan
    history[0, -5:] = np.nan  # a series whose latest points are all missing
    history[1, :40] = np.nan  # a young series
    model = DeepARPlus({**TINY, "epochs": "2"}).fit(_series(history), HORIZON, log=_quiet)
    forecast = model.predict(_series(history), LEVELS, num_samples=20)
    assert np.isfinite(forecast.mean).all()
    assert all(np.isfinite(q).all() for q in forecast.quantiles.values())


def test_counts_with_negative_binomial_are_non_negative_integers() -> None:
    rng = np.random.default_rng(2)
    rates = rng.uniform(0.2, 4.0, 20)
    history = rng.poisson(rates[:, None], (20, 48)).astype(float)
    for likelihood in ("negative-binomial", "auto"):
        model = DeepARPlus({**TINY, "epochs": "2", "likelihood": likelihood})
        model.fit(_series(history), HORIZON, log=_quiet)
        assert model.likelihood == "negative-binomial"
        forecast = model.predict(_series(history), LEVELS, num_samples=30, keep_samples=True)
        assert forecast.samples is not None
        assert (forecast.samples >= 0).all()
        np.testing.assert_array_equal(forecast.samples, np.round(forecast.samples))
    with pytest.raises(HyperparameterError, match="non-negative"):  # the user's to fix
        DeepARPlus({**TINY, "likelihood": "negative-binomial"}).fit(
            _series(history - 3.0), HORIZON, log=_quiet
        )


def test_asked_to_adjust_seasons_it_adjusts_all_but_counts(seasonal_fit) -> None:
    """By default DeepAR+ reads series as they are (the adjustment made it worse on M3).
    Asked to adjust, it divides seasonal series by their indices for Student-t, but
    counts modelled by the negative binomial stay counts: an index would make them
    fractions."""
    assert seasonal_fit[0].summary["seasonally_adjusted_series"] == 0
    history, _ = _seasonal(n=12, length=60)
    counts = np.round(3 * history)
    assert counts.min() > 0
    settings = {**TINY, "epochs": "1", "context_length": "12", "seasonal_adjustment": "always"}
    student = DeepARPlus(settings).fit(_series(counts), HORIZON, log=_quiet)
    assert student.summary["seasonally_adjusted_series"] == 12
    negative_binomial = DeepARPlus({**settings, "likelihood": "negative-binomial"})
    negative_binomial.fit(_series(counts), HORIZON, log=_quiet)
    assert negative_binomial.summary["seasonally_adjusted_series"] == 0
    assert negative_binomial.seasonal_adjustment == "none"
    forecast = negative_binomial.predict(_series(counts), LEVELS, num_samples=20, keep_samples=True)
    assert forecast.samples is not None
    np.testing.assert_array_equal(forecast.samples, np.round(forecast.samples))


def test_cold_start_items_get_finite_forecasts_at_their_groups_level() -> None:
    history, _ = _seasonal(n=20, length=48)
    history[10:] *= 20.0  # group 1 sells twenty times more than group 0
    groups = np.repeat([[0], [1]], 10, axis=0)
    model = DeepARPlus({**TINY, "epochs": "3"}).fit(
        _series(history, categories=groups), HORIZON, log=_quiet
    )
    assert model.reads_item_metadata
    new_items = SeriesSet(
        [np.array([]), np.array([]), np.array([])],
        "M",
        starts=np.full(3, np.datetime64("2014-01-01")),
        categories=np.array([[0], [1], [5]]),  # 5: a code training never saw
    )
    forecast = model.predict(new_items, LEVELS, num_samples=30)
    assert np.isfinite(forecast.mean).all()
    assert forecast.mean[1].mean() > 3 * forecast.mean[0].mean()


def test_related_series_must_cover_history_and_horizon() -> None:
    history, _ = _seasonal(n=8, length=36)
    related = [np.ones((36 + HORIZON, 2)) for _ in range(8)]
    model = DeepARPlus({**TINY, "epochs": "1"})
    model.fit(_series(history, related=related), HORIZON, log=_quiet)
    forecast = model.predict(_series(history, related=related), LEVELS, num_samples=10)
    assert np.isfinite(forecast.mean).all()
    short = [np.ones((36, 2)) for _ in range(8)]
    with pytest.raises(ValueError, match="forecast step"):
        model.predict(_series(history, related=short), LEVELS)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "many"}, "epochs must be an integer"),
        ({"epochs": "0"}, "epochs must be at least 1"),
        ({"learning_rate": "2"}, "learning_rate must be at most"),
        ({"likelihood": "poisson"}, "likelihood must be one of"),
        ({"likelihood": "beta"}, "does not offer"),
        ({"num_cells": "10.5"}, "num_cells must be an integer"),
        ({"dropout_rate": "nan"}, "dropout_rate must be a finite number"),
        ({"context_length": "0"}, "context_length must be at least 1"),
        ({"seasonal_adjustment": "auto"}, "seasonal_adjustment must be one of always, none"),
    ],
)
def test_bad_hyperparameters_fail_with_their_name(values: dict, message: str) -> None:
    with pytest.raises(HyperparameterError, match=message):
        DeepARPlus(values)


def test_amazon_names_and_spellings_are_accepted() -> None:
    params = parse_hyperparameters(
        {"likelihood": "student-T", "num_averaged_models": "3", "context_length": "24"}
    )
    assert params.likelihood == "student-t" and params.context_length == 24
    history, _ = _seasonal(n=6, length=36)
    averaged = DeepARPlus({**TINY, "epochs": "1", "num_averaged_models": "2"})
    lines: list[str] = []
    averaged.fit(_series(history), HORIZON, log=lines.append)
    assert averaged.summary["models"] == 2  # two networks whose sample paths are pooled
    forecast = averaged.predict(_series(history), (0.5,), num_samples=9)
    assert np.isfinite(forecast.mean).all()
    assert any(line.startswith("DeepAR+ epoch 1/1") for line in lines)


def _plateau(**decay) -> tuple[int, float]:
    """Epochs run and the final learning rate of a net whose validation never improves
    after its first epoch, with a decay due after every such epoch."""
    net = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=1.0)
    outcome = train_with_early_stopping(
        net,
        optimizer,
        torch.amp.GradScaler("cpu", enabled=False),
        name="plateau",
        epochs=40,
        patience=30,
        batches=lambda: [torch.ones(4, 2)],
        loss=lambda batch: net(batch).pow(2).mean(),
        validate=lambda: 1.0,
        deadline=None,
        log=lambda _: None,
        decay_after=1,
        **decay,
    )
    return outcome.epochs, optimizer.param_groups[0]["lr"]


def test_amazons_learning_rate_decay_parameters_reduce_the_rate_then_stop() -> None:
    params = parse_hyperparameters({"learning_rate_decay": "0.1", "max_learning_rate_decays": "2"})
    assert (params.learning_rate_decay, params.max_learning_rate_decays) == (0.1, 2)
    assert parse_hyperparameters({}).max_learning_rate_decays is None  # Augury: no limit
    # two reductions on the plateau, then the third one due ends training (Amazon's rule)
    epochs, rate = _plateau(decay_factor=0.1, max_decays=2)
    assert epochs == 4 and rate == pytest.approx(0.01)
    # 0 never reduces the rate: training ends by patience
    assert _plateau(decay_factor=0.1, max_decays=0) == (31, 1.0)
    with pytest.raises(HyperparameterError, match="learning_rate_decay must be greater than 0"):
        parse_hyperparameters({"learning_rate_decay": "0"})


@pytest.mark.parametrize("members", ["1", "2"])
def test_the_time_budget_stops_training(members: str) -> None:
    history, _ = _seasonal(n=30, length=96)
    began = time.monotonic()
    model = DeepARPlus(
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
    assert np.isfinite(model.predict(_series(history), LEVELS, num_samples=5).mean).all()


def test_lags_and_calendar_follow_the_frequency() -> None:
    monthly = lags_for_frequency("M")
    assert {1, 11, 12, 13, 24, 36}.issubset(set(monthly.tolist()))
    daily = lags_for_frequency("D")
    assert {7, 14, 21, 364, 365}.issubset(set(daily.tolist()))
    assert 96 in lags_for_frequency("15min").tolist()
    assert lags_for_frequency("D", longest_history=30).max() <= 30
    assert lags_for_frequency("Y").tolist() == list(range(1, 8))
    stamps = np.array(["2024-01-01T00:00", "2024-07-01T12:30"], dtype="datetime64[m]")
    assert calendar_features(stamps, "M").shape == (2, 2)
    assert calendar_features(stamps, "30min").shape == (2, 6)
    assert calendar_features(stamps, "Y").shape == (2, 0)
    with pytest.raises(ValueError, match="frequency"):
        SeriesSet([np.ones(3)], "fortnightly")


def test_a_model_saved_before_the_skip_and_the_seasonal_adjustment_forecasts_as_it_did() -> None:
    """Predictors trained before the linear skip load with a zero skip, and before the
    seasonal adjustment with none: their forecasts are those of the network alone, on
    the series as they are. Weights that fit no network are refused."""
    history, _ = _seasonal(n=12, length=48)
    older_settings = {**TINY, "epochs": "2", "context_length": "12", "seasonal_adjustment": "none"}
    model = DeepARPlus(older_settings)
    model.fit(_series(history), HORIZON, log=_quiet)
    for net in model._nets:  # what an older model was: no linear path at all
        torch.nn.init.zeros_(net.skip.weight)
        torch.nn.init.zeros_(net.skip.bias)
    state = model.to_state()
    del state["seasonal_adjustment"]
    state["hyperparameters"] = {
        k: v for k, v in older_settings.items() if k != "seasonal_adjustment"
    }
    state["weights"] = [
        {k: v for k, v in weights.items() if not k.startswith("skip.")}
        for weights in state["weights"]
    ]
    restored = DeepARPlus.from_state(state)
    np.testing.assert_array_equal(
        restored.predict(_series(history), LEVELS, seed=1).quantiles[0.5],
        model.predict(_series(history), LEVELS, seed=1).quantiles[0.5],
    )
    state["weights"] = [{k: v for k, v in w.items() if k != "head.bias"} for w in state["weights"]]
    with pytest.raises(RuntimeError, match=r"head\.bias"):
        DeepARPlus.from_state(state)
