"""Personalize dataset import jobs: CSV with a header into a new dataset version."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
