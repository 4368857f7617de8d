"""Personalize dataset import jobs: CSV with a header into a new dataset version.

CreateDatasetImportJob checks what it can without reading data (the dataset,
the source location, the mode) and answers at once; the import workflow
(``augury.workflows.personalize_import``) then reads and checks every row and
the job ends ACTIVE, or CREATE FAILED with a failureReason naming the file,
line and field at fault. Only a job whose every row passed moves the dataset
to its new data; a failed one leaves the dataset's data as it was.

One import runs on a dataset at a time: a second CreateDatasetImportJob while
one is pending or in progress is refused (ResourceInUseException), which the
dataset records as the ``_importing`` attribute, claimed atomically. Unlike
Forecast's, a Personalize dataset keeps its ACTIVE status while an import
runs (its status describes the dataset's own lifecycle); the import jobs are
the dataset's children, and DeleteDataset refuses while one is working.

ImportMode FULL replaces the dataset's data; INCREMENTAL adds to it, rows of
a Users or Items dataset replacing those with the same ID.

``publishAttributionMetricsToS3`` asks for the group's metric attribution report
on the imported interactions (``attribution_reports``); it is refused at once
where there is no attribution with an S3 destination to publish to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.metric_attributions import OUTPUT, active_attribution
from augury.personalize.resource_types import DATASET, DATASET_IMPORT_JOB
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.data_versions import version_prefix
from augury.resources.errors import InvalidInput, ResourceAlreadyExists, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

IMPORT_WORKFLOW = "personalize-import-dataset"
FULL, INCREMENTAL = "FULL", "INCREMENTAL"
IMPORTING = "_importing"
"""Dataset attribute: the import job that owns the dataset's data while it runs."""
JOB_DATA_PREFIX = "_data_prefix"
"""Import job attribute: where the job writes the dataset's new version."""


@operations("CreateDatasetImportJob")
def create_dataset_import_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    name, dataset_arn = request["jobName"], request["datasetArn"]
    dataset = crud.get_record(runtime, DATASET, dataset_arn)
    arn = runtime.arns.build("personalize", "dataset-import-job", name)
    if runtime.metadata.get(arn) is not None:
        raise ResourceAlreadyExists(f"The dataset import job {arn} already exists")
    attributes = _job_attributes(runtime, request)
    _check_report_request(runtime, request, dataset)
    attributes[JOB_DATA_PREFIX] = version_prefix(dataset, name)
    crud.create(
        runtime,
        DATASET_IMPORT_JOB,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=dataset_arn,
        attributes=attributes,
        tags=request.get("tags"),
    )
    try:
        claim_dataset(runtime, dataset_arn, arn)
    except Exception:
        runtime.metadata.delete(arn)  # refused: the job never existed
        raise
    try:
        crud.start_workflow(runtime, IMPORT_WORKFLOW, arn)
    except Exception:
        release_dataset(runtime, dataset_arn, arn)
        raise
    return {"datasetImportJobArn": arn}


@operations("DescribeDatasetImportJob")
def describe_dataset_import_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, DATASET_IMPORT_JOB, request["datasetImportJobArn"])


@operations("ListDatasetImportJobs")
def list_dataset_import_jobs(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The dataset's import jobs; with no datasetArn, every import job.

    An unknown dataset has none (the operation has no ResourceNotFoundException).
    """
    dataset_arn = request.get("datasetArn")
    return crud.list_page(runtime, DATASET_IMPORT_JOB, request, parent_arn=dataset_arn)


def _job_attributes(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The job's Describe members, the source location checked where it can be without I/O."""
    location = source_location(runtime, request, "CSV files")
    attributes: dict[str, Any] = {
        "dataSource": {"dataLocation": location},
        "importMode": request.get("importMode") or FULL,
    }
    if request.get("roleArn"):
        attributes["roleArn"] = request["roleArn"]
    if "publishAttributionMetricsToS3" in request:
        attributes["publishAttributionMetricsToS3"] = bool(request["publishAttributionMetricsToS3"])
    return attributes


def _check_report_request(runtime: Runtime, request: dict[str, Any], dataset: Resource) -> None:
    """publishAttributionMetricsToS3 needs an Interactions import into a group whose metric
    attribution has an S3 destination; otherwise there is nowhere to publish."""
    if not request.get("publishAttributionMetricsToS3"):
        return
    if str(dataset.attributes.get("datasetType", "")).upper() != "INTERACTIONS":
        raise InvalidInput(
            "publishAttributionMetricsToS3 applies to Interactions imports; "
            f"{dataset.arn} is a {dataset.attributes.get('datasetType')} dataset"
        )
    attribution = active_attribution(runtime, str(dataset.parent_arn))
    if attribution is None:
        raise InvalidInput(
            f"publishAttributionMetricsToS3 needs an ACTIVE metric attribution in dataset "
            f"group {dataset.parent_arn}; create one first"
        )
    if not (attribution.attributes.get(OUTPUT) or {}).get("s3DataDestination"):
        raise InvalidInput(
            f"Metric attribution {attribution.arn} has no metricsOutputConfig."
            "s3DataDestination to publish to; add one with UpdateMetricAttribution"
        )


def source_location(runtime: Runtime, request: dict[str, Any], files: str) -> str:
    """The request's ``dataSource.dataLocation``, checked where it can be without I/O (a
    job reading the user's storage: imports, data deletion jobs)."""
    location = (request.get("dataSource") or {}).get("dataLocation")
    if not location:
        raise InvalidInput(
            "dataSource.dataLocation is required: the s3:// path of a file, or of a folder "
            f"(ending in /) of them: {files}"
        )
    try:
        runtime.external.check_uri(location)
    except ExternalDataError as error:
        raise InvalidInput(str(error)) from None
    return str(location)


def claim_dataset(runtime: Runtime, dataset_arn: str, job_arn: str) -> None:
    """Make ``job_arn`` the one job changing the dataset's data (an import, a data
    deletion job), or refuse."""

    def change(record: Resource) -> Resource:
        status = Status(record.status)
        if status != Status.ACTIVE:
            raise ResourceInUse(
                f"Dataset {dataset_arn} is {status.render('personalize')}; data can be imported "
                "once the dataset is ACTIVE"
            )
        owner = record.attributes.get(IMPORTING)
        if owner and owner != job_arn and _still_running(runtime, owner):
            if ":dataset-import-job/" in owner:
                raise ResourceInUse(
                    f"Dataset {dataset_arn} is already importing data (dataset import job "
                    f"{owner}); try again once it has finished"
                )
            raise ResourceInUse(
                f"Dataset {dataset_arn} is having users' data deleted (data deletion job "
                f"{owner}); try again once it has finished"
            )
        return record.with_attributes(**{IMPORTING: job_arn})

    crud.update(runtime, dataset_arn, change)


def _still_running(runtime: Runtime, job_arn: str) -> bool:
    """A claim whose job is gone or finished (a crash between steps) no longer holds."""
    job = runtime.metadata.get(job_arn)
    return job is not None and Status(job.status).working


def release_dataset(
    runtime: Runtime, dataset_arn: str, job_arn: str, data: dict[str, Any] | None = None
) -> None:
    """The job is over: the dataset takes no more claim from it, and ``data`` if it succeeded."""

    def change(record: Resource) -> Resource:
        if record.attributes.get(IMPORTING) != job_arn:
            return record
        attributes = {k: v for k, v in record.attributes.items() if k != IMPORTING}
        attributes.update(data or {})
        return record.evolve(attributes=attributes)

    if runtime.metadata.get(dataset_arn) is not None:
        crud.update(runtime, dataset_arn, change)
