"""Amazon Personalize, Personalize Runtime and Personalize Events operations."""

from augury.personalize import dataset_groups, datasets, schemas, tags

OPERATION_SETS = [
    dataset_groups.operations,
    schemas.operations,
    datasets.operations,
    tags.operations,
]
