"""Amazon Forecast and Forecast Query operations."""

from augury.forecast import dataset_groups, datasets, tags

OPERATION_SETS = [dataset_groups.operations, datasets.operations, tags.operations]
