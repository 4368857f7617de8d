"""The ml-100k benchmark's peers and report plumbing, on tiny hand-made data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augury_training.personalization.evaluation import EvaluationSplit

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str):
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


bench = _load("benchmark_ml100k")

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
    score = bench.PEER_FACTORIES[name](_split(), CATALOG, {**params, "seed": 0})
    scores = score("t", ["a"])
    assert scores.shape == (len(CATALOG),)
    # b (always with a) beats c and d (never with a)
    assert scores[CATALOG.index("b")] > scores[CATALOG.index("c")]
    assert scores[CATALOG.index("b")] > scores[CATALOG.index("d")]


def test_most_popular_ranks_by_training_counts() -> None:
    scores = bench.most_popular(_split(), CATALOG, {})("t", ["a"])
    assert int(np.argmax(scores)) == CATALOG.index("e")
    assert scores[CATALOG.index("a")] == 6


def test_bpr_scores_every_catalog_item_for_a_test_user() -> None:
    params = {"factors": 4, "learning_rate": 0.05, "regularization": 0.01, "iterations": 5}
    scores = bench.implicit_bpr(_split(), CATALOG, {**params, "seed": 0})("t", ["a"])
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
