"""Personalize's resource types, as the generic operations see them."""

from augury.resources.types import ResourceType, register

DATASET_GROUP = register(
    ResourceType(
        service="personalize",
        arn_kind="dataset-group",
        arn_member="datasetGroupArn",
        name_member="name",
        list_member="datasetGroups",
        label="dataset group",
        describe_wrapper="datasetGroup",
    )
)

SCHEMA = register(
    ResourceType(
        service="personalize",
        arn_kind="schema",
        arn_member="schemaArn",
        name_member="name",
        list_member="schemas",
        label="schema",
        describe_wrapper="schema",
    )
)

DATASET = register(
    ResourceType(
        service="personalize",
        arn_kind="dataset",
        arn_member="datasetArn",
        name_member="name",
        list_member="datasets",
        label="dataset",
        describe_wrapper="dataset",
        parent_member="datasetGroupArn",
    )
)

DATASET_IMPORT_JOB = register(
    ResourceType(
        service="personalize",
        arn_kind="dataset-import-job",
        arn_member="datasetImportJobArn",
        name_member="jobName",
        list_member="datasetImportJobs",
        label="dataset import job",
        describe_wrapper="datasetImportJob",
        parent_member="datasetArn",
    )
)

DATASET_EXPORT_JOB = register(
    ResourceType(
        service="personalize",
        arn_kind="dataset-export-job",
        arn_member="datasetExportJobArn",
        name_member="jobName",
        list_member="datasetExportJobs",
        label="dataset export job",
        describe_wrapper="datasetExportJob",
        parent_member="datasetArn",
    )
)

DATA_DELETION_JOB = register(
    ResourceType(
        service="personalize",
        arn_kind="data-deletion-job",
        arn_member="dataDeletionJobArn",
        name_member="jobName",
        list_member="dataDeletionJobs",
        label="data deletion job",
        describe_wrapper="dataDeletionJob",
        parent_member="datasetGroupArn",
    )
)

SOLUTION = register(
    ResourceType(
        service="personalize",
        arn_kind="solution",
        arn_member="solutionArn",
        name_member="name",
        list_member="solutions",
        label="solution",
        describe_wrapper="solution",
        parent_member="datasetGroupArn",
    )
)

SOLUTION_VERSION = register(
    ResourceType(
        service="personalize",
        arn_kind="solution-version",
        arn_member="solutionVersionArn",
        name_member="name",
        list_member="solutionVersions",
        label="solution version",
        describe_wrapper="solutionVersion",
        parent_member="solutionArn",
    )
)

CAMPAIGN = register(
    ResourceType(
        service="personalize",
        arn_kind="campaign",
        arn_member="campaignArn",
        name_member="name",
        list_member="campaigns",
        label="campaign",
        describe_wrapper="campaign",
    )
)

FILTER = register(
    ResourceType(
        service="personalize",
        arn_kind="filter",
        arn_member="filterArn",
        name_member="name",
        list_member="Filters",
        label="filter",
        describe_wrapper="filter",
        parent_member="datasetGroupArn",
    )
)

EVENT_TRACKER = register(
    ResourceType(
        service="personalize",
        arn_kind="event-tracker",
        arn_member="eventTrackerArn",
        name_member="name",
        list_member="eventTrackers",
        label="event tracker",
        describe_wrapper="eventTracker",
        parent_member="datasetGroupArn",
    )
)

BATCH_INFERENCE_JOB = register(
    ResourceType(
        service="personalize",
        arn_kind="batch-inference-job",
        arn_member="batchInferenceJobArn",
        name_member="jobName",
        list_member="batchInferenceJobs",
        label="batch inference job",
        describe_wrapper="batchInferenceJob",
    )
)

BATCH_SEGMENT_JOB = register(
    ResourceType(
        service="personalize",
        arn_kind="batch-segment-job",
        arn_member="batchSegmentJobArn",
        name_member="jobName",
        list_member="batchSegmentJobs",
        label="batch segment job",
        describe_wrapper="batchSegmentJob",
    )
)

RECOMMENDER = register(
    ResourceType(
        service="personalize",
        arn_kind="recommender",
        arn_member="recommenderArn",
        name_member="name",
        list_member="recommenders",
        label="recommender",
        describe_wrapper="recommender",
        parent_member="datasetGroupArn",
    )
)

RECOMMENDER_MODEL = register(
    ResourceType(
        service="personalize",
        arn_kind="recommender-model",
        arn_member="recommenderModelArn",
        name_member="name",
        list_member="recommenderModels",
        label="recommender model",
        parent_member="recommenderArn",
    )
)
"""One training of a recommender (Augury's own: no API names it). It holds what a solution
version holds, so the training workflow and serving take either."""

MODEL_KINDS = frozenset({SOLUTION_VERSION.kind, RECOMMENDER_MODEL.kind})
"""Records that hold a trained model serving can load."""

METRIC_ATTRIBUTION = register(
    ResourceType(
        service="personalize",
        arn_kind="metric-attribution",
        arn_member="metricAttributionArn",
        name_member="name",
        list_member="metricAttributions",
        label="metric attribution",
        describe_wrapper="metricAttribution",
        parent_member="datasetGroupArn",
    )
)
