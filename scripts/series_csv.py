"""Any public data as one benchmark group: a TARGET_TIME_SERIES CSV, its last horizon held out.

``benchmark_m3.py --data FILE.csv --frequency D --horizon 14`` runs the same rows
on data no default was tuned on. The file is what Amazon Forecast imports: a
header naming ``item_id``, ``timestamp`` and ``target_value`` (``demand``, the
RETAIL domain's name, is read too), one row per item and time. Each item's rows
are ordered by timestamp; its last ``horizon`` values are the hidden test, the
rest its history, as the M competitions split them. Items with a missing target,
or too short to hold out a horizon and keep two seasons (at least three points)
of history, are left out and counted on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from competitions import Competition, Group, GroupSpec

SEASON_LENGTHS = {"Y": 1, "3M": 4, "Q": 4, "M": 12, "W": 52, "D": 7, "H": 24, "30min": 48}
"""The season a frequency implies when ``--season-length`` is not given."""
TARGET_NAMES = ("target_value", "demand")
AMAZON_FREQUENCIES = {"Q": "3M"}
"""Spellings of a frequency the models know by another name."""


def default_season_length(frequency: str) -> int:
    if frequency not in SEASON_LENGTHS:
        raise SystemExit(
            f"no default season length for frequency {frequency!r}; give --season-length"
        )
    return SEASON_LENGTHS[frequency]


def csv_competition(path: Path, frequency: str, horizon: int, season_length: int) -> Competition:
    """The file as a one-group competition, named after it."""
    spec = GroupSpec(
        name=path.stem,
        series_type=path.stem,
        horizon=horizon,
        season_length=season_length,
        frequency=AMAZON_FREQUENCIES.get(frequency, frequency),
    )
    return Competition(path.stem, loader="", groups=(spec,))


def load_csv_groups(path: Path, spec: GroupSpec, subset: int | None) -> list[Group]:
    """The file's items as one group (``subset`` evenly spaced items of it)."""
    import pandas as pd

    if not path.is_file():
        raise SystemExit(f"{path}: no such file")
    frame = pd.read_csv(path)
    columns = {str(name).strip().lower(): name for name in frame.columns}
    target = next((columns[name] for name in TARGET_NAMES if name in columns), None)
    missing = [name for name in ("item_id", "timestamp") if name not in columns]
    if missing or target is None:
        wanted = ", ".join([*missing, *([] if target else ["target_value (or demand)"])])
        raise SystemExit(f"{path}: the header has no {wanted} column")
    frame = frame.rename(
        columns={columns["item_id"]: "item", columns["timestamp"]: "time", target: "y"}
    )
    frame["time"] = pd.to_datetime(frame["time"])
    frame["y"] = pd.to_numeric(frame["y"], errors="coerce")
    shortest = spec.horizon + max(3, 2 * spec.season_length)
    names, train, test = [], [], []
    incomplete = short = 0
    for item, rows in frame.sort_values(["item", "time"], kind="stable").groupby("item"):
        values = rows["y"].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            incomplete += 1
        elif values.size < shortest:
            short += 1
        else:
            names.append(str(item))
            train.append(values[: -spec.horizon])
            test.append(values[-spec.horizon :])
    if incomplete or short:
        print(
            f"{path.name}: left out {incomplete} item(s) with a missing target and {short} "
            f"shorter than {shortest} points",
            file=sys.stderr,
        )
    if not names:
        raise SystemExit(f"{path}: no item has {shortest} complete points to benchmark on")
    if subset is not None and subset < len(names):
        picks = np.linspace(0, len(names) - 1, subset).round().astype(int)
        names = [names[i] for i in picks]
        train = [train[i] for i in picks]
        test = [test[i] for i in picks]
    return [Group(spec, names, train, np.vstack(test))]
