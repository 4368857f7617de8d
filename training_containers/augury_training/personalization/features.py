"""Numeric feature vectors from Users and Items metadata.

Each metadata field becomes a block of columns:

* numbers (and booleans): one column, standardised, clipped to ±5 and divided by
  5 (so it weighs no more than the other blocks), 0 when missing;
* categorical strings (``|`` separates multiple values): one-hot over the
  field's values when there are few, else the values hashed into buckets;
* textual strings (long, many words): a hashed bag of words, common English
  words left out.

Every block of a row is scaled to unit length, so each field counts the same
in a cosine similarity however many columns it has. The space (which fields,
vocabularies, means and deviations) is saved with the model as JSON, so
``trainingMode=UPDATE`` maps new items' metadata into the space the model was
trained on.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

RESERVED = {"USER_ID", "ITEM_ID", "CREATION_TIMESTAMP"}
MAX_ONE_HOT = 50
"""Categorical fields with more distinct values than this are hashed."""
HASH_BUCKETS = 32
TEXT_BUCKETS = 128
TEXT_MIN_WORDS = 4.0
"""A string field whose values average more words than this is textual, not categorical."""
CLIP = 5.0

_WORD = re.compile(r"[0-9a-z]+")
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "about",
        "into",
        "than",
        "then",
        "there",
        "these",
        "they",
        "their",
        "not",
        "no",
    }
)
"""Words too common to say anything about an item (left out of textual features)."""


@dataclass
class FieldSpec:
    """How one metadata field turns into columns."""

    name: str
    kind: str  # "numeric" | "onehot" | "hashed" | "text"
    width: int
    mean: float = 0.0
    std: float = 1.0
    vocabulary: list[str] = field(default_factory=list)


@dataclass
class FeatureSpace:
    """The fields of one metadata table and their encodings."""

    fields: list[FieldSpec]

    @property
    def width(self) -> int:
        return sum(f.width for f in self.fields)

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [asdict(f) for f in self.fields]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpace:
        return cls([FieldSpec(**f) for f in data.get("fields", [])])

    @classmethod
    def fit(cls, table: pd.DataFrame, kinds: Mapping[str, str] | None = None) -> FeatureSpace:
        """Choose each field's encoding: as its schema declares it, else from its values."""
        specs: list[FieldSpec] = []
        declared = kinds or {}
        for name in table.columns:
            if name in RESERVED or name.startswith("_"):
                continue
            spec = _fit_field(name, table[name], declared.get(name))
            if spec is not None:
                specs.append(spec)
        return cls(specs)

    def transform(self, table: pd.DataFrame | None, ids: list[str], id_column: str) -> np.ndarray:
        """One float32 row per ID (zeros for IDs the table lacks)."""
        out = np.zeros((len(ids), self.width), dtype=np.float32)
        if table is None or not len(table) or not self.fields:
            return out
        position = {key: i for i, key in enumerate(ids)}
        rows = table[id_column].map(position)
        present = rows.notna().to_numpy()
        target = rows[present].to_numpy(dtype=np.int64)
        start = 0
        for spec in self.fields:
            block = out[:, start : start + spec.width]
            if spec.name in table:
                values = table[spec.name][present]
                block[target] = _encode(spec, values)
            start += spec.width
        return out


def build_features(
    table: pd.DataFrame | None,
    ids: list[str],
    id_column: str,
    kinds: Mapping[str, str] | None = None,
) -> tuple[np.ndarray | None, FeatureSpace | None]:
    """Features for ``ids`` from ``table`` (None when there is no usable metadata)."""
    if table is None or not len(table):
        return None, None
    space = FeatureSpace.fit(table, kinds)
    if not space.fields:
        return None, None
    return space.transform(table, ids, id_column), space


def _fit_field(name: str, column: pd.Series, declared: str | None = None) -> FieldSpec | None:
    """One field's encoding; ``declared`` is its schema's kind (``FIELD_KINDS``), if known.

    A ``textual`` field is always a bag of words and a ``categorical`` one always
    a category (one-hot or hashed); only a plain ``string`` field, which the
    schema leaves open, is judged by how many words its values hold.
    """
    numeric_type = pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column)
    if numeric_type and declared not in ("categorical", "textual"):
        values = pd.to_numeric(column, errors="coerce").astype(float)
        values = values[np.isfinite(values)]
        if values.empty:
            return None
        std = float(values.std(ddof=0)) or 1.0
        return FieldSpec(name, "numeric", 1, mean=float(values.mean()), std=std)
    strings = column.dropna().astype(str)
    if strings.empty:
        return None
    if declared == "textual":
        return FieldSpec(name, "text", TEXT_BUCKETS)
    words = strings.map(lambda s: len(_WORD.findall(s.lower()))).mean()
    guessed_text = words > TEXT_MIN_WORDS and not strings.str.contains("|", regex=False).any()
    if declared != "categorical" and guessed_text:
        return FieldSpec(name, "text", TEXT_BUCKETS)
    counts = strings.str.split("|").explode().str.strip()
    counts = counts[counts != ""].value_counts()
    if counts.empty:
        return None
    if len(counts) <= MAX_ONE_HOT:
        vocabulary = sorted(counts.index.tolist())
        return FieldSpec(name, "onehot", len(vocabulary), vocabulary=vocabulary)
    return FieldSpec(name, "hashed", HASH_BUCKETS)


def _encode(spec: FieldSpec, values: pd.Series) -> np.ndarray:
    n = len(values)
    if spec.kind == "numeric":
        numbers = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
        scaled = np.clip((numbers - spec.mean) / spec.std, -CLIP, CLIP) / CLIP
        return np.nan_to_num(scaled, nan=0.0).reshape(n, 1).astype(np.float32)
    block = np.zeros((n, spec.width), dtype=np.float32)
    lookup = {value: i for i, value in enumerate(spec.vocabulary)}
    for row, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        text = str(value)
        if spec.kind == "text":
            for word in _WORD.findall(text.lower()):
                if word not in STOP_WORDS:
                    block[row, _bucket(word, spec.width)] += 1.0
            continue
        for part in text.split("|"):
            part = part.strip()
            if not part:
                continue
            if spec.kind == "onehot":
                column = lookup.get(part)
                if column is not None:
                    block[row, column] = 1.0
            else:
                block[row, _bucket(part, spec.width)] = 1.0
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    np.divide(block, norms, out=block, where=norms > 0)
    return block


def _bucket(token: str, width: int) -> int:
    return zlib.crc32(token.encode("utf-8")) % width


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), for cosine similarities."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
