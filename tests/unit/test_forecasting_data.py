"""The forecasting container's data layer: grid, filling, aggregation, related alignment."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augury_training.contract import TrainPaths
from augury_training.forecast_contract import Featurization, ForecastJobConfig
from augury_training.forecasting import related
from augury_training.forecasting.data import DataError, ForecastData
from augury_training.forecasting.filling import (
    FieldFilling,
    FillingError,
    aggregate,
    fill_related,
    fill_target,
)
from augury_training.forecasting.grid import Frequency, Grid
from augury_training.forecasting.related import RelatedEnd, RelatedEnds, check_future_values

NAN = np.nan


def stamps(*values: str) -> np.ndarray:
    return np.array(values, dtype="datetime64[ns]")


# -- the grid --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "boundary", "when", "bucket"),
    [
        ("D", None, "2024-01-08T05:00", "2024-01-08T00:00"),
        ("D", {"Hour": 6}, "2024-01-08T05:00", "2024-01-07T06:00"),
        ("W", None, "2024-01-07T12:00", "2024-01-01T00:00"),  # weeks start on Monday
        ("W", {"DayOfWeek": "SUNDAY"}, "2024-01-07T12:00", "2024-01-07T00:00"),
        ("M", None, "2024-02-15", "2024-02-01"),
        ("M", {"DayOfMonth": 15}, "2024-02-14", "2024-01-15"),
        ("3M", None, "2024-05-20", "2024-04-01"),
        ("Y", None, "2024-05-20", "2024-01-01"),
        ("Y", {"Month": "JULY"}, "2024-05-20", "2023-07-01"),
        ("H", None, "2024-01-08T05:59", "2024-01-08T05:00"),
        ("15min", None, "2024-01-08T05:29", "2024-01-08T05:15"),
        ("2W", None, "2024-01-10", "2024-01-08"),
    ],
)
def test_grid_buckets_start_at_amazon_time_boundaries(frequency, boundary, when, bucket):
    grid = Grid(frequency, boundary)
    ordinal = grid.ordinals(stamps(when))
    assert grid.timestamps(ordinal)[0] == np.datetime64(bucket, "ns")
    # consecutive ordinals are consecutive buckets
    following = grid.timestamps(ordinal + 1)[0]
    assert grid.ordinals(np.array([following]))[0] == ordinal[0] + 1


@pytest.mark.parametrize(
    ("frequency", "season"),
    [("D", 7), ("W", 52), ("M", 12), ("3M", 4), ("Y", 1), ("H", 24), ("30min", 48), ("2D", 1)],
)
def test_season_length_per_frequency(frequency, season):
    assert Frequency.parse(frequency).season_length == season


@pytest.mark.parametrize("bad", ["", "2X", "0D", "min", "1.5H", "d"])
def test_unknown_frequency_is_refused(bad):
    with pytest.raises(ValueError, match="frequency"):
        Frequency.parse(bad)


# -- aggregation and filling --------------------------------------------------------------


def test_aggregate_methods_ignore_missing_values():
    ordinals = np.array([1, 1, 1, 2, 4, 4])
    values = np.array([1.0, NAN, 3.0, NAN, 5.0, 2.0])
    assert aggregate(ordinals, values, "sum")[0].tolist() == [1, 2, 4]
    assert aggregate(ordinals, values, "sum")[1].tolist()[0::2] == [4.0, 7.0]
    assert np.isnan(aggregate(ordinals, values, "sum")[1][1])  # an empty bucket stays missing
    assert aggregate(ordinals, values, "avg")[1][[0, 2]].tolist() == [2.0, 3.5]
    assert aggregate(ordinals, values, "first")[1][[0, 2]].tolist() == [1.0, 5.0]
    assert aggregate(ordinals, values, "min")[1][[0, 2]].tolist() == [1.0, 2.0]
    assert aggregate(ordinals, values, "max")[1][[0, 2]].tolist() == [3.0, 5.0]


def test_target_defaults_fill_middle_and_back_with_zero():
    filling = FieldFilling.for_target("demand", [])
    y, filled = fill_target(np.array([3.0, NAN, 5.0, NAN, NAN]), filling)
    assert y.tolist() == [3.0, 0.0, 5.0, 0.0, 0.0]
    assert filled.tolist() == [False, True, False, True, True]


@pytest.mark.parametrize(
    ("middle", "back", "expected"),
    [
        ("mean", "nan", [2.0, 4.0, 4.0, 6.0, NAN]),
        ("median", "max", [2.0, 4.0, 4.0, 6.0, 6.0]),
        ("min", "value", [2.0, 4.0, 2.0, 6.0, 9.5]),
        ("max", "zero", [2.0, 4.0, 6.0, 6.0, 0.0]),
    ],
)
def test_target_filling_methods(middle, back, expected):
    featurization = Featurization(field="demand", middlefill=middle, backfill=back)
    featurization.backfill_value = 9.5
    filling = FieldFilling.for_target("demand", [featurization])
    y, _ = fill_target(np.array([2.0, 6.0, NAN, 6.0, NAN]), filling)
    # a gap's statistic comes from the values before it: mean/median of (2, 6) = 4
    expected = [2.0, 6.0, {"mean": 4.0, "median": 4.0, "min": 2.0, "max": 6.0}[middle], 6.0]
    expected.append({"nan": NAN, "max": 6.0, "value": 9.5, "zero": 0.0}[back])
    np.testing.assert_array_equal(y, np.array(expected))


def test_statistics_look_at_the_last_64_values_before_the_gap():
    values = np.r_[np.full(100, 1000.0), np.full(64, 1.0), NAN]
    filling = FieldFilling.for_target("y", [Featurization(field="y", backfill="max")])
    y, _ = fill_target(values, filling)
    assert y[-1] == 1.0


def test_value_filling_needs_its_value_and_frontfill_is_none():
    with pytest.raises(FillingError, match="middlefill_value is missing"):
        FieldFilling.for_target("y", [Featurization(field="y", middlefill="value")])
    with pytest.raises(FillingError, match="frontfill"):
        FieldFilling.for_target("y", [Featurization(field="y", frontfill="zero")])
    with pytest.raises(FillingError, match="not valid"):
        FieldFilling.for_target("y", [Featurization(field="y", backfill="previous")])


def test_related_without_future_values_is_unusable_unless_future_filled():
    raw = np.array([1.0, NAN, 3.0, 4.0, NAN, NAN])  # history is 4 points, horizon 2
    assert fill_related(raw, 4, FieldFilling.for_related("price", [])) is None
    filling = FieldFilling.for_related(
        "price", [Featurization(field="price", middlefill="mean", futurefill="max")]
    )
    assert fill_related(raw, 4, filling).tolist() == [1.0, 1.0, 3.0, 4.0, 4.0, 4.0]
    complete = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert fill_related(complete, 4, FieldFilling.for_related("price", [])).tolist() == list(
        complete
    )


# -- reading channels ---------------------------------------------------------------------

START = datetime(2024, 1, 1)


def write(paths: TrainPaths, channel: str, table: pa.Table, name: str = "part-0.parquet"):
    directory = paths.channel(channel)
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / name)


def config(**changes) -> ForecastJobConfig:
    values = {
        "mode": "train",
        "frequency": "D",
        "horizon": 3,
        "item_field": "item_id",
        "target_field": "demand",
        "dimensions": ["store"],
    }
    return ForecastJobConfig(**{**values, **changes})


@pytest.fixture
def paths(tmp_path) -> TrainPaths:
    paths = TrainPaths(tmp_path)
    paths.make_dirs()
    rows = []
    for day in range(10):  # hourly rows, two a day: aggregated to daily sums
        for hour in (9, 15):
            stamp = START + timedelta(days=day, hours=hour)
            rows.append(("a", "s1", stamp, 1.0 + day))
            if day not in (3, 4) and day < 8:  # item b: a gap, then ends early
                rows.append(("b", "s1", stamp, 2.0))
    rows.append(("c", "s2", START + timedelta(days=9, hours=1), None))  # no value at all
    item, store, stamp, demand = zip(*rows, strict=True)
    write(
        paths,
        "target",
        pa.table(
            {
                "item_id": pa.array(item),
                "store": pa.array(store),
                "timestamp": pa.array(stamp, pa.timestamp("us")),
                "demand": pa.array(demand, pa.float64()),
            }
        ),
    )
    days = [START + timedelta(days=d) for d in range(13)]
    write(
        paths,
        "related",
        pa.table(
            {
                "item_id": ["a"] * 13 + ["b"] * 10,
                "store": ["s1"] * 23,
                "timestamp": pa.array(days + days[:10], pa.timestamp("ms")),
                "price": [float(d) for d in range(13)] + [5.0] * 10,
            }
        ),
    )
    write(
        paths,
        "metadata",
        pa.table({"item_id": ["a", "b", "new"], "category": ["x", "y", "x"]}),
    )
    return paths


def series_by_key(data: ForecastData) -> dict:
    return {s.key: s for batch in data.batches() for s in batch}


def test_channels_become_regular_filled_series(paths):
    with ForecastData(paths, config()) as data:
        assert (data.info.length, data.info.rows) == (10, 33)
        assert data.info.item_ids == {"a", "b", "c"}
        assert data.info.dimension_values == [("s1",), ("s2",)]
        assert data.info.series == 3  # a and b in s1, c in s2: not 3 items x 2 stores
        series = series_by_key(data)
    assert set(series) == {"a\x1fs1", "b\x1fs1"}  # c has no value: nothing to learn from
    a, b = series["a\x1fs1"], series["b\x1fs1"]
    assert a.identity == ("a", "s1") and a.metadata == {"category": "x"}
    assert a.y.tolist() == [2.0 * (1 + d) for d in range(10)]  # two hourly rows summed
    assert not a.filled.any()
    assert b.y.tolist() == [4, 4, 4, 0, 0, 4, 4, 4, 0, 0]  # middle and back filled with zero
    assert b.filled.tolist() == [False] * 3 + [True] * 2 + [False] * 3 + [True] * 2


def test_related_aligned_with_history_and_horizon(paths):
    with ForecastData(paths, config()) as data:
        series = series_by_key(data)
    a, b = series["a\x1fs1"], series["b\x1fs1"]
    assert a.related_names == ("price",)
    assert a.X[:, 0].tolist() == [float(d) for d in range(13)]  # 10 points + horizon 3
    assert b.X is None  # no future prices and no futurefill: not used for b
    future = [Featurization(field="price", futurefill="value", futurefill_value=7.0)]
    with ForecastData(paths, config(featurizations=future)) as data:
        b = series_by_key(data)["b\x1fs1"]
    assert b.X[:, 0].tolist() == [5.0] * 10 + [7.0] * 3


def check_related_horizon(paths: TrainPaths, **changes) -> None:
    """The container's check of a predictor's related data, as ``train`` runs it."""
    job = config(**changes)
    with ForecastData(paths, job, bucket_rows=10) as data:
        ends, last = data.info.related_ends, data.info.global_end
        check_future_values(job, ends, data.related_fillings, last, data.grid)


def test_deepar_and_prophet_predictors_fail_on_related_data_without_future_values(paths):
    legacy = {"auto": False}
    # a's prices go on over the horizon but b's stop with its sales: Amazon's rule is that
    # every series of the related data reaches the end of the horizon
    with pytest.raises(DataError) as raised:
        check_related_horizon(paths, algorithms=["Deep_AR_Plus"], **legacy)
    assert "needs: price (b/s1 ends at 2024-01-10 00:00:00), but" in str(raised.value)
    days = [START + timedelta(days=d) for d in range(13)]
    covered = {"item_id": ["a"] * 13, "store": ["s1"] * 13, "price": [1.0] * 13}
    write(paths, "related", pa.table({**covered, "timestamp": pa.array(days)}))
    check_related_horizon(paths, algorithms=["Deep_AR_Plus"], **legacy)
    # a series with rows but not one price stops before it starts
    blank = {"item_id": ["b"], "store": ["s1"], "price": pa.nulls(1, pa.float64())}
    blank_rows = pa.table({**blank, "timestamp": pa.array(days[:1])})
    covered_rows = pa.table({**covered, "timestamp": pa.array(days)})
    write(paths, "related", pa.concat_tables([covered_rows, blank_rows.cast(covered_rows.schema)]))
    with pytest.raises(DataError, match=r"needs: price \(b/s1 has no values\), but"):
        check_related_horizon(paths, algorithms=["Deep_AR_Plus"], **legacy)
    days = [START + timedelta(days=d) for d in range(10)]  # prices end with the sales
    history_only = {"item_id": ["a"] * 10, "store": ["s1"] * 10, "price": [1.0] * 10}
    write(paths, "related", pa.table({**history_only, "timestamp": pa.array(days)}))
    for algorithm in ("Deep_AR_Plus", "Prophet"):
        with pytest.raises(DataError) as raised:
            check_related_horizon(paths, algorithms=[algorithm], **legacy)
        assert str(raised.value).startswith(
            "The RELATED_TIME_SERIES data does not cover the forecast horizon in every "
            f"series, which {algorithm} needs: price (a/s1 ends at 2024-01-10 00:00:00), but "
            "the 3-step horizon after the target time series' last time step (2024-01-10 "
            "00:00:00) runs to 2024-01-13 00:00:00."
        )
        assert "or train CNN-QR, the only algorithm that accepts" in str(raised.value)
    # CNN-QR reads history-only data; models without related data and AutoPredictors go on
    for algorithms in (["CNN-QR"], ["ETS"], ["NPTS"]):
        check_related_horizon(paths, algorithms=algorithms, **legacy)
    check_related_horizon(paths, algorithms=["Prophet", "Deep_AR_Plus", "CNN-QR"])
    # a futurefill fills the horizon
    future = [Featurization(field="price", futurefill="zero")]
    check_related_horizon(paths, algorithms=["Prophet"], featurizations=future, **legacy)


def test_weekly_aggregation_sums_the_days(paths):
    with ForecastData(paths, config(frequency="W")) as data:
        series = series_by_key(data)
    a = series["a\x1fs1"]
    assert a.start == Grid("W").ordinals(stamps("2024-01-01"))[0]
    assert a.y.tolist() == [sum(2.0 * (1 + d) for d in range(7)), 2.0 * (8 + 9 + 10)]


def test_big_datasets_go_through_buckets_with_the_same_result(paths):
    with ForecastData(paths, config()) as data:
        in_memory = series_by_key(data)
    with ForecastData(paths, config(), bucket_rows=10, batch_items=1) as data:
        batches = list(data.batches())
        bucketed = {s.key: s for batch in batches for s in batch}
    assert all(len(batch) == 1 for batch in batches)
    assert set(bucketed) == set(in_memory)
    for key, series in in_memory.items():
        np.testing.assert_array_equal(bucketed[key].y, series.y)
        assert (bucketed[key].X is None) == (series.X is None)


def test_missing_column_and_coarse_data_are_readable_errors(paths):
    with pytest.raises(DataError, match="no column 'sales'"):
        ForecastData(paths, config(target_field="sales"))
    weekly = [START + timedelta(weeks=w) for w in range(12)]
    write(
        paths,
        "target",
        pa.table(
            {
                "item_id": ["a"] * 12,
                "store": ["s1"] * 12,
                "timestamp": pa.array(weekly, pa.timestamp("ms")),
                "demand": [1.0] * 12,
            }
        ),
    )
    with (
        ForecastData(paths, config()) as data,
        pytest.raises(DataError, match="recorded every 7 periods"),
    ):
        list(data.batches())


def test_string_timestamps_and_integer_targets_are_read(tmp_path):
    paths = TrainPaths(tmp_path)
    write(
        paths,
        "target",
        pa.table(
            {
                "item_id": ["a", "a", "a"],
                "timestamp": ["2024-01-01", "2024-01-02", "2024-01-03 00:00:00"],
                "demand": pa.array([1, 2, 3], pa.int64()),
            }
        ),
    )
    with ForecastData(paths, config(dimensions=[])) as data:
        [series] = series_by_key(data).values()
    assert series.y.tolist() == [1.0, 2.0, 3.0]
    assert series.identity == ("a",)


@pytest.mark.parametrize("fold_rows", [0, 1 << 20])
def test_related_ends_fold_batches_into_each_series_first_stop(monkeypatch, fold_rows):
    """One series' rows may come in several batches: its end is the latest of them, and the
    feature's is the earliest over the series (regrouped after every batch, or at the end)."""
    monkeypatch.setattr(related, "_FOLD_ROWS", fold_rows)
    ends = RelatedEnds(["item_id"], ["price", "promo"])

    def batch(items: list[str], prices: list[float | None], promos: list[float | None]):
        table = pa.table(
            {"item_id": items, "price": pa.array(prices, pa.float64()), "promo": promos}
        )
        return table

    ends.add(batch(["a", "b", "a"], [1.0, 1.0, None], [None, None, None]), np.array([5, 9, 7]))
    ends.add(batch(["a", "c"], [2.0, 3.0], [None, 1.0]), np.array([8, 12]))
    assert ends.ends() == {
        "price": RelatedEnd(8, ("a",)),  # a's last price is in the second batch
        "promo": RelatedEnd(None, ("a",)),  # a and b have promo rows but no value
    }
