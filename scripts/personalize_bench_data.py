"""The recommendation benchmark's data: ml-100k or a folder of Personalize CSVs, and the
seeded Amazon split every model of ``benchmark_ml100k.py`` sees.

A folder holds ``interactions.csv`` (USER_ID, ITEM_ID, TIMESTAMP in epoch
seconds; EVENT_TYPE and EVENT_VALUE optional) and, optionally, ``items.csv`` and
``users.csv``, as they would be imported with CreateDatasetImportJob.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import movielens

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training_containers"))

from augury_training.personalization.evaluation import (
    EvaluationSplit,
    amazon_split,
)

ML100K = "ml-100k"
"""What a results file records for ml-100k rows (:attr:`Source.name`)."""


@dataclass(frozen=True)
class Source:
    """Where the benchmark's data comes from: ml-100k (the recbole wheel, cached in
    ``cache``) or a ``folder`` of Personalize CSVs (see the module docstring)."""

    cache: Path | None = None
    folder: Path | None = None

    @property
    def name(self) -> str:
        """What a saved results file records, so rows on other data are never mixed in."""
        return ML100K if self.folder is None else str(self.folder.resolve())

    def describe(self, interactions: int) -> str:
        if self.folder is None:
            return (
                f"ml-100k from the recbole {movielens.RECBOLE_VERSION} wheel, "
                f"{interactions:,} ratings (each one interaction)"
            )
        return f"`{self.folder.name}` (CSV files), {interactions:,} interactions"


@dataclass
class Bench:
    """The data every model sees: the split, the catalog and the metadata tables."""

    split: EvaluationSplit
    catalog: list[str]
    """Every item ID of the Interactions and Items data, numeric order; scores follow it."""
    items: pd.DataFrame
    users: pd.DataFrame
    interactions: int
    event_type: str
    """The most common event type: what test users' inputs are sent to a recipe as."""


def load_bench(seed: int, source: Source) -> Bench:
    if source.folder is None:
        data = movielens.load_ml100k(source.cache)
        interactions, items, users = data.interactions, data.items, data.users
    else:
        interactions, items, users = read_folder(source.folder)
    ids = set(interactions["ITEM_ID"]) | set(items["ITEM_ID"])
    catalog = sorted(ids, key=lambda item: (len(item), item))
    return Bench(
        split=amazon_split(interactions, seed),
        catalog=catalog,
        items=items,
        users=users,
        interactions=len(interactions),
        event_type=str(interactions["EVENT_TYPE"].mode().iloc[0]),
    )


TEXT_COLUMNS = ("USER_ID", "ITEM_ID", "EVENT_TYPE")


def read_folder(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(interactions, items, users)`` from a folder of Personalize CSVs; a missing
    Items or Users file is an empty table. Raises ``SystemExit`` naming a missing
    file or column, before any model runs."""

    def read(name: str, required: tuple[str, ...], optional: bool) -> pd.DataFrame:
        path = folder / name
        if not path.exists():
            if optional:
                return pd.DataFrame({column: pd.Series(dtype=str) for column in required})
            raise SystemExit(f"--data {folder}: {name} is missing")
        # IDs and event types stay text; a metadata column of numbers is read as numbers,
        # as a Personalize schema would declare it, and empty cells are missing values
        frame = pd.read_csv(path, dtype=dict.fromkeys(TEXT_COLUMNS, str))
        missing = [column for column in required if column not in frame.columns]
        if missing:
            raise SystemExit(f"--data {folder}: {name} has no column(s) {', '.join(missing)}")
        return frame

    interactions = read("interactions.csv", ("USER_ID", "ITEM_ID", "TIMESTAMP"), False)
    if interactions.empty:
        raise SystemExit(f"--data {folder}: interactions.csv has no rows")
    timestamps = pd.to_numeric(interactions["TIMESTAMP"], errors="coerce")
    if timestamps.isna().any():
        line = int(np.flatnonzero(timestamps.isna().to_numpy())[0]) + 2
        raise SystemExit(
            f"--data {folder}: interactions.csv line {line}: TIMESTAMP must be epoch seconds"
        )
    interactions["TIMESTAMP"] = timestamps.astype("int64")
    if "EVENT_TYPE" not in interactions:
        interactions["EVENT_TYPE"] = ""
    interactions["EVENT_TYPE"] = interactions["EVENT_TYPE"].fillna("")
    values = interactions.get("EVENT_VALUE", pd.Series(np.nan, index=interactions.index))
    interactions["EVENT_VALUE"] = pd.to_numeric(values, errors="coerce")
    items = read("items.csv", ("ITEM_ID",), True)
    users = read("users.csv", ("USER_ID",), True)
    if "CREATION_TIMESTAMP" in items:
        items["CREATION_TIMESTAMP"] = pd.to_numeric(items["CREATION_TIMESTAMP"]).astype("int64")
    return interactions, items, users
