"""Personalize's batch workflows: batch inference and batch segment jobs."""

from __future__ import annotations

from augury.workflows.definition import Workflow

WORKFLOWS: tuple[Workflow, ...] = ()
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
