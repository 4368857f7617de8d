"""Personalize batch inference (and segment) jobs."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
