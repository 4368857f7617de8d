"""Which rows a dataset export writes, and how it writes them as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa

from augury.personalize.dataset_exports import exported_table, write_csv_files

SCHEMA = pa.schema([("ITEM_ID", pa.string()), ("PRICE", pa.float64()), ("NEW", pa.bool_())])


def table(**columns: list) -> pa.Table:
    return pa.table(columns)


def test_exact_duplicates_once_and_newest_row_per_id_with_both_sources() -> None:
    bulk = table(
        ITEM_ID=["a", "b", "b", "a"], PRICE=[1.0, 2.0, 3.0, 1.0], NEW=[True, None, False, True]
    )
    put = table(ITEM_ID=["b", "c"], PRICE=[9.5, None], EXTRA=["dropped", "dropped"])
    assert exported_table(bulk, None, SCHEMA, "ITEM_ID").to_pylist() == [
        {"ITEM_ID": "a", "PRICE": 1.0, "NEW": True},
        {"ITEM_ID": "b", "PRICE": 2.0, "NEW": None},
        {"ITEM_ID": "b", "PRICE": 3.0, "NEW": False},
    ]
    both = exported_table(bulk, put, SCHEMA, "ITEM_ID").to_pylist()
    assert both == [
        {"ITEM_ID": "a", "PRICE": 1.0, "NEW": True},
        {"ITEM_ID": "b", "PRICE": 9.5, "NEW": None},
        {"ITEM_ID": "c", "PRICE": None, "NEW": None},
    ]
    interactions = exported_table(bulk, put, SCHEMA, None)
    assert interactions.num_rows == 5  # no replacement by ID, only exact duplicates removed


def test_csv_files_have_a_header_and_split_by_rows(tmp_path: Path) -> None:
    data = table(ITEM_ID=["a", "b,c", "d"], PRICE=[1.5, None, 2.0], NEW=[True, False, None])
    paths = write_csv_files(data, ["ITEM_ID", "PRICE", "NEW"], tmp_path, "job_stamp", 2)
    assert [p.name for p in paths] == ["job_stamp_part0.csv", "job_stamp_part1.csv"]
    rows = [list(csv.reader(p.open(newline=""))) for p in paths]
    assert rows[0] == [["ITEM_ID", "PRICE", "NEW"], ["a", "1.5", "true"], ["b,c", "", "false"]]
    assert rows[1] == [["ITEM_ID", "PRICE", "NEW"], ["d", "2.0", ""]]
    empty = write_csv_files(data.slice(0, 0), ["ITEM_ID"], tmp_path / "none", "e")
    assert [p.read_text() for p in empty] == ["ITEM_ID\n"]
