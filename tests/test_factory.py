"""The model factory: the head each task needs and the forget gate's initial bias, on real Keras models.

The counts of every head against count_params() are in test_arithmetic.py; here what the built network does
with its biases, that the choice survives a save and a safe-mode load, and the spec's refusals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lstmcli.errors import UsageError
from lstmcli.model.spec import ModelSpec


@pytest.fixture(scope="module")
def keras_module():
    keras = pytest.importorskip("keras")
    yield keras
    keras.backend.clear_session()


def lstm_biases(model) -> list[np.ndarray]:
    """Every LSTM cell's bias vector, layer by layer, forward before backward."""
    return [w.numpy() for w in model.weights if w.path.endswith("lstm_cell/bias")]


def expected_bias(units: int, forget: float) -> np.ndarray:
    # Keras's gate order inside the fused bias: input, forget, candidate, output.
    return np.concatenate([np.zeros(units), np.full(units, forget), np.zeros(2 * units)]).astype(np.float32)


def test_default_forget_bias_is_keras_own(keras_module) -> None:
    from lstmcli.model.factory import build_model

    model = build_model(ModelSpec(units=4, input_size=3, timesteps=5, classes=2))
    layer = model.get_layer("lstm_0")
    assert layer.get_config()["unit_forget_bias"] is True  # the article's model is built as before
    [bias] = lstm_biases(model)
    np.testing.assert_array_equal(bias, expected_bias(4, 1.0))


@pytest.mark.parametrize("forget", [0.0, 2.5, -1.0, 5])
def test_forget_bias_sets_only_the_forget_gate(keras_module, forget: float) -> None:
    from lstmcli.model.factory import build_model

    spec = ModelSpec(units=3, input_size=2, timesteps=4, layers=2, bidirectional=True, forget_bias=forget)
    biases = lstm_biases(build_model(spec))
    assert len(biases) == 4  # two layers, two directions
    for bias in biases:
        np.testing.assert_array_equal(bias, expected_bias(3, forget))


def test_forget_bias_survives_save_and_safe_load(keras_module, tmp_path: Path) -> None:
    from lstmcli.model.factory import build_model
    from lstmcli.model.load import load_keras

    spec = ModelSpec(units=3, input_size=2, timesteps=4, bidirectional=True, forget_bias=3.0, head="regress", classes=1)
    path = tmp_path / "model.keras"
    build_model(spec).save(path)
    loaded = load_keras(path)  # safe mode: the initializer is Keras's own, no class of ours is needed
    for bias in lstm_biases(loaded):
        np.testing.assert_array_equal(bias, expected_bias(3, 3.0))
    # The initializer itself is in the config: a fresh model from it starts at the same biases.
    fresh = keras_module.Sequential.from_config(loaded.get_config())
    for bias in lstm_biases(fresh):
        np.testing.assert_array_equal(bias, expected_bias(3, 3.0))


def test_cheap_build_keeps_the_forget_bias(keras_module) -> None:
    from lstmcli.model.factory import build_model

    [bias] = lstm_biases(build_model(ModelSpec(units=2, input_size=1, timesteps=3, forget_bias=4.0), cheap=True))
    np.testing.assert_array_equal(bias, expected_bias(2, 4.0))


def test_heads_emit_what_their_task_reads(keras_module) -> None:
    """Softmax rows summing to 1 at the last step or at every step; a linear regressor free of [0, 1]."""
    from lstmcli.model.factory import build_model

    x = np.random.default_rng(0).normal(size=(3, 7, 2)).astype(np.float32) * 10
    per_step = np.asarray(build_model(ModelSpec(units=4, input_size=2, timesteps=7, classes=5, head="sequence"))(x))
    assert per_step.shape == (3, 7, 5)
    np.testing.assert_allclose(per_step.sum(axis=-1), 1.0, rtol=1e-5)
    # Each step's output is its own: the per-step head does not repeat the last step.
    assert not np.allclose(per_step[:, 0], per_step[:, -1])
    spec = ModelSpec(units=4, input_size=2, timesteps=7, classes=1, head="regress")
    regress = build_model(spec)
    regress.get_layer("regressor").bias.assign(np.array([-3.0], dtype=np.float32))
    assert np.asarray(regress(x)).shape == (3, 1)
    assert (np.asarray(regress(x)) < 0).all()  # no softmax or sigmoid could say this


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"cell": "gru", "forget_bias": 2.0}, "only for LSTM"),
        ({"cell": "rnn", "forget_bias": 0.0}, "only for LSTM"),
        ({"use_bias": False, "forget_bias": 2.0}, "does not apply with no_bias"),
        ({"forget_bias": float("nan")}, "finite"),
        ({"forget_bias": float("inf")}, "finite"),
        ({"forget_bias": True}, "finite number"),
        ({"forget_bias": "2"}, "finite number"),
        ({"head": "softmax"}, "unknown head"),
    ],
)
def test_spec_refuses(fields: dict, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        ModelSpec(**fields)


def test_other_cells_accept_the_default_forget_bias() -> None:
    assert ModelSpec(cell="gru", forget_bias=1.0).forget_bias == 1.0
    assert ModelSpec(use_bias=False, forget_bias=1).use_bias is False


def test_new_fields_appear_in_the_dict_only_when_set() -> None:
    """Every existing output and run folder keeps its spec byte for byte; a set field round-trips."""
    assert "head" not in ModelSpec().to_dict() and "forget_bias" not in ModelSpec().to_dict()
    spec = ModelSpec(head="sequence", classes=9, forget_bias=2.0)
    assert spec.to_dict()["head"] == "sequence" and spec.to_dict()["forget_bias"] == 2.0
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert ModelSpec.from_dict(ModelSpec().to_dict()) == ModelSpec()
