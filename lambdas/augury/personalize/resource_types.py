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
