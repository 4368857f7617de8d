"""Contextual metadata: the Interactions dataset's own categorical fields (DEVICE, LOCATION...).

Amazon Personalize's User-Personalization and Personalized-Ranking recipes (v1
and v2) learn from the metadata fields of the Interactions schema, the context
each interaction happened in, and take the current context at request time
(GetRecommendations' and GetPersonalizedRanking's ``context`` map, keyed by
field name). This module picks those fields from the schema and turns their
values into integer codes the sequence model embeds.

* Context fields are the Interactions schema's metadata fields that are
  categorical strings, plain strings or booleans, never the reserved ones
  (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, ...). Numeric fields are not a
  context Amazon's requests can carry (the ``context`` map holds strings).
* A field's vocabulary is its ``MAX_VALUES`` most frequent values; code 0 is
  "not given or not seen in training", so a request without context, or with
  a value the model never saw, asks for what users do in general.
* Values compare after trimming and lower-casing (``"Mobile "`` is ``mobile``;
  ``sequence_encoder.context_value``, which serving shares), as Personalize
  compares categorical values case-insensitively. A value is one context as a
  whole, ``|`` included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from augury_training.personalize_contract import RESERVED_NAMES

INTERACTIONS = "INTERACTIONS"
RESERVED = RESERVED_NAMES | {
    "EVENT_ID",  # recorded events' IDs (data.EVENT_ID)
    "WEIGHT",  # training's own column of event weights (data.WEIGHT)
}
CONTEXT_KINDS = ("categorical", "string", "boolean")
MAX_VALUES = 1000
"""Most values a context field keeps (the most frequent); the rest read as unknown."""


def context_fields(field_kinds: Mapping[str, Mapping[str, str]] | None) -> tuple[str, ...]:
    """The Interactions fields that are context, from the schemas' declared kinds."""
    kinds = (field_kinds or {}).get(INTERACTIONS) or {}
    return tuple(
        name for name, kind in kinds.items() if name not in RESERVED and kind in CONTEXT_KINDS
    )


@dataclass(frozen=True)
class ContextSpace:
    """Context fields and their vocabularies: value ``values[f][i]`` has code ``i + 1``."""

    fields: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]

    @classmethod
    def fit(cls, interactions: pd.DataFrame, fields: tuple[str, ...]) -> ContextSpace | None:
        """The space of the fields present in ``interactions`` with at least one value."""
        kept: list[str] = []
        vocabularies: list[tuple[str, ...]] = []
        for name in fields:
            if name not in interactions:
                continue
            counts = _normalised(interactions[name]).value_counts()
            if counts.empty:
                continue
            ordered = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
            kept.append(name)
            vocabularies.append(tuple(value for value, _ in ordered[:MAX_VALUES]))
        return cls(tuple(kept), tuple(vocabularies)) if kept else None

    @property
    def sizes(self) -> tuple[int, ...]:
        """Each field's vocabulary size (its embedding has one more row: code 0)."""
        return tuple(len(values) for values in self.values)

    def codes(self, interactions: pd.DataFrame) -> np.ndarray:
        """One row of codes per interaction (int64, interactions x fields; 0: unknown)."""
        out = np.zeros((len(interactions), len(self.fields)), dtype=np.int64)
        for column, (name, values) in enumerate(zip(self.fields, self.values, strict=True)):
            if name not in interactions:
                continue
            lookup = pd.Index(values)
            found = lookup.get_indexer(_normalised(interactions[name]).fillna(""))
            out[:, column] = found + 1  # -1 (not in the vocabulary) becomes 0
        return out


def _normalised(column: pd.Series) -> pd.Series:
    """``context_value`` of every value, vectorised (str() then trim and lower-case gives
    the same text for strings, booleans and numbers); missing and empty values are NA."""
    text = column.astype("string").str.strip().str.lower()
    return text.mask(text == "")
