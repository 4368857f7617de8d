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
