"""The one place a Keras model is built from a :class:`ModelSpec`.

`params` (verification), `train` and the tests all call :func:`build_model`, so the network whose
parameters are counted is the network that is trained. Keras is imported inside the functions:
importing this module costs nothing, and `lstmcli params --no-verify` never loads TensorFlow.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lstmcli.errors import UsageError
from lstmcli.model.count import count
from lstmcli.model.spec import ModelSpec

if TYPE_CHECKING:
    import keras

# Fraction of physical memory the weights of a model may take before we refuse to build it:
# training needs about four copies (weights, gradients, Adam's two moments) plus activations.
MEMORY_FRACTION = 0.125


def physical_memory() -> int:
    """Bytes of RAM on this machine (Linux/macOS), or a conservative 4 GiB where unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def check_buildable(
    spec: ModelSpec, advice: str = "use smaller sizes, or --no-verify for the closed form only"
) -> None:
    """Refuse, with the reason, a model whose weights alone would not fit in memory."""
    need = count(spec).weight_bytes("float32")
    limit = int(physical_memory() * MEMORY_FRACTION)
    if need > limit:
        raise UsageError(
            f"a model with {count(spec).total:,} parameters needs {need / 2**30:,.1f} GiB for its weights "
            f"alone, more than this machine can build and train ({limit / 2**30:,.1f} GiB allowed); "
            f"{advice}"
        )


def recurrent_layer(spec: ModelSpec, return_sequences: bool, name: str) -> keras.layers.Layer:
    """One recurrent layer of `spec`, wrapped in Bidirectional when asked."""
    import keras

    common = {
        "units": spec.units,
        "use_bias": spec.use_bias,
        "return_sequences": return_sequences,
        "unroll": spec.unroll,
    }
    if spec.cell == "lstm":
        layer = keras.layers.LSTM(**common, name=name)
    elif spec.cell == "gru":
        layer = keras.layers.GRU(**common, reset_after=spec.reset_after, name=name)
    else:
        layer = keras.layers.SimpleRNN(**common, name=name)
    if spec.bidirectional:
        return keras.layers.Bidirectional(layer, name=f"bi_{name}")
    return layer


def build_model(spec: ModelSpec) -> keras.Model:
    """Input(timesteps, input) -> recurrent layers -> Dense(classes, softmax), uncompiled."""
    import keras

    check_buildable(spec)
    model = keras.Sequential(name=f"lstmcli_{spec.cell}")
    model.add(keras.Input(shape=(spec.timesteps, spec.input_size), name="pixels"))
    for layer in range(spec.layers):
        last = layer == spec.layers - 1
        model.add(recurrent_layer(spec, return_sequences=not last, name=f"{spec.cell}_{layer}"))
    if spec.classes:
        model.add(keras.layers.Dense(spec.classes, activation="softmax", name="classifier"))
    return model
