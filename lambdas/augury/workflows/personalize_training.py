"""The ``train-solution-version`` workflow: from a version record to an ACTIVE model.

Three steps, each safe to run again (the Forecast training workflow's shape,
reusing its job helpers in ``augury.workflows.forecast_jobs``):

``prepare``
    Reads the group's datasets as they are now, applies Amazon's minimum-data
    rules (1000 interactions, 25 users with 2 or more; counted after the
    solution's event filters, events recorded through PutEvents included) and
    fails the version at once with Amazon's reason when they are not met;
    otherwise builds the container's ``SolutionJobConfig`` and the channels:
    each dataset's data, the recorded events, and for trainingMode UPDATE the
    previous ACTIVE version's model.
``start``
    Starts the ``personalization`` container (a retry finds it started).
``wait``
    Polls the job. Completed: the model archive is unpacked under the version's
    ``model/`` prefix (recorded as ``_model_prefix``, where serving reads it),
    metrics.json is stored for GetSolutionMetrics, tuned hyperparameters for
    DescribeSolutionVersion; campaigns syncing with the solution move to the
    new version. Stopped: CREATE STOPPED. Failed: CREATE FAILED with the
    container's reason.

The module also carries the campaign deployment workflow
(``augury.personalize.campaign_deployment``), the step from a trained model
to serving.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

from augury.personalize import serving_sources, solution_data
from augury.personalize.campaign_config import sync_campaigns
from augury.personalize.campaign_deployment import DEPLOY_CAMPAIGN
from augury.personalize.group_data import GroupDataset, group_datasets, parquet_keys
from augury.personalize.recipes import recipe_for_arn
from augury.personalize.solution_config import REQUIRED_COLUMNS
from augury.personalize.solution_versions import (
    JOB_ID,
    METRICS,
    MODEL_PREFIX,
    TRAIN_WORKFLOW,
    latest_active,
)
from augury.ports import BlobNotFound, TrainingJobSpec, longest_job_life
from augury.resources import crud
from augury.workflows import forecast_jobs
from augury.workflows.definition import ResourceFailed, Retry, State, Step, Workflow
from augury.workflows.lifecycle import blob_prefix
from augury_training.personalize_contract import (
    ACTION_INTERACTIONS_CHANNEL,
    ACTIONS_CHANNEL,
    CONFIG_HYPERPARAMETER,
    EVENTS_CHANNEL,
    INTERACTIONS_CHANNEL,
    ITEMS_CHANNEL,
    MANIFEST_FILE,
    METRICS_FILE,
    PREVIOUS_MODEL_CHANNEL,
    SOLUTION_METRICS,
    USERS_CHANNEL,
    SolutionJobConfig,
    recipe_name,
)

if TYPE_CHECKING:
    from augury.runtime import Runtime

CONTAINER = "personalization"
CONFIG_ATTRIBUTE = "_job_config"
CHANNELS = forecast_jobs.CHANNELS
STARTED_AT = "_started_at"
DATA_READ_AT = "_data_read_at"
"""Version attribute (epoch seconds): when the job's channels were handed to the container.
Serving (``serving_sources.DATA_READ_AT``) reads only events recorded after it."""
PREVIOUS_MODEL_ATTRIBUTE = "_previous_model_prefix"
"""Record attribute: the model an UPDATE builds on, when the record names it itself (a
recommender's; a solution version's is its solution's latest ACTIVE one)."""
PREPARED_AT = "_prepared_at"
"""Record attribute (epoch seconds): when ``prepare`` read the datasets it handed over."""
JOB_KIND_ATTRIBUTE = "_job_kind"
"""Record attribute: the kind in the training job's name (``solution`` unless set)."""
MAX_RUNTIME_SECONDS = 2 * 86_400
CPU_INSTANCE = "ml.m5.xlarge"
GPU_INSTANCE = "ml.g5.xlarge"
"""The deep recipes train on a GPU instance on AWS (locally: whatever the machine has)."""

JOB_WAIT = Retry.lasting(
    longest_job_life(MAX_RUNTIME_SECONDS) + forecast_jobs.START_MARGIN_SECONDS,
    interval_seconds=0.2,
    backoff_rate=1.25,
    max_interval_seconds=60,
)
"""Polling the container: every fraction of a second at first (small jobs take seconds),
then once a minute, until the job's longest life (spot waits included) is surely over."""

DATASET_CHANNELS = {
    "INTERACTIONS": INTERACTIONS_CHANNEL,
    "USERS": USERS_CHANNEL,
    "ITEMS": ITEMS_CHANNEL,
    "ACTIONS": ACTIONS_CHANNEL,
    "ACTION_INTERACTIONS": ACTION_INTERACTIONS_CHANNEL,
}


def _events_prefix(runtime: Runtime, group_arn: str) -> str | None:
    """Where PutEvents data for the group lives, when anything has been recorded."""
    try:
        from augury.personalize.event_data import events_prefix
    except ModuleNotFoundError as error:  # event ingestion not built in this tree
        if error.name != "augury.personalize.event_data":
            raise
        return None
    prefix = events_prefix(group_arn)
    return prefix if parquet_keys(runtime, prefix) else None


def _merged_away(runtime: Runtime, folder: str) -> set[str]:
    """Event files a merged file holds (``event_compaction``), not to be counted twice.

    The job itself reads them all and counts each event once."""
    from augury.personalize.event_manifests import merged_sources

    holds = merged_sources(runtime, list(runtime.blobs.list_keys(folder)))
    return {source for sources in holds.values() for source in sources}


def prepare(runtime: Runtime, state: State) -> dict[str, Any] | None:
    arn = state["arn"]
    record = forecast_jobs.current(runtime, arn)
    if forecast_jobs.stop_requested(record):
        return forecast_jobs.end_stopped(runtime, arn)
    record = forecast_jobs.begin(runtime, arn)
    prepared_at = time.time()  # before the datasets are read: later changes are news
    attributes = record.attributes
    group_arn = str(attributes["datasetGroupArn"])
    datasets = group_datasets(runtime, group_arn)
    interactions = datasets.get("INTERACTIONS")
    if interactions is None:
        raise ResourceFailed(
            f"Dataset group {group_arn} has no Interactions dataset; create one, import "
            "interactions and create a new solution version"
        )
    events = _events_prefix(runtime, group_arn)
    config = attributes.get("solutionConfig") or {}
    _check_minimum_data(runtime, interactions, events, attributes, config)
    channels = _channels(runtime, arn, datasets, events, config)
    if attributes.get("trainingMode") == "UPDATE":
        channels[PREVIOUS_MODEL_CHANNEL] = str(
            attributes.get(PREVIOUS_MODEL_ATTRIBUTE)
            or _previous_model(runtime, str(record.parent_arn))
        )
    job_config = SolutionJobConfig(
        recipe=recipe_name(attributes["recipeArn"]),
        training_mode=str(attributes.get("trainingMode") or "FULL"),
        perform_hpo=bool(attributes.get("performHPO")),
        hpo_config=(
            recipe_for_arn(attributes["recipeArn"]).hpo_config(config)
            if attributes.get("performHPO")
            else None
        ),
        algorithm_hyperparameters=dict(config.get("algorithmHyperParameters") or {}),
        feature_transformation_parameters=dict(config.get("featureTransformationParameters") or {}),
        event_type=attributes.get("eventType"),
        events_config=config.get("eventsConfig"),
        event_value_threshold=config.get("eventValueThreshold"),
        optimization_objective=config.get("optimizationObjective"),
        field_kinds=solution_data.field_kinds({k: d.schema for k, d in datasets.items()}),
    )
    kind = str(attributes.get(JOB_KIND_ATTRIBUTE) or "solution")
    name = runtime.settings.training_job_name(kind, attributes[JOB_ID])
    update = {
        CONFIG_ATTRIBUTE: job_config.to_json(),
        CHANNELS: channels,
        # which Interactions version this is: Trending-Now rescores once an import replaces it
        serving_sources.INTERACTIONS_READ: interactions.data_prefix,
        forecast_jobs.JOB_ATTRIBUTE: name,
        PREPARED_AT: prepared_at,
    }
    crud.update(runtime, arn, lambda current: current.with_attributes(**update))
    return {"job": name}


def _check_minimum_data(
    runtime: Runtime,
    interactions: GroupDataset,
    events: str | None,
    attributes: dict[str, Any],
    config: dict[str, Any],
) -> None:
    prefixes = [p for p in (interactions.data_prefix,) if p]
    merged: set[str] = set()
    if events:
        prefixes.append(events + "interactions/")
        merged = _merged_away(runtime, events + "interactions/")
    table = solution_data.read_columns(runtime, prefixes, solution_data.COUNT_COLUMNS, merged)
    kept = solution_data.training_rows(
        table,
        event_type=attributes.get("eventType"),
        event_value_threshold=config.get("eventValueThreshold"),
        events_config=config.get("eventsConfig"),
    )
    where = f"the Interactions data of dataset group {attributes['datasetGroupArn']}"
    if attributes.get("eventType"):
        where += f" (keeping only eventType {attributes['eventType']!r})"
    problem = solution_data.minimum_data_problem(kept, where)
    if problem:
        raise ResourceFailed(problem)


def _channels(
    runtime: Runtime,
    arn: str,
    datasets: dict[str, GroupDataset],
    events: str | None,
    config: dict[str, Any],
) -> dict[str, str]:
    """Channel → blob prefix; datasets trimmed by trainingDataConfig get projected copies."""
    training_data = config.get("trainingDataConfig")
    channels: dict[str, str] = {}
    drops: dict[str, set[str]] = {}
    for dataset_type, channel in DATASET_CHANNELS.items():
        dataset = datasets.get(dataset_type)
        if dataset is None or not dataset.data_prefix:
            continue
        drop = solution_data.dropped_columns(
            training_data, dataset_type, dataset.field_names(), REQUIRED_COLUMNS[dataset_type]
        )
        drops[dataset_type] = drop
        prefix = dataset.data_prefix
        if drop:
            prefix = blob_prefix(arn) + f"input/{channel}/"
            solution_data.project_prefix(runtime, dataset.data_prefix, prefix, drop)
        channels[channel] = prefix
    if events:
        prefix = events
        if any(drops.values()):
            from augury.personalize.event_data import DATASET_FOLDERS  # there, as events are

            # each sub-folder loses its own dataset's columns, and no other's
            prefix = blob_prefix(arn) + f"input/{EVENTS_CHANNEL}/"
            for dataset_type, folder in DATASET_FOLDERS.items():
                solution_data.project_prefix(
                    runtime, events + folder, prefix + folder, drops.get(dataset_type, set())
                )
        channels[EVENTS_CHANNEL] = prefix
    return channels


def _previous_model(runtime: Runtime, solution_arn: str) -> str:
    previous = latest_active(runtime, solution_arn)
    prefix = previous.attributes.get(MODEL_PREFIX) if previous is not None else None
    if not prefix:
        raise ResourceFailed(
            f"trainingMode UPDATE needs an ACTIVE solution version of {solution_arn} to update, "
            "and none is left; create a version with trainingMode FULL"
        )
    return str(prefix)


def start(runtime: Runtime, state: State) -> dict[str, Any] | None:
    if state.get(forecast_jobs.STOPPED):
        return None
    arn = state["arn"]
    record = forecast_jobs.current(runtime, arn)
    if forecast_jobs.stop_requested(record):
        return forecast_jobs.end_stopped(runtime, arn)
    recipe = recipe_for_arn(record.attributes["recipeArn"])
    if record.attributes.get(DATA_READ_AT) is None:
        crud.update(
            runtime, arn, lambda latest: latest.with_attributes(**{DATA_READ_AT: time.time()})
        )
    forecast_jobs.start_job(
        runtime,
        TrainingJobSpec(
            name=state["job"],
            container=CONTAINER,
            hyperparameters={CONFIG_HYPERPARAMETER: record.attributes[CONFIG_ATTRIBUTE]},
            channels=dict(record.attributes[CHANNELS]),
            output_prefix=blob_prefix(arn) + "training",
            instance_type=GPU_INSTANCE if recipe.deep else CPU_INSTANCE,
            max_runtime_seconds=MAX_RUNTIME_SECONDS,
            accelerator=recipe.deep,
        ),
    )
    if record.attributes.get(STARTED_AT) is None:
        crud.update(runtime, arn, lambda latest: latest.with_attributes(_started_at=time.time()))
    return None


def wait(runtime: Runtime, state: State) -> dict[str, Any] | None:
    if state.get(forecast_jobs.STOPPED):
        return None
    arn = state["arn"]
    job = forecast_jobs.wait_for_job(runtime, arn, state["job"])
    _drop_input_copies(runtime, arn)
    if job is None:
        return {forecast_jobs.STOPPED: True}
    model_prefix = blob_prefix(arn) + "model/"
    forecast_jobs.unpack(runtime, str(job.model_key), model_prefix)
    manifest = _read_json(runtime, model_prefix + MANIFEST_FILE, job.name, required=True)
    metrics = _read_json(runtime, model_prefix + METRICS_FILE, job.name, required=False)
    record = forecast_jobs.current(runtime, arn)
    started = float(record.attributes.get(STARTED_AT) or time.time())
    attributes: dict[str, Any] = {
        MODEL_PREFIX: model_prefix,
        METRICS: _solution_metrics(metrics),
        "trainingHours": round(max(time.time() - started, 0.0) / 3600, 4),
    }
    if record.attributes.get("performHPO"):
        tuned = manifest.get("tuned_hyperparameters") or manifest.get("hyperparameters") or {}
        attributes["tunedHPOParams"] = {
            "algorithmHyperParameters": {str(k): str(v) for k, v in tuned.items()}
        }
    status = forecast_jobs.finish(runtime, arn, **attributes)
    if status.value == "ACTIVE":
        sync_campaigns(runtime, str(record.parent_arn), arn)
    return None


def _drop_input_copies(runtime: Runtime, arn: str) -> None:
    """The datasets' copies a trainingDataConfig made for the job (``_channels``) served it
    alone: kept, they would hold users' data a data deletion job has since removed."""
    runtime.blobs.delete_prefix(blob_prefix(arn) + "input/")


def training_failed(runtime: Runtime, state: State, reason: str) -> None:
    forecast_jobs.fail(runtime, state, reason)
    if runtime.metadata.get(state["arn"]) is not None:
        _drop_input_copies(runtime, state["arn"])


def _read_json(runtime: Runtime, key: str, job: str, *, required: bool) -> dict[str, Any]:
    try:
        document = json.loads(runtime.blobs.get_bytes(key).decode("utf-8"))
    except BlobNotFound:
        if required:
            raise ResourceFailed(
                f"The training job {job} finished without writing {key.rsplit('/', 1)[-1]}"
            ) from None
        return {}
    except (UnicodeDecodeError, ValueError) as error:
        raise ResourceFailed(f"The training job {job} wrote an unreadable {key}: {error}") from None
    if not isinstance(document, dict):
        raise ResourceFailed(f"The training job {job} wrote {key} that is not a JSON object")
    return document


def _solution_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Amazon's metric names with finite numbers, in Amazon's order."""
    result = {}
    for name in SOLUTION_METRICS:
        value = metrics.get(name)
        if isinstance(value, int | float) and math.isfinite(value):
            result[name] = float(value)
    return result


TRAIN_SOLUTION_VERSION = Workflow(
    name=TRAIN_WORKFLOW,
    steps=(
        Step("prepare", prepare),
        Step("start", start),
        Step("wait", wait, retry=JOB_WAIT),
    ),
    on_failure=training_failed,
)

WORKFLOWS: tuple[Workflow, ...] = (TRAIN_SOLUTION_VERSION, DEPLOY_CAMPAIGN)
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
