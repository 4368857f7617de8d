"""Amazon Forecast and Forecast Query operations."""

from augury.forecast import dataset_groups, tags

OPERATION_SETS = [dataset_groups.operations, tags.operations]
