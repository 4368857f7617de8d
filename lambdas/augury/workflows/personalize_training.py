"""The solution-version training workflow: the personalization container, then metrics."""

from __future__ import annotations

from augury.workflows.definition import Workflow

WORKFLOWS: tuple[Workflow, ...] = ()
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
