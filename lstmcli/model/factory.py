"""The one place a Keras model is built from a :class:`ModelSpec`.

`params` (verification), `train` and the tests all call :func:`build_model`, so the network whose
parameters are counted is the network that is trained. Keras is imported inside the functions:
importing this module costs nothing, and `lstmcli params --no-verify` never loads TensorFlow.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lstmcli.errors import UsageError
from lstmcli.formatting import human_bytes
from lstmcli.model.count import count
from lstmcli.model.memory import FLOAT_BYTES, spec_memory
from lstmcli.model.spec import DEFAULT_FORGET_BIAS, ModelSpec

if TYPE_CHECKING:
    import keras

# The head layer's name: the classifiers keep the name every saved model of the article's kind has.
HEAD_NAMES = {"classify": "classifier", "regress": "regressor", "sequence": "classifier"}

# Fraction of physical memory the weights of a model may take before we refuse to build it:
# training needs about four copies (weights, gradients, Adam's two moments) plus activations.
MEMORY_FRACTION = 0.125
# Training a long sequence is bounded by what backpropagation through time keeps, not by the weights: the
# closed form (lstmcli.model.memory, training_bytes) times what TensorFlow holds besides it (its while loop's
# stacks of every step, the towers' copies: measured in docs/tasks.md), within this share of the memory.
TRAINING_OVERHEAD = 3
TRAINING_MEMORY_FRACTION = 0.5

# The cost model of building a model (the measurements behind the constants: docs/lstm.md, "Verification"):
# * Sequential.add rebuilds the graph each time, so K stacked layers cost about LAYER_SQUARED * K**2 +
#   LAYER_LINEAR * K seconds, twice that when Bidirectional, whatever the units;
# * the orthogonal recurrent initialiser takes a QR decomposition of a (g*n x n) matrix per layer and
#   direction, about ORTHOGONAL * g * n**3 seconds;
# * zero-filled weights cost about ZEROS seconds per parameter.
LAYER_SQUARED = 1.8e-4
LAYER_LINEAR = 1e-2
ORTHOGONAL = 1e-10
ZEROS = 7.5e-9
# `params` verifies by building with zero initialisers (count_params() does not depend on the values) within
# these limits; beyond them it prints the closed form and says why it did not verify.
VERIFY_SECONDS = 8.0
VERIFY_BYTES = 2**29
# `train` builds with the real initialisers and refuses a model whose build alone would take longer.
TRAIN_BUILD_SECONDS = 60.0


def physical_memory() -> int:
    """Bytes of RAM on this machine (Linux/macOS), or a conservative 4 GiB where unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def check_buildable(
    spec: ModelSpec, advice: str = "use smaller sizes, or {no_verify} for the closed form only"
) -> None:
    """Refuse, with the reason, a model whose weights alone would not fit in memory; `advice` may name fields."""
    need = count(spec).weight_bytes("float32")
    limit = int(physical_memory() * MEMORY_FRACTION)
    if need > limit:
        raise UsageError(
            f"a model with {count(spec).total:,} parameters needs {need / 2**30:,.1f} GiB for its weights "
            f"alone, more than this machine can build and train ({limit / 2**30:,.1f} GiB allowed); "
            f"{advice}",
            fields=True,
        )


def check_training_memory(spec: ModelSpec, batch: int, advice: str, held_floats: int = 0) -> None:
    """Refuse, before anything is written, a training run whose batch of sequences (and `held_floats` of
    held-out examples kept in memory) would not fit."""
    need = spec_memory(count(spec), batch).training_bytes * TRAINING_OVERHEAD + held_floats * FLOAT_BYTES
    limit = int(physical_memory() * TRAINING_MEMORY_FRACTION)
    if need > limit:
        raise UsageError(
            f"training {count(spec).total:,} parameters on batches of {batch} sequences of {spec.timesteps:,} "
            f"steps needs about {human_bytes(need)}, more than this machine allows ({human_bytes(limit)}); {advice}",
            fields=True,
        )


def build_seconds(spec: ModelSpec, cheap: bool) -> float:
    """Estimated seconds to build `spec` through :func:`build_model` (see the constants above for the data)."""
    seconds = spec.directions * (LAYER_SQUARED * spec.layers**2 + LAYER_LINEAR * spec.layers)
    if cheap:
        return seconds + ZEROS * count(spec).total
    return seconds + ORTHOGONAL * len(spec.gates) * spec.units**3 * spec.layers * spec.directions


def check_build_time(spec: ModelSpec, limit: float, advice: str) -> None:
    """Refuse a model whose build alone would take longer than `limit` seconds with the real initialisers."""
    seconds = build_seconds(spec, cheap=False)
    if seconds > limit:
        raise UsageError(
            f"building this model would take about {seconds:,.0f} s before the first step ({spec.layers:,} stacked "
            f"layer(s) and orthogonal initialisers of {spec.units:,} units; more than {limit:.0f} s allowed); {advice}",
            fields=True,
        )


def verification_refused(spec: ModelSpec, framework: str = "Keras") -> str | None:
    """Why `params` will not build `spec` to verify it (None when it will): too slow, or too much memory."""
    seconds = build_seconds(spec, cheap=True)
    need = count(spec).weight_bytes("float32")
    if seconds <= VERIFY_SECONDS and need <= VERIFY_BYTES:
        return None
    why = (
        f"building it would take about {seconds:,.0f} s (limit {VERIFY_SECONDS:.0f} s)"
        if seconds > VERIFY_SECONDS
        else f"building it would allocate {human_bytes(need, 'MiB', 'GiB')} "
        f"(limit {human_bytes(VERIFY_BYTES, 'MiB', 'GiB')})"
    )
    return f"not verified against {framework}: {why}; the closed form above does not depend on building it"


def recurrent_layer(spec: ModelSpec, return_sequences: bool, name: str, cheap: bool = False) -> keras.layers.Layer:
    """One recurrent layer of `spec`, wrapped in Bidirectional when asked (zero-initialised when `cheap`)."""
    import keras

    common = {
        "units": spec.units,
        "use_bias": spec.use_bias,
        "return_sequences": return_sequences,
        "unroll": spec.unroll,
    }
    if cheap:
        common.update(kernel_initializer="zeros", recurrent_initializer="zeros")
    if spec.cell == "lstm":
        layer = keras.layers.LSTM(**common, **forget_bias_initializer(spec), name=name)
    elif spec.cell == "gru":
        layer = keras.layers.GRU(**common, reset_after=spec.reset_after, name=name)
    else:
        layer = keras.layers.SimpleRNN(**common, name=name)
    if spec.bidirectional:
        return keras.layers.Bidirectional(layer, name=f"bi_{name}")
    return layer


def forget_bias_initializer(spec: ModelSpec) -> dict[str, Any]:
    """The LSTM options that start the forget gate's bias at spec.forget_bias and every other bias at 0.

    At Keras's own value (1) these are Keras's defaults (unit_forget_bias), so the article's model is built
    exactly as before. Otherwise Keras's Constant initializer gets the whole bias vector, laid out in the
    cell's gate order (i, f, c, o): it broadcasts a vector as it does a scalar, and Keras saves the vector in
    the model's config, so a saved model loads (in safe mode) without any class of ours.
    """
    if spec.forget_bias == DEFAULT_FORGET_BIAS:  # the spec refuses another value without biases
        return {}
    import keras
    import numpy as np

    n = spec.units
    values = np.zeros(len(spec.gates) * n, dtype=np.float32)
    forget = spec.gates.index("forget")
    values[forget * n : (forget + 1) * n] = spec.forget_bias
    return {"unit_forget_bias": False, "bias_initializer": keras.initializers.Constant(values)}


def build_model(spec: ModelSpec, cheap: bool = False) -> keras.Model:
    """Input(timesteps, input) -> recurrent layers -> Dense(classes) as spec.head says, uncompiled.

    A classifier ends in softmax, a regressor is linear; the per-step head has the last recurrent layer
    return every step and applies the one Dense at each (Keras's Dense maps the last axis, so it holds the
    same weights as TimeDistributed(Dense) would). `cheap` fills every weight with zeros instead of running
    the initialisers: the same layers and shapes, so the same count_params(), in a fraction of the time;
    `params` verifies with it, `train` never does.
    """
    import keras

    if spec.proj_size:
        raise UsageError("Keras's LSTM has no projection (proj_size); it exists only in PyTorch")
    check_buildable(spec)
    model = keras.Sequential(name=f"lstmcli_{spec.cell}")
    model.add(keras.Input(shape=(spec.timesteps, spec.input_size), name="pixels"))
    for layer in range(spec.layers):
        every_step = layer < spec.layers - 1 or spec.sequence_output
        model.add(recurrent_layer(spec, return_sequences=every_step, name=f"{spec.cell}_{layer}", cheap=cheap))
    if spec.classes:
        init = {"kernel_initializer": "zeros"} if cheap else {}
        activation = None if spec.head == "regress" else "softmax"
        model.add(keras.layers.Dense(spec.classes, activation=activation, name=HEAD_NAMES[spec.head], **init))
    return model
