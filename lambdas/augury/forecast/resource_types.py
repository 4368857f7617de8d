"""Forecast's resource types, as the generic operations see them."""

from augury.resources.types import ResourceType, register

DATASET_GROUP = register(
    ResourceType(
        service="forecast",
        arn_kind="dataset-group",
        arn_member="DatasetGroupArn",
        name_member="DatasetGroupName",
        list_member="DatasetGroups",
        label="dataset group",
    )
)

DATASET = register(
    ResourceType(
        service="forecast",
        arn_kind="dataset",
        arn_member="DatasetArn",
        name_member="DatasetName",
        list_member="Datasets",
        label="dataset",
    )
)
