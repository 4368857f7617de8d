"""Recorded events as Parquet files under a group's events prefix, for the next training.

One file per consumer batch and folder (``interactions/``, ``users/``,
``items/``), with the dataset's columns in the data contract's form
(``augury.personalize.group_data``): one column per schema field, reserved
names upper-cased, Arrow types as imports write them. Rows keep arrival order
within a file. A file's name is its batch's newest arrival time and a digest
of its rows, so names sort in time order (for Users and Items, the last row
per ID in name order is the newest) and a batch delivered again (the stream
delivers at least once) rewrites the same file instead of adding a copy.

Each row also keeps when it arrived (:data:`ARRIVAL_COLUMN`): once
``event_compaction`` has merged many batches into one file, the name tells only
the newest, and Trending-Now must still tell the rows a model trained on from
those that came after.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from augury.local.history_window import encode
from augury.personalize.avro_rules import ParsedSchema
from augury.personalize.group_data import column_name

if TYPE_CHECKING:
    from augury.runtime import Runtime

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "long": pa.int64(),
    "float": pa.float64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
}
"""As ``augury.personalize.import_fields`` stores each Avro type, so both kinds of file concat."""
EVENT_ID_COLUMN = "EVENT_ID"
"""The column a recorded interaction's eventId is kept in (``augury_training.personalization
.data`` reads it under this name)."""
ARRIVAL_COLUMN = "#RECEIVED_AT"
"""When each row reached the consumer, in epoch seconds. No schema field can be named so (Avro
names hold no ``#``); readers that want the dataset's columns select them by name."""


def arrow_schema(schema: ParsedSchema) -> pa.Schema:
    return pa.schema(
        [
            pa.field(column_name(field.name), ARROW_TYPES[field.type], nullable=True)
            for field in schema.fields
        ]
    )


def table_for(schema: ParsedSchema, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The rows (keyed by upper-cased field name) as a table in the dataset's columns.

    Recorded interactions carry their ``EVENT_ID`` too, one more column: Amazon does not
    train on an event after the first with the same eventId, and training can only tell
    them apart by it (readers that want the dataset's columns select them by name). Rows
    with an :data:`ARRIVAL_COLUMN` value keep it in that column, last.
    """
    target = arrow_schema(schema)
    columns = {}
    for field, arrow_field in zip(schema.fields, target, strict=True):
        upper = field.name.upper()
        columns[arrow_field.name] = pa.array([row.get(upper) for row in rows], arrow_field.type)
    if EVENT_ID_COLUMN not in target.names and any(EVENT_ID_COLUMN in row for row in rows):
        target = target.append(pa.field(EVENT_ID_COLUMN, pa.string(), nullable=True))
        columns[EVENT_ID_COLUMN] = pa.array([row.get(EVENT_ID_COLUMN) for row in rows], pa.string())
    if any(ARRIVAL_COLUMN in row for row in rows):
        target = target.append(pa.field(ARRIVAL_COLUMN, pa.float64(), nullable=True))
        columns[ARRIVAL_COLUMN] = pa.array([row.get(ARRIVAL_COLUMN) for row in rows], pa.float64())
    return pa.table(columns, schema=target)


def file_key(folder_prefix: str, arrival: float, rows: Sequence[Mapping[str, Any]]) -> str:
    """``<prefix><arrival, fixed width>-<digest of the rows>.parquet``: a batch delivered
    again (with the arrival time its record carries) writes the same key."""
    return keyed(folder_prefix, arrival, encode(list(rows)).encode())


def keyed(folder_prefix: str, arrival: float, content: bytes) -> str:
    """A file's key: its arrival time, fixed width so names sort in time order, and a
    digest of ``content``, so the same content is written to the same key."""
    digest = hashlib.sha256(content).hexdigest()[:20]
    return f"{folder_prefix}{arrival:017.6f}-{digest}.parquet"


def arrival_of(key: str) -> float:
    """The arrival time a file is named by (``inf`` for a name the consumer does not write)."""
    name = key.rsplit("/", 1)[-1]
    try:
        return float(name.split("-", 1)[0])
    except ValueError:
        return float("inf")


def write_rows(
    runtime: Runtime,
    folder_prefix: str,
    schema: ParsedSchema,
    rows: Sequence[Mapping[str, Any]],
    arrival: float,
) -> str | None:
    """Write one Parquet file of ``rows``; return its key (``None`` when there are none)."""
    if not rows:
        return None
    buffer = io.BytesIO()
    pq.write_table(table_for(schema, rows), buffer, compression="zstd")
    key = file_key(folder_prefix, arrival, rows)
    runtime.blobs.put_bytes(key, buffer.getvalue())
    return key


def warm_up() -> None:
    """Load Parquet's writer and codec now: the first write otherwise takes most of a second."""
    import augury.personalize.event_consumer  # noqa: F401  (its imports, too)

    pq.write_table(pa.table({"warm": [1]}), io.BytesIO(), compression="zstd")
