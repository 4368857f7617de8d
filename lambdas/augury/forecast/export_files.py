"""Export files as Amazon Forecast writes them: names, columns and formats.

Names (API reference, CreateForecastExportJob and
CreatePredictorBacktestExportJob): ``<ExportJobName>_<ExportTimestamp>_part<N>``
with the timestamp in Java's ``yyyy-MM-ddTHH-mm-ssZ``, parts numbered from 0,
``.csv`` or ``.parquet`` by Format (CSV by default). A finished export also
leaves an empty ``_SUCCESS`` marker, as Amazon's exports do. CSV files have a
header row and timestamps as ``2015-01-01T01:00:00Z``; Parquet keeps them as
timestamps.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CSV = "CSV"
PARQUET = "PARQUET"
SUCCESS_MARKER = "_SUCCESS"
CSV_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def export_timestamp(moment: datetime) -> str:
    """``2021-12-14T13-20-10Z``: Java's ``yyyy-MM-ddTHH-mm-ssZ`` in UTC."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return moment.strftime("%Y-%m-%dT%H-%M-%SZ")


def part_name(job_name: str, stamp: str, number: int, file_format: str) -> str:
    suffix = "parquet" if file_format == PARQUET else "csv"
    return f"{job_name}_{stamp}_part{number}.{suffix}"


def join_uri(base: str, *names: str) -> str:
    """``s3://bucket/prefix`` + ``name``: the destination Path is a folder."""
    return "/".join([base.rstrip("/"), *names])


def ordered(table: Any, first: Sequence[str]) -> Any:
    """``table`` with the ``first`` columns (those present) leading, the rest after."""
    names = [n for n in first if n in table.column_names]
    rest = [n for n in table.column_names if n not in names]
    return table.select([*names, *rest])


def write(table: Any, path: Path, file_format: str) -> None:
    """One part file: CSV (header, ISO timestamps with Z) or Parquet."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if file_format == PARQUET:
        pq.write_table(table, path)
        return
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            seconds = pc.cast(column, pa.timestamp("s", column.type.tz), safe=False)
            column = pc.strftime(seconds, format=CSV_TIMESTAMP)
        columns.append(column)
    text_table = pa.table(columns, names=table.column_names)
    with open(path, "w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(table.column_names)
        for batch in text_table.to_batches(max_chunksize=65_536):
            writer.writerows(zip(*(c.to_pylist() for c in batch.columns), strict=True))
