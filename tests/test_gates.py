"""lstmcli.gates: the NumPy recomputation of every gate equals Keras's own layers, and what cannot be is refused.

Every model is real Keras with random weights (biases too, so a wrong bias row would show); each layer's h at
every step is compared with a copy of that Keras layer that returns sequences, independently of the check
the command itself makes.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from lstmcli.errors import CheckFailed, DataError
from lstmcli.gates import keras_model, recurrence
from lstmcli.model.factory import build_model
from lstmcli.model.spec import ModelSpec

PATH = Path("model.keras")
STEPS, FEATURES = 7, 5


def randomised(model: keras.Model, seed: int = 0) -> keras.Model:
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.6, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def inputs(batch: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (batch, STEPS, FEATURES))


def keras_sequences(model: keras.Model, x: np.ndarray) -> list[np.ndarray]:
    """h at every step of every recurrent layer and direction, from Keras, in sequence order."""
    found, value = [], x.astype(np.float32)
    for layer in model.layers:
        inner = (
            [layer.forward_layer, layer.backward_layer] if isinstance(layer, keras.layers.Bidirectional) else [layer]
        )
        if hasattr(inner[0], "cell"):
            for part in inner:
                copy = type(part).from_config({**part.get_config(), "return_sequences": True})
                copy.build(value.shape)
                copy.set_weights(part.get_weights())
                h = np.asarray(copy(value))
                found.append(h[:, ::-1] if part.go_backwards else h)
        value = np.asarray(layer(value))
    return found


SPECS = {
    "lstm": ModelSpec("lstm", 6, FEATURES, STEPS, classes=4),
    "lstm-no-bias": ModelSpec("lstm", 6, FEATURES, STEPS, use_bias=False, classes=4),
    "gru-reset-after": ModelSpec("gru", 6, FEATURES, STEPS, reset_after=True, classes=4),
    "gru-reset-before": ModelSpec("gru", 6, FEATURES, STEPS, reset_after=False, classes=4),
    "gru-no-bias": ModelSpec("gru", 6, FEATURES, STEPS, use_bias=False, classes=4),
    "rnn": ModelSpec("rnn", 6, FEATURES, STEPS, classes=4),
    "rnn-no-bias": ModelSpec("rnn", 6, FEATURES, STEPS, use_bias=False, classes=4),
    "lstm-stacked": ModelSpec("lstm", 5, FEATURES, STEPS, layers=3, classes=4),
    "gru-stacked-bidirectional": ModelSpec("gru", 4, FEATURES, STEPS, layers=2, bidirectional=True, classes=4),
    "lstm-bidirectional": ModelSpec("lstm", 4, FEATURES, STEPS, bidirectional=True, classes=4),
    "lstm-bidirectional-no-bias": ModelSpec("lstm", 4, FEATURES, STEPS, bidirectional=True, use_bias=False, classes=4),
    "rnn-stacked-bidirectional": ModelSpec("rnn", 4, FEATURES, STEPS, layers=2, bidirectional=True, classes=4),
}


@pytest.mark.parametrize("name", SPECS)
def test_recomputation_equals_keras(name: str) -> None:
    model = randomised(build_model(SPECS[name]))
    x = inputs()
    recomputed = keras_model.read(model, PATH)
    trace = recurrence.forward(recomputed.network, x)
    expected = keras_sequences(model, x)
    ours = [trace.gates[(d.index, d.direction)]["hidden"] for d in recomputed.network.directions]
    assert len(ours) == len(expected) == SPECS[name].layers * SPECS[name].directions
    for h, want in zip(ours, expected, strict=True):
        assert h.shape == want.shape
        np.testing.assert_allclose(h, want, atol=1e-5, rtol=0)
    # the last step of the per-step prediction is the model's prediction
    np.testing.assert_allclose(trace.prediction[:, -1], model.predict(x.astype(np.float32), verbose=0), atol=1e-5)
    found = keras_model.differences(recomputed, model, x, trace)
    assert 0 <= keras_model.check(found, PATH) <= 1e-5
    assert set(trace.gates[(0, "forward")]) == set(recurrence.GATES[SPECS[name].cell])


def test_lstm_gates_obey_the_tutorials_equations() -> None:
    """C_t = f_t * C_(t-1) + i_t * C'_t and h_t = o_t * tanh(C_t), read off the recorded gates."""
    model = randomised(build_model(SPECS["lstm"]))
    gates = recurrence.forward(keras_model.read(model, PATH).network, inputs()).gates[(0, "forward")]
    previous = np.concatenate([np.zeros_like(gates["cell"][:, :1]), gates["cell"][:, :-1]], axis=1)
    np.testing.assert_allclose(gates["cell"], gates["forget"] * previous + gates["input"] * gates["candidate"])
    np.testing.assert_allclose(gates["hidden"], gates["output"] * np.tanh(gates["cell"]))
    for name in ("input", "forget", "output"):
        assert gates[name].min() > 0 and gates[name].max() < 1


@pytest.mark.parametrize("merge", ["sum", "mul", "ave"])
def test_bidirectional_merge_modes(merge: str) -> None:
    model = randomised(keras.Sequential([keras.Input((STEPS, FEATURES)),
                                         keras.layers.Bidirectional(keras.layers.LSTM(3), merge_mode=merge),
                                         keras.layers.Dense(4, activation="softmax")]))  # fmt: skip
    x = inputs()
    trace = recurrence.forward(keras_model.read(model, PATH).network, x)
    np.testing.assert_allclose(trace.prediction[:, -1], model.predict(x.astype(np.float32), verbose=0), atol=1e-5)


def test_rnn_wrapper_dropout_and_a_two_layer_head() -> None:
    """keras.layers.RNN around a cell, Dropout between layers and a Dense-Dense-Activation head."""
    model = randomised(keras.Sequential([
        keras.Input((STEPS, FEATURES)),
        keras.layers.RNN(keras.layers.GRUCell(4, reset_after=False), return_sequences=True),
        keras.layers.Dropout(0.5),
        keras.layers.LSTM(3),
        keras.layers.Dense(5, activation="relu"),
        keras.layers.Dense(4),
        keras.layers.Activation("softmax"),
    ]))  # fmt: skip
    x = inputs()
    recomputed = keras_model.read(model, PATH)
    trace = recurrence.forward(recomputed.network, x)
    np.testing.assert_allclose(trace.prediction[:, -1], model.predict(x.astype(np.float32), verbose=0), atol=1e-5)
    assert keras_model.check(keras_model.differences(recomputed, model, x, trace), PATH) < 1e-5


def test_per_step_model_is_shown_as_it_outputs() -> None:
    """A last layer that returns sequences (one class per step): the prediction is the model's own output."""
    model = randomised(keras.Sequential([keras.Input((STEPS, FEATURES)),
                                         keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True)),
                                         keras.layers.Dense(4, activation="softmax")]))  # fmt: skip
    x = inputs()
    trace = recurrence.forward(keras_model.read(model, PATH).network, x)
    np.testing.assert_allclose(trace.prediction, model.predict(x.astype(np.float32), verbose=0), atol=1e-5)


class PeepholeCell(keras.layers.Layer):
    """A custom cell: nothing the equations know."""

    def __init__(self, units: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.units, self.state_size = units, units

    def build(self, shape: tuple[int, ...]) -> None:
        self.kernel = self.add_weight(shape=(shape[-1], self.units))

    def call(self, x: object, states: list[object]) -> tuple[object, list[object]]:
        h = keras.ops.tanh(keras.ops.matmul(x, self.kernel) + states[0])
        return h, [h]


@pytest.mark.parametrize(
    ("layers", "says"),
    [
        ([keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")], "no recurrent layer"),
        ([keras.layers.RNN(PeepholeCell(3)), keras.layers.Dense(4, activation="softmax")], "PeepholeCell cell"),
        ([keras.layers.LSTM(3, activation="gelu"), keras.layers.Dense(4, activation="softmax")], "activation .gelu."),
        ([keras.layers.Conv1D(3, 2), keras.layers.LSTM(3), keras.layers.Dense(4, activation="softmax")], "Conv1D"),
        ([keras.layers.LSTM(3), keras.layers.Dense(4)], "softmax"),
        ([keras.layers.LSTM(3, go_backwards=True), keras.layers.Dense(4, activation="softmax")], "backwards"),
    ],
)
def test_what_cannot_be_recomputed_is_refused(layers: list[keras.layers.Layer], says: str) -> None:
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), *layers])
    with pytest.raises(DataError, match=says):
        keras_model.read(model, PATH)


def test_a_difference_above_the_tolerance_fails_the_check() -> None:
    model = randomised(build_model(SPECS["gru-reset-after"]))
    x = inputs()
    recomputed = keras_model.read(model, PATH)
    trace = recurrence.forward(recomputed.network, x)
    trace.gates[(0, "forward")]["hidden"][0, 3, 1] += 2e-4
    with pytest.raises(CheckFailed, match=r"gru_0 forward \(limit 0.0001\)"):
        keras_model.check(keras_model.differences(recomputed, model, x, trace), PATH)
    trace.prediction[:] = np.nan
    with pytest.raises(CheckFailed):
        keras_model.check(keras_model.differences(recomputed, model, x, trace), PATH)


def test_statistics_count_saturation_means_and_accuracy_by_step() -> None:
    """Hand-made gates: unit 0 always below 0.1, unit 1 above 0.9 on half the steps; the answer right from step 1."""
    from lstmcli.gates.statistics import Accumulator

    cell = recurrence.Cell("gru", np.zeros((1, 6)), np.zeros((2, 6)), None)
    network = recurrence.Network((recurrence.Stage("g", 0, (recurrence.Direction("g", 0, "forward", cell),), "concat",
                                                   False),), ())  # fmt: skip
    update = np.zeros((2, 4, 2))
    update[:, :, 0] = 0.05
    update[:, ::2, 1] = 0.95
    update[:, 1::2, 1] = 0.5
    prediction = np.zeros((2, 4, 3))
    prediction[0, :, 2] = 1.0  # sample 0 (label 2): right at every step
    prediction[1, :2, 0], prediction[1, 2:, 1] = 1.0, 1.0  # sample 1 (label 1): right from step 2
    trace = recurrence.Trace({(0, "forward"): {"update": update, "reset": np.full((2, 4, 2), 0.5)}}, prediction)
    totals = Accumulator(network, 4)
    totals.add(trace, np.array([2, 1]), 1e-7)
    stats = totals.result()
    (layer,) = stats.layers
    assert layer.saturation["update"].below == [1.0, 0.0] and layer.saturation["update"].above == [0.0, 0.5]
    assert layer.saturation["reset"].below == [0.0, 0.0] and layer.saturation["reset"].above == [0.0, 0.0]
    assert layer.mean_by_step["update"] == pytest.approx([0.5, 0.275, 0.5, 0.275])
    assert stats.accuracy_by_step == [0.5, 0.5, 1.0, 1.0] and stats.samples == 2


def test_decided_is_the_first_step_the_answer_stays_sure() -> None:
    from lstmcli.gates.watch import decided

    sure, unsure = [0.05, 0.95], [0.6, 0.4]
    assert decided(np.array([unsure, sure, unsure, sure, sure])) == 3
    assert decided(np.array([sure, sure])) == 0
    assert decided(np.array([sure, unsure])) is None


def test_the_gates_modules_import_no_framework() -> None:
    """The equations, the reading of a model, the statistics, the result and the view load neither TensorFlow nor
    Keras nor matplotlib until a command needs them."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "import lstmcli.gates.recurrence, lstmcli.gates.keras_model, lstmcli.gates.statistics, lstmcli.gates.watch\n"
        "import lstmcli.gates.picture, lstmcli.cli.views.gates, lstmcli.schemas\n"
        "heavy = ('tensorflow', 'keras', 'matplotlib')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []
