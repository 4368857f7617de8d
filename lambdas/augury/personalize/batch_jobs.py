"""Personalize batch inference (and segment) jobs.

CreateBatchInferenceJob checks what it can at once (an ACTIVE solution
version of a recipe Amazon serves in batch, a filter of the same dataset
group, numResults 1-500, exploration only for User-Personalization, storage
URIs this deployment can reach) and starts the ``batch-inference`` workflow
(``augury.workflows.personalize_batch``), which answers every input line with
the same serving core GetRecommendations uses and writes Amazon's output
files. A job is stored under its solution version, so ListBatchInferenceJobs
by solutionVersionArn is a child listing.

CreateBatchSegmentJob needs an item-affinity recipe (Item-Affinity,
Item-Attribute-Affinity); Augury offers none, so it is refused with a
message that says so. Describe and List of segment jobs work (and find none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.personalize.campaign_config import (
    active_version,
    check_exploration,
    recipe_of,
    refuse_ranking_influence,
)
from augury.personalize.resource_types import (
    BATCH_INFERENCE_JOB,
    BATCH_SEGMENT_JOB,
    FILTER,
    SOLUTION_VERSION,
)
from augury.personalize.serving_filters import item_filter
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.errors import InvalidInput, ResourceInUse
from augury.resources.status import Status
from augury_training.personalize_contract import PERSONALIZED_ACTIONS, RELATED_ITEMS

if TYPE_CHECKING:
    from augury.personalize.recipes import Recipe
    from augury.runtime import Runtime

operations = OperationSet("personalize")

BATCH_INFERENCE_WORKFLOW = "batch-inference"
DEFAULT_NUM_RESULTS = 25
MAX_NUM_RESULTS = 500
ITEM_AFFINITY_RECIPES = ("aws-item-affinity", "aws-item-attribute-affinity")


def _check_filter(runtime: Runtime, filter_arn: str, group_arn: str, recipe: Recipe) -> None:
    """The filter must be ACTIVE, of the solution version's group, and one that filters
    what the job recommends: items, compared with CurrentItem only for related items
    (each input line names one), as GetRecommendations requires."""
    record = crud.get_record(runtime, FILTER, filter_arn)
    if record.parent_arn != group_arn:
        raise InvalidInput(
            f"Filter {filter_arn} belongs to dataset group {record.parent_arn}, not to "
            f"{group_arn}, the dataset group of the solution version"
        )
    if Status(record.status) != Status.ACTIVE:
        raise ResourceInUse(
            f"Filter {filter_arn} is {Status(record.status).render('personalize')}; use it once "
            "it is ACTIVE"
        )
    item_filter(runtime, filter_arn, group_arn, for_item=recipe.recipe_type == RELATED_ITEMS)


def _check_uri(runtime: Runtime, uri: str, member: str) -> None:
    try:
        runtime.external.check_uri(uri)
    except ExternalDataError as error:
        raise InvalidInput(f"{member} {uri}: {error}") from None


@operations("CreateBatchInferenceJob")
def create_batch_inference_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    version = active_version(
        runtime, request["solutionVersionArn"], "a batch inference job can use it"
    )
    recipe = recipe_of(version)
    if not recipe.batch:
        call = (
            "GetActionRecommendations"
            if recipe.recipe_type == PERSONALIZED_ACTIONS
            else ("GetRecommendations")
        )
        raise InvalidInput(
            f"You can't get batch recommendations with the {recipe.name} recipe; use "
            f"{call} with a campaign instead"
        )
    mode = request.get("batchInferenceJobMode") or "BATCH_INFERENCE"
    if mode != "BATCH_INFERENCE" or request.get("themeGenerationConfig"):
        raise InvalidInput(
            "batchInferenceJobMode THEME_GENERATION (themes from Content Generator) is not "
            "supported by Augury; use BATCH_INFERENCE"
        )
    if request.get("filterArn"):
        group_arn = str(version.attributes["datasetGroupArn"])
        _check_filter(runtime, request["filterArn"], group_arn, recipe)
    num_results = request.get("numResults")
    if num_results is None:
        num_results = DEFAULT_NUM_RESULTS
    if not 1 <= int(num_results) <= MAX_NUM_RESULTS:
        raise InvalidInput(f"numResults must be between 1 and {MAX_NUM_RESULTS}; got {num_results}")
    job_config = dict(request.get("batchInferenceJobConfig") or {})
    refuse_ranking_influence(job_config, "batchInferenceJobConfig")
    exploration = check_exploration(
        recipe,
        job_config.get("itemExplorationConfig"),
        "batchInferenceJobConfig.itemExplorationConfig",
    )
    if exploration is not None:
        job_config["itemExplorationConfig"] = exploration
    _check_uri(runtime, request["jobInput"]["s3DataSource"]["path"], "jobInput.s3DataSource.path")
    _check_uri(
        runtime,
        request["jobOutput"]["s3DataDestination"]["path"],
        "jobOutput.s3DataDestination.path",
    )
    name = request["jobName"]
    arn = runtime.arns.build("personalize", "batch-inference-job", name)
    attributes: dict[str, Any] = {
        "solutionVersionArn": version.arn,
        "numResults": int(num_results),
        "jobInput": request["jobInput"],
        "jobOutput": request["jobOutput"],
        "roleArn": request["roleArn"],
        "batchInferenceJobConfig": job_config,
        "batchInferenceJobMode": mode,
    }
    if request.get("filterArn"):
        attributes["filterArn"] = request["filterArn"]
    crud.create(
        runtime,
        BATCH_INFERENCE_JOB,
        arn,
        name,
        status=Status.CREATE_PENDING,
        parent_arn=version.arn,
        attributes=attributes,
        tags=request.get("tags"),
    )
    crud.start_workflow(runtime, BATCH_INFERENCE_WORKFLOW, arn)
    return {"batchInferenceJobArn": arn}


@operations("DescribeBatchInferenceJob")
def describe_batch_inference_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, BATCH_INFERENCE_JOB, request["batchInferenceJobArn"])


@operations("ListBatchInferenceJobs")
def list_batch_inference_jobs(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    version_arn = request.get("solutionVersionArn")
    if version_arn:
        crud.get_record(runtime, SOLUTION_VERSION, version_arn)
    return crud.list_page(runtime, BATCH_INFERENCE_JOB, request, parent_arn=version_arn)


@operations("CreateBatchSegmentJob")
def create_batch_segment_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    version = crud.get_record(runtime, SOLUTION_VERSION, request["solutionVersionArn"])
    recipe = recipe_of(version)
    raise InvalidInput(
        "Batch segment jobs need a solution version trained with an item-affinity recipe "
        f"({', '.join(ITEM_AFFINITY_RECIPES)}); Augury does not offer those recipes, and "
        f"{version.arn} uses {recipe.name}. Use CreateBatchInferenceJob for item "
        "recommendations per user"
    )


@operations("DescribeBatchSegmentJob")
def describe_batch_segment_job(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.describe(runtime, BATCH_SEGMENT_JOB, request["batchSegmentJobArn"])


@operations("ListBatchSegmentJobs")
def list_batch_segment_jobs(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    return crud.list_page(runtime, BATCH_SEGMENT_JOB, request)
