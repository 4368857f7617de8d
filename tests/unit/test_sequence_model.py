"""Training the deep recipes' sequence model: it learns, repeats itself, and obeys its limits.

Everything is tiny (a few dozen items, 16-dimensional vectors, one thread) so
the file runs in seconds on a CPU.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from augury_training.personalization.sequence_hyperparameters import (
    HyperparameterError,
    parse_hyperparameters,
    recipe_defaults,
)
from augury_training.personalization.sequence_model import (
    SequenceTrainingData,
    train_sequence_model,
)

TINY = {
    "hidden_dimension": "16",
    "bptt": "8",
    "batch_size": "16",
    "learning_rate": "0.01",
    "dropout": "0.0",
    "epochs": "12",
    "early_stopping_patience": "12",
    "num_averaged_models": "1",
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run faster on one thread, and CI's two cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _successor_data(n_items: int = 20, users: int = 120, seed: int = 0) -> SequenceTrainingData:
    """Each user walks the catalog in order from a random start: item i is followed by i+1."""
    rng = np.random.default_rng(seed)
    sequences = []
    for _ in range(users):
        start, length = rng.integers(0, n_items), rng.integers(6, 16)
        sequences.append((start + np.arange(length)) % n_items)
    return SequenceTrainingData(
        sequences=sequences,
        weights=None,
        user_rows=np.full(users, -1),
        item_features=None,
        user_features=None,
        item_age_days=None,
        n_items=n_items,
    )


def _train(data: SequenceTrainingData, seed: int = 0, budget: float | None = None, **extra: str):
    lines: list[str] = []
    encoder = train_sequence_model(
        data, {**TINY, **extra}, seed=seed, time_budget_seconds=budget, log=lines.append
    )
    return encoder, lines


def _next_item_accuracy(encoder, n_items: int) -> float:
    hits = [
        int(np.argmax(encoder.score(np.array([(i - 2) % n_items, (i - 1) % n_items, i]))))
        == (i + 1) % n_items
        for i in range(n_items)
    ]
    return float(np.mean(hits))


@pytest.mark.parametrize(
    ("encoder", "extra"),
    [
        ("gru", {}),
        ("transformer", {}),
        ("gru", {"full_softmax_max_items": "5", "num_sampled": "8"}),  # sampled softmax
    ],
)
def test_learns_the_successor_pattern_far_above_chance(encoder: str, extra: dict) -> None:
    encoder_np, lines = _train(_successor_data(), encoder=encoder, **extra)
    # Chance is 1 in 20; the pattern is deterministic.
    assert _next_item_accuracy(encoder_np, 20) >= 0.7
    assert any(
        line.startswith("epoch 1/12: loss") and "validation ndcg@10" in line for line in lines
    )
    assert encoder_np.config["training"]["validation_users"] >= 10


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not() -> None:
    data = _successor_data(users=40)
    first, _ = _train(data, seed=7, epochs="2")
    second, _ = _train(data, seed=7, epochs="2")
    third, _ = _train(data, seed=8, epochs="2")
    _assert_same_weights(first.members[0], second.members[0])
    assert not np.array_equal(
        first.members[0].arrays["item_vectors"], third.members[0].arrays["item_vectors"]
    )


def _assert_same_weights(one, other) -> None:
    assert one.arrays.keys() == other.arrays.keys()
    for name in one.arrays:
        np.testing.assert_array_equal(one.arrays[name], other.arrays[name], err_msg=name)


def test_averaged_networks_are_the_single_fits_of_consecutive_seeds() -> None:
    """``num_averaged_models`` networks: the first is exactly what one network trains, the
    next what the following seed trains, and the model answers with their average."""
    data = _successor_data(users=40)
    pair, lines = _train(data, seed=7, epochs="2", num_averaged_models="2")
    alone, _ = _train(data, seed=7, epochs="2")
    following, _ = _train(data, seed=8, epochs="2")
    assert len(pair.members) == 2
    _assert_same_weights(pair.members[0], alone.members[0])
    _assert_same_weights(pair.members[1], following.members[0])
    assert any("network 2 of 2 (seed 8)" in line for line in lines)
    history = np.array([3, 4, 5])
    assert not np.allclose(pair.score(history), alone.score(history))


def test_the_time_budget_stops_training_between_batches() -> None:
    data = _successor_data(users=400)
    began = time.monotonic()
    # 1 s: run alone, torch's first batch can take most of a second to warm up
    encoder, lines = _train(data, budget=1.0, epochs="1000", batch_size="4")
    assert time.monotonic() - began < 10
    assert encoder.config["training"]["stopped_by_time_budget"] is True
    assert encoder.config["training"]["epochs"] < 1000
    assert any("time budget reached" in line for line in lines)
    assert encoder.score(np.array([1, 2])).shape == (20,)


def test_a_budget_the_first_network_spends_trains_no_other() -> None:
    """Networks cut short by the clock average worse than one trained network."""
    data = _successor_data(users=400)
    encoder, lines = _train(
        data, budget=0.3, epochs="1000", batch_size="4", num_averaged_models="3"
    )
    assert len(encoder.members) == 1
    assert any("room for 1 of 3 networks" in line for line in lines)


def test_cold_and_new_items_rank_by_their_features() -> None:
    """Two genres; users stay within one. Items never seen in training (and items added
    later with ``with_new_items``) must rank with their genre, through their features."""
    rng = np.random.default_rng(1)
    n_items = 30  # 0-13 genre A, 14-27 genre B, 28 a cold A, 29 a cold B
    genre = np.array([0] * 14 + [1] * 14 + [0, 1])
    features = np.eye(2, dtype=np.float32)[genre]
    sequences = [
        rng.choice(np.arange(14) + 14 * (user % 2), size=rng.integers(5, 12)) for user in range(160)
    ]
    data = SequenceTrainingData(
        sequences=sequences,
        weights=None,
        user_rows=np.full(len(sequences), -1),
        item_features=features,
        user_features=None,
        item_age_days=None,
        n_items=n_items,
    )
    encoder, _ = _train(data, item_id_dropout="0.3", epochs="8")
    grown = encoder.with_new_items(np.eye(2, dtype=np.float32), 2)  # a new A, then a new B
    a_history, b_history = np.array([1, 5, 9]), np.array([15, 20, 26])
    a_scores, b_scores = grown.score(a_history), grown.score(b_history)
    assert a_scores[28] > a_scores[29] and b_scores[29] > b_scores[28]
    assert a_scores[30] > a_scores[31] and b_scores[31] > b_scores[30]


def test_user_metadata_and_item_ages_are_used() -> None:
    data = _successor_data(users=30)
    rng = np.random.default_rng(2)
    data.user_features = rng.random((10, 3)).astype(np.float32)
    data.user_rows = np.where(np.arange(30) < 10, np.arange(30), -1)
    data.item_age_days = rng.random(20) * 100
    encoder, _ = _train(data, epochs="1")
    assert encoder.members[0].n_user_rows == 10
    assert encoder.config["item_age_feature"] is True
    off, _ = _train(data, epochs="1", recency_mask="false")
    assert off.config["item_age_feature"] is False


def test_history_length_percentiles_leave_out_outliers() -> None:
    data = _successor_data(users=40)
    data.sequences[0] = np.arange(400) % 20
    _, lines = _train(data, epochs="1")
    _, kept = _train(data, epochs="1", max_user_history_length_percentile="1.0")
    assert lines[0].startswith("sequence model: gru, 39 users")
    assert kept[0].startswith("sequence model: gru, 40 users")


def test_interaction_weights_weight_the_loss() -> None:
    """Zero weight on every transition into an even item: the model never learns them."""
    data = _successor_data()
    data.weights = [np.where(s % 2 == 0, 0.0, 1.0) for s in data.sequences]
    encoder, _ = _train(data, epochs="8")
    to_even = [
        int(np.argmax(encoder.score(np.array([i - 1, i])))) == i + 1 for i in range(1, 19, 2)
    ]
    to_odd = [int(np.argmax(encoder.score(np.array([i - 1, i])))) == i + 1 for i in range(2, 18, 2)]
    assert np.mean(to_odd) >= 0.75
    assert np.mean(to_even) <= 0.25


def test_recipe_defaults_pick_the_encoder() -> None:
    assert recipe_defaults("aws-user-personalization") == {"encoder": "gru"}
    assert recipe_defaults("aws-personalized-ranking-v2") == {"encoder": "transformer"}
    with pytest.raises(ValueError, match="aws-sims"):
        recipe_defaults("aws-sims")
    assert parse_hyperparameters({"encoder": "transformer"}).num_layers == 2
    assert parse_hyperparameters({"encoder": "GRU", "unrelated": "x"}).encoder == "gru"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"encoder": "lstm"}, "encoder must be one of gru, transformer"),
        ({"bptt": "ten"}, "bptt must be an integer"),
        ({"bptt": "1"}, "bptt must be at least 2"),
        ({"hidden_dimension": "2.5"}, "hidden_dimension must be an integer"),
        ({"encoder": "transformer", "hidden_dimension": "30", "num_heads": "4"}, "multiple"),
        ({"learning_rate": "0"}, "learning_rate must be greater than 0"),
        ({"dropout": "1.5"}, "dropout must be at most 0.9"),
        ({"recency_mask": "maybe"}, "recency_mask must be True or False"),
        (
            {
                "min_user_history_length_percentile": "0.8",
                "max_user_history_length_percentile": "0.5",
            },
            "must be below",
        ),
    ],
)
def test_bad_hyperparameters_say_which_and_why(values: dict, message: str) -> None:
    with pytest.raises(HyperparameterError, match=message):
        parse_hyperparameters(values)
    assert issubclass(HyperparameterError, ValueError)


def test_data_that_cannot_train_is_refused() -> None:
    empty = _successor_data(users=3)
    empty.sequences = [np.array([], dtype=np.int64)] * 3
    with pytest.raises(ValueError, match="no user has any interaction"):
        _train(empty)


def _device_data(users: int = 120, seed: int = 0) -> SequenceTrainingData:
    """Items 0-9 are phone items, 10-19 desktop ones; each interaction's DEVICE decides which
    half it falls in, and nothing in the history predicts the next device."""
    rng = np.random.default_rng(seed)
    sequences, contexts = [], []
    for _ in range(users):
        length = int(rng.integers(6, 16))
        device = rng.integers(0, 2, size=length)  # 0 phone, 1 desktop
        sequences.append(device * 10 + rng.integers(0, 10, size=length))
        contexts.append((device + 1)[:, None])  # codes: 1 phone, 2 desktop
    return SequenceTrainingData(
        sequences=sequences,
        weights=None,
        user_rows=np.full(users, -1),
        item_features=None,
        user_features=None,
        item_age_days=None,
        n_items=20,
        contexts=contexts,
        context_fields=("DEVICE",),
        context_values=(("phone", "desktop"),),
    )


def _phone_share(scores: np.ndarray) -> float:
    """The softmax probability the scores give the phone items (0-9)."""
    probabilities = np.exp(scores - scores.max())
    return float(probabilities[:10].sum() / probabilities.sum())


def test_context_decides_what_is_recommended_and_its_absence_mixes_both() -> None:
    encoder, _ = _train(_device_data())
    history = np.array([3, 14, 7])
    phone = encoder.score(history, None, {"DEVICE": "phone"})
    desktop = encoder.score(history, None, {"device": " Desktop"})  # any case, trimmed
    assert set(np.argsort(-phone)[:8]) <= set(range(10))
    assert set(np.argsort(-desktop)[:8]) <= set(range(10, 20))
    assert _phone_share(phone) > 0.8 and _phone_share(desktop) < 0.2
    # Without context both halves stay likely; a value training never saw is no context.
    unknown = encoder.score(history, None, {"DEVICE": "tv"})
    np.testing.assert_array_equal(unknown, encoder.score(history))
    assert 0.15 < _phone_share(unknown) < 0.85
    assert encoder.context_fields == ("DEVICE",)
    assert encoder.config["context_values"] == [["phone", "desktop"]]


def test_without_context_fields_the_request_context_changes_nothing() -> None:
    encoder, _ = _train(_successor_data(users=40), epochs="1")
    history = np.array([1, 2, 3])
    np.testing.assert_array_equal(
        encoder.score(history, None, {"DEVICE": "phone"}), encoder.score(history)
    )
    assert encoder.context_fields == ()
