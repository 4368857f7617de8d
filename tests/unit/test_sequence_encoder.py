"""The NumPy sequence encoder serving uses must score exactly as the trained torch model.

Serving never imports torch, so a mismatch between the two forward passes
would silently serve different recommendations from the ones evaluated at
training time. Each case perturbs a freshly built network's weights (so layer
norms, biases and feature projections are all non-trivial) and compares the
scores for short, empty, exactly-``bptt`` and longer-than-``bptt`` histories.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from augury_training.personalization.sequence_hyperparameters import parse_hyperparameters
from augury_training.personalization.sequence_model import (
    SequenceTrainingData,
    build_network,
    export_encoder,
    network_scores,
)
from augury_training.sequence_encoder import CONFIG_FILE, SequenceEncoder

N_ITEMS = 40
BPTT = 8


def _data(with_metadata: bool) -> SequenceTrainingData:
    rng = np.random.default_rng(0)
    return SequenceTrainingData(
        sequences=[rng.integers(0, N_ITEMS, size=rng.integers(2, 20)) for _ in range(12)],
        weights=None,
        user_rows=np.arange(12) - 1,
        item_features=rng.random((N_ITEMS, 5)).astype(np.float32) if with_metadata else None,
        user_features=rng.random((11, 3)).astype(np.float32) if with_metadata else None,
        item_age_days=rng.random(N_ITEMS) * 300 if with_metadata else None,
        n_items=N_ITEMS,
    )


def _model(encoder: str, layers: int, with_metadata: bool):
    torch.manual_seed(3)
    params = parse_hyperparameters(
        {
            "encoder": encoder,
            "bptt": str(BPTT),
            "hidden_dimension": "16",
            "num_layers": str(layers),
            "num_heads": "4",
        }
    )
    data = _data(with_metadata)
    net, features = build_network(data, params)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    return net, features, export_encoder(net, features, params)


HISTORIES = [
    np.array([], dtype=np.int64),
    np.array([7]),
    np.array([1, 2, 3, 30, 5]),
    np.arange(BPTT - 1),
    np.arange(BPTT),
    np.arange(3 * BPTT) % N_ITEMS,
]
ROWS = [-1, 0, 10, 4, -1, 2]


@pytest.mark.parametrize("encoder", ["gru", "transformer"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("with_metadata", [False, True])
def test_numpy_scores_equal_torch_scores(encoder: str, layers: int, with_metadata: bool) -> None:
    net, features, encoder_np = _model(encoder, layers, with_metadata)
    expected = network_scores(net, features, HISTORIES, ROWS)
    got = np.stack([encoder_np.score(h, r) for h, r in zip(HISTORIES, ROWS, strict=True)])
    assert got.shape == (len(HISTORIES), N_ITEMS)
    assert np.abs(expected).max() > 0.5  # the comparison is not between near-zero vectors
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    # Different histories and users really give different answers.
    assert np.abs(got[2] - got[3]).max() > 1e-3


def test_user_metadata_changes_the_scores_and_missing_rows_use_the_default() -> None:
    _, _, encoder = _model("gru", 1, with_metadata=True)
    history = np.array([1, 2, 3])
    assert np.abs(encoder.score(history, 0) - encoder.score(history, 5)).max() > 1e-3
    np.testing.assert_array_equal(encoder.score(history, None), encoder.score(history, -1))
    np.testing.assert_array_equal(encoder.score(history, None), encoder.score(history, 10_000))


def test_items_outside_the_catalog_are_skipped() -> None:
    _, _, encoder = _model("transformer", 2, with_metadata=False)
    np.testing.assert_array_equal(
        encoder.score(np.array([-1, 4, N_ITEMS + 3, 9])), encoder.score(np.array([4, 9]))
    )


def test_save_and_load_round_trip(tmp_path) -> None:
    _, _, encoder = _model("transformer", 2, with_metadata=True)
    encoder.save(tmp_path)
    loaded = SequenceEncoder.load(tmp_path)
    history = np.array([3, 1, 4, 1, 5])
    np.testing.assert_array_equal(loaded.score(history, 2), encoder.score(history, 2))
    assert loaded.config["encoder"] == "transformer"
    assert all(path.name.startswith("sequence_encoder.") for path in tmp_path.iterdir())


def test_load_refuses_another_format(tmp_path) -> None:
    _, _, encoder = _model("gru", 1, with_metadata=False)
    encoder.save(tmp_path)
    document = json.loads((tmp_path / CONFIG_FILE).read_text())
    document["format_version"] = 99
    (tmp_path / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(ValueError, match="format 99"):
        SequenceEncoder.load(tmp_path)


def test_with_new_items_grows_the_catalog_by_features() -> None:
    _, _, encoder = _model("gru", 1, with_metadata=True)
    features = np.zeros((3, 5), dtype=np.float32)
    features[0, 0] = 1.0
    features[1, 4] = 1.0
    grown = encoder.with_new_items(features, 3)
    assert grown.n_items == N_ITEMS + 3
    assert encoder.n_items == N_ITEMS  # the original is untouched
    history = np.array([2, 5, 8])
    scores = grown.score(history)
    assert scores.shape == (N_ITEMS + 3,)
    assert np.all(np.isfinite(scores))
    np.testing.assert_allclose(scores[:N_ITEMS], encoder.score(history), atol=1e-6)
    # Different features give different vectors; a new item works as history too.
    assert abs(scores[N_ITEMS] - scores[N_ITEMS + 1]) > 1e-4
    assert np.abs(grown.score(np.array([2, N_ITEMS])) - grown.score(np.array([2]))).max() > 1e-4


def test_with_new_items_without_features_and_bad_shapes() -> None:
    _, _, plain = _model("transformer", 1, with_metadata=False)
    grown = plain.with_new_items(None, 2)
    scores = grown.score(np.array([1]))
    assert scores.shape == (N_ITEMS + 2,)
    assert scores[N_ITEMS] == pytest.approx(scores[N_ITEMS + 1])
    assert plain.with_new_items(None, 0) is plain

    _, _, rich = _model("gru", 1, with_metadata=True)
    with pytest.raises(ValueError, match=r"shape \(2, 5\)"):
        rich.with_new_items(np.zeros((2, 4)), 2)
    with pytest.raises(ValueError, match="at least 0"):
        rich.with_new_items(None, -1)


@pytest.mark.parametrize("encoder", ["gru", "transformer"])
def test_context_scores_equal_torch_scores(encoder: str) -> None:
    """Two context fields: the request's values pick their rows; anything else is row 0."""
    torch.manual_seed(5)
    params = parse_hyperparameters(
        {"encoder": encoder, "bptt": str(BPTT), "hidden_dimension": "16", "num_heads": "4"}
    )
    data = _data(with_metadata=True)
    data.contexts = [np.ones((len(s), 2), dtype=np.int64) for s in data.sequences]
    data.context_fields = ("DEVICE", "LOGGED_IN")
    data.context_values = (("phone", "desktop", "tv"), ("true", "false"))
    net, features = build_network(data, params)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    encoder_np = export_encoder(net, features, params, data=data)
    requests = [
        ({"DEVICE": "phone", "LOGGED_IN": "False"}, [1, 2]),
        ({"device": "TV", "loggedIn": True}, [3, 1]),  # keys as PutEvents properties take them
        ({"logged_in": "maybe", "OTHER": "x"}, [0, 0]),
        (None, [0, 0]),
    ]
    codes = np.array([wanted for _, wanted in requests])
    histories = [HISTORIES[2], HISTORIES[5], HISTORIES[0], HISTORIES[1]]
    rows = [0, 3, -1, 2]
    expected = network_scores(net, features, histories, rows, codes)
    got = np.stack(
        [
            encoder_np.score(history, row, request)
            for history, row, (request, _) in zip(histories, rows, requests, strict=True)
        ]
    )
    assert [encoder_np.context_codes(request) for request, _ in requests] == codes.tolist()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    plain = encoder_np.score(HISTORIES[2], 0)
    assert np.abs(got[0] - plain).max() > 1e-3  # the context really moves the scores


def test_numeric_context_values_are_parsed_and_binned_as_training_binned_them() -> None:
    torch.manual_seed(5)
    params = parse_hyperparameters({"bptt": str(BPTT), "hidden_dimension": "16"})
    data = _data(with_metadata=False)
    data.contexts = [np.ones((len(s), 2), dtype=np.int64) for s in data.sequences]
    data.context_fields = ("HOUR", "DEVICE")
    data.context_values = (("bin0", "bin1", "bin2"), ("phone",))
    data.context_edges = ((8.0, 18.0), None)
    net, features = build_network(data, params)
    encoder_np = export_encoder(net, features, params, data=data)
    codes = [
        encoder_np.context_codes({"hour": value, "device": "phone"})
        for value in ("7", " 8 ", "12.5", "18", "99", "noon", None, "nan")
    ]
    assert codes == [[1, 1], [2, 1], [2, 1], [3, 1], [3, 1], [0, 1], [0, 1], [0, 1]]
    assert encoder_np.config["context_edges"] == [[8.0, 18.0], None]
