"""Amazon Personalize, Personalize Runtime and Personalize Events operations."""

from augury.personalize import dataset_groups, tags

OPERATION_SETS = [dataset_groups.operations, tags.operations]
