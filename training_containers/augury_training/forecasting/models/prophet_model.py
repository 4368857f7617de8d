"""Prophet, with country holidays and related regressors (Amazon's ``Prophet``).

Prophet fits a piecewise-linear trend, Fourier seasonalities, holiday effects
and linear effects of related features by MAP (Stan); its posterior predictive
samples (trend changes plus noise) give the quantiles, and the noiseless
prediction gives the mean.

Choices that differ from Prophet's defaults, and why:

* Timestamps: Prophet needs dates. The orchestrator passes them; without them
  (benchmarks) a regular calendar is made from the frequency (ending 2024-01-01, so
  that runs are reproducible).
* Yearly seasonality uses at most half as many Fourier pairs as there are
  points per year (6 for monthly, 2 for quarterly data, none for yearly):
  Prophet's default of 10 pairs aliases on coarse data and only adds noise.
* Holidays (``holidays`` package via Prophet's ``add_country_holidays``) are
  used for data at daily or finer spacing: Prophet matches holidays by exact
  date, so on weekly or monthly points they would only alias into spurious
  dummies. An unknown country code is ignored rather than failing the item.
* Stan optimises with L-BFGS whatever the length (see ``_fit_predict``).
* ``uncertainty_samples`` defaults to 200 (Prophet: 1000): five times faster
  sampling, and enough for the P10/P50/P90 the service defaults to.
* Logging is silenced (cmdstanpy prints per fit).

Hyperparameters (Prophet's names): ``growth`` (``linear``/``flat``),
``changepoint_prior_scale`` (0.05), ``seasonality_prior_scale`` (10),
``holidays_prior_scale`` (10), ``seasonality_mode`` (``additive`` or
``multiplicative``), ``n_changepoints`` (25), ``changepoint_range`` (0.8),
``yearly_seasonality``/``weekly_seasonality``/``daily_seasonality``
(``auto``, ``True``, ``False`` or a Fourier order), ``uncertainty_samples``.

Series under two points, constant series, and series Stan cannot fit fall
back to seasonal naive.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from augury_training.forecasting.models.base import SeriesContext, SeriesForecast
from augury_training.forecasting.models.hyperparameters import (
    HyperparameterError,
    get_choice,
    get_float,
    get_int,
)
from augury_training.forecasting.models.naive import seasonal_naive_forecast
from augury_training.forecasting.models.quantiles import finalize, sample_quantiles
from augury_training.forecasting.models.series import (
    is_constant,
    is_non_negative,
    prepare,
    prepare_regressors,
)

logger = logging.getLogger(__name__)

_FREQUENCY = re.compile(r"^\s*(\d*)\s*(min|T|H|h|D|W|M|Q|Y|A)\s*$")
_PANDAS_ALIAS = {
    "min": "min",
    "T": "min",
    "H": "h",
    "h": "h",
    "D": "D",
    "W": "W-MON",
    "M": "MS",
    "Q": "QS",
    "Y": "YS",
    "A": "YS",
}
_DAYS_PER_UNIT = {
    "min": 1 / 1440,
    "h": 1 / 24,
    "D": 1.0,
    "W-MON": 7.0,
    "MS": 365.25 / 12,
    "QS": 365.25 / 4,
    "YS": 365.25,
}
_SEASONALITY_CHOICES = ("auto", "true", "false")


def pandas_frequency(frequency: str) -> tuple[str, float]:
    """Amazon's frequency (``D``, ``15min``, ``M``...) → pandas alias and days per step."""
    match = _FREQUENCY.match(frequency or "")
    if not match:
        return "D", 1.0
    multiple = int(match.group(1) or 1)
    alias = _PANDAS_ALIAS[match.group(2)]
    return f"{multiple}{alias}" if multiple > 1 else alias, multiple * _DAYS_PER_UNIT[alias]


def _quiet_logging() -> None:
    """Prophet and cmdstanpy log per fit (and plotly's absence at import): silence them."""
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet.plot").disabled = True
    logging.getLogger("prophet").setLevel(logging.ERROR)


class ProphetModel:
    name = "Prophet"

    def __init__(self, hyperparameters: Mapping[str, str] | None = None) -> None:
        p = hyperparameters or {}
        self.growth = get_choice(p, "growth", "linear", ("linear", "flat"))
        self.changepoint_prior_scale = get_float(
            p, "changepoint_prior_scale", 0.05, minimum=0.0, exclusive_minimum=True
        )
        self.seasonality_prior_scale = get_float(
            p, "seasonality_prior_scale", 10.0, minimum=0.0, exclusive_minimum=True
        )
        self.holidays_prior_scale = get_float(
            p, "holidays_prior_scale", 10.0, minimum=0.0, exclusive_minimum=True
        )
        self.seasonality_mode = get_choice(
            p, "seasonality_mode", "additive", ("additive", "multiplicative")
        )
        self.n_changepoints = get_int(p, "n_changepoints", 25, minimum=0)
        self.changepoint_range = get_float(p, "changepoint_range", 0.8, minimum=0.0, maximum=1.0)
        self.uncertainty_samples = get_int(
            p, "uncertainty_samples", 200, minimum=1, maximum=100_000
        )
        self.seasonalities = {
            name: _seasonality_setting(p, f"{name}_seasonality")
            for name in ("yearly", "weekly", "daily")
        }

    def forecast(
        self, y: np.ndarray, h: int, quantiles: Sequence[float], context: SeriesContext
    ) -> SeriesForecast:
        original_length = np.asarray(y).shape[0]
        y = prepare(y)
        n = y.shape[0]
        if n < 2 or is_constant(y):
            return seasonal_naive_forecast(y, h, quantiles, context.season_length)
        try:
            mean, samples = self._fit_predict(y, h, context, original_length)
        except Exception as error:  # Stan or data problems on one item must not fail the job
            logger.debug("Prophet failed (%s); seasonal naive instead", error)
            return seasonal_naive_forecast(y, h, quantiles, context.season_length)
        bands = sample_quantiles(samples.T, quantiles)
        mean, bands = finalize(mean, bands, non_negative=is_non_negative(y))
        return SeriesForecast(mean=mean, quantiles=bands)

    def _fit_predict(
        self, y: np.ndarray, h: int, context: SeriesContext, original_length: int
    ) -> tuple[np.ndarray, np.ndarray]:
        _quiet_logging()  # before the import: it logs plotly's absence
        from prophet import Prophet

        _quiet_logging()  # and after: importing Prophet sets its logger to INFO

        n = y.shape[0]
        history_dates, future_dates, step_days = _dates(context, n, h, original_length)
        history = pd.DataFrame({"ds": history_dates, "y": y})
        future = pd.DataFrame({"ds": future_dates})
        X, X_future = prepare_regressors(context.X, context.X_future, n, h)
        names = [] if X is None else [f"related_{i}" for i in range(X.shape[1])]
        for i, name in enumerate(names):
            history[name] = X[:, i]  # type: ignore[index]
            future[name] = X_future[:, i]  # type: ignore[index]

        def build(with_holidays: bool) -> Any:
            model = Prophet(
                growth=self.growth,
                n_changepoints=min(self.n_changepoints, max(n - 2, 0)),
                changepoint_range=self.changepoint_range,
                changepoint_prior_scale=self.changepoint_prior_scale,
                seasonality_prior_scale=self.seasonality_prior_scale,
                holidays_prior_scale=self.holidays_prior_scale,
                seasonality_mode=self.seasonality_mode,
                uncertainty_samples=self.uncertainty_samples,
                **self._seasonality_arguments(n, step_days),
            )
            if with_holidays:
                model.add_country_holidays(country_name=context.holiday_country)
            for name in names:
                model.add_regressor(name)
            return model

        use_holidays = bool(context.holiday_country) and step_days <= 1.0
        # L-BFGS for every length (Prophet picks Newton under 100 points, which measured
        # up to five times slower on M3 for no accuracy gain); Prophet itself retries
        # with Newton if L-BFGS fails.
        fit_options = {"algorithm": "LBFGS", "seed": context.seed % (2**31)}
        state = np.random.get_state()
        np.random.seed(context.seed % (2**32))
        try:
            try:
                model = build(use_holidays).fit(history, **fit_options)
            except Exception:
                if not use_holidays:
                    raise
                logger.debug("holidays for %r unusable; fitting without", context.holiday_country)
                model = build(False).fit(history, **fit_options)
            model.uncertainty_samples = 0
            mean = model.predict(future)["yhat"].to_numpy(dtype=float)
            model.uncertainty_samples = self.uncertainty_samples
            samples = np.asarray(model.predictive_samples(future)["yhat"], dtype=float)
        finally:
            np.random.set_state(state)
        return mean, samples

    def _seasonality_arguments(self, n: int, step_days: float) -> dict[str, Any]:
        """Prophet's three seasonality switches, with Fourier orders capped by the spacing."""
        points_per_year = 365.25 / step_days
        arguments: dict[str, Any] = {}
        for name, period_days, default_order in (
            ("yearly", 365.25, 10),
            ("weekly", 7.0, 3),
            ("daily", 1.0, 4),
        ):
            setting = self.seasonalities[name]
            points_per_period = period_days / step_days
            if setting is False or points_per_period < 2:
                arguments[f"{name}_seasonality"] = False
            elif setting is True:
                arguments[f"{name}_seasonality"] = True
            elif isinstance(setting, int):
                arguments[f"{name}_seasonality"] = setting
            elif name == "yearly" and points_per_year < 52:
                # Coarse data: at most Nyquist's number of pairs, and two full years of history.
                enough = n >= 2 * points_per_year
                order = min(default_order, int(points_per_period // 2))
                arguments[f"{name}_seasonality"] = order if enough and order >= 1 else False
            else:
                arguments[f"{name}_seasonality"] = "auto"
        return arguments


def _seasonality_setting(params: Mapping[str, str], name: str) -> bool | int | str:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return "auto"
    text = str(raw).strip().lower()
    if text in _SEASONALITY_CHOICES:
        return {"auto": "auto", "true": True, "false": False}[text]
    order = get_int(params, name, None, minimum=1)
    if order is None:
        raise HyperparameterError(f"{name} must be auto, True, False or a Fourier order")
    return order


def _dates(
    context: SeriesContext, n: int, h: int, original_length: int
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex, float]:
    """History and future dates, and the spacing in days, from the context or the frequency."""
    alias, step_days = pandas_frequency(context.frequency)
    if context.timestamps is not None and len(context.timestamps) == original_length:
        history = pd.DatetimeIndex(np.asarray(context.timestamps)[original_length - n :])
        if context.future_timestamps is not None and len(context.future_timestamps) >= h:
            future = pd.DatetimeIndex(np.asarray(context.future_timestamps)[:h])
        else:
            future = pd.date_range(history[-1], periods=h + 1, freq=alias)[1:]
        if n > 1:
            observed = (history[-1] - history[0]).total_seconds() / 86400 / (n - 1)
            step_days = observed if observed > 0 else step_days
        return history, future, step_days
    end = pd.Timestamp("2024-01-01")
    dates = pd.date_range(end=end, periods=n, freq=alias)
    if len(dates) != n:  # anchored aliases may land one short of ``end``
        dates = pd.date_range(start=dates[0], periods=n, freq=alias)
    future = pd.date_range(dates[-1], periods=h + 1, freq=alias)[1:]
    return dates, future, step_days
