"""The ``train-predictor`` workflow: from a predictor record to an ACTIVE predictor.

Three steps, each safe to run again:

``prepare``
    Reads the dataset group's data as it is now, checks what needs the data
    (the horizon against the target series' length, the backtest offset) and
    builds the container's ``ForecastJobConfig``; records it, the channels (the
    datasets' current data prefixes) and the import jobs behind them.
``start``
    Starts the forecasting container in ``train`` mode (a retry finds it
    started and goes on).
``wait``
    Polls the job. Completed: the model archive is unpacked under the
    predictor's ``model/`` prefix (forecasts and exports read it there) and
    ``predictor.json`` is stored on the record for Describe and
    GetAccuracyMetrics. Failed: CREATE_FAILED with the container's reason.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from augury.forecast import accuracy, frequencies
from augury.forecast.data_spans import data_span
from augury.forecast.group_data import import_job_arns, load_group
from augury.forecast.job_config import (
    CONFIG_ATTRIBUTE,
    SPEC_ATTRIBUTE,
    PredictorSpec,
    config_to_json,
    needs_accelerator,
    training_config,
)
from augury.forecast.predictor_records import (
    ESTIMATED_SECONDS,
    JOB_ID,
    TRAIN_WORKFLOW,
    estimate_seconds,
)
from augury.forecast.predictor_rules import horizon_limit
from augury.ports import BlobNotFound
from augury.resources import crud
from augury.resources.errors import ServiceError
from augury.workflows import forecast_jobs
from augury.workflows.definition import ResourceFailed, State, Step, Workflow
from augury.workflows.lifecycle import blob_prefix
from augury_training.forecast_contract import (
    PREDICTOR_SUMMARY_FILE,
    PredictorSummary,
)

if TYPE_CHECKING:
    from augury.runtime import Runtime

CONTAINER, CHANNELS = forecast_jobs.CONTAINER, forecast_jobs.CHANNELS
IDENTITY_FIELDS = "_identity_fields"
MODEL_KEY = "_model_key"
MODEL_PREFIX = "_model_prefix"
SERIES_LENGTH = "_series_length"
MAX_RUNTIME_SECONDS = 2 * 86_400
"""Amazon Forecast gives up on a predictor after about two days; so does Augury."""


def _prepare(runtime: Runtime, state: State) -> dict[str, Any] | None:
    arn = state["arn"]
    record = forecast_jobs.current(runtime, arn)
    if forecast_jobs.stop_requested(record):
        return forecast_jobs.end_stopped(runtime, arn)
    record = forecast_jobs.begin(runtime, arn)
    spec = PredictorSpec.from_dict(record.attributes[SPEC_ATTRIBUTE])
    try:
        group = load_group(runtime, str(record.parent_arn))
    except ServiceError as error:
        raise ResourceFailed(error.message) from None
    span = data_span(runtime, str(group.target.data_prefix))
    if span is None:
        raise ResourceFailed(
            f"The TARGET_TIME_SERIES dataset {group.target.arn} has no rows to train on; "
            "import data into it and try again"
        )
    length = frequencies.parse(spec.frequency).length(span.start, span.end)
    _check_length(spec, length, span.start, span.end)
    config = training_config(spec, group)
    name = runtime.settings.training_job_name("predictor", record.attributes[JOB_ID])
    attributes = {
        CONFIG_ATTRIBUTE: config_to_json(config),
        CHANNELS: group.channels(),
        IDENTITY_FIELDS: config.identity_fields,
        SERIES_LENGTH: length,
        forecast_jobs.JOB_ATTRIBUTE: name,
        ESTIMATED_SECONDS: estimate_seconds(span.rows, spec),
        forecast_jobs.ACCELERATOR: needs_accelerator(config, span.rows),
        "DatasetImportJobArns": import_job_arns(runtime, group),
    }
    crud.update(runtime, arn, lambda current: current.with_attributes(**attributes))
    return {"job": name}


def _check_length(spec: PredictorSpec, length: int, start: Any, end: Any) -> None:
    """The limits that depend on how long the target series is (API reference wording)."""
    limit = horizon_limit(length, spec.horizon_fraction)
    where = (
        f"the TARGET_TIME_SERIES dataset spans {length} time-steps at frequency "
        f"{spec.frequency} (from {start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S})"
    )
    if spec.horizon > limit:
        raise ResourceFailed(
            f"ForecastHorizon {spec.horizon} is too long for the data. The maximum forecast "
            "horizon is the lesser of 500 time-steps or "
            f"1/{spec.horizon_fraction} of the TARGET_TIME_SERIES dataset length; {where}, "
            f"so the maximum is {limit}. Import a longer history or choose a shorter horizon"
        )
    offset = spec.backtest_offset or spec.horizon
    if 2 * offset >= length:
        raise ResourceFailed(
            f"BackTestWindowOffset {offset} is too large for the data: ForecastHorizon <= "
            "BackTestWindowOffset < 1/2 * TARGET_TIME_SERIES dataset length, and "
            f"{where}"
        )


def _start(runtime: Runtime, state: State) -> dict[str, Any] | None:
    return forecast_jobs.start_container_job(
        runtime, state, output_name="training", max_runtime_seconds=MAX_RUNTIME_SECONDS
    )


def _wait(runtime: Runtime, state: State) -> dict[str, Any] | None:
    if state.get(forecast_jobs.STOPPED):
        return None
    arn = state["arn"]
    job = forecast_jobs.wait_for_job(runtime, arn, state["job"])
    if job is None:
        return {forecast_jobs.STOPPED: True}
    model_prefix = blob_prefix(arn) + "model/"
    forecast_jobs.unpack(runtime, str(job.model_key), model_prefix)
    try:
        text = runtime.blobs.get_bytes(model_prefix + PREDICTOR_SUMMARY_FILE).decode("utf-8")
        summary = json.loads(PredictorSummary.from_json(text).to_json())
    except BlobNotFound:
        raise ResourceFailed(
            f"The training job {job.name} finished without writing {PREDICTOR_SUMMARY_FILE}"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise ResourceFailed(
            f"The training job wrote an unreadable predictor summary: {error}"
        ) from None
    record = forecast_jobs.current(runtime, arn)
    attributes: dict[str, Any] = {
        accuracy.SUMMARY_ATTRIBUTE: summary,
        MODEL_KEY: job.model_key,
        MODEL_PREFIX: model_prefix,
    }
    if not record.attributes.get("IsAutoPredictor"):
        spec = PredictorSpec.from_dict(record.attributes[SPEC_ATTRIBUTE])
        attributes["PredictorExecutionDetails"] = accuracy.execution_details(summary, spec)
        if record.attributes.get("PerformAutoML"):
            attributes["AutoMLAlgorithmArns"] = accuracy.chosen_algorithm_arns(summary)
        if summary.get("training_parameters"):  # a deep model's settings, given or chosen
            attributes["TrainingParameters"] = dict(summary["training_parameters"])
    forecast_jobs.finish(runtime, arn, **attributes)
    return None


TRAIN_PREDICTOR = Workflow(
    name=TRAIN_WORKFLOW,
    steps=(
        Step("prepare", _prepare),
        Step("start", _start),
        Step("wait", _wait, retry=forecast_jobs.job_wait(MAX_RUNTIME_SECONDS)),
    ),
    on_failure=forecast_jobs.fail,
)
