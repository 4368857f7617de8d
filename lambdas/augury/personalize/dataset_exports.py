"""Personalize dataset export jobs: a dataset's data out to the user's storage as CSV."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
