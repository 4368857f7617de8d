"""Personalize solutions: a recipe and its configuration, bound to a dataset group."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
