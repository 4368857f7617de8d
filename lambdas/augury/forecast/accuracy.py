"""GetAccuracyMetrics: the backtest results the container wrote, in Amazon's shape.

The container computes every metric once (``predictor.json``, a
``PredictorSummary``); this module only arranges it. Per algorithm it returns a
``SUMMARY`` window (the average over the backtest windows) followed by one
``COMPUTED`` window per backtest, as the API reference's WindowSummary
describes. WAPE, RMSE, MAPE and MASE are computed on the mean forecast, so
ErrorMetrics holds one entry with ForecastType ``mean``. A metric the container
could not define (MAPE over zeros, say) is left out rather than invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from statistics import fmean
from typing import Any

from augury.forecast.job_config import AUTO_PREDICTOR, PredictorSpec, algorithm_arn
from augury.resources.record import Resource
from augury_training.forecast_contract import MEAN, AlgorithmResult, WindowMetrics

SUMMARY_ATTRIBUTE = "_summary"


def evaluation_results(spec: PredictorSpec, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PredictorEvaluationResults: the ensemble first (AutoPredictor), then each candidate."""
    results = [_result(raw) for raw in summary.get("results", [])]
    shown = set(spec.algorithms) | ({AUTO_PREDICTOR} if spec.auto else set())
    results = [r for r in results if r.algorithm in shown]
    results.sort(key=lambda r: (r.algorithm != AUTO_PREDICTOR, r.algorithm))
    return [
        {"AlgorithmArn": algorithm_arn(r.algorithm), "TestWindows": _windows(r.windows)}
        for r in results
    ]


def accuracy_metrics(record: Resource, spec: PredictorSpec) -> dict[str, Any]:
    """The whole GetAccuracyMetrics response for an ACTIVE predictor."""
    response: dict[str, Any] = {
        "PredictorEvaluationResults": evaluation_results(
            spec, record.attributes.get(SUMMARY_ATTRIBUTE) or {}
        ),
        "IsAutoPredictor": bool(record.attributes.get("IsAutoPredictor")),
        "OptimizationMetric": spec.optimization_metric,
    }
    strategy = record.attributes.get("AutoMLOverrideStrategy")
    if strategy:
        response["AutoMLOverrideStrategy"] = strategy
    return response


def _result(raw: Mapping[str, Any]) -> AlgorithmResult:
    return AlgorithmResult(raw["algorithm"], [WindowMetrics(**w) for w in raw["windows"]])


def _windows(windows: list[WindowMetrics]) -> list[dict[str, Any]]:
    if not windows:
        return []
    summary = {"EvaluationType": "SUMMARY", "Metrics": _metrics(_average(windows))}
    computed = [
        {
            "EvaluationType": "COMPUTED",
            "TestWindowStart": _epoch(w.test_window_start),
            "TestWindowEnd": _epoch(w.test_window_end),
            "ItemCount": w.item_count,
            "Metrics": _metrics(w),
        }
        for w in windows
    ]
    return [summary, *computed]


def _average(windows: list[WindowMetrics]) -> WindowMetrics:
    """The SUMMARY window: each metric averaged over the windows that define it."""
    quantiles = sorted({q for w in windows for q in w.weighted_quantile_losses}, key=float)
    return WindowMetrics(
        test_window_start=windows[0].test_window_start,
        test_window_end=windows[-1].test_window_end,
        item_count=windows[0].item_count,
        weighted_quantile_losses={
            q: v
            for q in quantiles
            if (v := _mean(w.weighted_quantile_losses.get(q) for w in windows)) is not None
        },
        wape=_mean(w.wape for w in windows),
        rmse=_mean(w.rmse for w in windows),
        mape=_mean(w.mape for w in windows),
        mase=_mean(w.mase for w in windows),
        average_weighted_quantile_loss=_mean(w.average_weighted_quantile_loss for w in windows),
    )


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def _metrics(window: WindowMetrics) -> dict[str, Any]:
    losses = [
        {"Quantile": float(q), "LossValue": v}
        for q, v in sorted(window.weighted_quantile_losses.items(), key=lambda kv: float(kv[0]))
        if q != MEAN and v is not None
    ]
    error = {
        "ForecastType": MEAN,
        "WAPE": window.wape,
        "RMSE": window.rmse,
        "MASE": window.mase,
        "MAPE": window.mape,
    }
    metrics: dict[str, Any] = {
        "RMSE": window.rmse,
        "WeightedQuantileLosses": losses,
        "ErrorMetrics": [{k: v for k, v in error.items() if v is not None}],
        "AverageWeightedQuantileLoss": window.average_weighted_quantile_loss,
    }
    return {k: v for k, v in metrics.items() if v is not None}


def _epoch(text: str) -> datetime:
    """A window bound from ``predictor.json``; a bound without a zone is UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def execution_details(summary: Mapping[str, Any], spec: PredictorSpec) -> dict[str, Any]:
    """DescribePredictor's PredictorExecutionDetails: each algorithm's backtest windows."""
    executions = []
    for raw in summary.get("results", []):
        result = _result(raw)
        if result.algorithm not in spec.algorithms:
            continue
        executions.append(
            {
                "AlgorithmArn": algorithm_arn(result.algorithm),
                "TestWindows": [
                    {
                        "TestWindowStart": _epoch(w.test_window_start).timestamp(),
                        "TestWindowEnd": _epoch(w.test_window_end).timestamp(),
                        "Status": "ACTIVE",
                    }
                    for w in result.windows
                ],
            }
        )
    return {"PredictorExecutions": executions}


def chosen_algorithm_arns(summary: Mapping[str, Any]) -> list[str]:
    """AutoMLAlgorithmArns: the algorithms the ensemble chose, most items first."""
    chosen = summary.get("chosen_algorithms") or {}
    ranked = sorted((count, name) for name, count in chosen.items() if count > 0)
    return [algorithm_arn(name) for _, name in reversed(ranked)]


def ensemble_message(summary: Mapping[str, Any]) -> str | None:
    """What DescribeAutoPredictor's ``Message`` says once training is done.

    Amazon's output shape has no member for the ensemble, and ``Message`` is
    otherwise empty for an ACTIVE predictor, so it carries the summary a user
    asks for: which algorithms lead how many items, then the container's own
    explanation of the candidates and the weighting.
    """
    chosen = {name: count for name, count in (summary.get("chosen_algorithms") or {}).items()}
    items = int(summary.get("item_count") or sum(chosen.values()))
    if not chosen or items <= 0:
        return None
    ranked = sorted(chosen.items(), key=lambda pair: (-pair[1], pair[0]))
    shares = ", ".join(
        f"{name} {count} ({count / items:.0%})" for name, count in ranked if count > 0
    )
    text = f"Ensemble weights: the largest weight per item goes to {shares} of {items} items."
    explanation = str(summary.get("explanation") or "").strip()
    return f"{text} {explanation}" if explanation else text
