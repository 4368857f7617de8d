"""A dataset group's imported data, as the rest of Personalize reads it.

Training, filters, serving catalogs and exports all need the same two things:
which datasets a group has (with their parsed schemas) and the rows each one
holds now. A dataset's current data lives under the blob prefix recorded in
its ``_data_prefix`` attribute (written by the import workflow,
``augury.workflows.personalize_import``): Parquet files with one column per
schema field, reserved names upper-cased, IDs strings and timestamps int64
epoch seconds. The attribute is absent until an import succeeds, and an
import that fails leaves it where it was, so a reader never sees half a
version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from augury.personalize.resource_types import DATASET
from augury.resources.blob_downloads import download_all
from augury.resources.data_versions import DATA_PREFIX
from augury.scratch import scratch_directory
from augury_training.personalize_contract import RESERVED_NAMES

if TYPE_CHECKING:
    from augury.runtime import Runtime

DATA_ROWS = "_data_rows"
"""Dataset attribute: how many rows the current version holds."""


@dataclass(frozen=True)
class GroupDataset:
    """One dataset of a group: its type, schema and where its current data is."""

    arn: str
    dataset_type: str
    """``INTERACTIONS``, ``USERS`` or ``ITEMS``."""
    schema: dict[str, Any]
    """The Avro schema document, parsed."""
    data_prefix: str | None
    rows: int

    def field_names(self) -> list[str]:
        """The Parquet column names, in schema order (reserved names upper-cased)."""
        return [column_name(field["name"]) for field in self.schema.get("fields", [])]


def column_name(field_name: str) -> str:
    """The stored column for a schema field: reserved names upper-cased, others as written."""
    upper = field_name.upper()
    return upper if upper in RESERVED_NAMES else field_name


def group_datasets(runtime: Runtime, dataset_group_arn: str) -> dict[str, GroupDataset]:
    """The group's datasets keyed ``INTERACTIONS`` / ``USERS`` / ``ITEMS`` (those that exist)."""
    found: dict[str, GroupDataset] = {}
    cursor = None
    while True:
        page = runtime.metadata.list(parent_arn=dataset_group_arn, limit=100, cursor=cursor)
        for record in page.items:
            if record.kind != DATASET.kind:
                continue
            dataset_type = str(record.attributes.get("datasetType", "")).upper()
            schema_record = runtime.metadata.get(str(record.attributes.get("schemaArn")))
            schema = json.loads(schema_record.attributes["schema"]) if schema_record else {}
            found[dataset_type] = GroupDataset(
                arn=record.arn,
                dataset_type=dataset_type,
                schema=schema,
                data_prefix=record.attributes.get(DATA_PREFIX) or None,
                rows=int(record.attributes.get(DATA_ROWS) or 0),
            )
        cursor = page.cursor
        if cursor is None:
            return found


def parquet_keys(runtime: Runtime, prefix: str) -> list[str]:
    """The Parquet files under ``prefix``, in name order (parts are numbered)."""
    return sorted(key for key in runtime.blobs.list_keys(prefix) if key.endswith(".parquet"))


def read_files(
    runtime: Runtime,
    keys: Sequence[str],
    *,
    missing_ok: bool = False,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """The Parquet files ``keys``, concatenated in order (schemas unified, as
    :func:`read_table` does); an empty table for none. With ``missing_ok``, files gone
    since they were listed (merged, rewritten by a data deletion job) are left out.
    ``columns`` reads only those of them each file has."""
    if not keys:
        return pa.table({})
    with scratch_directory(runtime, "augury-read-") as scratch:
        local = download_all(runtime, keys, Path(scratch), missing_ok=missing_ok)
        tables = [_read(path, columns) for path in local]
    if not tables:
        return pa.table({})
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")


def _read(path: Path, columns: Sequence[str] | None) -> pa.Table:
    if columns is None:
        return pq.read_table(path)
    present = set(pq.read_schema(path).names)
    return pq.read_table(path, columns=[c for c in columns if c in present])


def read_table(
    runtime: Runtime,
    prefix: str | None,
    *,
    missing_ok: bool = False,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Every Parquet file under ``prefix``, concatenated; an empty table when there are none.

    Parts of one version share a schema; files written at different times (the
    event sub-folders, say) may differ by a nullable column or a numeric width,
    so schemas are unified rather than required to match.
    """
    keys = parquet_keys(runtime, prefix) if prefix else []
    return read_files(runtime, keys, missing_ok=missing_ok, columns=columns)
