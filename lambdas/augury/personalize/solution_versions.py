"""Personalize solution versions: one training of a solution, and its metrics."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
