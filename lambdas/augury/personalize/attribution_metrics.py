"""What a metric attribution counts, and the counting.

A metric attribution lists up to ten metrics, each an event type and a
function: ``SAMPLECOUNT()`` counts the events, ``SUM(Interactions.COLUMN)``
adds a numeric column of the event, ``SUM(Items.COLUMN)`` a numeric column of
the event's item (the Items dataset as imported, overlaid by PutItems).
:class:`Tally` applies them to interactions, whether they arrive by PutEvents
or in an import's files, per source (``attribution_sources``) and per 15-minute
window of the interaction's ``TIMESTAMP``, as Amazon Personalize aggregates.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from augury.personalize.attribution_sources import UNDEFINED_SOURCE
from augury.personalize.avro_rules import ParsedSchema
from augury.ports import AttributionPoint

WINDOW_SECONDS = 15 * 60
MAX_METRICS = 10
"""Amazon's limit of metrics per metric attribution."""
CLOUDWATCH_MAX_AGE_SECONDS = 14 * 86_400
"""Records older than this do not reach CloudWatch (Amazon's rule; CloudWatch's own)."""
SAMPLECOUNT = "SAMPLECOUNT"
SUM = "SUM"
SUMMABLE = {"INTERACTIONS": "Interactions", "ITEMS": "Items"}
NUMERIC_TYPES = frozenset({"int", "long", "float", "double"})
COLUMNS_READ = (
    "ITEM_ID",
    "EVENT_TYPE",
    "TIMESTAMP",
    "RECOMMENDATION_ID",
    "EVENT_ATTRIBUTION_SOURCE",
)
"""The Interactions columns every tally reads (upper-cased), beside summed ones."""

_EXPRESSION = re.compile(
    r"^\s*(?P<function>[A-Za-z]+)\s*\(\s*(?:(?P<dataset>[A-Za-z_]+)\s*\.\s*(?P<column>[A-Za-z_][A-Za-z0-9_]*))?\s*\)\s*$"
)


class MetricError(ValueError):
    """A metric that cannot be reported; the message says why, for InvalidInputException."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric: the events it counts and what it adds up."""

    name: str
    event_type: str
    function: str
    dataset: str | None = None
    """``INTERACTIONS`` or ``ITEMS`` for ``SUM``; ``None`` for ``SAMPLECOUNT``."""
    column: str | None = None
    """The summed column, upper-cased."""

    def as_api(self, expression: str) -> dict[str, str]:
        return {"eventType": self.event_type, "metricName": self.name, "expression": expression}


def parse_metric(metric: Mapping[str, Any]) -> MetricSpec:
    """A ``MetricAttribute`` as a spec; ``MetricError`` for an expression Amazon refuses."""
    name, event_type = str(metric["metricName"]), str(metric["eventType"])
    expression = str(metric["expression"])
    match = _EXPRESSION.match(expression)
    if match is None:
        raise MetricError(
            f"Metric {name}: expression {expression!r} is not SAMPLECOUNT() or "
            "SUM(Interactions.COLUMN) / SUM(Items.COLUMN)"
        )
    function = match["function"].upper()
    dataset = match["dataset"].upper() if match["dataset"] else None
    if function == SAMPLECOUNT:
        if dataset is not None:
            raise MetricError(f"Metric {name}: SAMPLECOUNT() takes no column; got {expression!r}")
        return MetricSpec(name, event_type, SAMPLECOUNT)
    if function != SUM:
        raise MetricError(
            f"Metric {name}: {match['function']}() is not a metric function; "
            "use SUM() or SAMPLECOUNT()"
        )
    if dataset is None:
        raise MetricError(
            f"Metric {name}: SUM() needs a dataset and column, such as SUM(Items.PRICE)"
        )
    if dataset not in SUMMABLE:
        raise MetricError(
            f"Metric {name}: SUM() adds columns of the Interactions or Items dataset, "
            f"not {match['dataset']}"
        )
    return MetricSpec(name, event_type, SUM, dataset, match["column"].upper())


def check_column(spec: MetricSpec, schemas: Mapping[str, ParsedSchema]) -> None:
    """A ``SUM`` must name a numeric column of a dataset the group has."""
    if spec.dataset is None or spec.column is None:
        return
    label = SUMMABLE[spec.dataset]
    schema = schemas.get(spec.dataset)
    if schema is None:
        raise MetricError(
            f"Metric {spec.name}: SUM({label}.{spec.column}) needs the dataset group's "
            f"{label} dataset; create it first"
        )
    field = next((f for f in schema.fields if f.name.upper() == spec.column), None)
    if field is None:
        raise MetricError(f"Metric {spec.name}: the {label} schema has no field {spec.column}")
    if field.type not in NUMERIC_TYPES:
        raise MetricError(
            f"Metric {spec.name}: SUM() needs a numeric column; {label}.{field.name} is "
            f"{field.describe()}"
        )


def window_of(timestamp: float) -> int:
    """The start of the 15-minute window holding ``timestamp`` (epoch seconds)."""
    return int(timestamp // WINDOW_SECONDS) * WINDOW_SECONDS


@dataclass
class Tally:
    """Metric values per (metric, source, window), added up over interactions."""

    attribution_arn: str
    specs: Sequence[MetricSpec]
    resolve: Callable[[str | None], str | None]
    """A recommendation ID's source, or ``None``."""
    item_row: Callable[[str], Mapping[str, Any] | None] = lambda _item: None
    """An item's Items row (upper-cased columns), for ``SUM(Items.X)``."""

    def __post_init__(self) -> None:
        self._by_type: dict[str, list[MetricSpec]] = defaultdict(list)
        for spec in self.specs:
            self._by_type[spec.event_type].append(spec)
        self._values: dict[tuple[MetricSpec, str, int], float] = defaultdict(float)

    @property
    def event_types(self) -> list[str]:
        return list(self._by_type)

    def add(self, row: Mapping[str, Any]) -> None:
        """One interaction, its columns upper-cased."""
        specs = self._by_type.get(str(row.get("EVENT_TYPE")))
        timestamp = row.get("TIMESTAMP")
        if not specs or timestamp is None:
            return
        source = (
            row.get("EVENT_ATTRIBUTION_SOURCE")
            or self.resolve(row.get("RECOMMENDATION_ID"))
            or UNDEFINED_SOURCE
        )
        window = window_of(float(timestamp))
        for spec in specs:
            value = self._value(spec, row)
            if value is not None:
                self._values[(spec, str(source), window)] += value

    def add_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.add(row)

    def _value(self, spec: MetricSpec, row: Mapping[str, Any]) -> float | None:
        if spec.function == SAMPLECOUNT:
            return 1.0
        if spec.dataset == "ITEMS":
            item = row.get("ITEM_ID")
            found = self.item_row(str(item)) if item is not None else None
            number = found.get(spec.column) if found else None
        else:
            number = row.get(spec.column or "")
        try:
            return float(number) if number is not None else None
        except (TypeError, ValueError):
            return None

    def points(self) -> list[AttributionPoint]:
        """What was counted, ordered by window, metric and source."""
        found = [
            AttributionPoint(
                attribution_arn=self.attribution_arn,
                metric_name=spec.name,
                event_type=spec.event_type,
                function=spec.function,
                source=source,
                window_start=window,
                value=value,
            )
            for (spec, source, window), value in self._values.items()
        ]
        return sorted(found, key=lambda p: (p.window_start, p.metric_name, p.source))

    def __bool__(self) -> bool:
        return bool(self._values)
