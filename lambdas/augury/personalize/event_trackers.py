"""Personalize event trackers: the tracking IDs PutEvents is called with."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
