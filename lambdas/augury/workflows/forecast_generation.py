"""The ``create-forecast`` workflow: an ACTIVE predictor's forecast for every item.

``prepare``
    Takes the dataset group's data as it is now (Amazon Forecast, "Updating
    Data": after importing new data, an existing predictor forecasts from it),
    reads the TimeSeriesSelector file if there is one, and builds the
    container's ``forecast`` configuration (the predictor's, with the
    forecast's types).
``start``
    Runs the forecasting container in ``forecast`` mode with the data channels
    plus ``model``: the predictor's unpacked model files.
``wait``
    Copies the container's ``forecast/shard=<k>.parquet`` files to the
    forecast's ``shards/`` prefix (keeping only the selected items when a
    selector was given); QueryForecast reads exactly one of them per call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augury.forecast.forecasts import GENERATE_WORKFLOW, IDENTITY_FIELDS, JOB_ID, SHARDS_PREFIX
from augury.forecast.group_data import load_group
from augury.forecast.job_config import (
    CONFIG_ATTRIBUTE,
    config_from_json,
    config_to_json,
    forecast_config,
)
from augury.forecast.predictor_records import ESTIMATED_SECONDS
from augury.forecast.resource_types import PREDICTOR
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.errors import ServiceError
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows import forecast_jobs
from augury.workflows.definition import ResourceFailed, State, Step, Workflow
from augury.workflows.forecast_training import CHANNELS, MODEL_PREFIX
from augury.workflows.lifecycle import blob_prefix
from augury_training.forecast_contract import (
    FORECAST_DIR,
    METADATA_CHANNEL,
    MODEL_CHANNEL,
    RELATED_CHANNEL,
    TARGET_CHANNEL,
    ForecastJobConfig,
    item_key,
)

if TYPE_CHECKING:
    from augury.runtime import Runtime

SELECTION_FILE = "selection.json"
MAX_RUNTIME_SECONDS = 86_400


def _prepare(runtime: Runtime, state: State) -> dict[str, Any] | None:
    arn = state["arn"]
    record = forecast_jobs.current(runtime, arn)
    if forecast_jobs.stop_requested(record):
        return forecast_jobs.end_stopped(runtime, arn)
    record = forecast_jobs.begin(runtime, arn)
    predictor = runtime.metadata.get(str(record.parent_arn))
    if predictor is None or predictor.kind != PREDICTOR.kind:
        raise ResourceFailed(f"Predictor {record.parent_arn} no longer exists")
    if Status(predictor.status) != Status.ACTIVE:
        raise ResourceFailed(f"Predictor {predictor.arn} is {predictor.status}, not ACTIVE")
    config = config_from_json(predictor.attributes[CONFIG_ATTRIBUTE])
    channels = _current_channels(runtime, str(predictor.parent_arn), config)
    generation = forecast_config(config, record.attributes["ForecastTypes"])
    selector = record.attributes.get("TimeSeriesSelector")
    if selector:
        _store_selection(runtime, arn, selector, config.identity_fields)
    name = runtime.settings.training_job_name("forecast", record.attributes[JOB_ID])
    channels[MODEL_CHANNEL] = str(predictor.attributes[MODEL_PREFIX])
    estimate = float(predictor.attributes.get(ESTIMATED_SECONDS) or 60) / 2
    attributes = {
        CONFIG_ATTRIBUTE: config_to_json(generation),
        CHANNELS: channels,
        forecast_jobs.JOB_ATTRIBUTE: name,
        ESTIMATED_SECONDS: estimate,
        IDENTITY_FIELDS: config.identity_fields,
    }
    crud.update(runtime, arn, lambda current: current.with_attributes(**attributes))
    return {"job": name}


def _current_channels(runtime: Runtime, group_arn: str, config: ForecastJobConfig) -> dict:
    """The group's data as it is now, for the channels the predictor was trained with.

    Amazon Forecast (Updating Data): after importing new data, an existing
    predictor generates a forecast for that data, without retraining.
    """
    try:
        group = load_group(runtime, group_arn)
    except ServiceError as error:
        raise ResourceFailed(error.message) from None
    channels = group.channels()
    wanted = {TARGET_CHANNEL}
    wanted |= {RELATED_CHANNEL} if config.related_fields else set()
    wanted |= {METADATA_CHANNEL} if config.metadata_fields else set()
    lost = sorted(wanted - set(channels))
    if lost:
        raise ResourceFailed(
            f"The predictor was trained with {' and '.join(lost)} data that dataset group "
            f"{group_arn} no longer has; add the dataset back or train a new predictor"
        )
    return {name: prefix for name, prefix in channels.items() if name in wanted}


def _store_selection(
    runtime: Runtime, arn: str, selector: dict[str, Any], identity: list[str]
) -> None:
    """The selected items' keys, read from the user's file, kept beside the forecast."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    identifiers = selector["TimeSeriesIdentifiers"]
    source = identifiers["DataSource"]["S3Config"]
    names = [a["AttributeName"] for a in identifiers["Schema"]["Attributes"]]
    parquet = identifiers.get("Format") == "PARQUET"
    keys: set[str] = set()
    try:
        uris = runtime.external.list_objects(source["Path"], role_arn=source.get("RoleArn"))
        if not uris:
            raise ResourceFailed(f"TimeSeriesSelector: no file was found at {source['Path']}")
        with scratch_directory(runtime, "augury-selector-") as scratch:
            for number, uri in enumerate(uris):
                if uri.rsplit("/", 1)[-1].startswith(("_", ".")):
                    continue
                local = Path(scratch) / str(number)
                runtime.external.download(uri, local, role_arn=source.get("RoleArn"))
                if parquet:
                    table = pq.read_table(local, columns=names)
                else:
                    options = pacsv.ReadOptions(column_names=names)
                    types = pacsv.ConvertOptions(column_types=dict.fromkeys(names, "string"))
                    table = pacsv.read_csv(local, read_options=options, convert_options=types)
                rows = zip(*(table[n].to_pylist() for n in names), strict=True)
                keys.update(item_key(dict(zip(names, row, strict=True)), identity) for row in rows)
    except ExternalDataError as error:
        raise ResourceFailed(f"TimeSeriesSelector: {error}") from None
    except (OSError, ValueError, KeyError) as error:
        raise ResourceFailed(
            f"TimeSeriesSelector: could not read {source['Path']}: {error}"
        ) from None
    if not keys:
        raise ResourceFailed(f"TimeSeriesSelector: {source['Path']} lists no time series")
    runtime.blobs.put_bytes(blob_prefix(arn) + SELECTION_FILE, json.dumps(sorted(keys)).encode())


def _start(runtime: Runtime, state: State) -> dict[str, Any] | None:
    return forecast_jobs.start_container_job(
        runtime, state, output_name="job", max_runtime_seconds=MAX_RUNTIME_SECONDS
    )


def _wait(runtime: Runtime, state: State) -> dict[str, Any] | None:
    if state.get(forecast_jobs.STOPPED):
        return None
    arn = state["arn"]
    job = forecast_jobs.wait_for_job(runtime, arn, state["job"])
    if job is None:
        return {forecast_jobs.STOPPED: True}
    prefix = blob_prefix(arn)
    shards = prefix + "shards/"
    written = forecast_jobs.unpack(runtime, str(job.model_key), shards, rename=_shard_name)
    if not written:
        raise ResourceFailed(f"The forecast job {job.name} wrote no {FORECAST_DIR}/ shards")
    record = forecast_jobs.current(runtime, arn)
    if record.attributes.get("TimeSeriesSelector"):
        _keep_selected(runtime, prefix, written, record.attributes[IDENTITY_FIELDS])
    forecast_jobs.finish(runtime, arn, **{SHARDS_PREFIX: shards})
    return None


def _shard_name(name: str) -> str | None:
    """``forecast/shard=3.parquet`` → ``shard=3.parquet``; anything else is not copied."""
    folder, _, file = name.partition("/")
    if folder != FORECAST_DIR or "/" in file or not file.startswith("shard="):
        return None
    return file


def _keep_selected(runtime: Runtime, prefix: str, keys: list[str], identity: list[str]) -> None:
    """Rewrite each shard with only the rows of the selected items."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    selected = set(json.loads(runtime.blobs.get_bytes(prefix + SELECTION_FILE)))
    with scratch_directory(runtime, "augury-select-") as scratch:
        local = Path(scratch) / "shard.parquet"
        for key in keys:
            runtime.blobs.download_file(key, local)
            table = pq.read_table(local)
            columns = [table[name].to_pylist() for name in identity]
            mask = [
                item_key(dict(zip(identity, row, strict=True)), identity) in selected
                for row in zip(*columns, strict=True)
            ]
            pq.write_table(table.filter(pa.array(mask, pa.bool_())), local)
            runtime.blobs.upload_file(local, key)


CREATE_FORECAST = Workflow(
    name=GENERATE_WORKFLOW,
    steps=(
        Step("prepare", _prepare),
        Step("start", _start),
        Step("wait", _wait, retry=forecast_jobs.job_wait(MAX_RUNTIME_SECONDS)),
    ),
    on_failure=forecast_jobs.fail,
)
