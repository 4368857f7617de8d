"""Every workflow Augury runs, by name: what both engines and the CDK app read."""

from __future__ import annotations

from augury.workflows.definition import Workflow
from augury.workflows.lifecycle import ACTIVATE, DELETE

WORKFLOWS: dict[str, Workflow] = {workflow.name: workflow for workflow in (ACTIVATE, DELETE)}

from augury.workflows.forecast_exports import (  # noqa: E402  (Forecast's own workflows)
    EXPORT_FORECAST,
    EXPORT_PREDICTOR_BACKTEST,
)
from augury.workflows.forecast_generation import CREATE_FORECAST  # noqa: E402
from augury.workflows.forecast_import import IMPORT  # noqa: E402
from augury.workflows.forecast_training import TRAIN_PREDICTOR  # noqa: E402

for _forecast_workflow in (
    IMPORT,
    TRAIN_PREDICTOR,
    CREATE_FORECAST,
    EXPORT_FORECAST,
    EXPORT_PREDICTOR_BACKTEST,
):
    WORKFLOWS[_forecast_workflow.name] = _forecast_workflow

from augury.workflows import (  # noqa: E402  (Personalize's own workflows)
    personalize_batch,
    personalize_deletion,
    personalize_import,
    personalize_recommenders,
    personalize_training,
)

for _module in (
    personalize_import,
    personalize_training,
    personalize_recommenders,
    personalize_batch,
    personalize_deletion,
):
    for _personalize_workflow in _module.WORKFLOWS:
        WORKFLOWS[_personalize_workflow.name] = _personalize_workflow


def workflow(name: str) -> Workflow:
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise KeyError(f"no workflow named {name!r}; known: {', '.join(WORKFLOWS)}") from None
