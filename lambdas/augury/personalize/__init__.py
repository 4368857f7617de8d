"""Amazon Personalize, Personalize Runtime and Personalize Events operations."""

from augury.personalize import (
    batch_jobs,
    campaigns,
    data_deletions,
    dataset_exports,
    dataset_groups,
    datasets,
    event_trackers,
    events,
    filters,
    imports,
    metric_attributions,
    recipes,
    recommendations,
    recommenders,
    schemas,
    solution_versions,
    solutions,
)
from augury.resources.tag_operations import tag_operations

OPERATION_SETS = [
    dataset_groups.operations,
    schemas.operations,
    datasets.operations,
    imports.operations,
    dataset_exports.operations,
    data_deletions.operations,
    filters.operations,
    recipes.operations,
    solutions.operations,
    solution_versions.operations,
    campaigns.operations,
    recommenders.operations,
    batch_jobs.operations,
    event_trackers.operations,
    metric_attributions.operations,
    recommendations.operations,
    events.operations,
    tag_operations("personalize"),
]
