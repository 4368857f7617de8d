"""The recipes Augury offers, as ListRecipes and DescribeRecipe show them."""

from __future__ import annotations

from augury.api.operations import OperationSet

operations = OperationSet("personalize")
