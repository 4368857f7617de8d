"""Personalize campaigns: a solution version deployed for real-time calls."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
