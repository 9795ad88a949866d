"""Candidate kernels for bench/long_sequences.py: the LSTM layers of a model through TensorFlow's fused op.

Why measure it: `keras.layers.LSTM` runs a `tf.while_loop` over time, and every step of it is a few dozen
small TensorFlow ops, then as many again for the gradient; `BlockLSTMV2` runs every step of the sequence
inside one C++ op and `BlockLSTMGradV2` the whole backward pass inside another, so at 784 steps a layer
costs two ops per tower instead of tens of thousands. Whether that wins is what the benchmark measures
(docs/performance.md); it lives here, not in lstmcli, because it did not win.

:func:`forward` reads the very variables of the factory's plain `keras.layers.LSTM` (kernel,
recurrent_kernel, bias, in Keras's gate order i, f, c, o, which is also BlockLSTMV2's; the first version,
BlockLSTM, orders them i, c, f, o) and computes the same function: tests/test_bench.py compares its loss
and gradients with Keras's within 1e-5. A layer the op cannot compute exactly (another activation,
dropout, Bidirectional, ...) is called as Keras's own; :func:`unsupported` says why.

TensorFlow 2.21 registers BlockLSTMV2's gradient with the first version's gradient op, which lays the
weight gradient out i, c, f, o: wrong for this op (off by up to 2.5 on a small check). The gradient here
is BlockLSTMGradV2's, given explicitly.
"""

from __future__ import annotations

from typing import Any

# Keras LSTM options the fused kernel computes exactly, with the value each must have. The kernel knows
# only sigmoid gates and tanh for the candidate and the cell output, no dropout and no masking.
REQUIRED = {
    "activation": "tanh",
    "recurrent_activation": "sigmoid",
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "go_backwards": False,
    "stateful": False,
    "return_state": False,
}


def unsupported(layer: Any) -> str | None:
    """Why `layer` cannot be computed by the fused kernel (None when it can)."""
    import keras

    if not isinstance(layer, keras.layers.LSTM):
        return f"{type(layer).__name__} is not an LSTM"
    config = layer.get_config()
    for name, wanted in REQUIRED.items():
        value = config.get(name)
        if isinstance(value, dict):  # a serialised activation
            value = value.get("config", {}).get("name", value.get("class_name"))
        if value != wanted:
            return f"the fused kernel needs {name}={wanted!r}, the layer has {value!r}"
    return None


def fusable(model: Any) -> bool:
    """True when the model has at least one LSTM layer the kernel computes and every other layer is plain."""
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    recurrent = [layer for layer in layers if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional)]
    return bool(recurrent) and all(unsupported(layer) is None for layer in recurrent)


def lstm_sequence(layer: Any, x: Any) -> Any:
    """Every step's output h of `layer` on batch-major `x` (batch, time, features), time-major (time, batch, n)."""
    import tensorflow as tf

    n = layer.units
    kernel, recurrent = layer.cell.kernel, layer.cell.recurrent_kernel
    w = tf.concat([kernel, recurrent], axis=0)  # BlockLSTMV2 multiplies [x_t, h_t-1] by one matrix
    b = tf.convert_to_tensor(layer.cell.bias) if layer.use_bias else tf.zeros([4 * n], dtype=w.dtype)
    return _block_lstm(tf.transpose(x, [1, 0, 2]), w, b)


def _block_lstm(x: Any, w: Any, b: Any) -> Any:
    import tensorflow as tf

    @tf.custom_gradient
    def run(x: Any, w: Any, b: Any) -> Any:
        n = tf.shape(b)[0] // 4
        state = tf.zeros(tf.stack([tf.shape(x)[1], n]), dtype=x.dtype)
        peephole = tf.zeros(tf.reshape(n, [1]), dtype=x.dtype)
        steps = tf.cast(tf.shape(x)[0], tf.int64)
        inputs = {"seq_len_max": steps, "x": x, "cs_prev": state, "h_prev": state, "w": w}
        inputs.update(wci=peephole, wcf=peephole, wco=peephole, b=b)
        out = tf.raw_ops.BlockLSTMV2(**inputs, cell_clip=0.0, use_peephole=False)

        def grad(dh: Any) -> tuple[Any, Any, Any]:
            gates = {k: getattr(out, k) for k in ("i", "cs", "f", "o", "ci", "co", "h")}
            g = tf.raw_ops.BlockLSTMGradV2(
                **inputs, **gates, cs_grad=tf.zeros_like(out.cs), h_grad=dh, use_peephole=False
            )
            return g.x_grad, g.w_grad, g.b_grad

        return out.h, grad

    return run(x, w, b)


def forward(model: Any, x: Any, training: bool = True) -> Any:
    """The model's output on `x`, its LSTM layers through the fused kernel and every other layer as Keras's.

    Only for models for which :func:`fusable` is true (a Sequential stack, as the factory builds).
    """
    import tensorflow as tf

    out = x
    for layer in model.layers:
        if unsupported(layer) is None:
            h = lstm_sequence(layer, out)
            out = tf.transpose(h, [1, 0, 2]) if layer.return_sequences else h[-1]
        else:
            out = layer(out, training=training)
    return out


class FusedModel:
    """The model as the training loop calls it (`model(x, training=True)`, `.trainable_variables`), with its
    LSTM layers through the fused op: lstmcli's batch_loss takes it in place of the Keras model."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.trainable_variables = model.trainable_variables

    def __call__(self, x: Any, training: bool = True) -> Any:
        return forward(self.model, x, training)
