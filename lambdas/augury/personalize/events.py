"""Personalize Events: PutEvents, PutUsers, PutItems."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize-events")
