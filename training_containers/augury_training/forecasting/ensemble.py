"""The AutoPredictor's ensemble: per-item weights over the candidates, chosen on backtests.

The scheme, and why. Picking each item's single best candidate on one or a
few backtest windows is noisy: the winner of a short window is often not the
winner of the next. Averaging good forecasters is the most reliable gain in
the M-competitions, and averaging a bad one in is the most reliable loss. So:

1. *Which candidates* is decided globally, on all items and windows: every
   candidate within ``tolerance`` (20 %) of the best one is kept (Theta, ETS
   and ARIMA on smooth data; NPTS where demand is intermittent), the others
   get no weight anywhere. "Within" is checked two ways, and either keeps a
   candidate: on the optimization metric pooled over all items, and on the
   typical item, the geometric mean over items of each candidate's loss
   relative to that item's best candidate (Davydenko and Fildes' AvgRelMAE
   idea). The pooled metric alone lets a few large series decide for all:
   on M1's quarterly series three series hold half of the total volume, a
   cyclical dip in them made NPTS the only candidate kept, and every item got
   NPTS's flat forecast (sMAPE 31.4 against ETS's 16.3). With both checks the
   AutoPredictor scores sMAPE 15.25 / MASE 1.616 / wQL 0.1187 on all of M1,
   against 18.41 / 2.102 / 0.1227 before and ETS's 15.97 / 1.722 / 0.1184.
   ``w_global`` is the equal-weight average of the kept candidates.
2. *How much of each* is then set per item, as a shrinkage estimate
   ``w_item = (1 - shrinkage) * w_global + shrinkage * w_local``, where
   ``w_local`` are inverse-loss weights over the item's ``top_k`` best kept
   candidates on its own backtest windows: an item whose history clearly
   favours one method leans towards it, without trusting one short window
   too much.

Items whose own loss is undefined (no window, a zero denominator, a window
left incomplete by ``nan`` filling) take ``w_global``. Quantiles are combined by
weighted averaging of quantile values (a mixture of monotone quantile curves
stays monotone), and so is the mean. A legacy predictor (``auto`` false)
keeps the single best candidate for every item (PerformAutoML's choice).

Measured on all of M3 (1 backtest window; docs/benchmarks/m3.md has the
table): best single candidate Theta sMAPE 12.53 / MASE 1.352 / wQL 0.0762,
the equal mean of ETS, ARIMA and Theta 12.34 / 1.328 / 0.0736, this scheme
12.33 / 1.331 / 0.0736; the best-subset search it replaced (the subset of
candidates with the best backtest score) overfitted one window: 12.38-12.99.

The in-memory entry point for benchmarks::

    result = run_autopredictor(series, config, workers=2)
    result.forecasts[key]                # (h, 1 + L): mean, then forecast types
    result.weights[key]                  # {candidate: weight}
    result.summary                       # PredictorSummary, as predictor.json holds it

``series`` is an iterable of :class:`~augury_training.forecasting.data.Series`
(``make_series(key, values)`` builds one from an array; series must end at the
same point); ``config`` a ``ForecastJobConfig`` (``frequency``, ``horizon``,
``algorithms``, ``backtest_windows``, ``forecast_types``,
``optimization_metric``). Worker processes re-import the main module, so call
it under ``if __name__ == "__main__":`` in a script.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from augury_training.forecast_contract import ForecastJobConfig, PredictorSummary
from augury_training.forecasting.backtest import ItemBacktest
from augury_training.forecasting.data import Series
from augury_training.forecasting.scoring import Sums, objective, window_sums

AUTO_PREDICTOR = "AutoPredictor"
DEFAULT_CANDIDATES = ("ETS", "ARIMA", "Theta", "NPTS", "Prophet")
"""What an AutoPredictor backtests when the job names no algorithms."""


@dataclass(frozen=True)
class EnsembleParams:
    """The scheme's knobs; the defaults are the ones measured best on M3."""

    tolerance: float = 0.2
    """Keep candidates whose global loss is at most ``(1 + tolerance)`` x the best."""
    shrinkage: float = 0.3
    """Share of the item's own inverse-loss weights in its final weights."""
    top_k: int = 3
    power: float = 1.0
    """Exponent of the inverse loss in the local weights (2 sharpens them)."""


def combine(forecasts: dict[str, np.ndarray], names: list[str], weights: np.ndarray) -> np.ndarray:
    """Weighted average of the candidates' ``(h, 1 + L)`` arrays (zero weights skipped)."""
    pairs = zip(names, weights, strict=True)
    used = [(forecasts[n], w) for n, w in pairs if w > 0 and n in forecasts]
    total = sum(w for _, w in used)
    return sum(array * (w / total) for array, w in used)


def _stack(result, names: list[str]) -> np.ndarray:
    return np.stack([result.forecasts[n] for n in names])


class EnsembleBuilder:
    """Two passes over the items' backtests: learn the global combination, then weigh items."""

    def __init__(
        self,
        candidates: list[str],
        levels: np.ndarray,
        metric: str,
        params: EnsembleParams | None = None,
        *,
        auto: bool = True,
    ) -> None:
        self.candidates = list(candidates)
        self.levels = levels
        self.metric = metric
        self.params = params or EnsembleParams()
        self.auto = auto
        self._sums = Sums.zeros((len(self.candidates),), levels.size)
        self._log_ratios = np.zeros(len(self.candidates))
        self._rated_items = 0
        self.scores: np.ndarray | None = None
        self.relative_scores: np.ndarray | None = None
        """Per candidate, the geometric mean of its loss over the item's best candidate's."""
        self.global_weights: np.ndarray | None = None
        self.chosen: Counter[str] = Counter()

    # -- pass 1 ---------------------------------------------------------------------

    def observe(self, item: ItemBacktest) -> None:
        """Add one item's windows to every candidate's global scores."""
        sums = Sums.zeros((len(self.candidates),), self.levels.size)
        for result in item.windows:
            stacked = _stack(result, self.candidates)
            sums += window_sums(result.actual, stacked, result.scale, self.levels)
        self._sums += sums
        losses = objective(sums, self.metric)
        if item.windows and np.isfinite(losses).all() and losses.min() > 0:
            self._log_ratios += np.log(losses / losses.min())
            self._rated_items += 1

    def choose_global(self) -> np.ndarray:
        """Equal weights over the candidates within ``tolerance`` of the best one."""
        self.scores = objective(self._sums, self.metric)
        weights = np.zeros(len(self.candidates))
        if np.isnan(self.scores).all():
            weights[:] = 1.0  # no signal at all: average everything
        elif not self.auto:
            weights[int(np.nanargmin(self.scores))] = 1.0
        else:
            weights[_within(self.scores, self.params.tolerance)] = 1.0
            if self._rated_items:
                self.relative_scores = np.exp(self._log_ratios / self._rated_items)
                weights[_within(self.relative_scores, self.params.tolerance)] = 1.0
        self.global_weights = weights / weights.sum()
        return self.global_weights

    # -- pass 2 ---------------------------------------------------------------------

    def item_weights(self, item: ItemBacktest) -> np.ndarray:
        """The item's weights over the candidates (see the module docstring)."""
        assert self.global_weights is not None, "choose_global() first"
        weights = self.global_weights
        if self.auto and item.windows and self.params.shrinkage > 0:
            local = self._local_weights(item)
            if local is not None:
                weights = (1 - self.params.shrinkage) * weights + self.params.shrinkage * local
        self.chosen[self.candidates[int(np.argmax(weights))]] += 1
        return weights

    def _local_weights(self, item: ItemBacktest) -> np.ndarray | None:
        """Inverse-loss weights over the item's best kept candidates (None: no signal)."""
        assert self.global_weights is not None
        kept = np.flatnonzero(self.global_weights > 0)
        sums = Sums.zeros((kept.size,), self.levels.size)
        names = [self.candidates[i] for i in kept]
        for result in item.windows:
            stacked = _stack(result, names)
            sums += window_sums(result.actual, stacked, result.scale, self.levels)
        losses = objective(sums, self.metric)
        if not np.isfinite(losses).all():
            return None
        order = np.argsort(losses, kind="stable")[: self.params.top_k]
        floor = max(float(losses[order].max()) * 1e-3, 1e-12)
        local = np.zeros(len(self.candidates))
        local[kept[order]] = 1.0 / np.maximum(losses[order], floor) ** self.params.power
        return local / local.sum()

    def ensemble_windows(self, item: ItemBacktest, weights: np.ndarray) -> list[np.ndarray]:
        """The ensemble's forecast of each of the item's windows."""
        return [combine(r.forecasts, self.candidates, weights) for r in item.windows]

    # -- explanation ------------------------------------------------------------------

    def explanation(self, items: int, windows: int) -> str:
        """Which candidates, which combination and why, for DescribeAutoPredictor."""
        assert self.global_weights is not None and self.scores is not None
        scored = ", ".join(
            f"{name} {score:.4g}" if np.isfinite(score) else f"{name} undefined"
            for name, score in zip(self.candidates, self.scores, strict=True)
        )
        kept = [c for c, w in zip(self.candidates, self.global_weights, strict=True) if w > 0]
        left = [c for c in self.candidates if c not in kept]
        text = (
            f"Backtested {len(self.candidates)} candidate algorithms on {items} items over "
            f"{windows} window(s); {self.metric}: {scored}. "
        )
        if self.auto and self.relative_scores is not None:
            relative = ", ".join(
                f"{name} {score:.3f}"
                for name, score in zip(self.candidates, self.relative_scores, strict=True)
            )
            text += (
                f"On the typical item (geometric mean of each candidate's {self.metric} over "
                f"the item's best candidate's, {self._rated_items} items): {relative}. "
            )
        if not self.auto:
            return text + f"Chose {kept[0]}, the best single algorithm on {self.metric}."
        text += (
            f"Kept {', '.join(kept)} (within {self.params.tolerance:.0%} of the best either way)"
            + (f" and left out {', '.join(left)}. " if left else ". ")
        )
        return text + (
            f"Each item's weights blend their equal average ({1 - self.params.shrinkage:.0%}) "
            f"with inverse-loss weights over its own {self.params.top_k} best kept candidates "
            f"({self.params.shrinkage:.0%}); items without a usable backtest keep the average."
        )


@dataclass
class AutoPredictorResult:
    """What :func:`run_autopredictor` returns (see the module docstring)."""

    forecasts: dict[str, np.ndarray]
    candidate_forecasts: dict[str, dict[str, np.ndarray]]
    weights: dict[str, dict[str, float]]
    summary: PredictorSummary
    columns: list[str] = field(default_factory=list)
    """The forecast arrays' columns: ``"mean"`` then the quantile forecast types."""


def run_autopredictor(
    series: Iterable[Series],
    config: ForecastJobConfig,
    *,
    workers: int | None = None,
    params: EnsembleParams | None = None,
    model_factory: Callable | None = None,
    keep_candidates: bool = False,
) -> AutoPredictorResult:
    """Backtest, ensemble and forecast in memory (see the module docstring).

    ``keep_candidates`` also forecasts with every candidate into
    ``result.candidate_forecasts`` (otherwise only the weighted ones run).
    """
    from augury_training.forecasting.pipeline import run_in_memory

    return run_in_memory(
        series,
        config,
        workers=workers,
        params=params,
        model_factory=model_factory,
        keep_candidates=keep_candidates,
    )


def _within(scores: np.ndarray, tolerance: float) -> np.ndarray:
    """Which scores are at most ``(1 + tolerance)`` x the best (NaN never is)."""
    finite = np.nan_to_num(scores, nan=np.inf)
    if not np.isfinite(finite).any():
        return np.zeros(scores.shape, dtype=bool)
    best = float(finite.min())
    limit = best * (1 + tolerance) if best > 0 else best
    return finite <= limit
