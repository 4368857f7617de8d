"""Averaged sequence encoders: scored as one distribution, stored and grown without loss.

The deep recipes serve ``num_averaged_models`` networks as one
(``augury_training.encoder_ensemble``). Serving reads what training wrote, an
UPDATE grows every network's catalog, and models written before ensembles
existed must still load: each is checked here on small, perturbed networks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from augury_training.encoder_ensemble import ENSEMBLE_FILE, EncoderEnsemble
from augury_training.personalization.sequence_hyperparameters import parse_hyperparameters
from augury_training.personalization.sequence_model import (
    SequenceTrainingData,
    build_network,
    export_encoder,
)
from augury_training.sequence_encoder import CONFIG_FILE, SequenceEncoder, SideBySide

N_ITEMS = 30
HISTORY = np.array([3, 1, 4, 1, 5])


def _member(
    seed: int,
    n_items: int = N_ITEMS,
    encoder: str = "gru",
    layers: int = 1,
    with_context: bool = False,
) -> SequenceEncoder:
    torch.manual_seed(seed)
    params = parse_hyperparameters(
        {"hidden_dimension": "8", "bptt": "6", "encoder": encoder, "num_layers": str(layers)}
    )
    rng = np.random.default_rng(seed)
    data = SequenceTrainingData(
        sequences=[rng.integers(0, n_items, size=8) for _ in range(5)],
        weights=None,
        user_rows=np.full(5, -1),
        item_features=rng.random((n_items, 3)).astype(np.float32),
        user_features=None,
        item_age_days=None,
        n_items=n_items,
    )
    if with_context:
        data.contexts = [np.ones((8, 1), dtype=np.int64) for _ in range(5)]
        data.context_fields, data.context_values = ("DEVICE",), (("phone", "desktop"),)
    net, features = build_network(data, params)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    return export_encoder(net, features, params, data=data)


def _softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def test_one_network_answers_with_its_own_scores_and_keeps_the_old_layout(tmp_path) -> None:
    member = _member(0)
    ensemble = EncoderEnsemble([member])
    np.testing.assert_array_equal(ensemble.score(HISTORY), member.score(HISTORY))
    ensemble.save(tmp_path)
    assert (tmp_path / CONFIG_FILE).is_file() and not (tmp_path / ENSEMBLE_FILE).exists()
    # a model saved before ensembles (a lone encoder directory) loads as one member
    loaded = EncoderEnsemble.load(tmp_path)
    assert len(loaded.members) == 1
    np.testing.assert_array_equal(loaded.score(HISTORY), member.score(HISTORY))


@pytest.mark.parametrize(("encoder", "layers"), [("gru", 1), ("gru", 2), ("transformer", 2)])
def test_networks_are_averaged_as_a_product_of_their_distributions(
    encoder: str, layers: int
) -> None:
    members = [_member(seed, encoder=encoder, layers=layers) for seed in (0, 1, 2)]
    ensemble = EncoderEnsemble(members)
    probabilities = [_softmax(m.score(HISTORY).astype(np.float64)) for m in members]
    geometric = np.prod(probabilities, axis=0) ** (1 / 3)
    np.testing.assert_allclose(_softmax(ensemble.score(HISTORY)), geometric / geometric.sum())
    # the members disagree, so the average is none of them
    for member in members:
        assert not np.array_equal(
            np.argsort(member.score(HISTORY)), np.argsort(ensemble.score(HISTORY))
        )


@pytest.mark.parametrize("history", [np.array([], dtype=np.int64), HISTORY, np.arange(20)])
def test_networks_encoded_together_answer_as_each_alone(history: np.ndarray) -> None:
    """GRUs of one shape run their recurrences side by side (one NumPy call per step for
    all of them); each row must be what that network computes alone."""
    members = [_member(seed, layers=2) for seed in (0, 1, 2)]
    side_by_side = SideBySide.of(members)
    assert side_by_side is not None
    together = side_by_side.encode(history, None)
    for member, row in zip(members, together, strict=True):
        np.testing.assert_allclose(row, member.encode(history, None), rtol=1e-5, atol=1e-6)


def test_save_and_load_round_trip_every_member(tmp_path) -> None:
    ensemble = EncoderEnsemble([_member(0), _member(1)])
    ensemble.save(tmp_path)
    assert json.loads((tmp_path / ENSEMBLE_FILE).read_text())["members"] == 2
    loaded = EncoderEnsemble.load(tmp_path)
    assert len(loaded.members) == 2
    np.testing.assert_array_equal(loaded.score(HISTORY, None), ensemble.score(HISTORY, None))


def test_load_refuses_another_format(tmp_path) -> None:
    EncoderEnsemble([_member(0), _member(1)]).save(tmp_path)
    (tmp_path / ENSEMBLE_FILE).write_text(json.dumps({"format_version": 7, "members": 2}))
    with pytest.raises(ValueError, match="format 7"):
        EncoderEnsemble.load(tmp_path)


def test_new_items_join_every_network_and_known_items_keep_their_order() -> None:
    ensemble = EncoderEnsemble([_member(0), _member(1)])
    grown = ensemble.with_new_items(np.eye(3, dtype=np.float32)[:2], 2)
    assert grown.n_items == N_ITEMS + 2
    assert all(member.n_items == N_ITEMS + 2 for member in grown.members)
    scores = grown.score(HISTORY)
    assert np.all(np.isfinite(scores))
    # no retraining: the known items score exactly as before
    np.testing.assert_allclose(scores[:N_ITEMS], ensemble.score(HISTORY), rtol=1e-6)


def test_members_must_share_one_catalog() -> None:
    with pytest.raises(ValueError, match="same catalog"):
        EncoderEnsemble([_member(0), _member(1, n_items=N_ITEMS + 1)])
    with pytest.raises(ValueError, match="at least one member"):
        EncoderEnsemble([])


def test_side_by_side_networks_read_the_context_as_each_alone_does(tmp_path) -> None:
    members = [_member(seed, with_context=True) for seed in (0, 1, 2)]
    ensemble = EncoderEnsemble(members)
    assert ensemble._side_by_side is not None
    context = {"DEVICE": "desktop"}
    alone = np.mean([m.score(HISTORY, None, context) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.score(HISTORY, None, context), alone, atol=1e-5)
    assert np.abs(ensemble.score(HISTORY, None, context) - ensemble.score(HISTORY)).max() > 1e-3
    ensemble.save(tmp_path)
    loaded = EncoderEnsemble.load(tmp_path)
    assert loaded.context_fields == ("DEVICE",)
    np.testing.assert_array_equal(
        loaded.score(HISTORY, None, context), ensemble.score(HISTORY, None, context)
    )
