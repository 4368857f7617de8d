"""Personalize filters: CreateFilter and friends over the expression grammar."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
