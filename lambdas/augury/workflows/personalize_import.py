"""Personalize's data workflows: dataset import and dataset export jobs."""

from __future__ import annotations

from augury.workflows.definition import Workflow

WORKFLOWS: tuple[Workflow, ...] = ()
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
