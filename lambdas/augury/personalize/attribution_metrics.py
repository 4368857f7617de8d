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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from augury.personalize.attribution_sources import PREFIX, TAG_SLICE, UNDEFINED_SOURCE
from augury.personalize.avro_rules import ParsedSchema
from augury.ports import AttributionPoint

WINDOW_SECONDS = 15 * 60
MAX_METRICS = 10
"""Amazon's limit of metrics per metric attribution."""
MAX_METRIC_NAME = 255
"""CloudWatch's limit on a metric name (Personalize's model allows 256)."""
CLOUDWATCH_MAX_AGE_SECONDS = 14 * 86_400
"""Records older than this do not reach CloudWatch (Amazon's rule; CloudWatch's own)."""
CLOUDWATCH_MAX_AHEAD_SECONDS = 2 * 3_600
"""CloudWatch refuses data stamped more than two hours ahead."""
CLOUDWATCH_MARGIN_SECONDS = 3_600
"""Kept clear of both limits: a point is stamped with its window's start (up to 15 minutes
before the event), and reaches CloudWatch a little after it is counted."""
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
    if len(name) > MAX_METRIC_NAME:
        raise MetricError(
            f"Metric name {name[:40]}... has {len(name)} characters; CloudWatch takes metric "
            f"names of at most {MAX_METRIC_NAME}"
        )
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


def cloudwatch_bounds(now: float) -> tuple[float, float]:
    """The interaction timestamps whose points CloudWatch takes, ``low <= t < high``."""
    low = now - CLOUDWATCH_MAX_AGE_SECONDS + CLOUDWATCH_MARGIN_SECONDS + WINDOW_SECONDS
    return low, now + CLOUDWATCH_MAX_AHEAD_SECONDS - CLOUDWATCH_MARGIN_SECONDS


def window_of(timestamp: float) -> int:
    """The start of the 15-minute window holding ``timestamp`` (epoch seconds)."""
    return int(timestamp // WINDOW_SECONDS) * WINDOW_SECONDS


@dataclass
class Tally:
    """Metric values per (metric, source, window), added up over tables of interactions.

    Columnar, so an import of millions of rows is counted in a few Arrow operations per
    batch: recommendation IDs resolve once per distinct tag, items are looked up by
    index, and each metric is one group-by of (source, window).
    """

    attribution_arn: str
    specs: Sequence[MetricSpec]
    resolve_tag: Callable[[str], str | None]
    """A recommendation-ID tag's source (``attribution_sources``), or ``None``."""
    item_values: Callable[[], pa.Table | None] = lambda: None
    """ITEM_ID and the summed Items columns (upper-cased), read on first need."""

    def __post_init__(self) -> None:
        self._by_type: dict[str, list[MetricSpec]] = defaultdict(list)
        for spec in self.specs:
            self._by_type[spec.event_type].append(spec)
        self._values: dict[tuple[MetricSpec, str, int], float] = defaultdict(float)
        self._items: pa.Table | None = None

    @property
    def event_types(self) -> list[str]:
        return list(self._by_type)

    @property
    def columns(self) -> set[str]:
        """The Interactions columns (upper-cased) the tally reads."""
        summed = {s.column for s in self.specs if s.dataset == "INTERACTIONS" and s.column}
        return {*COLUMNS_READ, *summed}

    @property
    def is_empty(self) -> bool:
        return not self._values

    def add_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Interactions as dicts (upper-cased keys), such as PutEvents' events."""
        if rows:
            self.add_table(pa.table({c: [row.get(c) for row in rows] for c in self.columns}))

    def add_table(self, table: pa.Table) -> None:
        """Interactions as a table whose column names are upper-cased."""
        if "EVENT_TYPE" not in table.column_names or "TIMESTAMP" not in table.column_names:
            return
        kinds = table["EVENT_TYPE"].cast(pa.string())
        for event_type, specs in self._by_type.items():
            rows = table.filter(
                pc.and_(pc.equal(kinds, event_type), pc.is_valid(table["TIMESTAMP"]))
            )
            if rows.num_rows == 0:
                continue
            seconds = rows["TIMESTAMP"].cast(pa.float64())
            windows = pc.multiply(
                pc.floor(pc.divide(seconds, float(WINDOW_SECONDS))), float(WINDOW_SECONDS)
            )
            sources = self._sources(rows)
            for spec in specs:
                self._accumulate(
                    spec, sources, windows.cast(pa.int64()), self._values_of(spec, rows)
                )

    def _sources(self, rows: pa.Table) -> pa.ChunkedArray | pa.Array:
        """Per row: its eventAttributionSource, else its recommendation's source."""
        candidates = []
        if "EVENT_ATTRIBUTION_SOURCE" in rows.column_names:
            given = rows["EVENT_ATTRIBUTION_SOURCE"].cast(pa.string())
            candidates.append(pc.if_else(pc.equal(given, ""), pa.scalar(None, pa.string()), given))
        if "RECOMMENDATION_ID" in rows.column_names:
            candidates.append(self._recommendation_sources(rows["RECOMMENDATION_ID"]))
        candidates.append(pa.repeat(pa.scalar(UNDEFINED_SOURCE), rows.num_rows))
        return pc.coalesce(*candidates)

    def _recommendation_sources(self, ids: pa.ChunkedArray) -> pa.ChunkedArray:
        text = ids.cast(pa.string())
        ours = pc.starts_with(text, PREFIX)
        tags = pc.utf8_lower(pc.utf8_slice_codeunits(text, TAG_SLICE.start, TAG_SLICE.stop))
        known = {tag: self.resolve_tag(tag) for tag in pc.unique(tags).to_pylist() if tag}
        found = {tag: arn for tag, arn in known.items() if arn}
        if not found:
            return pa.chunked_array([pa.nulls(len(ids), pa.string())])
        keys = pa.array(list(found), pa.string())
        index = pc.index_in(tags, value_set=keys)
        sources = pc.take(pa.array(list(found.values()), pa.string()), index)
        return pc.if_else(ours, sources, pa.scalar(None, pa.string()))

    def _values_of(self, spec: MetricSpec, rows: pa.Table) -> pa.Array | pa.ChunkedArray:
        if spec.function == SAMPLECOUNT:
            return pa.array(np.ones(rows.num_rows))
        if spec.dataset == "ITEMS":
            items = self._item_table()
            if items is None or spec.column not in items.column_names:
                return pa.nulls(rows.num_rows, pa.float64())
            if "ITEM_ID" not in rows.column_names:
                return pa.nulls(rows.num_rows, pa.float64())
            index = pc.index_in(rows["ITEM_ID"].cast(pa.string()), value_set=items["ITEM_ID"])
            return pc.take(_numbers(items[spec.column]), index)
        if spec.column not in rows.column_names:
            return pa.nulls(rows.num_rows, pa.float64())
        return _numbers(rows[spec.column])

    def _item_table(self) -> pa.Table | None:
        if self._items is None:
            found = self.item_values()
            self._items = (
                found if found is not None else pa.table({"ITEM_ID": pa.array([], pa.string())})
            )
        return self._items

    def _accumulate(self, spec: MetricSpec, sources: Any, windows: Any, values: Any) -> None:
        frame = pa.table({"source": sources, "window": windows, "value": values})
        frame = frame.filter(pc.is_finite(frame["value"]))
        if frame.num_rows == 0:
            return
        sums = frame.group_by(["source", "window"]).aggregate([("value", "sum")])
        for source, window, total in zip(
            sums["source"].to_pylist(),
            sums["window"].to_pylist(),
            sums["value_sum"].to_pylist(),
            strict=True,
        ):
            self._values[(spec, str(source), int(window))] += float(total)

    def counted(self) -> list[list[Any]]:
        """What was counted, JSON-safe: ``[metric name, source, window, value]`` rows, for
        work that counts in one invocation and reports in another (a long import)."""
        return [
            [spec.name, source, window, value]
            for (spec, source, window), value in self._values.items()
        ]

    def add_counted(self, rows: Sequence[Sequence[Any]]) -> None:
        """Add :meth:`counted` rows of a tally of the same metrics; unknown metrics are
        left out (the attribution was updated meanwhile)."""
        by_name = {spec.name: spec for spec in self.specs}
        for name, source, window, value in rows:
            spec = by_name.get(name)
            if spec is not None:
                self._values[(spec, str(source), int(window))] += float(value)

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


def _numbers(values: Any) -> Any:
    """A column as float64; what is not a number becomes null."""
    try:
        return values.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(values), pa.float64())
