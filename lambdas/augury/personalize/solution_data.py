"""The data a solution version trains on: Amazon's minimum-data rules and column selection.

Amazon fails a solution version whose Interactions data (imported plus
recorded events, after the solution's eventType / eventValueThreshold /
eventsConfig filtering) has fewer than 1000 interactions, or fewer than 25
users with at least 2 interactions each. The training workflow checks both
here, before any container starts, so the reason comes back at once.

``trainingDataConfig`` (columns to include or exclude per dataset type) is
applied by writing projected copies of the affected channels under the
version's own prefix: the container then simply never sees the columns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augury.personalize.avro_rules import SchemaField, parse_schema_text
from augury.personalize.group_data import column_name, parquet_keys
from augury.resources.blob_downloads import download_all
from augury.scratch import scratch_directory

if TYPE_CHECKING:
    from augury.runtime import Runtime

MIN_INTERACTIONS = 1000
MIN_USERS = 25
MIN_INTERACTIONS_PER_USER = 2
COUNT_COLUMNS = ("USER_ID", "EVENT_TYPE", "EVENT_VALUE")
"""The interaction columns the minimum-data rules need."""


def read_columns(
    runtime: Runtime,
    prefixes: Iterable[str],
    wanted: Sequence[str],
    skip: Container[str] = (),
) -> pa.Table:
    """The ``wanted`` columns (those present) of every Parquet file under ``prefixes``
    but those in ``skip``."""
    tables = []
    keys = [key for prefix in prefixes for key in parquet_keys(runtime, prefix) if key not in skip]
    with scratch_directory(runtime, "augury-count-") as scratch:
        for local in download_all(runtime, keys, Path(scratch)):
            present = [c for c in wanted if c in pq.read_schema(local).names]
            tables.append(pq.read_table(local, columns=present))
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="default")


def training_rows(
    table: pa.Table,
    *,
    event_type: str | None,
    event_value_threshold: str | None,
    events_config: Mapping[str, Any] | None,
) -> pa.Table:
    """The interactions the solution trains on, after its event filters."""
    if event_type and "EVENT_TYPE" in table.column_names:
        table = table.filter(pc.equal(table["EVENT_TYPE"], event_type))
    if event_value_threshold is not None and "EVENT_VALUE" in table.column_names:
        values = pc.cast(table["EVENT_VALUE"], pa.float64())
        table = table.filter(pc.greater_equal(values, float(event_value_threshold)))
    entries = (events_config or {}).get("eventParametersList") or []
    if entries and "EVENT_TYPE" in table.column_names:
        keep = None
        for entry in entries:
            condition = pc.equal(table["EVENT_TYPE"], entry["eventType"])
            threshold = entry.get("eventValueThreshold")
            if threshold is not None and "EVENT_VALUE" in table.column_names:
                values = pc.cast(table["EVENT_VALUE"], pa.float64())
                condition = pc.and_(condition, pc.greater_equal(values, float(threshold)))
            keep = condition if keep is None else pc.or_(keep, condition)
        table = table.filter(keep)
    return table


def minimum_data_problem(table: pa.Table, where: str) -> str | None:
    """Amazon's minimum-data rule the interactions break, as the reason to show; else None."""
    rows = table.num_rows
    if rows < MIN_INTERACTIONS:
        return (
            f"There are not enough interactions to train a model: {where} has {rows} "
            f"interactions, and at least {MIN_INTERACTIONS} are required. Import more "
            "interactions (or record more events) and create a new solution version"
        )
    counts = Counter(table["USER_ID"].to_pylist()) if "USER_ID" in table.column_names else {}
    users = sum(1 for count in counts.values() if count >= MIN_INTERACTIONS_PER_USER)
    if users < MIN_USERS:
        return (
            f"There are not enough users with interaction history to train a model: {where} has "
            f"{users} users with at least {MIN_INTERACTIONS_PER_USER} interactions each, and at "
            f"least {MIN_USERS} such users are required. Import interactions for more users "
            "and create a new solution version"
        )
    return None


def dropped_columns(
    training_data_config: Mapping[str, Any] | None,
    dataset_type: str,
    all_columns: Sequence[str],
    required: Iterable[str],
) -> set[str]:
    """The columns ``trainingDataConfig`` removes from one dataset type's data."""
    config = training_data_config or {}
    drop: set[str] = set()
    for key, columns in (config.get("excludedDatasetColumns") or {}).items():
        if key.upper() == dataset_type:
            drop |= {column_name(c) for c in columns}
    for key, columns in (config.get("includedDatasetColumns") or {}).items():
        if key.upper() == dataset_type:
            keep = {column_name(c) for c in columns} | set(required)
            drop |= {c for c in all_columns if c not in keep}
    return drop - set(required)


def project_prefix(runtime: Runtime, source: str, target: str, drop: set[str]) -> int:
    """Copy every Parquet file under ``source`` to ``target`` without the ``drop`` columns.

    Relative paths are kept (the events channel has sub-folders); returns the
    number of files written.
    """
    runtime.blobs.delete_prefix(target)
    written = 0
    with scratch_directory(runtime, "augury-project-") as scratch:
        for key in parquet_keys(runtime, source):
            local = Path(scratch) / "in.parquet"
            out = Path(scratch) / "out.parquet"
            runtime.blobs.download_file(key, local)
            table = pq.read_table(local)
            table = table.drop_columns([c for c in table.column_names if c in drop])
            pq.write_table(table, out)
            runtime.blobs.upload_file(out, target + key[len(source) :])
            written += 1
    return written


def field_kinds(schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """What the Users, Items and Interactions schemas declare each column to be, for the
    container.

    ``schemas`` maps ``"USERS"`` / ``"ITEMS"`` / ``"INTERACTIONS"`` to the parsed
    Avro document. The container encodes a ``textual`` field as words and a
    ``categorical`` one as a category, exactly as declared, instead of guessing
    from the values; the Interactions schema's metadata fields are the context
    the deep recipes learn.
    """
    kinds: dict[str, dict[str, str]] = {}
    for dataset_type, schema in schemas.items():
        if dataset_type not in ("USERS", "ITEMS", "INTERACTIONS"):
            continue
        parsed = parse_schema_text(json.dumps(schema))
        kinds[dataset_type] = {column_name(field.name): _kind(field) for field in parsed.fields}
    return kinds


def _kind(field: SchemaField) -> str:
    if field.textual:
        return "textual"
    if field.categorical:
        return "categorical"
    if field.type == "boolean":
        return "boolean"
    if field.type in ("int", "long", "float", "double"):
        return "numeric"
    return "string"
