"""Every workflow Augury runs, by name: what both engines and the CDK app read."""

from __future__ import annotations

from augury.workflows.definition import Workflow
from augury.workflows.lifecycle import ACTIVATE, DELETE

WORKFLOWS: dict[str, Workflow] = {workflow.name: workflow for workflow in (ACTIVATE, DELETE)}


def workflow(name: str) -> Workflow:
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise KeyError(f"no workflow named {name!r}; known: {', '.join(WORKFLOWS)}") from None
