"""Contextual metadata: the Interactions dataset's own metadata fields (DEVICE, HOUR...).

Amazon Personalize's User-Personalization and Personalized-Ranking recipes (v1
and v2) learn from the metadata fields of the Interactions schema, the context
each interaction happened in, and take the current context at request time
(GetRecommendations' and GetPersonalizedRanking's ``context`` map, keyed by
field name). This module picks those fields from the schema and turns their
values into integer codes the sequence model embeds.

* Context fields are the Interactions schema's metadata fields that are
  categorical strings, booleans or numbers, never the reserved ones (USER_ID,
  ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE...). A string field without
  ``"categorical": true`` is not used, as Amazon trains on none.
* A categorical field's vocabulary is its ``MAX_VALUES`` most frequent values.
  Values compare after trimming and lower-casing (``"Mobile "`` is ``mobile``;
  ``sequence_encoder.context_value``, which serving shares), as Personalize
  compares categorical values case-insensitively. A value is one context as a
  whole, ``|`` included.
* A numeric field is cut into bins, each embedded like a category, so the
  model can learn any shape of effect (an hour of the day, a discount): every
  distinct value its own bin when there are at most ``MAX_DISTINCT_NUMBERS``,
  else ``NUMERIC_BINS`` bins of about equal counts. ``edges`` keeps the cut
  points; a request's value (a string, as the ``context`` map holds) is parsed
  and binned the same way.
* Code 0 is "not given, not readable or not seen in training", so a request
  without context asks for what users do in general.
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
CATEGORY_KINDS = ("categorical", "boolean")
NUMERIC = "numeric"
MAX_VALUES = 1000
"""Most values a categorical context field keeps (the most frequent); the rest read as
unknown."""
MAX_DISTINCT_NUMBERS = 32
"""A numeric field with at most this many distinct values gets a bin per value."""
NUMERIC_BINS = 16


def context_fields(field_kinds: Mapping[str, Mapping[str, str]] | None) -> tuple[str, ...]:
    """The Interactions fields that are context, from the schemas' declared kinds."""
    kinds = (field_kinds or {}).get(INTERACTIONS) or {}
    return tuple(
        name
        for name, kind in kinds.items()
        if name not in RESERVED and (kind in CATEGORY_KINDS or kind == NUMERIC)
    )


@dataclass(frozen=True)
class ContextSpace:
    """Context fields and their codes: for a categorical field, value ``values[f][i]`` has
    code ``i + 1`` and ``edges[f]`` is None; for a numeric one, ``edges[f]`` are the cut
    points and ``values[f]`` names its bins (code ``i + 1`` is bin ``i``)."""

    fields: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]
    edges: tuple[tuple[float, ...] | None, ...]

    @classmethod
    def fit(cls, interactions: pd.DataFrame, fields: tuple[str, ...]) -> ContextSpace | None:
        """The space of the fields present in ``interactions`` with at least one value."""
        kept: list[str] = []
        vocabularies: list[tuple[str, ...]] = []
        all_edges: list[tuple[float, ...] | None] = []
        for name in fields:
            if name not in interactions:
                continue
            column = interactions[name]
            if _is_numeric(column):
                numbers = _numbers(column)
                numbers = numbers[np.isfinite(numbers)]
                if numbers.size == 0:
                    continue
                edges = _cut_points(numbers)
                kept.append(name)
                all_edges.append(edges)
                vocabularies.append(tuple(f"bin{i}" for i in range(len(edges) + 1)))
                continue
            counts = _normalised(column).value_counts()
            if counts.empty:
                continue
            ordered = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
            kept.append(name)
            all_edges.append(None)
            vocabularies.append(tuple(value for value, _ in ordered[:MAX_VALUES]))
        return cls(tuple(kept), tuple(vocabularies), tuple(all_edges)) if kept else None

    @property
    def sizes(self) -> tuple[int, ...]:
        """Each field's number of codes besides 0 (its embedding has one more row)."""
        return tuple(len(values) for values in self.values)

    def codes(self, interactions: pd.DataFrame) -> np.ndarray:
        """One row of codes per interaction (int64, interactions x fields; 0: unknown)."""
        out = np.zeros((len(interactions), len(self.fields)), dtype=np.int64)
        for column, (name, values, edges) in enumerate(
            zip(self.fields, self.values, self.edges, strict=True)
        ):
            if name not in interactions:
                continue
            if edges is not None:
                numbers = _numbers(interactions[name])
                binned = np.searchsorted(np.asarray(edges), numbers, side="right") + 1
                out[:, column] = np.where(np.isfinite(numbers), binned, 0)
                continue
            lookup = pd.Index(values)
            found = lookup.get_indexer(_normalised(interactions[name]).fillna(""))
            out[:, column] = found + 1  # -1 (not in the vocabulary) becomes 0
        return out


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _numbers(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _cut_points(numbers: np.ndarray) -> tuple[float, ...]:
    """Midpoints between the distinct values when they are few, else quantile cut points."""
    distinct = np.unique(numbers)
    if distinct.size <= MAX_DISTINCT_NUMBERS:
        return tuple(float(x) for x in (distinct[:-1] + distinct[1:]) / 2.0)
    inner = np.quantile(numbers, np.linspace(0.0, 1.0, NUMERIC_BINS + 1)[1:-1])
    return tuple(float(x) for x in np.unique(inner))


def _normalised(column: pd.Series) -> pd.Series:
    """``context_value`` of every value, vectorised (str() then trim and lower-case gives
    the same text for strings, booleans and numbers); missing and empty values are NA."""
    text = column.astype("string").str.strip().str.lower()
    return text.mask(text == "")
