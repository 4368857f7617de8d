"""The Personalize CSV reader: headers, types, limits, and messages naming file, line and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from augury.personalize.avro_rules import parse_schema_text
from augury.personalize.import_csv import CsvReader, ImportFailure, SourceFile
from augury.personalize.import_fields import import_fields

URI = "s3://bucket/data.csv"
INTERACTIONS = [
    {"name": "USER_ID", "type": "string"},
    {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"},
    {"name": "EVENT_TYPE", "type": "string"},
    {"name": "EVENT_VALUE", "type": ["null", "float"]},
    {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
]
ITEMS = [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "CREATION_TIMESTAMP", "type": "long"},
    {"name": "RATING", "type": ["null", "double"]},
    {"name": "STOCK", "type": "int"},
    {"name": "ON_SALE", "type": ["null", "boolean"]},
    {"name": "GENRES", "type": ["null", "string"], "categorical": True},
    {"name": "DESCRIPTION", "type": ["null", "string"], "textual": True},
]


def read(tmp_path: Path, text: str | bytes, fields: list[dict[str, Any]] = INTERACTIONS, **kw: Any):
    schema = parse_schema_text(json.dumps({"type": "record", "name": "R", "fields": fields}))
    path = tmp_path / "data.csv"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    reader = CsvReader(import_fields(schema), **kw)
    rows: list[dict[str, Any]] = []
    for batch in reader.batches(SourceFile(URI, path)):
        rows.extend(batch.to_pylist())
    return rows


def failure(tmp_path: Path, text: str | bytes, fields: list[dict[str, Any]] = INTERACTIONS) -> str:
    with pytest.raises(ImportFailure) as caught:
        read(tmp_path, text, fields)
    return str(caught.value)


def test_columns_in_any_order_reserved_names_in_any_case(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        "\ufeffevent_type,Item_Id,USER_ID,timestamp,DEVICE\r\n"
        'click,i1,u1,100,"phone|tablet"\r\n'
        "\r\n"
        "view,i2,u2,200,\r\n",
    )
    assert rows == [
        {
            "USER_ID": "u1",
            "ITEM_ID": "i1",
            "TIMESTAMP": 100,
            "EVENT_TYPE": "click",
            "EVENT_VALUE": None,
            "DEVICE": "phone|tablet",
        },
        {
            "USER_ID": "u2",
            "ITEM_ID": "i2",
            "TIMESTAMP": 200,
            "EVENT_TYPE": "view",
            "EVENT_VALUE": None,
            "DEVICE": None,
        },
    ]


def test_every_avro_type_and_rfc4180_quoting(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        "ITEM_ID,CREATION_TIMESTAMP,RATING,STOCK,ON_SALE,GENRES,DESCRIPTION\n"
        'a,-86400, 4.5 ,+7,TRUE,Comedy|Drama,"Funny, ""very"" funny\nsecond line"\n'
        "b,0,,2147483647,false,,\n"
        "c,1700000000,1e3,-3,1,Horror,plain\n",
        ITEMS,
    )
    assert [r["CREATION_TIMESTAMP"] for r in rows] == [-86400, 0, 1700000000]
    assert [r["RATING"] for r in rows] == [4.5, None, 1000.0]
    assert [r["STOCK"] for r in rows] == [7, 2147483647, -3]
    assert [r["ON_SALE"] for r in rows] == [True, False, True]
    assert rows[0]["DESCRIPTION"] == 'Funny, "very" funny\nsecond line'
    assert rows[1]["GENRES"] is None and rows[1]["DESCRIPTION"] is None


def test_streams_in_small_blocks(tmp_path: Path) -> None:
    body = "".join(f"u{n},i{n},{n},click,{n / 2},\n" for n in range(2000))
    rows = read(
        tmp_path,
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE\n" + body,
        block_bytes=4096,
    )
    assert len(rows) == 2000
    assert rows[-1]["TIMESTAMP"] == 1999 and rows[-1]["EVENT_VALUE"] == 999.5


HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "u1,i1,100,click,\nu2,i2,1.5e9,click,\n",
            "line 3, field TIMESTAMP: '1.5e9' is not a Unix timestamp in seconds",
        ),
        (
            "u1,i1,1700000000000,click,\n",
            "line 2, field TIMESTAMP: '1700000000000' is too large for Unix epoch seconds",
        ),
        ("u1,i1,-5,click,\n", "line 2, field TIMESTAMP: '-5' is before 1970"),
        ("u1,i1,100,click,high\n", "line 2, field EVENT_VALUE: 'high' is not a number (float)"),
        ("u1,i1,100,click,inf\n", "line 2, field EVENT_VALUE: 'inf' is not a finite number"),
        ("u1,,100,click,\n", "line 2, field ITEM_ID: the value is empty; every record needs"),
        (",i1,100,click,\n", "line 2, field USER_ID: the value is empty; every record needs"),
        (
            "u1,i1,100,,\n",
            "line 2, field EVENT_TYPE: the value is empty, but EVENT_TYPE can't be null",
        ),
        (
            "u1,i1,100,click\n",
            "line 2: expected 5 comma-separated values, as in the header, found 4",
        ),
        (
            'u1,"i\n1",100,click,\n\nu2,i2,100,click,1,extra\n',
            "line 5: expected 5 comma-separated values, as in the header, found 6",
        ),
        ("u" * 257 + ",i1,100,click,\n", "field USER_ID: the value has 257 characters"),
        ("u1,i1,100,click,\n" * 3 + "u1,i1,oops,click,\n", "line 5, field TIMESTAMP"),
    ],
)
def test_bad_values_name_the_line_and_field(tmp_path: Path, body: str, message: str) -> None:
    text = failure(tmp_path, HEADER + body)
    assert text.startswith(URI)
    assert message in text


def test_bad_item_values(tmp_path: Path) -> None:
    header = "ITEM_ID,CREATION_TIMESTAMP,STOCK,ON_SALE,GENRES,DESCRIPTION\n"
    assert "line 2, field STOCK: '2147483648' is out of range for an int" in failure(
        tmp_path, header + "a,1,2147483648,true,,\n", ITEMS
    )
    assert "line 2, field STOCK: '2.5' is not an integer (int)" in failure(
        tmp_path, header + "a,1,2.5,true,,\n", ITEMS
    )
    assert "line 2, field ON_SALE: 'yes' is not a boolean" in failure(
        tmp_path, header + "a,1,2,yes,,\n", ITEMS
    )
    long_genre = "Comedy|" + "x" * 1001
    assert "line 2, field GENRES: a categorical value has 1001 characters" in failure(
        tmp_path, header + f"a,1,2,true,{long_genre},\n", ITEMS
    )
    assert read(tmp_path, header + "a,1,2,true," + "|".join(["y" * 1000] * 3) + ",\n", ITEMS)
    assert "field DESCRIPTION: the textual value has 20001 characters" in failure(
        tmp_path, header + f"a,1,2,true,,{'d' * 20001}\n", ITEMS
    )


def test_header_rules(tmp_path: Path) -> None:
    assert "line 1 (header): no column for TIMESTAMP (long), EVENT_TYPE (string)" in failure(
        tmp_path, "USER_ID,ITEM_ID\nu1,i1\n"
    )
    assert "column 'COLOR' is not a field of the dataset's schema" in failure(
        tmp_path, "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,COLOR\nu,i,1,c,red\n"
    )
    assert "did you mean DEVICE?" in failure(
        tmp_path, "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,device\nu,i,1,c,d\n"
    )
    assert "both name field USER_ID" in failure(
        tmp_path, "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,user_id\nu,i,1,c,u\n"
    )
    assert "is empty; a Personalize import file starts with a header row" in failure(tmp_path, "")
    assert "line 1 is blank" in failure(tmp_path, "\nu,i,1,c\n")
    assert read(tmp_path, "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE") == []


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    data = HEADER.encode() + b"u1,i1,100,click,\nu\xff,i2,100,click,\n"
    assert failure(tmp_path, data) == (
        f"{URI} line 3: the line is not UTF-8 text; save the file as UTF-8"
    )


def test_lines_ending_in_a_lone_carriage_return(tmp_path: Path) -> None:
    """Old Mac and Excel exports end lines with ``\\r`` alone: read, and lines counted, alike."""
    rows = read(tmp_path, "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\ru1,i1,100,click\ru2,i2,200,view\r")
    assert [(row["USER_ID"], row["TIMESTAMP"]) for row in rows] == [("u1", 100), ("u2", 200)]
    bad_timestamp = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\ru1,i1,100,click\ru2,i2,x,view"
    assert failure(tmp_path, bad_timestamp) == (
        f"{URI} line 3, field TIMESTAMP: 'x' is not a Unix timestamp in seconds; TIMESTAMP must "
        "be an integer number of seconds since 1970-01-01 UTC, such as 1561939200"
    )
    data = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\ru1,i1,100,click\ru\xff,i2,100,click\r"
    assert failure(tmp_path, data) == (
        f"{URI} line 3: the line is not UTF-8 text; save the file as UTF-8"
    )
    assert read(tmp_path, "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\r") == []


def test_a_crlf_file_converted_twice_counts_its_lines_as_arrow_does(tmp_path: Path) -> None:
    """``\\r\\r\\n`` is a lone ``\\r`` then ``\\r\\n``: two line endings, a blank line between."""
    data = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\r\r\nu1,i1,100,click\r\r\nu\xff,i2,1,c\r\r\n"
    assert failure(tmp_path, data) == (
        f"{URI} line 5: the line is not UTF-8 text; save the file as UTF-8"
    )
