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

PREDICTOR = register(
    ResourceType(
        service="forecast",
        arn_kind="predictor",
        arn_member="PredictorArn",
        name_member="PredictorName",
        list_member="Predictors",
        label="predictor",
        parent_member="DatasetGroupArn",
    )
)

FORECAST = register(
    ResourceType(
        service="forecast",
        arn_kind="forecast",
        arn_member="ForecastArn",
        name_member="ForecastName",
        list_member="Forecasts",
        label="forecast",
        parent_member="PredictorArn",
    )
)

FORECAST_EXPORT_JOB = register(
    ResourceType(
        service="forecast",
        arn_kind="forecast-export-job",
        arn_member="ForecastExportJobArn",
        name_member="ForecastExportJobName",
        list_member="ForecastExportJobs",
        label="forecast export job",
        parent_member="ForecastArn",
    )
)

PREDICTOR_BACKTEST_EXPORT_JOB = register(
    ResourceType(
        service="forecast",
        arn_kind="predictor-backtest-export-job",
        arn_member="PredictorBacktestExportJobArn",
        name_member="PredictorBacktestExportJobName",
        list_member="PredictorBacktestExportJobs",
        label="predictor backtest export job",
        parent_member="PredictorArn",
    )
)

DATASET_IMPORT_JOB = register(
    ResourceType(
        service="forecast",
        arn_kind="dataset-import-job",
        arn_member="DatasetImportJobArn",
        name_member="DatasetImportJobName",
        list_member="DatasetImportJobs",
        label="dataset import job",
        parent_member="DatasetArn",
    )
)
