"""Personalize data deletion jobs: every trace of some users out of a dataset group.

CreateDataDeletionJob names a CSV file (or folder of them) with one ``USER_ID``
column; the deletion workflow (``augury.workflows.personalize_deletion``) then
removes those users' rows from the Interactions and Users datasets (each as a
new data version, as an import writes one), from the PutEvents and PutUsers
data recorded for training, and from what serving keeps of their recent
events. As Amazon describes it, the users' data stops being trained on once the
job is COMPLETED; models already trained keep what they learned until the next
training. Items are untouched.

The job holds the group's Interactions and Users datasets as an import does
(``imports.claim_dataset``): an import and a deletion never change one dataset
at once. Its statuses are Amazon's for this job: PENDING, IN_PROGRESS,
COMPLETED, FAILED (records keep the shared lifecycle; only the wire differs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.group_data import group_datasets
from augury.personalize.imports import claim_dataset, release_dataset, source_location
from augury.personalize.resource_types import DATA_DELETION_JOB, DATASET_GROUP
from augury.resources import crud
from augury.resources.errors import ResourceAlreadyExists, ResourceInUse
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

DELETION_WORKFLOW = "personalize-delete-users"
DELETED_FROM = ("INTERACTIONS", "USERS", "ACTION_INTERACTIONS")
"""The dataset types that hold users' data (Items and Actions hold none)."""
CLAIMED = "_claimed_datasets"
"""Job attribute: the datasets the job holds while it runs."""
WIRE_STATUS = {
    Status.CREATE_PENDING: "PENDING",
    Status.CREATE_IN_PROGRESS: "IN_PROGRESS",
    Status.ACTIVE: "COMPLETED",
    Status.CREATE_FAILED: "FAILED",
}


@operations("CreateDataDeletionJob")
def create_data_deletion_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    name, group_arn = request["jobName"], request["datasetGroupArn"]
    group = crud.get_record(runtime, DATASET_GROUP, group_arn)
    if Status(group.status) != Status.ACTIVE:
        raise ResourceInUse(
            f"Dataset group {group_arn} is {Status(group.status).render('personalize')}; "
            "users' data can be deleted once it is ACTIVE"
        )
    arn = runtime.arns.build("personalize", "data-deletion-job", name)
    if runtime.metadata.get(arn) is not None:
        raise ResourceAlreadyExists(f"The data deletion job {arn} already exists")
    location = source_location(runtime, request, "CSV files with one USER_ID column")
    datasets = group_datasets(runtime, group_arn)
    claimed = [datasets[kind].arn for kind in DELETED_FROM if kind in datasets]
    crud.create(
        runtime,
        DATA_DELETION_JOB,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=group_arn,
        attributes={
            "dataSource": {"dataLocation": location},
            "roleArn": request["roleArn"],
            CLAIMED: claimed,
        },
        tags=request.get("tags"),
    )
    held: list[str] = []
    try:
        for dataset_arn in claimed:
            claim_dataset(runtime, dataset_arn, arn)
            held.append(dataset_arn)
        crud.start_workflow(runtime, DELETION_WORKFLOW, arn)
    except Exception:
        for dataset_arn in held:
            release_dataset(runtime, dataset_arn, arn)
        runtime.metadata.delete(arn)  # refused: the job never existed
        raise
    return {"dataDeletionJobArn": arn}


@operations("DescribeDataDeletionJob")
def describe_data_deletion_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    found = crud.describe(runtime, DATA_DELETION_JOB, request["dataDeletionJobArn"])
    return {"dataDeletionJob": _on_the_wire(found["dataDeletionJob"])}


@operations("ListDataDeletionJobs")
def list_data_deletion_jobs(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """The group's data deletion jobs; with no datasetGroupArn, every one."""
    group_arn = request.get("datasetGroupArn")
    page = crud.list_page(runtime, DATA_DELETION_JOB, request, parent_arn=group_arn)
    page["dataDeletionJobs"] = [_on_the_wire(job) for job in page["dataDeletionJobs"]]
    return page


def _on_the_wire(job: dict[str, Any]) -> dict[str, Any]:
    """Amazon's statuses for this job, and none of the record's own bookkeeping."""
    status = Status.parse(str(job["status"]))
    shown = {key: value for key, value in job.items() if not key.startswith("_")}
    shown["status"] = WIRE_STATUS.get(status, "FAILED" if status.failed else "IN_PROGRESS")
    return shown
