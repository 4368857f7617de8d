"""Personalize Runtime: GetRecommendations and GetPersonalizedRanking."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize-runtime")
