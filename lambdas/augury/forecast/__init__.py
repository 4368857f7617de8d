"""Amazon Forecast and Forecast Query operations."""

from augury.forecast import dataset_groups, datasets, imports
from augury.resources.tag_operations import tag_operations

OPERATION_SETS = [
    dataset_groups.operations,
    datasets.operations,
    imports.operations,
    tag_operations("forecast"),
]

from augury.forecast import (  # noqa: E402  (predictors, forecasts, exports and queries)
    auto_predictors,
    backtest_exports,
    exports,
    forecasts,
    predictors,
    query,
    resource_tree,
)

OPERATION_SETS += [
    predictors.operations,
    auto_predictors.operations,
    backtest_exports.operations,
    forecasts.operations,
    exports.operations,
    resource_tree.operations,
    query.operations,
]
