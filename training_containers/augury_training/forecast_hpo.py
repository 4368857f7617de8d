"""HPOConfig's ParameterRanges, checked and sampled: shared by the API and the container.

CreatePredictor refuses a bad HPOConfig at once (the control plane calls
:func:`parse_ranges`), and the forecasting container samples the same
:class:`Dimension` objects in its search (``forecasting.hpo``), so both sides
agree on what a range means. Standard library only: the Lambda bundle imports
it. ``Dimension.sample`` takes any random generator with NumPy's ``integers``
and ``uniform``.

:data:`TUNABLE` says which hyperparameters PerformHPO tunes, per algorithm, and
what a range over each may hold: its kind (an integer range for
``context_length``, a continuous one for ``learning_rate``, a categorical one
for CNN-QR's ``use_*`` switches) and the values the model accepts (the bounds of
its parser, which ``tests/unit/test_forecast_hpo.py`` checks). A range outside
them is refused when the predictor is created, not when a sampled value fails a
trial hours later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from augury_training.contract import ClientError

SCALINGS = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
MEMBERS = {
    "integer": "IntegerParameterRanges",
    "continuous": "ContinuousParameterRanges",
    "categorical": "CategoricalParameterRanges",
}
"""Each kind of range and the ParameterRanges member that holds it."""


@dataclass(frozen=True)
class Tunable:
    """What a range over one tunable hyperparameter may be: its kind and valid values."""

    kind: str  # "integer" | "continuous" | "categorical"
    low: float = 0.0
    high: float = 0.0
    values: tuple[str, ...] = ()

    def valid_values(self) -> str:
        if self.kind == "categorical":
            return ", ".join(self.values)
        return f"{self.low:g} to {self.high:g}"


TUNABLE: dict[str, dict[str, Tunable]] = {
    "Deep_AR_Plus": {
        "context_length": Tunable("integer", 1, 500),
        "learning_rate": Tunable("continuous", 1e-5, 1e-1),
    },
    "CNN-QR": {
        "context_length": Tunable("integer", 1, 500),
        "use_related_data": Tunable(
            "categorical", values=("ALL", "NONE", "HISTORICAL", "FORWARD_LOOKING")
        ),
        "use_item_metadata": Tunable("categorical", values=("ALL", "NONE")),
    },
}
"""Algorithm → the hyperparameters PerformHPO tunes (HPOConfig may name only these)."""


class SearchError(ClientError):
    """An HPOConfig the search cannot use; the message names the range and why."""


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter's range, sampled as Amazon's ScalingType says."""

    name: str
    kind: str  # "integer" | "continuous" | "categorical"
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Auto"
    values: tuple[str, ...] = ()

    def nearest(self, value: str | None) -> str:
        """The value of this range closest to ``value`` (a setting that may lie outside it).

        The search's first trial is the predictor's own setting or the algorithm's
        default; the ranges are what the user allows the search to choose, so that
        setting is moved into them: clipped to the bounds, or, for a categorical
        range that does not list it, the first value listed.
        """
        if self.kind == "categorical":
            wanted = (value or "").strip().upper()
            return next((v for v in self.values if v.strip().upper() == wanted), self.values[0])
        try:
            number = float(value) if value is not None else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            number = self.low
        clipped = min(self.high, max(self.low, number))
        if self.kind == "integer":
            return str(int(min(self.high, max(self.low, round(clipped)))))
        return f"{clipped:.6g}"

    def sample(self, rng: Any) -> str:
        if self.kind == "categorical":
            return self.values[int(rng.integers(len(self.values)))]
        value = self._draw(rng)
        if self.kind == "integer":
            return str(int(min(self.high, max(self.low, round(value)))))
        return f"{value:.6g}"

    def _draw(self, rng: Any) -> float:
        scaling = self.scaling
        if scaling == "Auto":  # log scale for ranges spanning orders of magnitude
            scaling = "Logarithmic" if self.low > 0 and self.high / self.low >= 100 else "Linear"
        if scaling == "Logarithmic":
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        if scaling == "ReverseLogarithmic":  # dense near the upper end (rates close to 1)
            top = 1.0 - self.low
            bottom = 1.0 - self.high
            return 1.0 - math.exp(rng.uniform(math.log(bottom), math.log(top)))
        return rng.uniform(self.low, self.high)


def parse_ranges(algorithm: str, ranges: Mapping[str, Any]) -> list[Dimension]:
    """HPOConfig.ParameterRanges as dimensions, each checked (``SearchError`` if bad)."""
    tunable = TUNABLE[algorithm]
    dimensions: list[Dimension] = []
    for kind, member in MEMBERS.items():
        for entry in ranges.get(member) or []:
            name = str(entry.get("Name", ""))
            if name not in tunable:
                raise SearchError(
                    f"{member}: {name!r} is not a tunable hyperparameter of {algorithm}; "
                    f"tunable: {', '.join(tunable)}"
                )
            if any(d.name == name for d in dimensions):
                raise SearchError(f"{member}: {name} appears in more than one range")
            _check_kind(member, kind, name, algorithm, tunable[name])
            if kind == "categorical":
                dimensions.append(_categorical(member, name, entry, tunable[name]))
            else:
                dimensions.append(_numeric(member, kind, name, entry, tunable[name]))
    return dimensions


def _check_kind(member: str, kind: str, name: str, algorithm: str, tunable: Tunable) -> None:
    """A range of the kind the hyperparameter is (no continuous context_length)."""
    if kind == tunable.kind:
        return
    needed = MEMBERS[tunable.kind]
    article = "an" if tunable.kind == "integer" else "a"
    within = "Values among" if tunable.kind == "categorical" else "MinValue and MaxValue within"
    raise SearchError(
        f"{member}: {name} of {algorithm} is {article} {tunable.kind} hyperparameter; give it in "
        f"{needed}, with {within} its valid values {tunable.valid_values()}"
    )


def _categorical(member: str, name: str, entry: Mapping[str, Any], tunable: Tunable) -> Dimension:
    values = tuple(str(v) for v in entry.get("Values") or [])
    if not values:
        raise SearchError(f"{member}: {name} needs at least one value")
    allowed = {value.upper() for value in tunable.values}
    wrong = [value for value in values if value.strip().upper() not in allowed]
    if wrong:
        raise SearchError(
            f"{member}: {name} value {', '.join(wrong)} is not valid; its valid values are "
            f"{tunable.valid_values()}"
        )
    return Dimension(name, "categorical", values=values)


def _numeric(
    member: str, kind: str, name: str, entry: Mapping[str, Any], tunable: Tunable
) -> Dimension:
    low, high = float(entry["MinValue"]), float(entry["MaxValue"])
    scaling = str(entry.get("ScalingType") or "Auto")
    if scaling not in SCALINGS:
        raise SearchError(f"{member}: {name} ScalingType {scaling!r} is not valid")
    if low > high:
        raise SearchError(f"{member}: {name} MinValue {low:g} is above MaxValue {high:g}")
    if scaling == "Logarithmic" and low <= 0:
        raise SearchError(f"{member}: {name} uses Logarithmic scaling, which needs MinValue > 0")
    if scaling == "ReverseLogarithmic" and not (low >= 0 and high < 1):
        raise SearchError(
            f"{member}: {name} uses ReverseLogarithmic scaling, which needs "
            "0 <= MinValue and MaxValue < 1"
        )
    if low < tunable.low or high > tunable.high:
        raise SearchError(
            f"{member}: {name} from MinValue {low:g} to MaxValue {high:g} leaves its valid "
            f"values, {tunable.valid_values()}; both bounds must lie within them"
        )
    return Dimension(name, kind, low, high, scaling)


def default_ranges(algorithm: str, horizon: int, has_related: bool) -> list[Dimension]:
    """What PerformHPO searches when the predictor gives no HPOConfig."""
    context = Dimension("context_length", "integer", horizon, min(500, 4 * horizon), "Linear")
    if algorithm == "Deep_AR_Plus":
        return [context, Dimension("learning_rate", "continuous", 1e-4, 1e-2, "Logarithmic")]
    dimensions = [context, Dimension("use_item_metadata", "categorical", values=("ALL", "NONE"))]
    if has_related:
        dimensions.append(
            Dimension(
                "use_related_data",
                "categorical",
                values=("ALL", "NONE", "HISTORICAL", "FORWARD_LOOKING"),
            )
        )
    return dimensions
