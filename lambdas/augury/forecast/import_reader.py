"""Reading one import file: CSV or Parquet, checked row by row against the dataset's schema.

Pure: local files in, typed Arrow record batches out, no ports and no records.
The first problem ends the import with a message that names the file, the line
(CSV) or row (Parquet), the field and the rule, the way Amazon Forecast's
import failures do: ``s3://bucket/sales.csv line 1042, field demand: 'abc' is
not a number``.

CSV files are streamed in blocks (``pyarrow.csv.open_csv``), never read whole.
As Amazon requires, they have no header: columns are the schema's attributes in
schema order, comma-separated, UTF-8. Every column is read as text and then
converted here, so that a bad value is reported with its line; blank lines are
skipped (and counted). Parquet files are matched by column name.

What is checked, per dataset type (sources: the Amazon Forecast Developer
Guide, pages dataset-import-guidelines-troubleshooting, howitworks-datasets-groups
"Resolving Conflicts in Data Collection Frequency", related-time-series-datasets
and weather "Adding Geolocation Information"):

- the number of columns (CSV) or their names (Parquet);
- identifiers: the series identifier and, in time series, every forecast
  dimension (string and geolocation attributes) must be present;
- integers, floats (``NaN`` is a float value, counted by FieldStatistics) and
  timestamps in the import's TimestampFormat; an empty numeric field is a
  missing value, which Forecast fills at training time;
- geolocations in the import's GeolocationFormat: ``LAT_LONG`` (``47.61_-122.33``,
  latitude -90..90, longitude -180..180) or ``CC_POSTALCODE`` (``US_98121``);
- alignment: a *related* time series must sit on one grid of its DataFrequency
  (one time of day for daily data, one weekday for weekly data, one day of the
  month for monthly data...), because Forecast does not aggregate related data.
  Which grid is the predictor's choice (TimeAlignmentBoundary), so the grid is
  the first row's. A *target* time series may be off the grid: Forecast
  aggregates it to the forecast frequency when training.

Checked elsewhere: repeated (identity, timestamp) rows after sorting
(``import_partitions``), and what needs the other datasets of a group, such as
related items that have no target data, or related data that does not cover
the forecast horizon. Those depend on the group and the predictor's horizon,
which an import does not know, so the predictor's validation checks them, as
Amazon's does.

Timestamps are kept as written (wall-clock time, no time zone): Amazon Forecast
assumes all data is in one time zone and returns forecasts in the time zone of
the data. A TimeZone given to the import is recorded for the features that need
it (the weather index); it does not shift the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from augury.forecast import import_values as convert
from augury.forecast.domains import (
    FLOAT,
    GEOLOCATION,
    INTEGER,
    ITEM_METADATA,
    RELATED_TIME_SERIES,
    STRING,
    TIMESTAMP,
)
from augury.forecast.import_values import (
    LAT_LONG,
    TIMESTAMP_UNIT,
)
from augury.forecast.timestamp_formats import TimestampFormat, timestamp_text

CSV = "CSV"
PARQUET = "PARQUET"

FILE_COLUMN = "__file"
LINE_COLUMN = "__line"
"""Where each row came from; kept until the data is written, for messages about repeats."""

ARROW_TYPES = {
    STRING: pa.string(),
    INTEGER: pa.int64(),
    FLOAT: pa.float64(),
    TIMESTAMP: pa.timestamp(TIMESTAMP_UNIT),
    GEOLOCATION: pa.string(),
}
"""How each attribute type is stored in the dataset's Parquet files."""

CSV_BLOCK_BYTES = 4 << 20
PARQUET_BATCH_ROWS = 65_536

_PANDAS_INDEX = "__index_level_"
_NOT_UTF8 = re.compile(r"column #(?P<column>\d+): Row #(?P<row>\d+): .*invalid UTF8")
"""Arrow's message for bytes that are not UTF-8 in a string column."""


class ImportFailure(Exception):
    """The data cannot be imported; the message, for the user, names file, line and field."""


@dataclass(frozen=True)
class ImportSpec:
    """What an import expects, from the dataset and the import job's settings."""

    attributes: tuple[tuple[str, str], ...]
    """``(name, type)`` in schema order: the CSV column order."""
    dataset_type: str
    identifier: str
    """The domain's series identifier (``item_id``, ``metric_name``...)."""
    frequency: str | None
    timestamp_formats: tuple[TimestampFormat, ...] = ()
    geolocation_format: str = LAT_LONG
    file_format: str = CSV

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.attributes]

    @property
    def identity(self) -> list[str]:
        """The fields that name one series: the identifier and the forecast dimensions."""
        if self.dataset_type == ITEM_METADATA:
            return [self.identifier]
        return [
            name
            for name, kind in self.attributes
            if name == self.identifier or kind in (STRING, GEOLOCATION)
        ]

    @property
    def key(self) -> list[str]:
        """One row per key at most, after aggregation: the identity and the timestamp."""
        timestamps = [name for name, kind in self.attributes if kind == TIMESTAMP]
        return [*self.identity, *timestamps]

    def arrow_schema(self, *, with_origin: bool = True) -> pa.Schema:
        fields = [pa.field(name, ARROW_TYPES[kind]) for name, kind in self.attributes]
        if with_origin:
            fields += [pa.field(FILE_COLUMN, pa.int32()), pa.field(LINE_COLUMN, pa.int64())]
        return pa.schema(fields)


@dataclass(frozen=True)
class SourceFile:
    """One file of the import: the URI users know it by, and the local copy to read."""

    uri: str
    path: Path
    index: int = 0
    """Its position in the import, stored with each row to name it again later."""


@dataclass
class _Grid:
    """The grid a related time series sits on: the first row's phase of the frequency."""

    phase: int | None = None
    where: str = ""
    value: str = ""


@dataclass
class FileReader:
    """Reads the files of one import in turn; keeps what spans files (the grid)."""

    spec: ImportSpec
    csv_block_bytes: int = CSV_BLOCK_BYTES
    parquet_batch_rows: int = PARQUET_BATCH_ROWS
    _grid: _Grid = field(default_factory=_Grid)

    def grid_state(self) -> dict[str, Any]:
        """What spans files, JSON-safe, for an import that reads its files in several
        invocations (:meth:`resume_grid` in the next)."""
        return {"phase": self._grid.phase, "where": self._grid.where, "value": self._grid.value}

    def resume_grid(self, state: dict[str, Any] | None) -> None:
        """Go on from :meth:`grid_state` of files read before (none: nothing to resume)."""
        if state and state.get("phase") is not None:
            self._grid = _Grid(int(state["phase"]), str(state["where"]), str(state["value"]))

    def batches(self, source: SourceFile) -> Iterator[pa.RecordBatch]:
        """The file's rows as typed batches (schema ``spec.arrow_schema()``), checked."""
        if self.spec.file_format == PARQUET:
            yield from self._parquet(source)
        else:
            yield from self._csv(source)

    def _csv(self, source: SourceFile) -> Iterator[pa.RecordBatch]:
        names = self.spec.names
        if source.path.stat().st_size == 0:
            return  # no rows; an import with no rows at all fails as a whole
        bad_rows: list[Any] = []

        def on_invalid_row(row: Any) -> str:
            bad_rows.append(row)
            return "skip"

        try:
            reader = pa_csv.open_csv(
                source.path,
                read_options=pa_csv.ReadOptions(
                    column_names=names, use_threads=False, block_size=self.csv_block_bytes
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=",", ignore_empty_lines=False, invalid_row_handler=on_invalid_row
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as error:
            if bad_rows:
                raise self._column_count(source, bad_rows[0]) from None
            raise self._unreadable(source, error) from None
        rows_before = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as error:
                if bad_rows:
                    raise self._column_count(source, bad_rows[0]) from None
                raise self._unreadable(source, error) from None
            lines = _numbers(rows_before + 1, batch.num_rows, skipped=bad_rows)
            rows_before += batch.num_rows
            stop_before = bad_rows[0].number if bad_rows else None
            yield from self._checked(source, batch, lines, "line", stop_before=stop_before)
            if bad_rows:
                break
        if bad_rows:
            raise self._column_count(source, bad_rows[0])

    def _unreadable(self, source: SourceFile, error: pa.ArrowInvalid) -> ImportFailure:
        """Arrow's error in the import's words: bytes that are not UTF-8 get their line and
        field (Arrow counts rows from the file's first line when it reads on one thread)."""
        found = _NOT_UTF8.search(str(error))
        if found:
            column, line = int(found["column"]), int(found["row"])
            return ImportFailure(
                f"{source.uri} line {line}, field {self.spec.names[column]}: the value is not "
                "UTF-8 text; save the file with UTF-8 encoding"
            )
        return ImportFailure(f"{source.uri}: cannot be read as CSV: {error}")

    def _column_count(self, source: SourceFile, row: Any) -> ImportFailure:
        names = self.spec.names
        return ImportFailure(
            f"{source.uri} line {row.number}: expected {len(names)} comma-separated columns "
            f"({', '.join(names)}, in the schema's order), found {row.actual_columns}"
        )

    def _parquet(self, source: SourceFile) -> Iterator[pa.RecordBatch]:
        try:
            parquet = pq.ParquetFile(source.path)
        except (pa.ArrowInvalid, OSError) as error:
            raise ImportFailure(f"{source.uri}: cannot be read as Parquet: {error}") from None
        present = [n for n in parquet.schema_arrow.names if not n.startswith(_PANDAS_INDEX)]
        missing = [n for n in self.spec.names if n not in present]
        extra = [n for n in present if n not in self.spec.names]
        if missing:
            raise ImportFailure(
                f"{source.uri}: has no column {', '.join(missing)}; the dataset's schema has "
                f"{', '.join(self.spec.names)} and the file has {', '.join(present)}"
            )
        if extra:
            raise ImportFailure(
                f"{source.uri}: column {', '.join(extra)} is not in the dataset's schema "
                f"({', '.join(self.spec.names)})"
            )
        rows_before = 0
        try:
            for batch in parquet.iter_batches(
                batch_size=self.parquet_batch_rows, columns=self.spec.names
            ):
                lines = _numbers(rows_before + 1, batch.num_rows, skipped=[])
                rows_before += batch.num_rows
                yield from self._checked(source, batch, lines, "row", stop_before=None)
        except pa.ArrowInvalid as error:
            raise ImportFailure(f"{source.uri}: cannot be read as Parquet: {error}") from None

    def _checked(
        self,
        source: SourceFile,
        batch: pa.RecordBatch,
        lines: pa.Array,
        unit: str,
        stop_before: int | None,
    ) -> Iterator[pa.RecordBatch]:
        """The batch converted to the schema's types, or the earliest problem in it."""
        if unit == "line":
            keep = _not_blank(batch)
            if keep is not None:
                batch, lines = batch.filter(keep), lines.filter(keep)
        problems: list[tuple[int, int, str]] = []
        columns: dict[str, pa.Array] = {}
        for order, (name, kind) in enumerate(self.spec.attributes):
            converted, problem = self._convert(name, kind, batch.column(name))
            columns[name] = converted
            if problem is not None:
                problems.append((problem[0], order, f"field {name}: {problem[1]}"))
        if not problems and self.spec.dataset_type == RELATED_TIME_SERIES:
            problem = self._off_grid(source, columns, lines, unit)
            if problem is not None:
                problems.append(problem)
        if problems:
            index, _, message = min(problems)
            line = lines[index].as_py()
            if stop_before is None or line < stop_before:
                hint = self._header_hint(line, unit, batch, index)
                raise ImportFailure(f"{source.uri} {unit} {line}, {message}{hint}")
        if stop_before is not None or not len(lines):
            return  # a malformed line comes next: the caller reports it
        columns[FILE_COLUMN] = pa.array([source.index] * len(lines), pa.int32())
        columns[LINE_COLUMN] = lines
        yield pa.RecordBatch.from_arrays(
            list(columns.values()), schema=self.spec.arrow_schema(with_origin=True)
        )

    def _header_hint(self, line: int, unit: str, batch: pa.RecordBatch, index: int) -> str:
        if unit != "line" or line != 1:
            return ""
        values = {str(v).strip().lower() for v in batch.slice(index, 1).to_pylist()[0].values()}
        if values & {name.lower() for name in self.spec.names}:
            return (
                ". The first line looks like a header: Forecast reads CSV files without a "
                "header row, with columns in the schema's order; remove it"
            )
        return ""

    def _convert(
        self, name: str, kind: str, column: pa.Array
    ) -> tuple[pa.Array, tuple[int, str] | None]:
        """The column as the attribute's type, and the first bad value's index and message."""
        if kind == TIMESTAMP:
            return convert.timestamps(column, self.spec.timestamp_formats)
        if kind == INTEGER:
            return convert.integers(column)
        if kind == FLOAT:
            return convert.floats(column)
        required = name in self.spec.identity
        strings = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        if kind == GEOLOCATION:
            return convert.geolocations(strings, self.spec.geolocation_format, required)
        return convert.identifiers(strings, name, required)

    def _off_grid(
        self, source: SourceFile, columns: dict[str, pa.Array], lines: pa.Array, unit: str
    ) -> tuple[int, int, str] | None:
        frequency = self.spec.frequency
        timestamps = [name for name, kind in self.spec.attributes if kind == TIMESTAMP]
        if not frequency or not timestamps or not len(lines):
            return None
        name = timestamps[0]
        phases = convert.phases(columns[name], frequency)
        if self._grid.phase is None:
            self._grid.phase = phases[0].as_py()
            self._grid.where = f"{source.uri} {unit} {lines[0].as_py()}"
            self._grid.value = _text(columns[name][0].as_py())
        off = pc.not_equal(phases, pa.scalar(self._grid.phase, pa.int64()))
        index = convert.first_true(off)
        if index is None:
            return None
        value = _text(columns[name][index].as_py())
        return (
            index,
            len(self.spec.attributes),
            f"field {name}: {value} is not on the same {frequency} grid as {self._grid.value} "
            f"({self._grid.where}). A related time series holds one value per time step of "
            "its DataFrequency, at the same time of day, weekday or day of the month; "
            "Forecast does not aggregate related time series",
        )


def _numbers(first: int, count: int, skipped: Sequence[Any]) -> pa.Array:
    """Line numbers of ``count`` rows starting at row ``first``, past skipped malformed lines."""
    numbers = pa.array(range(first, first + count), pa.int64())
    for row in sorted(skipped, key=lambda r: r.number):
        if row.number is None:
            continue
        at_or_after = pc.greater_equal(numbers, row.number)
        numbers = pc.if_else(at_or_after, pc.add(numbers, 1), numbers)
    return numbers


def _not_blank(batch: pa.RecordBatch) -> pa.Array | None:
    """Rows with at least one non-empty field (blank lines read as all-empty rows)."""
    blank = None
    for column in batch.columns:
        empty = pc.equal(pc.utf8_length(column), 0)
        blank = empty if blank is None else pc.and_(blank, empty)
    if blank is None or not pc.any(blank).as_py():
        return None
    return pc.invert(blank)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return timestamp_text(value)
    return str(value)
