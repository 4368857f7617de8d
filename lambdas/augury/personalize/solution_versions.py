"""Personalize solution versions: one training of a solution, and its metrics.

CreateSolutionVersion snapshots the solution's configuration onto a new
version record (a later UpdateSolution does not change a version already
training) and starts the ``train-solution-version`` workflow
(``augury.workflows.personalize_training``), which checks the data, runs the
personalization container and stores what it wrote. The version ARN is
Amazon's: ``solution/<solution name>/<8 hex digits>``.

trainingMode UPDATE refreshes a User-Personalization model with new items and
interactions without training from scratch; Amazon allows it only for those
recipes and only once the solution has an ACTIVE version trained with FULL.
AUTOTRAIN is what Amazon's scheduler writes; it cannot be asked for.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.recipes import recipe_for_arn
from augury.personalize.resource_types import SOLUTION, SOLUTION_VERSION
from augury.personalize.solutions import children
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.record import Resource
from augury.resources.status import Status

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("personalize")

TRAIN_WORKFLOW = "train-solution-version"
JOB_ID = "_job_id"
METRICS = "_metrics"
"""Version attribute: the container's metrics.json, for GetSolutionMetrics."""
MODEL_PREFIX = "_model_prefix"
"""Version attribute: the blob prefix holding the trained model's files (serving reads it)."""


def _status(record: Resource) -> str:
    return Status(record.status).render("personalize")


def latest_active_full(runtime: Runtime, solution_arn: str) -> Resource | None:
    """The solution's newest ACTIVE version trained with FULL (what UPDATE builds on)."""
    found = None
    for version in children(runtime, solution_arn, SOLUTION_VERSION.kind):
        if Status(version.status) == Status.ACTIVE and (
            version.attributes.get("trainingMode") == "FULL"
        ):
            found = version
    return found


def latest_active(runtime: Runtime, solution_arn: str) -> Resource | None:
    """The solution's newest ACTIVE version of any training mode."""
    found = None
    for version in children(runtime, solution_arn, SOLUTION_VERSION.kind):
        if Status(version.status) == Status.ACTIVE:
            found = version
    return found


@operations("CreateSolutionVersion")
def create_solution_version(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    solution = crud.get_record(runtime, SOLUTION, request["solutionArn"])
    if Status(solution.status) != Status.ACTIVE:
        raise ResourceInUse(
            f"Solution {solution.arn} is {_status(solution)}; create versions once it is ACTIVE"
        )
    recipe = recipe_for_arn(solution.attributes["recipeArn"])
    mode = request.get("trainingMode") or "FULL"
    if mode == "AUTOTRAIN":
        raise InvalidInput(
            "trainingMode AUTOTRAIN is set by automatic training only; use FULL or UPDATE"
        )
    if mode == "UPDATE":
        if not recipe.updatable:
            raise InvalidInput(
                "trainingMode UPDATE is supported only for solutions trained with the "
                f"User-Personalization recipes; solution {solution.arn} uses {recipe.name}"
            )
        if latest_active_full(runtime, solution.arn) is None:
            raise InvalidInput(
                "trainingMode UPDATE can only be used when the solution already has an ACTIVE "
                f"solution version created with trainingMode FULL; {solution.arn} has none"
            )
    for version in children(runtime, solution.arn, SOLUTION_VERSION.kind):
        if Status(version.status).working:
            raise ResourceInUse(
                f"Solution {solution.arn} already has solution version {version.arn} in "
                f"{_status(version)}; wait for it to finish or stop it first"
            )
    version_id = uuid.uuid4().hex[:8]
    arn = runtime.arns.build("personalize", "solution", solution.name, version_id)
    attributes: dict[str, Any] = {
        "recipeArn": recipe.arn,
        "datasetGroupArn": solution.parent_arn,
        "performHPO": bool(solution.attributes.get("performHPO")),
        "performAutoML": False,
        "performIncrementalUpdate": False,
        "solutionConfig": dict(solution.attributes.get("solutionConfig") or {}),
        "trainingMode": mode,
        "trainingType": "MANUAL",
        JOB_ID: uuid.uuid4().hex[:20],
    }
    if solution.attributes.get("eventType"):
        attributes["eventType"] = solution.attributes["eventType"]
    crud.create(
        runtime,
        SOLUTION_VERSION,
        arn,
        request.get("name") or version_id,
        status=Status.CREATE_PENDING,
        parent_arn=solution.arn,
        attributes=attributes,
        tags=request.get("tags"),
    )
    crud.start_workflow(runtime, TRAIN_WORKFLOW, arn)
    return {"solutionVersionArn": arn}


@operations("DescribeSolutionVersion")
def describe_solution_version(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, SOLUTION_VERSION, request["solutionVersionArn"])


@operations("ListSolutionVersions")
def list_solution_versions(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """A solution's versions; with no solutionArn, every version."""
    solution_arn = request.get("solutionArn")
    if solution_arn:
        crud.get_record(runtime, SOLUTION, solution_arn)
    page = crud.list_page(runtime, SOLUTION_VERSION, request, parent_arn=solution_arn)
    for item in page[SOLUTION_VERSION.list_member]:
        item.setdefault("trainingMode", "FULL")
        item.setdefault("trainingType", "MANUAL")
    return page


@operations("StopSolutionVersionCreation")
def stop_solution_version_creation(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    """CREATE PENDING → CREATE STOPPED; CREATE IN_PROGRESS → CREATE STOPPING → CREATE STOPPED.

    The workflow sees the request at its next step, stops the container if one
    runs, and ends the version CREATE STOPPED; it never becomes ACTIVE after this.
    """
    arn = request["solutionVersionArn"]
    crud.get_record(runtime, SOLUTION_VERSION, arn)

    def change(record: Resource) -> Resource:
        status = Status(record.status)
        if status == Status.CREATE_PENDING:
            return record.evolve(status=Status.CREATE_STOPPED.value)
        if status == Status.CREATE_IN_PROGRESS:
            return record.evolve(status=Status.CREATE_STOPPING.value)
        raise ResourceInUse(
            f"Solution version {arn} is {_status(record)}; only a version in CREATE PENDING or "
            "CREATE IN_PROGRESS can be stopped"
        )

    crud.update(runtime, arn, change)
    return {}


@operations("GetSolutionMetrics")
def get_solution_metrics(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["solutionVersionArn"]
    record = crud.get_record(runtime, SOLUTION_VERSION, arn)
    status = Status(record.status)
    if status.working:
        raise ResourceInUse(
            f"Solution version {arn} is {_status(record)}; its metrics are available once it is "
            "ACTIVE"
        )
    if status != Status.ACTIVE:
        raise InvalidInput(
            f"Solution version {arn} is {_status(record)}; only an ACTIVE solution version has "
            "metrics"
        )
    return {"solutionVersionArn": arn, "metrics": dict(record.attributes.get(METRICS) or {})}
