"""How far a dataset's data reaches in time: read from Parquet footers, recorded at import.

Two rules need it. The training workflow checks the horizon against the
target's length (:func:`data_span`, from the files as they are). CreatePredictor
refuses a DeepAR+ or Prophet predictor whose related data stops where the target
stops, and must answer at once without reading the data: so each import records
its version's span on the dataset (``_data_span``, from the part files it has
just written, before they leave the machine), and the predictor reads
:func:`recorded_end`. Parquet keeps the min and max of every row group, so only
footers are read (the column itself only where a writer left no statistics).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augury.forecast.domains import TIMESTAMP_FIELD
from augury.resources.errors import InvalidInput
from augury.scratch import scratch_directory

if TYPE_CHECKING:
    from augury.runtime import Runtime

DATA_SPAN = "_data_span"
"""Dataset attribute: ``{"start", "end"}`` of its current data version, ISO 8601."""


@dataclass(frozen=True)
class Span:
    """The first and last timestamps of a dataset and how many rows it holds."""

    start: datetime
    end: datetime
    rows: int

    def recorded(self) -> dict[str, str]:
        """The span as the dataset attribute :data:`DATA_SPAN` holds it."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def recorded_end(attributes: Mapping[str, Any]) -> datetime | None:
    """The last timestamp a dataset's import recorded (``None``: none was recorded)."""
    span = attributes.get(DATA_SPAN) or {}
    return datetime.fromisoformat(span["end"]) if span.get("end") else None


def local_span(paths: Iterable[Path], column: str = TIMESTAMP_FIELD) -> Span | None:
    """The time span of the Parquet files ``paths``; ``None`` when they hold no rows."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    start: datetime | None = None
    end: datetime | None = None
    rows = 0
    for path in paths:
        low, high, count = _file_span(path, column, pq, pc)
        rows += count
        if low is not None and high is not None:
            start = low if start is None else min(start, low)
            end = high if end is None else max(end, high)
    if start is None or end is None:
        return None
    return Span(start, end, rows)


def data_span(runtime: Runtime, prefix: str, column: str = TIMESTAMP_FIELD) -> Span | None:
    """The time span of the Parquet data under ``prefix`` in the blob store."""
    with scratch_directory(runtime, "augury-span-") as scratch:
        return local_span(_downloaded(runtime, prefix, Path(scratch)), column)


def _downloaded(runtime: Runtime, prefix: str, scratch: Path) -> Iterator[Path]:
    """Each Parquet file under ``prefix``, downloaded in turn and removed once read."""
    for number, key in enumerate(runtime.blobs.list_keys(prefix)):
        if not key.endswith(".parquet"):
            continue
        path = scratch / f"{number}.parquet"
        runtime.blobs.download_file(key, path)
        yield path
        path.unlink()


def _file_span(path: Path, column: str, pq: Any, pc: Any) -> tuple[Any, Any, int]:
    metadata = pq.read_metadata(path)
    schema_names = metadata.schema.names
    if column not in schema_names:
        raise InvalidInput(f"The imported data has no {column} column")
    index = schema_names.index(column)
    lows, highs = [], []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            values = pc.min_max(pq.read_table(path, columns=[column])[column])
            low, high = values["min"].as_py(), values["max"].as_py()
            return _aware(low), _aware(high), metadata.num_rows
        lows.append(stats.min)
        highs.append(stats.max)
    if not lows:
        return None, None, metadata.num_rows
    return _aware(min(lows)), _aware(max(highs)), metadata.num_rows


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidInput(f"The imported timestamps are not timestamps ({type(value).__name__})")
    return value if value.tzinfo else value.replace(tzinfo=UTC)
