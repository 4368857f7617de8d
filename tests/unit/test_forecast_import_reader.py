"""Reading, checking, describing and writing Forecast imports, without a server."""

from __future__ import annotations

import pickle
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augury.forecast.import_partitions import PREVIOUS, PartitionedWriter
from augury.forecast.import_reader import (
    PARQUET,
    FileReader,
    ImportFailure,
    ImportSpec,
    SourceFile,
)
from augury.forecast.import_statistics import DatasetStatistics, DistinctCounter
from augury.forecast.import_values import CC_POSTALCODE
from augury.forecast.timestamp_formats import FormatError, TimestampFormat, formats_for

TARGET = (("timestamp", "timestamp"), ("item_id", "string"), ("store", "string"))
TARGET += (("demand", "float"),)
RELATED = (("timestamp", "timestamp"), ("item_id", "string"), ("price", "float"))
RELATED += (("promoted", "integer"),)


def spec(
    attributes=TARGET,
    dataset_type="TARGET_TIME_SERIES",
    frequency="D",
    timestamp_format=None,
    **extra,
) -> ImportSpec:
    return ImportSpec(
        attributes=attributes,
        dataset_type=dataset_type,
        identifier="item_id",
        frequency=frequency,
        timestamp_formats=formats_for(timestamp_format, frequency)
        if any(kind == "timestamp" for _, kind in attributes)
        else (),
        **extra,
    )


def write(tmp_path: Path, text: str, name: str = "sales.csv") -> SourceFile:
    path = tmp_path / name
    path.write_text(text)
    return SourceFile(f"s3://bucket/{name}", path)


def read(source: SourceFile, the_spec: ImportSpec | None = None, **options) -> pa.Table:
    reader = FileReader(the_spec or spec(), **options)
    batches = list(reader.batches(source))
    if not batches:
        return pa.table({})
    return pa.Table.from_batches(batches)


def failure(source: SourceFile, the_spec: ImportSpec | None = None, **options) -> str:
    with pytest.raises(ImportFailure) as caught:
        read(source, the_spec, **options)
    return str(caught.value)


# -- values ---------------------------------------------------------------------------------


def test_a_good_file_is_typed_as_the_schema(tmp_path):
    table = read(write(tmp_path, "2019-01-01,socks,NYC,10\n2019-01-02 13:30:00,shoes,ORD,\n"))
    assert table.column_names == ["timestamp", "item_id", "store", "demand", "__file", "__line"]
    assert table["timestamp"].to_pylist() == [datetime(2019, 1, 1), datetime(2019, 1, 2, 13, 30)]
    assert table["demand"].to_pylist() == [10.0, None]
    assert table["__line"].to_pylist() == [1, 2]


def test_an_unparseable_number_names_file_line_and_field(tmp_path):
    rows = "".join(f"2019-01-{d:02d},socks,NYC,{d}\n" for d in range(1, 20))
    source = write(tmp_path, rows + "2019-01-20,socks,NYC,abc\n")
    assert failure(source) == ("s3://bucket/sales.csv line 20, field demand: 'abc' is not a number")


def test_integers_must_be_whole(tmp_path):
    source = write(tmp_path, "2019-01-01,socks,1.5,0\n2019-01-02,socks,2,1.5\n")
    assert failure(source, spec(RELATED, "RELATED_TIME_SERIES")) == (
        "s3://bucket/sales.csv line 2, field promoted: '1.5' is not an integer"
    )


def test_the_earliest_problem_of_a_line_is_reported_in_schema_order(tmp_path):
    source = write(tmp_path, "2019-01-01,socks,NYC,1\nnot a date,,NYC,x\n")
    assert failure(source) == (
        "s3://bucket/sales.csv line 2, field timestamp: 'not a date' is not a timestamp in "
        "the format yyyy-MM-dd HH:mm:ss or yyyy-MM-dd"
    )


def test_a_wrong_column_count_names_the_line(tmp_path):
    source = write(tmp_path, "2019-01-01,socks,NYC,1\n2019-01-02,socks,NYC,1\n2019-01-03,NYC,2\n")
    assert failure(source) == (
        "s3://bucket/sales.csv line 3: expected 4 comma-separated columns (timestamp, item_id, "
        "store, demand, in the schema's order), found 3"
    )


def test_bytes_that_are_not_utf8_name_the_line_and_field_in_any_block(tmp_path):
    lines = [f"2019-01-{1 + i % 28:02d},item{i},NYC,{i}\n".encode() for i in range(3000)]
    lines[2500] = b"2019-01-02,NYC,caf\xe9,2\n"
    path = tmp_path / "sales.csv"
    path.write_bytes(b"".join(lines))
    assert failure(SourceFile("s3://bucket/sales.csv", path), csv_block_bytes=8 << 10) == (
        "s3://bucket/sales.csv line 2501, field store: the value is not UTF-8 text; save the "
        "file with UTF-8 encoding"
    )


def test_a_value_error_before_a_short_line_is_reported_first(tmp_path):
    source = write(tmp_path, "2019-01-01,socks,NYC,bad\n2019-01-02,socks,NYC\n")
    assert "line 1, field demand: 'bad' is not a number" in failure(source)


def test_a_header_row_is_explained(tmp_path):
    source = write(tmp_path, "timestamp,item_id,store,demand\n2019-01-01,socks,NYC,1\n")
    message = failure(source)
    assert message.startswith("s3://bucket/sales.csv line 1, field timestamp: 'timestamp'")
    assert "without a header row" in message


def test_empty_identifiers_and_dimensions_are_refused(tmp_path):
    assert failure(write(tmp_path, "2019-01-01,,NYC,1\n")) == (
        "s3://bucket/sales.csv line 1, field item_id: is empty; every row needs a value for "
        "item_id, which identifies its series"
    )
    assert "field store: is empty" in failure(write(tmp_path, "2019-01-01,socks,,1\n"))


def test_blank_lines_are_skipped_and_still_counted(tmp_path):
    source = write(tmp_path, "2019-01-01,socks,NYC,1\n\n2019-01-02,socks,NYC,x\n")
    assert "line 3, field demand" in failure(source)
    table = read(write(tmp_path, "2019-01-01,socks,NYC,1\n\n2019-01-03,socks,NYC,2\n"))
    assert table["__line"].to_pylist() == [1, 3]


def test_nan_is_a_float_value_and_signs_are_accepted(tmp_path):
    table = read(
        write(tmp_path, "2019-01-01,a,NYC,NaN\n2019-01-02,a,NYC,+1.5e2\n2019-01-03,a,NYC,-.5\n")
    )
    values = table["demand"].to_pylist()
    assert np.isnan(values[0]) and values[1:] == [150.0, -0.5]


def test_an_empty_file_has_no_rows(tmp_path):
    assert read(write(tmp_path, "")).num_rows == 0


# -- timestamps -----------------------------------------------------------------------------


def test_the_default_format_reads_dates_only_for_daily_and_coarser_data(tmp_path):
    source = write(tmp_path, "2019-01-01,socks,NYC,1\n")
    assert read(source, spec(frequency="W")).num_rows == 1
    message = failure(source, spec(frequency="H"))
    assert "'2019-01-01' is not a timestamp in the format yyyy-MM-dd HH:mm:ss" in message


def test_an_explicit_format_is_the_only_one(tmp_path):
    source = write(tmp_path, "2019-01-01 00:00:00,socks,NYC,1\n")
    assert "in the format yyyy-MM-dd" in failure(source, spec(timestamp_format="yyyy-MM-dd"))
    other = write(tmp_path, "21.08.2019T15:00,socks,NYC,1\n", "other.csv")
    table = read(other, spec(frequency="H", timestamp_format="dd.MM.yyyy'T'HH:mm"))
    assert table["timestamp"].to_pylist() == [datetime(2019, 8, 21, 15, 0)]


def test_impossible_dates_are_refused_not_rolled_over(tmp_path):
    source = write(tmp_path, "2019-2-3,socks,NYC,1\n2019-02-30,socks,NYC,1\n")
    assert "line 2, field timestamp: '2019-02-30' is not a timestamp" in failure(source)


def test_timestamp_format_patterns():
    assert TimestampFormat.parse("yyyy-MM-dd HH:mm:ss").strptime == "%Y-%m-%d %H:%M:%S"
    assert TimestampFormat.parse("yyyy-MM-dd'T'HH:mm").strptime == "%Y-%m-%dT%H:%M"
    assert not TimestampFormat.parse("yyyy-MM-dd").has_time
    with pytest.raises(FormatError, match="'SSS' is not one of"):
        TimestampFormat.parse("yyyy-MM-dd HH:mm:ss.SSS")
    with pytest.raises(FormatError, match="must contain a year"):
        TimestampFormat.parse("HH:mm")
    with pytest.raises(FormatError, match="no time of day"):
        formats_for("yyyy-MM-dd", "15min")


# -- frequency alignment --------------------------------------------------------------------

PRICE = (("timestamp", "timestamp"), ("item_id", "string"), ("price", "float"))


def related(tmp_path: Path, stamps: list[str], frequency: str) -> SourceFile:
    text = "".join(f"{stamp},socks,1.0\n" for stamp in stamps)
    return write(tmp_path, text, "price.csv")


def test_related_data_must_sit_on_one_grid_of_its_frequency(tmp_path):
    the_spec = spec(PRICE, "RELATED_TIME_SERIES", "D")
    source = related(tmp_path, ["2019-01-01", "2019-01-02", "2019-01-03 13:00:00"], "D")
    message = failure(source, the_spec)
    assert message.startswith(
        "s3://bucket/price.csv line 3, field timestamp: 2019-01-03 13:00:00 is not on the same "
        "D grid as 2019-01-01 00:00:00 (s3://bucket/price.csv line 1)"
    )
    assert "does not aggregate related time series" in message
    at_one = related(tmp_path, ["2019-01-01 13:00:00", "2019-01-02 13:00:00"], "D")
    assert read(at_one, the_spec).num_rows == 2  # another grid, but one grid


@pytest.mark.parametrize(
    ("frequency", "good", "bad"),
    [
        ("W", ["2019-01-07", "2019-01-14", "2019-02-04"], "2019-01-16"),
        ("M", ["2019-01-01", "2019-02-01", "2019-12-01"], "2019-03-15"),
        ("2M", ["2019-01-01", "2019-03-01"], "2019-04-01"),
        ("Y", ["2018-01-01", "2019-01-01"], "2020-06-01"),
        ("15min", ["2019-01-01 00:15:00", "2019-01-01 01:45:00"], "2019-01-01 02:10:00"),
        ("H", ["2019-01-01 00:00:00", "2019-01-01 05:00:00"], "2019-01-01 06:30:00"),
    ],
)
def test_grids_of_every_unit(tmp_path, frequency, good, bad):
    the_spec = spec(PRICE, "RELATED_TIME_SERIES", frequency, "yyyy-MM-dd HH:mm:ss")
    stamps = [s if " " in s else f"{s} 00:00:00" for s in good]
    assert read(related(tmp_path, stamps, frequency), the_spec).num_rows == len(good)
    odd = bad if " " in bad else f"{bad} 00:00:00"
    message = failure(related(tmp_path, [*stamps, odd], frequency), the_spec)
    assert f"line {len(good) + 1}, field timestamp" in message


def test_target_data_may_be_off_the_grid(tmp_path):
    """Forecast aggregates target data to the forecast frequency when it trains."""
    source = write(tmp_path, "2019-01-01 00:00:00,a,NYC,1\n2019-01-01 13:20:00,a,NYC,2\n")
    assert read(source).num_rows == 2


# -- geolocation ----------------------------------------------------------------------------

GEO = (("timestamp", "timestamp"), ("item_id", "string"), ("location", "geolocation"))
GEO += (("demand", "float"),)


def test_lat_long_geolocations(tmp_path):
    good = write(tmp_path, "2019-01-01,a,47.61_-122.33,1\n2019-01-01,b,-33.9_151.2,1\n")
    assert read(good, spec(GEO)).num_rows == 2
    bad = write(tmp_path, "2019-01-01,a,47.61_-122.33,1\n2019-01-01,b,91.0_10.0,1\n", "bad.csv")
    assert failure(bad, spec(GEO)).startswith(
        "s3://bucket/bad.csv line 2, field location: '91.0_10.0' is not a latitude and "
        "longitude in the LAT_LONG format"
    )


def test_postal_code_geolocations(tmp_path):
    the_spec = spec(GEO, geolocation_format=CC_POSTALCODE)
    assert read(write(tmp_path, "2019-01-01,a,US_98121,1\n"), the_spec).num_rows == 1
    message = failure(write(tmp_path, "2019-01-01,a,98121,1\n", "zip.csv"), the_spec)
    assert "'98121' is not a US postal code in the CC_POSTALCODE format" in message


# -- Parquet --------------------------------------------------------------------------------


def test_parquet_columns_are_matched_by_name(tmp_path):
    path = tmp_path / "sales.parquet"
    pq.write_table(
        pa.table(
            {
                "demand": [1.0, 2.0],
                "store": ["NYC", "NYC"],
                "item_id": ["a", "b"],
                "timestamp": pa.array([datetime(2019, 1, 1), datetime(2019, 1, 2)]),
            }
        ),
        path,
    )
    table = read(SourceFile("s3://bucket/sales.parquet", path), spec(file_format=PARQUET))
    assert table["item_id"].to_pylist() == ["a", "b"]
    assert table["timestamp"].type == pa.timestamp("s")


def test_parquet_problems_name_the_row_and_the_columns(tmp_path):
    path = tmp_path / "bad.parquet"
    source = SourceFile("s3://bucket/bad.parquet", path)
    pq.write_table(pa.table({"timestamp": ["2019-01-01"], "item_id": ["a"], "demand": [1.0]}), path)
    assert failure(source, spec(file_format=PARQUET)).startswith(
        "s3://bucket/bad.parquet: has no column store"
    )
    table = {"timestamp": ["2019-01-01", "x"], "item_id": ["a", "a"], "store": ["s", "s"]}
    pq.write_table(pa.table({**table, "demand": ["1", "2"]}), path)
    assert failure(source, spec(file_format=PARQUET)).startswith(
        "s3://bucket/bad.parquet row 2, field timestamp: 'x' is not a timestamp"
    )
    pq.write_table(pa.table({**table, "demand": [1.0, 2.0], "extra": [1, 2]}), path)
    assert "column extra is not in the dataset's schema" in failure(
        source, spec(file_format=PARQUET)
    )


# -- streaming ------------------------------------------------------------------------------


def test_csv_larger_than_one_block_is_streamed_with_exact_line_numbers(tmp_path):
    rows = [f"2019-01-{1 + i % 28:02d},item{i % 97},S{i % 3},{i}\n" for i in range(20_000)]
    source = write(tmp_path, "".join(rows))
    reader = FileReader(spec(), csv_block_bytes=16 << 10)
    batches = list(reader.batches(source))
    assert len(batches) > 10
    assert sum(b.num_rows for b in batches) == 20_000
    lines = pa.Table.from_batches(batches)["__line"].to_pylist()
    assert lines == list(range(1, 20_001))
    rows[15_000] = "2019-01-01,item1,S1,oops\n"
    source = write(tmp_path, "".join(rows), "bad.csv")
    assert failure(source, csv_block_bytes=16 << 10) == (
        "s3://bucket/bad.csv line 15001, field demand: 'oops' is not a number"
    )


# -- statistics -----------------------------------------------------------------------------


def test_field_statistics_match_numpy_across_batches(tmp_path):
    rng = np.random.default_rng(7)
    values = rng.normal(100.0, 15.0, 5_000)
    text = []
    for i, value in enumerate(values):
        shown = "" if i % 50 == 0 else ("NaN" if i % 77 == 0 else repr(float(value)))
        text.append(f"2019-{1 + i % 12:02d}-01,item{i % 40},S{i % 3},{shown}\n")
    reader = FileReader(spec(frequency="M"), csv_block_bytes=8 << 10)
    statistics = DatasetStatistics(TARGET)
    batches = 0
    for batch in reader.batches(write(tmp_path, "".join(text))):
        statistics.add(batch)
        batches += 1
    assert batches > 5
    result = statistics.result()
    present = np.array([v for i, v in enumerate(values) if i % 50 and i % 77])
    demand = result["demand"]
    assert demand["CountNull"] == 100
    assert demand["CountNan"] == sum(1 for i in range(5000) if i % 50 and not i % 77)
    assert demand["Count"] == 4_900
    assert demand["Avg"] == pytest.approx(present.mean(), rel=1e-12)
    assert demand["Stddev"] == pytest.approx(present.std(ddof=1), rel=1e-9)
    assert float(demand["Min"]) == present.min() and float(demand["Max"]) == present.max()
    assert demand["CountDistinct"] == len(set(present.tolist()))
    assert result["item_id"] == {
        "Count": 5000,
        "CountLong": 5000,
        "CountDistinct": 40,
        "CountDistinctLong": 40,
        "CountNull": 0,
        "CountNullLong": 0,
    }
    assert result["timestamp"]["Min"] == "2019-01-01 00:00:00"
    assert result["timestamp"]["Max"] == "2019-12-01 00:00:00"
    assert result["timestamp"]["CountDistinct"] == 12


def test_field_statistics_show_early_years_with_four_digits(tmp_path):
    text = "0001-01-01,item0,S0,1\n0999-06-30,item1,S0,2\n2019-01-01,item0,S0,3\n"
    statistics = DatasetStatistics(TARGET)
    for batch in FileReader(spec()).batches(write(tmp_path, text)):
        statistics.add(batch)
    result = statistics.result()
    assert result["timestamp"]["Min"] == "0001-01-01 00:00:00"
    assert result["timestamp"]["Max"] == "2019-01-01 00:00:00"


def test_distinct_counts_stay_bounded_and_close():
    for make in (lambda i: f"item-{i}", float, lambda i: datetime.fromtimestamp(i * 60)):
        kind = pa.array([make(0)]).type
        counter = DistinctCounter(exact_limit=1_000, sketch_size=2_048)
        for start in range(0, 300_000, 10_000):
            counter.add(pa.array([make(i) for i in range(start, start + 10_000)], kind))
            counter.add(pa.array([make(i) for i in range(0, 5_000)], kind))  # seen before
        assert not counter.exact
        # 2,048 smallest hashes: a relative error of about 1/sqrt(2048) = 2.2%; 10% is 4.5
        # sigma.
        assert counter.count() == pytest.approx(300_000, rel=0.10)
        # A counter pickled between invocations goes on as if it never stopped: string
        # hashes do not depend on the process (no per-process seed).
        halves = DistinctCounter(exact_limit=1_000, sketch_size=2_048)
        halves.add(pa.array([make(i) for i in range(0, 150_000)], kind))
        halves = pickle.loads(pickle.dumps(halves))
        halves.add(pa.array([make(i) for i in range(150_000, 300_000)], kind))
        assert halves.count() == counter.count()
    small = DistinctCounter()
    small.add(pa.array([1, 2, 2, 3]))
    assert small.exact and small.count() == 3


# -- partitions: repeated rows, sorting, merging ---------------------------------------------


def write_version(tmp_path, the_spec, sources, *, partitions=1, previous=None, merge=False):
    writer = PartitionedWriter(
        the_spec, tmp_path / "spill", partitions, describe_file=lambda i: sources[i].uri
    )
    reader = FileReader(the_spec)
    for source in sources:
        for batch in reader.batches(source):
            writer.add(batch)
    for batch in previous or []:
        writer.add(batch, origin=PREVIOUS)
    version = writer.finish(tmp_path / "parts", merge=merge)
    return version, pa.concat_tables([pq.read_table(p) for p in version.parts])


def test_parts_are_sorted_by_series_then_time_and_keep_series_whole(tmp_path):
    rows = [f"2019-01-{1 + d:02d},item{i},S{i % 2},{d}\n" for d in range(10) for i in range(50)]
    source = write(tmp_path, "".join(reversed(rows)))
    version, table = write_version(tmp_path, spec(), [source], partitions=4)
    assert len(version.parts) == 4 and version.rows == 500
    assert table.column_names == ["timestamp", "item_id", "store", "demand"]
    seen: set[str] = set()
    for part in version.parts:
        data = pq.read_table(part)
        keys = list(zip(data["item_id"].to_pylist(), data["timestamp"].to_pylist(), strict=True))
        assert keys == sorted(keys)
        items = set(data["item_id"].to_pylist())
        assert not items & seen  # a series lives in one part
        seen |= items


def test_target_rows_may_repeat_and_are_kept(tmp_path):
    source = write(tmp_path, "2019-01-01,a,S,1\n2019-01-01,a,S,2\n")
    version, _ = write_version(tmp_path, spec(), [source])
    assert version.rows == 2


def test_related_rows_must_not_repeat(tmp_path):
    first = write(tmp_path, "2019-01-01,a,1\n2019-01-02,a,1\n", "one.csv")
    second = write(tmp_path, "2019-01-03,a,1\n2019-01-02,a,2\n", "two.csv")
    the_spec = spec(PRICE, "RELATED_TIME_SERIES")
    with pytest.raises(ImportFailure) as caught:
        write_version(tmp_path, the_spec, [first, SourceFile(second.uri, second.path, 1)])
    assert str(caught.value) == (
        "s3://bucket/two.csv line 2: item_id a, timestamp 2019-01-02 00:00:00 repeats "
        "s3://bucket/one.csv line 2; a related time series holds one row per series and "
        "timestamp; Forecast does not aggregate related time series"
    )


def test_items_have_one_row_of_metadata(tmp_path):
    the_spec = spec((("item_id", "string"), ("brand", "string")), "ITEM_METADATA", None)
    source = write(tmp_path, "a,x\nb,\na,y\n", "items.csv")
    with pytest.raises(ImportFailure, match="line 3: item_id a repeats line 1; item metadata"):
        write_version(tmp_path, the_spec, [source])


def test_incremental_rows_replace_the_previous_ones_with_the_same_key(tmp_path):
    the_spec = spec()
    old = write(tmp_path, "2019-01-01,a,S,1\n2019-01-02,a,S,2\n2019-01-01,b,S,3\n", "old.csv")
    _, previous = write_version(tmp_path / "v1", the_spec, [old])
    new = write(tmp_path, "2019-01-02,a,S,20\n2019-01-03,a,S,30\n", "new.csv")
    previous_batches = [
        pa.RecordBatch.from_arrays(
            [
                *previous.combine_chunks().to_batches()[0].columns,
                pa.array([-1] * previous.num_rows, pa.int32()),
                pa.array([0] * previous.num_rows, pa.int64()),
            ],
            schema=the_spec.arrow_schema(),
        )
    ]
    version, table = write_version(
        tmp_path / "v2", the_spec, [new], previous=previous_batches, merge=True, partitions=3
    )
    rows = sorted(zip(table["item_id"].to_pylist(), table["demand"].to_pylist(), strict=True))
    assert rows == [("a", 1.0), ("a", 20.0), ("a", 30.0), ("b", 3.0)]
    assert version.rows == 4
