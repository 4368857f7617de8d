"""Forecast dataset import jobs: bring CSV or Parquet data from S3 into a dataset.

CreateDatasetImportJob checks everything it can without reading the data
(the dataset, the formats, the time zone, the source path and role) and
answers at once; the ``import-dataset`` workflow
(``augury.workflows.forecast_import``) then reads, checks and stores the data,
and the job ends ACTIVE or CREATE_FAILED with a Message naming the file, line
and field at fault.

While a job runs, its dataset shows UPDATE_PENDING and UPDATE_IN_PROGRESS, as
Amazon's DescribeDataset documents ("the UPDATE states ... reflect the status
of the dataset import job"), and takes no other import: "The Status of the
dataset must be ACTIVE before you can import training data". When the job
ends the dataset is ACTIVE again, with the new data or, after a failure, with
the data it had before, untouched.

Import jobs are children of their dataset: DeleteDataset refuses while the
dataset has any (ResourceInUseException), as in Amazon Forecast, where they are
deleted first or with DeleteResourceTree.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast import timestamp_formats
from augury.forecast.access_config import check_kms_key, check_role
from augury.forecast.domains import GEOLOCATION, ITEM_METADATA
from augury.forecast.import_reader import CSV, PARQUET
from augury.forecast.import_values import GEOLOCATION_FORMATS, LAT_LONG
from augury.forecast.resource_types import DATASET, DATASET_IMPORT_JOB
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.data_versions import DATA_PREFIX, version_prefix
from augury.resources.errors import InvalidInput, ResourceAlreadyExists, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecast")

IMPORT_WORKFLOW = "import-dataset"
FULL, INCREMENTAL = "FULL", "INCREMENTAL"

DATA_ROWS = "_data_rows"
DATA_SETTINGS = "_data_settings"
"""Dataset attribute: the formats the current data was imported with (INCREMENTAL keeps them)."""
DATA_TIME_ZONE = "_data_time_zone"
"""Dataset attribute: the TimeZone, or "geolocation", of the current data (the weather index)."""
IMPORTING = "_importing"
"""Dataset attribute: the import job that owns the dataset while it runs."""
JOB_DATA_PREFIX = "_data_prefix"
"""Import job attribute: where the job writes the dataset's new version."""
TIMESTAMP_FORMAT_GIVEN = "_timestamp_format_given"
"""Import job attribute: TimestampFormat was in the request (else the default, and dates too)."""

_IN_PROGRESS = (Status.CREATE_IN_PROGRESS, Status.CREATE_STOPPING)


@operations("CreateDatasetImportJob")
def create_dataset_import_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    name, dataset_arn = request["DatasetImportJobName"], request["DatasetArn"]
    dataset = crud.get_record(runtime, DATASET, dataset_arn)
    attributes = _job_attributes(runtime, dataset, request)
    arn = runtime.arns.build("forecast", "dataset-import-job", dataset.name, name)
    if runtime.metadata.get(arn) is not None:
        raise ResourceAlreadyExists(f"The dataset import job {arn} already exists")
    attributes[JOB_DATA_PREFIX] = version_prefix(dataset, name)
    _claim_dataset(runtime, dataset_arn, arn)
    try:
        crud.create(
            runtime,
            DATASET_IMPORT_JOB,
            arn,
            name,
            status=Status.CREATE_PENDING,
            parent_arn=dataset_arn,
            attributes=attributes,
            tags=request.get("Tags"),
        )
    except Exception:
        release_dataset(runtime, dataset_arn, arn)
        raise
    try:
        crud.start_workflow(runtime, IMPORT_WORKFLOW, arn)
    except Exception:
        release_dataset(runtime, dataset_arn, arn)
        raise
    return {"DatasetImportJobArn": arn}


@operations("DescribeDatasetImportJob")
def describe_dataset_import_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The job; while it runs, LastModificationTime is now, as Amazon documents."""
    described = crud.describe(runtime, DATASET_IMPORT_JOB, request["DatasetImportJobArn"])
    if Status(described["Status"]) in _IN_PROGRESS:
        described["LastModificationTime"] = datetime.now(UTC)
    return described


@operations("ListDatasetImportJobs")
def list_dataset_import_jobs(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    keep = crud.forecast_filters(request.get("Filters"), ("DatasetArn", "Status"))
    return crud.list_page(runtime, DATASET_IMPORT_JOB, request, keep=keep)


@operations("DeleteDatasetImportJob")
def delete_dataset_import_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """Delete the job's record; the data it imported stays in its dataset, as in Amazon Forecast."""
    crud.request_delete(runtime, DATASET_IMPORT_JOB, request["DatasetImportJobArn"])
    return {}


def _job_attributes(runtime: Runtime, dataset: Resource, request: dict[str, Any]) -> dict[str, Any]:
    """The job's Describe fields, each checked against the dataset and Amazon's rules."""
    dataset_type = dataset.attributes["DatasetType"]
    schema = dataset.attributes.get("Schema", {}).get("Attributes") or []
    has_geolocation = any(a["AttributeType"] == GEOLOCATION for a in schema)
    file_format = request.get("Format") or CSV
    if file_format not in (CSV, PARQUET):
        raise InvalidInput(f"Format {file_format} is not valid; use CSV or PARQUET")
    mode = request.get("ImportMode") or FULL
    attributes: dict[str, Any] = {
        "DataSource": {"S3Config": _checked_source(runtime, dataset, request["DataSource"])},
        "Format": file_format,
        "ImportMode": mode,
    }
    if dataset_type != ITEM_METADATA:
        attributes["TimestampFormat"] = _checked_timestamp_format(
            request.get("TimestampFormat"), dataset.attributes.get("DataFrequency")
        )
        attributes[TIMESTAMP_FORMAT_GIVEN] = bool(request.get("TimestampFormat"))
    elif request.get("TimestampFormat"):
        raise InvalidInput(
            "TimestampFormat does not apply to an ITEM_METADATA dataset, which has no timestamps"
        )
    attributes.update(_checked_time_zone(request, dataset_type, has_geolocation))
    geolocation_format = request.get("GeolocationFormat")
    if geolocation_format is not None and geolocation_format not in GEOLOCATION_FORMATS:
        raise InvalidInput(
            f"GeolocationFormat {geolocation_format} is not valid; use LAT_LONG (as in "
            "47.61_-122.33) or CC_POSTALCODE (US only, as in US_98121)"
        )
    if has_geolocation:
        attributes["GeolocationFormat"] = geolocation_format or LAT_LONG
    elif geolocation_format:
        attributes["GeolocationFormat"] = geolocation_format
    if mode == INCREMENTAL:
        _check_incremental(dataset, attributes)
    return attributes


def _checked_source(runtime: Runtime, dataset: Resource, source: dict[str, Any]) -> dict[str, str]:
    config = source.get("S3Config") or {}
    path, role = config.get("Path", ""), config.get("RoleArn", "")
    key = config.get("KMSKeyArn")
    check_role(role, "DataSource S3Config")
    if key:
        check_kms_key(key, "DataSource S3Config")
    encryption = dataset.attributes.get("EncryptionConfig")
    if encryption and (key != encryption["KMSKeyArn"] or role != encryption["RoleArn"]):
        raise InvalidInput(
            f"Dataset {dataset.arn} is encrypted with {encryption['KMSKeyArn']}: the "
            "import's KMSKeyArn and RoleArn must match the dataset's EncryptionConfig"
        )
    try:
        runtime.external.check_uri(path)
    except ExternalDataError as error:
        raise InvalidInput(str(error)) from None
    checked = {"Path": path, "RoleArn": role}
    if key:
        checked["KMSKeyArn"] = key
    return checked


def _checked_timestamp_format(java: str | None, frequency: str | None) -> str:
    try:
        timestamp_formats.formats_for(java, frequency)
    except timestamp_formats.FormatError as error:
        raise InvalidInput(str(error)) from None
    return java or timestamp_formats.DEFAULT


def _checked_time_zone(
    request: dict[str, Any], dataset_type: str, has_geolocation: bool
) -> dict[str, Any]:
    zone = request.get("TimeZone")
    from_geolocation = bool(request.get("UseGeolocationForTimeZone"))
    if zone and from_geolocation:
        raise InvalidInput(
            "Give either TimeZone (one time zone for every item) or UseGeolocationForTimeZone "
            "(each item's zone from its geolocation), not both"
        )
    if (zone or from_geolocation) and dataset_type == ITEM_METADATA:
        raise InvalidInput("Time zones do not apply to an ITEM_METADATA dataset (no timestamps)")
    if from_geolocation and not has_geolocation:
        raise InvalidInput(
            "UseGeolocationForTimeZone derives time zones from the geolocation attribute, and "
            "this dataset's schema has none; add one or give TimeZone"
        )
    fields: dict[str, Any] = {}
    if zone:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"TimeZone {zone} is not a time zone name; use one from the tz database, "
                "such as America/Los_Angeles or Europe/London"
            ) from None
        fields["TimeZone"] = zone
    if "UseGeolocationForTimeZone" in request:
        fields["UseGeolocationForTimeZone"] = from_geolocation
    return fields


def _check_incremental(dataset: Resource, attributes: dict[str, Any]) -> None:
    """An INCREMENTAL import adds to data imported before, in the same formats.

    Source: Amazon Forecast Developer Guide, updating-data: "If you have not
    imported a dataset, the incremental option is not available", and "When
    performing an incremental dataset import, you cannot change the timestamp
    format, data format, or geolocation data."
    """
    if not dataset.attributes.get(DATA_PREFIX):
        raise InvalidInput(
            f"Dataset {dataset.arn} has no imported data yet: an INCREMENTAL import adds to "
            "earlier data. Import it with ImportMode FULL first"
        )
    before = dataset.attributes.get(DATA_SETTINGS) or {}
    for member in ("TimestampFormat", "Format", "GeolocationFormat"):
        if before.get(member) != attributes.get(member):
            raise InvalidInput(
                f"An INCREMENTAL import keeps the {member} of the dataset's data "
                f"({before.get(member) or 'none'}); this import has "
                f"{attributes.get(member) or 'none'}. Use a FULL import to change it"
            )


def _claim_dataset(runtime: Runtime, dataset_arn: str, job_arn: str) -> None:
    """ACTIVE → UPDATE_PENDING for this job, atomically: one import at a time."""

    def change(record: Resource) -> Resource:
        status = Status(record.status)
        if status != Status.ACTIVE:
            owner = record.attributes.get(IMPORTING)
            detail = f" (import job {owner})" if owner else ""
            raise ResourceInUse(
                f"Dataset {dataset_arn} is {status.value}{detail}; data can be imported "
                "when the dataset is ACTIVE"
            )
        return record.evolve(
            status=Status.UPDATE_PENDING.value,
            attributes={**record.attributes, IMPORTING: job_arn},
        )

    crud.update(runtime, dataset_arn, change)


def release_dataset(
    runtime: Runtime, dataset_arn: str, job_arn: str, data: dict[str, Any] | None = None
) -> None:
    """The job is over: its dataset is ACTIVE again, with ``data`` attributes if it succeeded."""

    def change(record: Resource) -> Resource:
        if record.attributes.get(IMPORTING) != job_arn:
            return record
        attributes = {k: v for k, v in record.attributes.items() if k != IMPORTING}
        attributes.update(data or {})
        return record.evolve(status=Status.ACTIVE.value, attributes=attributes)

    if runtime.metadata.get(dataset_arn) is not None:
        crud.update(runtime, dataset_arn, change)
