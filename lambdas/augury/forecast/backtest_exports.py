"""Predictor backtest export jobs: CreatePredictorBacktestExportJob, Describe, List, Delete.

The ``export-predictor-backtest`` workflow writes two folders under the
Destination path, ``forecasted-values/`` and ``accuracy-metrics-values/``, of
``<ExportJobName>_<yyyy-MM-ddTHH-mm-ssZ>_part<N>.csv`` files (or Parquet), from
the backtest files the container left in the predictor's model. The predictor
must be ACTIVE (API reference, CreatePredictorBacktestExportJob).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast.exports import create_export_job, delete_export_job
from augury.forecast.predictor_records import usable_predictor
from augury.forecast.resource_types import PREDICTOR_BACKTEST_EXPORT_JOB
from augury.resources import crud

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecast")

BACKTEST_EXPORT_WORKFLOW = "export-predictor-backtest"
_JOB = PREDICTOR_BACKTEST_EXPORT_JOB


@operations("CreatePredictorBacktestExportJob")
def create_predictor_backtest_export_job(
    runtime: Runtime, request: dict[str, Any]
) -> dict[str, Any]:
    predictor = usable_predictor(runtime, request["PredictorArn"], "its backtests can be exported")
    arn = create_export_job(
        runtime, _JOB, request, parent=predictor, workflow=BACKTEST_EXPORT_WORKFLOW
    )
    return {"PredictorBacktestExportJobArn": arn}


@operations("DescribePredictorBacktestExportJob")
def describe_predictor_backtest_export_job(
    runtime: Runtime, request: dict[str, Any]
) -> dict[str, Any]:
    return crud.describe(runtime, _JOB, request["PredictorBacktestExportJobArn"])


@operations("ListPredictorBacktestExportJobs")
def list_predictor_backtest_export_jobs(
    runtime: Runtime, request: dict[str, Any]
) -> dict[str, Any]:
    keep = crud.forecast_filters(request.get("Filters"), ("PredictorArn", "Status"))
    return crud.list_page(runtime, _JOB, request, keep=keep)


@operations("DeletePredictorBacktestExportJob")
def delete_predictor_backtest_export_job(
    runtime: Runtime, request: dict[str, Any]
) -> dict[str, Any]:
    delete_export_job(runtime, _JOB, request["PredictorBacktestExportJobArn"])
    return {}
