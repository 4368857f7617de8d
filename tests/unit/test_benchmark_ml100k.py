"""The ml-100k benchmark's peers and report plumbing, on tiny hand-made data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augury_training.personalization.evaluation import EvaluationSplit
from tests.unit.script_modules import load_script

bench = load_script("benchmark_ml100k")
bench_data = sys.modules["personalize_bench_data"]  # imported by the benchmark
peers = sys.modules["recommender_peers"]  # imported by the benchmark

CATALOG = ["a", "b", "c", "d", "e"]


def _split() -> EvaluationSplit:
    # a and b always go together; c and d together; e is the most popular item.
    rows = []
    for user in range(12):
        pair = ("a", "b") if user % 2 else ("c", "d")
        for step, item in enumerate((*pair, "e")):
            rows.append({"USER_ID": f"u{user}", "ITEM_ID": item, "TIMESTAMP": step})
    test_rows = pd.DataFrame([{"USER_ID": "t", "ITEM_ID": "a", "TIMESTAMP": 0}])
    return EvaluationSplit(
        train=pd.DataFrame(rows),
        test_inputs={"t": ["a"]},
        test_targets={"t": ["b"]},
        test_input_rows=test_rows,
    )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("item-knn", {"k": None}),
        ("item-knn-last", {"k": 2}),
        ("ease", {"lambda": 1.0}),
        ("implicit-als", {"factors": 4, "regularization": 0.01, "alpha": 1.0, "iterations": 10}),
    ],
)
def test_neighbourhood_and_factor_peers_find_the_partner_item(name: str, params: dict) -> None:
    score = peers.PEER_FACTORIES[name](_split(), CATALOG, {**params, "seed": 0})
    scores = score("t", ["a"])
    assert scores.shape == (len(CATALOG),)
    # b (always with a) beats c and d (never with a)
    assert scores[CATALOG.index("b")] > scores[CATALOG.index("c")]
    assert scores[CATALOG.index("b")] > scores[CATALOG.index("d")]


def test_most_popular_ranks_by_training_counts() -> None:
    scores = peers.most_popular(_split(), CATALOG, {})("t", ["a"])
    assert int(np.argmax(scores)) == CATALOG.index("e")
    assert scores[CATALOG.index("a")] == 6


def test_bpr_scores_every_catalog_item_for_a_test_user() -> None:
    params = {"factors": 4, "learning_rate": 0.05, "regularization": 0.01, "iterations": 5}
    scores = peers.implicit_bpr(_split(), CATALOG, {**params, "seed": 0})("t", ["a"])
    assert scores.shape == (len(CATALOG),) and np.isfinite(scores).all()


def test_write_section_replaces_only_its_own_part(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    bench.write_section(report, "accuracy", "# Title\n\nfirst")
    bench.write_section(report, "latency", "## Latency\n\nfast")
    bench.write_section(report, "accuracy", "# Title\n\nsecond")
    text = report.read_text()
    assert "second" in text and "first" not in text
    assert text.index("second") < text.index("fast")
    assert text.count("<!-- latency:start -->") == 1


def _write_data(folder: Path) -> None:
    """120 users in two tastes (items i0-i9 or i10-i19), each also clicking one of five
    hits; 1,440 interactions, and an Items file with each item's taste as a genre."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(120):
        taste = 10 * (user % 2)
        for step in range(12):
            item = f"i{taste + rng.integers(10)}" if step % 3 else f"i{20 + rng.integers(5)}"
            rows.append((f"u{user}", item, 1_700_000_000 + 3600 * step + user, "click"))
    folder.mkdir()
    pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]).to_csv(
        folder / "interactions.csv", index=False
    )
    genres = ["A"] * 10 + ["B"] * 10 + ["HIT"] * 5
    pd.DataFrame({"ITEM_ID": [f"i{n}" for n in range(25)], "GENRES": genres}).to_csv(
        folder / "items.csv", index=False
    )


def test_other_data_runs_the_same_benchmark_from_a_folder_of_csvs(tmp_path: Path) -> None:
    """``--data`` benchmarks any Personalize-shaped CSVs: recipes train through the
    container and peers fit on the same split, and the report names that data."""
    data = tmp_path / "shop"
    _write_data(data)
    output, results = tmp_path / "report.md", tmp_path / "rows.json"
    argv = ["--data", str(data), "--in-process", "--output", str(output)]
    code = bench.main([*argv, "--only", "most-popular,aws-sims", "--results", str(results)])
    assert code == 0
    report = output.read_text()
    assert "# Personalize benchmark on shop" in report
    assert "`shop` (CSV files), 1,440 interactions, 120 users, 25 items" in report
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if "| ok |" in line}
    assert set(rows) == {"most-popular", "aws-sims"}
    # rows of other data never join this table
    with pytest.raises(SystemExit, match="holds results on"):
        bench.merge_results(results, 42, [], [], bench.ML100K)


def test_perform_hpo_tunes_the_recipes_and_says_what_it_chose(tmp_path: Path) -> None:
    """``--perform-hpo`` trains a recipe with performHPO over its default ranges, as the
    peers are tuned on a validation split; the row names the values chosen."""
    data = tmp_path / "shop"
    _write_data(data)
    output = tmp_path / "report.md"
    argv = ["--data", str(data), "--in-process", "--output", str(output), "--perform-hpo"]
    assert bench.main([*argv, "--only", "aws-sims,most-popular"]) == 0
    lines = output.read_text().splitlines()
    rows = {line.split("|")[1].strip(): line for line in lines if "| ok |" in line}
    assert "performHPO: {'algorithmHyperParameters': {" in rows["aws-sims"]
    assert "popularity_discount_factor" in rows["aws-sims"]
    assert "performHPO" not in rows["most-popular"]  # a peer: tuned its own way


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "interactions.csv is missing"),
        ({"interactions.csv": "USER_ID,ITEM_ID\nu,i\n"}, "has no column"),
        ({"interactions.csv": "USER_ID,ITEM_ID,TIMESTAMP\nu,i,1\nu,j,yesterday\n"}, "line 3"),
    ],
)
def test_bad_data_folders_stop_before_any_model_runs(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SystemExit, match=message):
        bench_data.read_folder(tmp_path)


def test_a_data_folder_keeps_ids_as_text_and_numbers_as_numbers(tmp_path: Path) -> None:
    (tmp_path / "interactions.csv").write_text("USER_ID,ITEM_ID,TIMESTAMP\n007,01,5\n")
    (tmp_path / "items.csv").write_text("ITEM_ID,YEAR,GENRES\n01,1995,Drama|War\n02,,\n")
    interactions, items, users = bench_data.read_folder(tmp_path)
    assert interactions.loc[0, ["USER_ID", "ITEM_ID", "EVENT_TYPE"]].tolist() == ["007", "01", ""]
    assert interactions["TIMESTAMP"].dtype == "int64"
    assert items["ITEM_ID"].tolist() == ["01", "02"]
    assert items["YEAR"].dtype.kind == "f" and items["YEAR"].isna().tolist() == [False, True]
    assert users.empty
