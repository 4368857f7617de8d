"""Users and Items fields are encoded as their schemas declare, not as their values suggest;
the Interactions schema's metadata fields are the context the deep recipes learn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from augury.personalize.solution_data import field_kinds
from augury_training.personalization.context_features import (
    NUMERIC_BINS,
    ContextSpace,
    context_fields,
)
from augury_training.personalization.features import FeatureSpace
from augury_training.sequence_encoder import context_value

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


INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "Device", "type": ["null", "string"], "categorical": True},
        {"name": "LOGGED_IN", "type": ["null", "boolean"]},
        {"name": "DWELL_SECONDS", "type": ["null", "float"]},
        {"name": "NOTE", "type": ["null", "string"]},
    ],
    "version": "1.0",
}


def test_the_schema_says_what_each_metadata_field_is():
    kinds = field_kinds({"ITEMS": ITEMS_SCHEMA, "INTERACTIONS": INTERACTIONS_SCHEMA})
    assert kinds["INTERACTIONS"] == {
        "USER_ID": "string",
        "ITEM_ID": "string",
        "TIMESTAMP": "numeric",
        "EVENT_TYPE": "string",
        "Device": "categorical",
        "LOGGED_IN": "boolean",
        "DWELL_SECONDS": "numeric",
        "NOTE": "string",
    }
    # context: categorical, boolean and numeric metadata, never the reserved fields, nor a
    # string field not declared categorical (Amazon trains on neither)
    assert context_fields(kinds) == ("Device", "LOGGED_IN", "DWELL_SECONDS")
    assert kinds["ITEMS"] == {
        "ITEM_ID": "string",
        "DESCRIPTION": "textual",
        "GENRES": "categorical",
        "PRICE": "numeric",
        "IN_STOCK": "boolean",
        "brand": "categorical",
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


def test_context_values_are_coded_case_blind_with_unknowns_as_zero():
    table = pd.DataFrame(
        {
            "Device": ["Phone", "phone ", "tv", None, "phone", "", "TV"],
            "LOGGED_IN": [True, False, True, None, True, False, True],
        }
    )
    space = ContextSpace.fit(table, ("Device", "LOGGED_IN", "ABSENT"))
    assert space is not None
    assert space.fields == ("Device", "LOGGED_IN")
    assert space.values == (("phone", "tv"), ("true", "false"))  # most frequent first
    codes = space.codes(pd.DataFrame({"Device": ["TV", "radio", None], "LOGGED_IN": [False] * 3}))
    assert codes.tolist() == [[2, 2], [0, 2], [0, 2]]
    assert ContextSpace.fit(table[["Device"]].iloc[[3, 5]], ("Device",)) is None


def test_training_normalises_context_values_as_serving_does():
    """Training codes a whole column at once; serving reads one request value at a time
    (``context_value``): both must turn a value into the same text."""
    values = ["Phone", " TV ", "", None, True, False, 1.5, 3, "Smart|TV"]
    table = pd.DataFrame({"X": pd.Series(values, dtype=object)})
    space = ContextSpace.fit(table, ("X",))
    assert space is not None
    expected = {context_value(v) for v in values} - {None}
    assert set(space.values[0]) == expected


def test_numeric_context_is_binned_a_value_per_bin_when_few_else_by_quantiles():
    hours = pd.Series([0, 6, 6, 12, 18, 23, None], dtype="float64")
    dwell = pd.Series(np.arange(1000, dtype=np.float64))
    space = ContextSpace.fit(pd.DataFrame({"HOUR": hours, "DWELL": dwell[:7]}), ("HOUR",))
    assert space is not None and space.edges == ((3.0, 9.0, 15.0, 20.5),)
    codes = space.codes(pd.DataFrame({"HOUR": [0.0, 6.0, 20.5, 23.0, np.nan, 99.0]}))
    assert codes[:, 0].tolist() == [1, 2, 5, 5, 0, 5]  # out of range: the nearest bin
    wide = ContextSpace.fit(pd.DataFrame({"DWELL": dwell}), ("DWELL",))
    assert wide is not None and len(wide.edges[0]) == NUMERIC_BINS - 1
    counts = np.bincount(wide.codes(pd.DataFrame({"DWELL": dwell}))[:, 0])
    assert counts[0] == 0 and counts[1:].min() >= 50  # bins of about equal counts
