"""The personalization container end to end: Parquet channels in, a loadable model out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augury_training.contract import TrainPaths, run_training
from augury_training.personalization.train import TUNED_HPO_FILE, main
from augury_training.personalize_contract import (
    MANIFEST_FILE,
    METRICS_FILE,
    SOLUTION_METRICS,
    SolutionJobConfig,
)
from augury_training.recommender_artifacts import load_recommender, top_k

N_USERS = 60
PAIRS = 15


def _interactions(seed: int = 0) -> pd.DataFrame:
    """Items come in pairs: whoever clicks one member of a pair soon clicks the other."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(N_USERS):
        for pair in rng.choice(PAIRS, size=10, replace=False):
            t = int(rng.integers(1_000_000, 2_000_000))
            rows.append((f"u{user}", f"p{pair}a", t, "click", 1.0))
            rows.append((f"u{user}", f"p{pair}b", t + 60, "click", 1.0))
        rows.append((f"u{user}", "bought", 2_000_001, "purchase", 5.0))
    return pd.DataFrame(
        rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
    )


def _items() -> pd.DataFrame:
    ids = [f"p{i}{s}" for i in range(PAIRS) for s in "ab"] + ["bought", "cold"]
    return pd.DataFrame(
        {
            "ITEM_ID": ids,
            "GENRES": [f"g{i % 3}" for i in range(len(ids))],
            "CREATION_TIMESTAMP": np.arange(len(ids), dtype=np.int64) + 500,
        }
    )


def _job(root: Path, config: SolutionJobConfig, channels: dict[str, pd.DataFrame]) -> TrainPaths:
    paths = TrainPaths(root)
    paths.make_dirs()
    for name, frame in channels.items():
        folder = paths.input_data_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / "part-0.parquet", index=False)
    paths.hyperparameters_file.write_text(json.dumps({"config": config.to_json()}))
    return paths


def _run(paths: TrainPaths) -> None:
    run_training(main, paths)


def test_sims_job_writes_a_model_serving_can_load(tmp_path: Path) -> None:
    events = pd.DataFrame(
        {
            "USER_ID": ["u1", "u1"],
            "ITEM_ID": ["new-a", "new-b"],
            "TIMESTAMP": [2_100_000, 2_100_001],
            "EVENT_TYPE": ["click", "click"],
            "EVENT_VALUE": [1.0, 1.0],
        }
    )
    updated_item = pd.DataFrame({"ITEM_ID": ["cold"], "GENRES": ["g9"]})
    paths = _job(
        tmp_path,
        SolutionJobConfig(
            recipe="arn:aws:personalize:::recipe/aws-sims",
            algorithm_hyperparameters={"min_cointeraction_count": "2"},
        ),
        {
            "interactions": _interactions(),
            "items": _items(),
            "events/interactions": events,
            "events/items": updated_item,
        },
    )
    _run(paths)
    model_dir = paths.model_dir
    assert (model_dir / MANIFEST_FILE).is_file()
    metrics = json.loads((model_dir / METRICS_FILE).read_text())
    assert set(metrics) == set(SOLUTION_METRICS)
    assert metrics["precision_at_5"] > 0.0
    assert not (model_dir / TUNED_HPO_FILE).exists()
    model = load_recommender(model_dir)
    assert model.recipe == "aws-sims" and model.recipe_type == "RELATED_ITEMS"
    assert {"new-a", "new-b", "cold"} <= set(model.item_ids)  # events and Items data count
    related = model.score_related("p3a")
    assert model.item_ids[top_k(related, 1)[0]] == "p3b"
    assert model.user_history("u1")[-2:] == ["new-a", "new-b"]
    assert len(model.score_related("never-seen")) == len(model.item_ids)


def test_event_type_solution_trains_on_that_type_only(tmp_path: Path) -> None:
    paths = _job(
        tmp_path,
        SolutionJobConfig(recipe="aws-popularity-count", event_type="purchase"),
        {"interactions": _interactions()},
    )
    with pytest.raises(SystemExit) as exit_info:
        _run(paths)
    assert exit_info.value.code == 1
    reason = paths.failure_file.read_text()
    assert reason.startswith("Insufficient data")
    assert "60 interactions after filtering" in reason and "1000" in reason


def test_too_few_active_users_fails_with_amazons_reason(tmp_path: Path) -> None:
    frame = _interactions()
    frame = frame[frame["USER_ID"].isin([f"u{i}" for i in range(20)])]
    extra = pd.DataFrame(
        {
            "USER_ID": [f"solo{i}" for i in range(900)],
            "ITEM_ID": "p1a",
            "TIMESTAMP": 5,
            "EVENT_TYPE": "click",
            "EVENT_VALUE": 1.0,
        }
    )
    paths = _job(
        tmp_path,
        SolutionJobConfig(recipe="aws-popularity-count"),
        {"interactions": pd.concat([frame, extra])},
    )
    with pytest.raises(SystemExit):
        _run(paths)
    assert "20 users have at least 2 interactions" in paths.failure_file.read_text()


def test_unknown_recipe_fails_clearly(tmp_path: Path) -> None:
    paths = _job(tmp_path, SolutionJobConfig(recipe="aws-magic"), {"interactions": _interactions()})
    with pytest.raises(SystemExit):
        _run(paths)
    assert "aws-magic" in paths.failure_file.read_text()


def test_hpo_writes_the_tuned_values(tmp_path: Path) -> None:
    hpo_config = {
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "4"},
        "algorithmHyperParameterRanges": {
            "continuousHyperParameterRanges": [
                {"name": "popularity_discount_factor", "minValue": 0.0, "maxValue": 1.0}
            ],
            "integerHyperParameterRanges": [
                {"name": "min_cointeraction_count", "minValue": 1, "maxValue": 3}
            ],
        },
    }
    paths = _job(
        tmp_path,
        SolutionJobConfig(recipe="aws-sims", perform_hpo=True, hpo_config=hpo_config),
        {"interactions": _interactions()},
    )
    _run(paths)
    tuned = json.loads((paths.model_dir / TUNED_HPO_FILE).read_text())["algorithmHyperParameters"]
    manifest = json.loads((paths.model_dir / MANIFEST_FILE).read_text())
    assert manifest["tuned_hyperparameters"] == tuned
    for name, value in tuned.items():
        assert manifest["hyperparameters"][name] == value


def test_entry_point_runs_as_a_process_under_the_contract(tmp_path: Path) -> None:
    paths = _job(
        tmp_path,
        SolutionJobConfig(recipe="aws-trending-now", evaluate=False),
        {"interactions": _interactions()},
    )
    result = subprocess.run(
        [sys.executable, "-m", "augury_training.personalization", "train"],
        env={**os.environ, "AUGURY_SM_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[personalization]" in result.stdout
    model = load_recommender(paths.model_dir)
    assert model.item_ids[top_k(model.score_user(None, []), 1)[0]] == "bought"


TINY_DEEP = {"epochs": "1", "hidden_dimension": "8", "bptt": "8", "batch_size": "32"}


def test_deep_recipe_trains_and_update_grows_the_catalog(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    first = _job(
        tmp_path / "full",
        SolutionJobConfig(
            recipe="aws-user-personalization",
            algorithm_hyperparameters=TINY_DEEP,
            evaluate=False,
        ),
        {"interactions": _interactions(), "items": _items()},
    )
    _run(first)
    before = load_recommender(first.model_dir)
    assert before.recipe_type == "USER_PERSONALIZATION"
    scores = before.score_user("u1", ["p2a"])
    assert scores.shape == (len(before.item_ids),) and np.all(np.isfinite(scores))
    assert "brand-new" not in before.item_ids

    new_item = pd.DataFrame({"ITEM_ID": ["brand-new"], "GENRES": ["g1"]})
    update = _job(
        tmp_path / "update",
        SolutionJobConfig(recipe="aws-user-personalization", training_mode="UPDATE"),
        {"interactions": _interactions(), "items": _items(), "events/items": new_item},
    )
    shutil.copytree(first.model_dir, update.input_data_dir / "previous_model")
    _run(update)
    after = load_recommender(update.model_dir)
    assert after.item_ids[: len(before.item_ids)] == before.item_ids  # indices keep meaning
    assert after.item_ids[-1] == "brand-new"
    assert after.manifest["training_mode"] == "UPDATE"
    grown = after.score_user("u1", ["p2a"])
    assert grown.shape == (len(before.item_ids) + 1,) and np.isfinite(grown[-1])
    # no retraining: the known items score exactly as before
    np.testing.assert_allclose(grown[:-1], scores, rtol=1e-5, atol=1e-5)


def test_hpo_trials_train_one_network_and_the_version_averages_three(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trials compare settings on one network each (three would triple the search); the
    solution version itself trains the recipe's averaged networks."""
    pytest.importorskip("torch")
    from augury_training.personalization import train as train_module

    trials: list[dict[str, str]] = []
    real = train_module.evaluate

    def recording(recipe, split, data, params, context, event_type=None):
        trials.append(dict(params))
        return real(recipe, split, data, params, context, event_type)

    monkeypatch.setattr(train_module, "evaluate", recording)
    hpo_config = {
        "hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"},
        "algorithmHyperParameterRanges": {
            "integerHyperParameterRanges": [
                {"name": "hidden_dimension", "minValue": 8, "maxValue": 16}
            ]
        },
    }
    paths = _job(
        tmp_path,
        SolutionJobConfig(
            recipe="aws-user-personalization",
            algorithm_hyperparameters=TINY_DEEP,
            evaluate=False,
            perform_hpo=True,
            hpo_config=hpo_config,
        ),
        {"interactions": _interactions()},
    )
    _run(paths)
    assert len(trials) == 2
    assert all(params["num_averaged_models"] == "1" for params in trials)
    model = load_recommender(paths.model_dir)
    assert len(model.encoder.members) == 3
    # the manifest says how each network trained
    networks = model.manifest["networks"]
    assert len(networks) == 3 and all(n["best_epoch"] >= 1 for n in networks)


def test_an_event_delivered_twice_counts_once(tmp_path: Path) -> None:
    from augury_training.personalization.data import load_interactions

    imported = _interactions()
    event = pd.DataFrame(
        [("u1", "p0a", 2_100_000, "click", 1.0)],
        columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"],
    )
    paths = _job(
        tmp_path,
        SolutionJobConfig(recipe="aws-popularity-count"),
        {"interactions": imported, "events/interactions": event},
    )
    # a redelivered batch left the same event in a second file
    event.to_parquet(paths.input_data_dir / "events/interactions" / "part-1.parquet", index=False)
    loaded = load_interactions(paths)
    assert len(loaded) == len(imported) + 1
    assert (loaded["TIMESTAMP"] == 2_100_000).sum() == 1


def test_a_repeated_event_id_trains_on_its_first_event_only(tmp_path: Path) -> None:
    """PutEvents: "Any subsequent events after the first with the same event ID are not used
    in model training"; events without an ID (files written before IDs were kept) all stay."""
    from augury_training.personalization.data import load_interactions

    imported = _interactions()
    columns = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "EVENT_ID"]
    first = pd.DataFrame(
        [
            ("u1", "p0a", 3_100_000, "click", 1.0, "e-1"),
            ("u1", "p0b", 3_100_001, "click", 1.0, "e-2"),
        ],
        columns=columns,
    )
    paths = _job(
        tmp_path,
        SolutionJobConfig(recipe="aws-popularity-count"),
        {"interactions": imported, "events/interactions": first},
    )
    folder = paths.input_data_dir / "events/interactions"
    later = pd.DataFrame([("u1", "p1a", 3_200_000, "view", 0.5, "e-1")], columns=columns)
    later.to_parquet(folder / "part-1.parquet", index=False)
    older = pd.DataFrame([("u2", "p1b", 3_000_000, "click", 1.0)], columns=columns[:-1])
    older.to_parquet(folder / "part-2.parquet", index=False)
    loaded = load_interactions(paths)
    recorded = loaded[loaded["TIMESTAMP"] >= 3_000_000]
    assert sorted(recorded["ITEM_ID"]) == ["p0a", "p0b", "p1b"]  # e-1's second event is out
    assert "EVENT_ID" not in loaded.columns


def _device_interactions(seed: int = 0) -> pd.DataFrame:
    """On a phone users open phone items (m0-m9), on a desktop desktop items (d0-d9)."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(N_USERS):
        for step in range(20):
            device = "phone" if rng.random() < 0.5 else "desktop"
            item = f"{device[0].replace('p', 'm')}{rng.integers(0, 10)}"
            hour = int(rng.integers(0, 24))  # a numeric context that tells nothing
            rows.append((f"u{user}", item, 1_000_000 + user * 100 + step, "click", device, hour))
    columns = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "DEVICE", "HOUR"]
    return pd.DataFrame(rows, columns=columns)


def test_deep_recipe_learns_the_interactions_context_and_serving_reads_it(tmp_path: Path) -> None:
    """The Interactions schema's DEVICE field, from imports and recorded events alike, is
    learned; a request's context then picks the device's items, and evaluation runs."""
    pytest.importorskip("torch")
    frame = _device_interactions()
    events = frame.iloc[-120:].assign(EVENT_ID=[f"e{i}" for i in range(120)])
    kinds = {"INTERACTIONS": {"DEVICE": "categorical", "EVENT_TYPE": "string", "HOUR": "numeric"}}
    paths = _job(
        tmp_path,
        SolutionJobConfig(
            recipe="aws-user-personalization",
            algorithm_hyperparameters={**TINY_DEEP, "epochs": "15", "num_averaged_models": "1"},
            field_kinds=kinds,
        ),
        {"interactions": frame.iloc[:-120], "events/interactions": events},
    )
    _run(paths)
    model = load_recommender(paths.model_dir)
    assert model.manifest["networks"][0]["epochs"] == 15
    assert model.encoder.context_fields == ("DEVICE", "HOUR")
    phone = model.score_user("u3", [], context={"DEVICE": "Phone"})
    desktop = model.score_user("u3", [], context={"DEVICE": "desktop", "hour": "13"})
    top_phone = {model.item_ids[i] for i in top_k(phone, 5)}
    top_desktop = {model.item_ids[i] for i in top_k(desktop, 5)}
    assert all(item.startswith("m") for item in top_phone), top_phone
    assert all(item.startswith("d") for item in top_desktop), top_desktop
    metrics = json.loads((paths.model_dir / METRICS_FILE).read_text())
    assert metrics["precision_at_5"] > 0

    # trainingMode=UPDATE keeps the learned context tables over the grown catalog
    update = _job(
        tmp_path / "update",
        SolutionJobConfig(
            recipe="aws-user-personalization", training_mode="UPDATE", field_kinds=kinds
        ),
        {"interactions": frame, "events/items": pd.DataFrame({"ITEM_ID": ["m-new"]})},
    )
    shutil.copytree(paths.model_dir, update.input_data_dir / "previous_model")
    _run(update)
    after = load_recommender(update.model_dir)
    assert after.item_ids[-1] == "m-new"
    np.testing.assert_allclose(
        after.score_user("u3", [], context={"device": "PHONE"})[:-1], phone, rtol=1e-5, atol=1e-5
    )


def test_unchosen_impressions_reach_the_model_of_an_exploring_recipe(tmp_path: Path) -> None:
    """IMPRESSION lists what was shown when the interaction happened: every listed item
    but the chosen one was passed over (once per list), counted over every interaction
    whatever the solution keeps, a recorded event delivered twice counting once."""
    frame = _interactions()
    frame["IMPRESSION"] = None
    frame.loc[0, ["ITEM_ID", "IMPRESSION"]] = ["p9a", "p0a|p0b|p9a|bought|ghost|"]
    frame.loc[1, ["ITEM_ID", "IMPRESSION"]] = ["p9b", "p0a|p0a"]
    event = pd.DataFrame(
        {
            "USER_ID": ["u1"],
            "ITEM_ID": ["p3a"],
            "TIMESTAMP": [2_000_002],
            "EVENT_TYPE": ["purchase"],
            "IMPRESSION": ["p3a|p0b"],
            "EVENT_ID": ["e1"],
        }
    )
    paths = _job(
        tmp_path,
        SolutionJobConfig(
            recipe="aws-user-personalization",
            algorithm_hyperparameters={**TINY_DEEP, "num_averaged_models": "1"},
            event_type="click",  # the purchase's impressions count all the same
            evaluate=False,
        ),
        {"interactions": frame, "events/interactions": pd.concat([event, event])},
    )
    _run(paths)
    model = load_recommender(paths.model_dir)
    shown = dict(zip(model.item_ids, model.unchosen_impressions(), strict=True))
    # "bought" is only ever purchased, so a click solution's catalog lacks it, like "ghost"
    assert {item: count for item, count in shown.items() if count} == {"p0a": 2.0, "p0b": 2.0}
    assert "ghost" not in model.item_ids and "bought" not in model.item_ids


def test_recipes_that_do_not_explore_keep_no_impressions(tmp_path: Path) -> None:
    frame = _interactions().assign(IMPRESSION="p0a|p0b")
    paths = _job(
        tmp_path, SolutionJobConfig(recipe="aws-sims", evaluate=False), {"interactions": frame}
    )
    _run(paths)
    model = load_recommender(paths.model_dir)
    assert not model.unchosen_impressions().any()


def test_test_users_are_scored_in_the_context_of_their_first_target() -> None:
    from augury_training.personalization.catalog import build_training_set
    from augury_training.personalization.train import _request_contexts

    frame = _device_interactions()
    kinds = {"INTERACTIONS": {"DEVICE": "categorical"}}
    data = build_training_set(frame, None, None, field_kinds=kinds)
    rows = pd.DataFrame(
        {
            "USER_ID": ["a", "a", "b", "c"],
            "ITEM_ID": ["m1", "d2", "m3", "d4"],
            "TIMESTAMP": [1, 2, 3, 4],
            "DEVICE": ["phone", "desktop", None, "phone"],
        }
    )
    assert _request_contexts(rows, data) == {
        "a": {"DEVICE": "phone"},
        "b": {},
        "c": {"DEVICE": "phone"},
    }
    assert _request_contexts(rows, build_training_set(frame, None, None)) == {}
    assert _request_contexts(None, data) == {}
