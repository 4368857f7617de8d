"""The forecasting benchmark on any CSV: each item's last horizon held out, bad items left out,
and the models run on it end to end (two fast rows)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.script_modules import load_script

bench = load_script("benchmark_m3")
series_csv = sys.modules["series_csv"]  # imported by the benchmark


def _write(path: Path, items: dict[str, list[float | None]], *, target: str = "target_value"):
    rows = [
        (item, day.strftime("%Y-%m-%d"), value)
        for item, values in items.items()
        for day, value in zip(pd.date_range("2024-01-01", periods=len(values)), values, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=["item_id", "timestamp", target])
    frame.sample(frac=1.0, random_state=0).to_csv(path, index=False)  # any row order
    return path


def test_each_items_last_horizon_is_held_out_and_bad_items_are_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = [float(v) for v in range(1, 31)]
    gap = [*long[:10], None, *long[11:]]
    path = _write(
        tmp_path / "shop.csv", {"b": long, "a": [2 * v for v in long], "gap": gap, "new": long[:8]}
    )
    competition = series_csv.csv_competition(path, "D", horizon=5, season_length=7)
    (group,) = series_csv.load_csv_groups(path, competition.groups[0], subset=None)
    assert competition.name == "shop" and group.spec.frequency == "D"
    assert group.names == ["a", "b"]  # ordered by item, each by its timestamps
    np.testing.assert_array_equal(group.train[1], long[:-5])
    np.testing.assert_array_equal(group.test, [[2 * v for v in long[-5:]], long[-5:]])
    assert "left out 1 item(s) with a missing target and 1 shorter than 19 points" in (
        capsys.readouterr().err
    )


def test_the_retail_domains_demand_column_is_read_and_a_wrong_header_is_named(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "retail.csv", {"x": [1.0] * 20}, target="demand")
    spec = series_csv.csv_competition(path, "Q", 4, 4).groups[0]
    assert spec.frequency == "3M"  # the name the models know quarters by
    assert series_csv.load_csv_groups(path, spec, None)[0].test.shape == (1, 4)
    bad = tmp_path / "bad.csv"
    bad.write_text("item,when,target_value\nx,2024-01-01,1\n")
    with pytest.raises(SystemExit, match="no item_id, timestamp column"):
        series_csv.load_csv_groups(bad, spec, None)
    with pytest.raises(SystemExit, match="give --season-length"):
        series_csv.default_season_length("15min")


def test_the_benchmark_runs_its_rows_on_a_csv(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    days = np.arange(60)
    items = {
        f"i{n}": list(10 + n + 3 * np.sin(2 * np.pi * days / 7) + rng.normal(0, 0.3, days.size))
        for n in range(4)
    }
    path = _write(tmp_path / "weekly_shape.csv", items)
    output = tmp_path / "report.md"
    argv = ["--data", str(path), "--frequency", "D", "--horizon", "7"]
    argv += ["--models", "SeasonalNaive,Theta", "--jobs", "1", "--output", str(output)]
    assert bench.main(argv) == 0
    report = output.read_text()
    assert "# weekly_shape benchmark" in report and "weekly_shape 4 (h=7)" in report
    naive = next(line for line in report.splitlines() if line.startswith("| SeasonalNaive |"))
    smape = float(naive.split("|")[2])
    assert 0 < smape < 10  # the weekly shape repeats: a season-length-7 naive is close
