"""Amazon Forecast and Forecast Query operations."""

from augury.forecast import dataset_groups, datasets
from augury.resources.tag_operations import tag_operations

OPERATION_SETS = [dataset_groups.operations, datasets.operations, tag_operations("forecast")]
