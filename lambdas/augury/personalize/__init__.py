"""Amazon Personalize, Personalize Runtime and Personalize Events operations."""

from augury.personalize import dataset_groups, datasets, schemas
from augury.resources.tag_operations import tag_operations

OPERATION_SETS = [
    dataset_groups.operations,
    schemas.operations,
    datasets.operations,
    tag_operations("personalize"),
]
