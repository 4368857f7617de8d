"""Users and Items fields are encoded as their schemas declare, not as their values suggest."""

from __future__ import annotations

import pandas as pd

from augury.personalize.solution_data import field_kinds
from augury_training.personalization.features import FeatureSpace

ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": "PRICE", "type": "float"},
        {"name": "IN_STOCK", "type": "boolean"},
        {"name": "brand", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}


def test_the_schema_says_what_each_metadata_field_is():
    kinds = field_kinds({"ITEMS": ITEMS_SCHEMA, "INTERACTIONS": {"fields": []}})
    assert kinds == {
        "ITEMS": {
            "ITEM_ID": "string",
            "DESCRIPTION": "textual",
            "GENRES": "categorical",
            "PRICE": "numeric",
            "IN_STOCK": "boolean",
            "brand": "categorical",
        }
    }


def test_declared_kinds_override_what_the_values_look_like():
    table = pd.DataFrame(
        {
            "ITEM_ID": ["a", "b", "c"],
            # long multi-word category names look like free text to the heuristic
            "GENRES": [
                "science fiction and fantasy books",
                "cooking and kitchen equipment guides",
                "science fiction and fantasy books",
            ],
            # short text looks like a category to the heuristic
            "DESCRIPTION": ["red", "blue", "red"],
        }
    )
    guessed = {f.name: f.kind for f in FeatureSpace.fit(table).fields}
    assert guessed == {"GENRES": "text", "DESCRIPTION": "onehot"}
    declared = FeatureSpace.fit(table, {"GENRES": "categorical", "DESCRIPTION": "textual"})
    assert {f.name: f.kind for f in declared.fields} == {"GENRES": "onehot", "DESCRIPTION": "text"}
