"""Forecast export jobs: CreateForecastExportJob, Describe, List and Delete.

An export job writes every item's forecast to the Destination's S3 path (in
embedded mode, the data directory's ``s3/<bucket>/`` folder) as
``<ForecastExportJobName>_<yyyy-MM-ddTHH-mm-ssZ>_part<N>.csv`` (or
``.parquet``), the files Amazon Forecast writes; the ``export-forecast``
workflow does the writing. The forecast must be ACTIVE; the destination is
checked at once, so a path embedded mode can never write is refused with the
call instead of failing the job later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast.access_config import check_kms_key, check_role
from augury.forecast.forecasts import usable_forecast
from augury.forecast.resource_types import FORECAST_EXPORT_JOB
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.errors import InvalidInput
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.resources.types import ResourceType

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecast")

FORECAST_EXPORT_WORKFLOW = "export-forecast"
DEFAULT_FORMAT = "CSV"


def checked_destination(runtime: Runtime, destination: Mapping[str, Any]) -> dict[str, Any]:
    """The Destination, its path one the external storage can write."""
    config = dict(destination["S3Config"])
    check_role(config["RoleArn"], "Destination S3Config")
    if config.get("KMSKeyArn"):
        check_kms_key(config["KMSKeyArn"], "Destination S3Config")
    try:
        runtime.external.check_uri(config["Path"])
    except ExternalDataError as error:
        raise InvalidInput(f"Destination S3Config Path: {error}") from None
    return {"S3Config": config}


def create_export_job(
    runtime: Runtime,
    resource_type: ResourceType,
    request: Mapping[str, Any],
    *,
    parent: Resource,
    workflow: str,
) -> str:
    """Store an export job under ``parent`` (CREATE_PENDING) and start its workflow."""
    name = request[resource_type.name_member]
    arn = runtime.arns.build("forecast", resource_type.arn_kind, parent.name, name)
    crud.create(
        runtime,
        resource_type,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=parent.arn,
        attributes={
            "Destination": checked_destination(runtime, request["Destination"]),
            "Format": request.get("Format") or DEFAULT_FORMAT,
        },
        tags=request.get("Tags"),
    )
    crud.start_workflow(runtime, workflow, arn)
    return arn


def delete_export_job(runtime: Runtime, resource_type: ResourceType, arn: str) -> None:
    """An export job can be deleted once it is ACTIVE, failed or stopped; its files stay."""
    crud.request_delete(runtime, resource_type, arn)


@operations("CreateForecastExportJob")
def create_forecast_export_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    forecast = usable_forecast(runtime, request["ForecastArn"], "it can be exported")
    arn = create_export_job(
        runtime,
        FORECAST_EXPORT_JOB,
        request,
        parent=forecast,
        workflow=FORECAST_EXPORT_WORKFLOW,
    )
    return {"ForecastExportJobArn": arn}


@operations("DescribeForecastExportJob")
def describe_forecast_export_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, FORECAST_EXPORT_JOB, request["ForecastExportJobArn"])


@operations("ListForecastExportJobs")
def list_forecast_export_jobs(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    keep = crud.forecast_filters(request.get("Filters"), ("ForecastArn", "Status"))
    return crud.list_page(runtime, FORECAST_EXPORT_JOB, request, keep=keep)


@operations("DeleteForecastExportJob")
def delete_forecast_export_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    delete_export_job(runtime, FORECAST_EXPORT_JOB, request["ForecastExportJobArn"])
    return {}
