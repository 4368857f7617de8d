"""Reading one Personalize import file: CSV with a header, checked against the dataset's schema.

Pure: a local file in, typed Arrow record batches out (``import_fields``
types), no ports and no records. The first problem ends the import with a
message naming the file, the line and the field, such as
``s3://bucket/interactions.csv line 1042, field TIMESTAMP: '2021-03-04' is not
a Unix timestamp in seconds``.

The format is Amazon's (Amazon Personalize Developer Guide, "Preparing and
importing bulk data"): comma-separated UTF-8, the first row a header naming
the columns, which may come in any order. Header names are the schema's field
names; reserved names (USER_ID, ITEM_ID, TIMESTAMP, ...) match in any case.
Every field that can't be null needs a column; a nullable field without one
is null in every row. Fields follow RFC 4180: a quoted value may hold commas,
doubled quotes and line breaks. Blank lines are skipped. An empty value is
null, which only a nullable field accepts.

Files are streamed in blocks (``pyarrow.csv.open_csv``), never read whole.
Arrow counts records, not lines, so when a problem is found the file is
scanned once more with the standard ``csv`` module to name the physical line
where the bad record starts (line 1 is the header). That second pass runs only
on the failure path.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from augury.personalize.group_data import RESERVED_NAMES
from augury.personalize.import_fields import (
    CATEGORY_SEPARATOR,
    ID_FIELDS,
    INT32_RANGE,
    TIMESTAMP_FIELDS,
    ImportField,
    arrow_schema,
    length_problem,
    timestamp_bounds,
    timestamp_problem,
)

CSV_BLOCK_BYTES = 4 << 20
_HEADER_BLOCK_BYTES = 64 << 10
_LINE_ENDING = re.compile(rb"\r\n|\r|\n")
_SHOWN_CHARACTERS = 60
_TRUE = ("true", "1")
_FALSE = ("false", "0")


class ImportFailure(Exception):
    """The data cannot be imported; the message, for the user, names file, line and field."""


@dataclass(frozen=True)
class SourceFile:
    """One file of the import: the URI users know it by, and the local copy to read."""

    uri: str
    path: Path


@dataclass(frozen=True)
class _Problem:
    """The first bad value of a batch: its row in the batch, and what is wrong."""

    row: int
    field: str
    message: str


def _first_line(path: Path) -> tuple[bytes, bool]:
    """The file's first line without its ending, and whether anything follows it.

    A line may end with ``\\n``, ``\\r\\n`` or a lone ``\\r`` (old Mac and Excel
    exports), as Arrow reads them.
    """
    text = bytearray()  # grows in place: a long first line costs linear time
    with path.open("rb") as handle:
        while block := handle.read(_HEADER_BLOCK_BYTES):
            searched = max(len(text) - 1, 0)
            text += block
            if text.endswith(b"\r"):
                text += handle.read(1)  # a "\n" may follow the "\r"
            if ending := _LINE_ENDING.search(text, searched):
                rest = bool(text[ending.end() :] or handle.read(1))
                return bytes(text[: ending.start()]), rest
    return bytes(text), False


def read_header(source: SourceFile, fields: tuple[ImportField, ...]) -> list[ImportField]:
    """The field behind each header column, in the file's order; every rule on columns checked."""
    first, _ = _first_line(source.path)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFailure(f"{source.uri} line 1: the header is not UTF-8 text") from None
    header = next(csv.reader([text]), None) if first or source.path.stat().st_size else None
    if header is None:
        raise ImportFailure(
            f"{source.uri} is empty; a Personalize import file starts with a header row "
            f"naming its columns ({', '.join(f.name for f in fields)})"
        )
    if not header or header == [""]:
        raise ImportFailure(
            f"{source.uri} line 1 is blank; the first line must be the header row naming the "
            f"columns ({', '.join(f.name for f in fields)})"
        )
    mapped: list[ImportField] = []
    seen: dict[str, str] = {}
    for written in header:
        field = _field_for(written.strip(), fields)
        if field is None:
            raise ImportFailure(_unknown_column(source, written, fields))
        if field.column in seen:
            raise ImportFailure(
                f"{source.uri} line 1 (header): columns {seen[field.column]!r} and {written!r} "
                f"both name field {field.name}; each field can have one column"
            )
        seen[field.column] = written
        mapped.append(field)
    missing = [f for f in fields if f.column not in seen and not f.nullable]
    if missing:
        names = ", ".join(f"{f.name} ({f.describe()})" for f in missing)
        raise ImportFailure(
            f"{source.uri} line 1 (header): no column for {names}, which can't be null; "
            f"the header has {', '.join(header)}"
        )
    return mapped


def _field_for(written: str, fields: tuple[ImportField, ...]) -> ImportField | None:
    """Exact schema names first; Amazon's reserved names in any case."""
    for field in fields:
        if field.name == written:
            return field
    upper = written.upper()
    if upper in RESERVED_NAMES:
        return next((f for f in fields if f.column == upper), None)
    return None


def _unknown_column(source: SourceFile, written: str, fields: tuple[ImportField, ...]) -> str:
    message = (
        f"{source.uri} line 1 (header): column {written!r} is not a field of the dataset's "
        f"schema ({', '.join(f.name for f in fields)})"
    )
    near = next((f.name for f in fields if f.name.lower() == written.strip().lower()), None)
    if near:
        message += f"; field names are case-sensitive: did you mean {near}?"
    return message


@dataclass
class CsvReader:
    """Reads the files of one import, each into batches of the stored schema."""

    fields: tuple[ImportField, ...]
    block_bytes: int = CSV_BLOCK_BYTES

    def batches(self, source: SourceFile) -> Iterator[pa.RecordBatch]:
        """The file's data rows as typed batches (``arrow_schema(fields)``), every value checked."""
        columns = read_header(source, self.fields)
        if not _first_line(source.path)[1]:
            return  # a header and no data: no rows (an import with no rows at all fails)
        names = [f"c{index}" for index in range(len(columns))]
        rows_before = 0
        try:
            reader = pa_csv.open_csv(
                source.path,
                read_options=pa_csv.ReadOptions(
                    column_names=names,
                    skip_rows=1,
                    use_threads=False,
                    block_size=self.block_bytes,
                ),
                parse_options=pa_csv.ParseOptions(
                    newlines_in_values=True,
                    ignore_empty_lines=True,
                    invalid_row_handler=lambda row: "error",
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                yield self._checked(source, columns, batch, rows_before)
                rows_before += batch.num_rows
        except pa.ArrowInvalid as error:
            raise _diagnosed(source, len(columns), error) from None

    def _checked(
        self,
        source: SourceFile,
        columns: list[ImportField],
        batch: pa.RecordBatch,
        rows_before: int,
    ) -> pa.RecordBatch:
        by_column = {field.column: batch.column(i) for i, field in enumerate(columns)}
        converted: list[pa.Array] = []
        problems: list[_Problem] = []
        for field in self.fields:
            raw = by_column.get(field.column)
            if raw is None:
                converted.append(pa.nulls(batch.num_rows, field.arrow_type))
                continue
            values, problem = convert(field, raw)
            converted.append(values)
            if problem is not None:
                problems.append(problem)
        if problems:
            first = min(problems, key=lambda p: p.row)
            line = record_line(source.path, rows_before + first.row + 1)
            raise ImportFailure(f"{source.uri} line {line}, field {first.field}: {first.message}")
        return pa.RecordBatch.from_arrays(converted, schema=arrow_schema(self.fields))


def convert(field: ImportField, raw: pa.Array) -> tuple[pa.Array, _Problem | None]:
    """``raw`` text as the field's type, and the first bad value (its row and what is wrong)."""
    empty = pc.equal(pc.utf8_length(raw), 0)
    if field.type == "string":
        values = pc.if_else(empty, pa.scalar(None, pa.string()), raw)
        return values, _null_problem(field, empty) or _length_problem(field, values)
    text = pc.utf8_trim_whitespace(raw)
    empty = pc.equal(pc.utf8_length(text), 0)
    text = pc.if_else(empty, pa.scalar(None, pa.string()), text)
    null_problem = _null_problem(field, empty)
    if field.type == "boolean":
        values, problem = _booleans(field, text)
    elif field.type in ("int", "long"):
        values, problem = _integers(field, text)
    else:
        values, problem = _floats(field, text)
    problems = [p for p in (null_problem, problem) if p is not None]
    return values, min(problems, key=lambda p: p.row) if problems else None


def _first(mask: pa.Array) -> int | None:
    index = pc.index(pc.fill_null(mask, False), True).as_py()
    return None if index < 0 else int(index)


def _shown(value: Any) -> str:
    text = str(value)
    if len(text) > _SHOWN_CHARACTERS:
        text = text[:_SHOWN_CHARACTERS] + "..."
    return repr(text)


def _null_problem(field: ImportField, empty: pa.Array) -> _Problem | None:
    if field.nullable:
        return None
    row = _first(empty)
    if row is None:
        return None
    if field.column in ID_FIELDS:
        message = f"the value is empty; every record needs a {field.column}"
    else:
        message = (
            f"the value is empty, but {field.name} can't be null (its type is {field.describe()})"
        )
    return _Problem(row, field.name, message)


def _length_problem(field: ImportField, values: pa.Array) -> _Problem | None:
    limit = field.max_characters
    if limit is None:
        return None
    if field.categorical:
        parts = pc.split_pattern(values, CATEGORY_SEPARATOR)
        at = _first(pc.greater(pc.utf8_length(pc.list_flatten(parts)), limit))
        row = None if at is None else int(pc.list_parent_indices(parts)[at].as_py())
    else:
        row = _first(pc.greater(pc.utf8_length(values), limit))
    if row is None:
        return None
    return _Problem(row, field.name, str(length_problem(field, values[row].as_py())))


def _booleans(field: ImportField, text: pa.Array) -> tuple[pa.Array, _Problem | None]:
    lower = pc.utf8_lower(text)
    known = pc.is_in(lower, value_set=pa.array([*_TRUE, *_FALSE]))
    bad = pc.and_(pc.is_valid(lower), pc.invert(known))
    row = _first(bad)
    values = pc.if_else(pc.is_valid(lower), pc.is_in(lower, value_set=pa.array(_TRUE)), None)
    if row is None:
        return values, None
    return values, _Problem(
        row, field.name, f"{_shown(text[row].as_py())} is not a boolean (true or false)"
    )


def _integers(field: ImportField, text: pa.Array) -> tuple[pa.Array, _Problem | None]:
    try:
        values = pc.cast(text, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values, problem = _integers_one_by_one(field, text)
        if problem is not None:
            return values, problem
    return values, _range_problem(field, values, text)


def _integers_one_by_one(field: ImportField, text: pa.Array) -> tuple[pa.Array, _Problem | None]:
    """The slow path, taken only when Arrow's cast refuses something: find what, or accept '+5'."""
    parsed: list[int | None] = []
    for row, value in enumerate(text.to_pylist()):
        if value is None:
            parsed.append(None)
            continue
        digits = value[1:] if value[:1] in "+-" else value
        if not digits.isascii() or not digits.isdigit():
            return pa.nulls(len(text), pa.int64()), _Problem(
                row, field.name, _not_integer(field, value)
            )
        number = int(value)
        if not -(2**63) <= number < 2**63:
            return pa.nulls(len(text), pa.int64()), _Problem(
                row, field.name, f"{_shown(value)} is out of range for a {field.type}"
            )
        parsed.append(number)
    return pa.array(parsed, pa.int64()), None


def _not_integer(field: ImportField, value: str) -> str:
    if field.column in TIMESTAMP_FIELDS:
        return (
            f"{_shown(value)} is not a Unix timestamp in seconds; {field.column} must be an "
            "integer number of seconds since 1970-01-01 UTC, such as 1561939200"
        )
    return f"{_shown(value)} is not an integer ({field.type})"


def _range_problem(field: ImportField, values: pa.Array, text: pa.Array) -> _Problem | None:
    if field.column in TIMESTAMP_FIELDS:
        low, high = timestamp_bounds(field.column)
        row = _first(pc.or_(pc.less(values, low), pc.greater_equal(values, high)))
        if row is None:
            return None
        value = text[row].as_py()
        return _Problem(
            row, field.name, str(timestamp_problem(field.column, int(value), _shown(value)))
        )
    if field.type == "int":
        low, high = INT32_RANGE
        row = _first(pc.or_(pc.less(values, low), pc.greater(values, high)))
        if row is not None:
            return _Problem(
                row,
                field.name,
                f"{_shown(text[row].as_py())} is out of range for an int (32 bits); "
                "use a long field for larger numbers",
            )
    return None


def _floats(field: ImportField, text: pa.Array) -> tuple[pa.Array, _Problem | None]:
    try:
        values = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(text), pa.float64()), _floats_one_by_one(field, text)
    row = _first(pc.invert(pc.is_finite(values)))
    if row is None:
        return values, None
    return values, _Problem(
        row, field.name, f"{_shown(text[row].as_py())} is not a finite number ({field.type})"
    )


def _floats_one_by_one(field: ImportField, text: pa.Array) -> _Problem:
    for row, value in enumerate(text.to_pylist()):
        if value is None:
            continue
        try:
            number = float(value)
        except ValueError:
            return _Problem(row, field.name, f"{_shown(value)} is not a number ({field.type})")
        if not math.isfinite(number):
            return _Problem(row, field.name, f"{_shown(value)} is not a finite number")
    return _Problem(0, field.name, f"a value can't be read as a number ({field.type})")


def record_line(path: Path, record: int) -> int:
    """The physical line where data record ``record`` (1-based, after the header) starts."""
    found = _scan(path, lambda number, row: number == record)
    return found[0] if found else record + 1


def _scan(path: Path, wanted: Callable[[int, list[str]], bool]) -> tuple[int, list[str]] | None:
    """The first data record (line where it starts, fields) that ``wanted`` picks."""
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        try:
            next(reader, None)
            ended = reader.line_num
            number = 0
            for row in reader:
                start, ended = ended + 1, reader.line_num
                if not row:
                    continue
                number += 1
                if wanted(number, row):
                    return start, row
        except csv.Error:
            return None  # Python's reader gives up where Arrow read on (a huge field)
    return None


def _diagnosed(source: SourceFile, width: int, error: Exception) -> ImportFailure:
    """Arrow refused the file: find the line at fault, reading it again with ``csv``."""
    line = _first_bad_utf8_line(source.path)
    if line is not None:
        return ImportFailure(
            f"{source.uri} line {line}: the line is not UTF-8 text; save the file as UTF-8"
        )
    found = _scan(source.path, lambda number, row: len(row) != width)
    if found is not None:
        start, row = found
        return ImportFailure(
            f"{source.uri} line {start}: expected {width} comma-separated values, as in the "
            f"header, found {len(row)} (quote values that hold commas or line breaks)"
        )
    return ImportFailure(f"{source.uri}: cannot be read as CSV: {error}")


def _first_bad_utf8_line(path: Path) -> int | None:
    """The first line that is not UTF-8, lines ending as Arrow ends them (``\\n``,
    ``\\r\\n`` or a lone ``\\r``); read in blocks, so memory stays flat."""
    number, line = 1, bytearray()
    with path.open("rb") as handle:
        while block := handle.read(_HEADER_BLOCK_BYTES):
            while block.endswith(b"\r") and (following := handle.read(1)):
                block += following  # a "\n" may follow the "\r"
            start = 0
            for ending in _LINE_ENDING.finditer(block):
                line += block[start : ending.start()]
                if not _is_utf8(line):
                    return number
                number, line, start = number + 1, bytearray(), ending.end()
            line += block[start:]
    return number if line and not _is_utf8(line) else None


def _is_utf8(data: bytes | bytearray) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
