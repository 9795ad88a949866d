"""The recurrent cells as the tutorial writes them, in NumPy, step by step, keeping every gate.

Nothing here imports TensorFlow: a network is plain arrays (the weights Keras stores, in Keras's fused
layout) and `forward` runs it on a batch of sequences. lstmcli.gates.keras_model reads a Keras model into a
`Network` and checks the result against Keras itself; docs/lstm.md ("Watching the gates") links each line
below to its equation. Everything is float64: this is the reference the float32 layers are compared with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def sigmoid(x: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic function, without exp's overflow for large |x|


def softmax(x: Array) -> Array:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


# Keras's activations by name, as Keras 3 defines them (hard_sigmoid is relu6(x + 3) / 6 there).
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "hard_sigmoid": lambda x: np.clip((x + 3.0) / 6.0, 0.0, 1.0),
    "relu": lambda x: np.maximum(x, 0.0),
    "linear": lambda x: x,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "silu": lambda x: x * sigmoid(x),
    "softmax": softmax,
}

# The tensors of each cell, keyed by the names the docs use, in the order the docs list them.
GATES = {
    "lstm": ("input", "forget", "candidate", "output", "cell", "hidden"),
    "gru": ("update", "reset", "candidate", "hidden"),
    "rnn": ("hidden",),
}
# The gates proper: sigmoids between 0 and 1 that multiply another vector (the saturation statistics).
SIGMOID_GATES = {"lstm": ("input", "forget", "output"), "gru": ("update", "reset"), "rnn": ()}
MERGES = ("concat", "sum", "mul", "ave")


@dataclass(frozen=True)
class Cell:
    """One direction of one recurrent layer: Keras's fused tensors and activations.

    kernel (m, g*n) and recurrent (n, g*n) hold the g blocks side by side (LSTM i, f, c, o; GRU z, r, h);
    bias is (g*n,), or (2, g*n) for a GRU with reset_after (row 0 on the x_t side, row 1 on the h_(t-1) side),
    or None without bias.
    """

    kind: str
    kernel: Array
    recurrent: Array
    bias: Array | None
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    reset_after: bool = True

    @property
    def units(self) -> int:
        return int(self.recurrent.shape[0])


@dataclass(frozen=True)
class Direction:
    layer: str
    index: int
    direction: str  # "forward", or "backward": reads the sequence from its last step to its first
    cell: Cell


@dataclass(frozen=True)
class Stage:
    """One recurrent layer: one direction, or two merged as Keras's Bidirectional merges them."""

    layer: str
    index: int
    directions: tuple[Direction, ...]
    merge: str
    return_sequences: bool


@dataclass(frozen=True)
class Dense:
    """A head layer: kernel and bias (None for an Activation layer) and the activation's name."""

    kernel: Array | None
    bias: Array | None
    activation: str


@dataclass(frozen=True)
class Network:
    stages: tuple[Stage, ...]
    head: tuple[Dense, ...]

    @property
    def directions(self) -> list[Direction]:
        return [d for stage in self.stages for d in stage.directions]


@dataclass
class Trace:
    """What `forward` computed for a batch of B sequences of T steps.

    gates[(layer index, direction)][name] is (B, T, n) in sequence order: position t is step t of the input,
    also for a backward direction (which reached it after reading T-1..t). prediction is (B, T, classes).
    """

    gates: dict[tuple[int, str], dict[str, Array]]
    prediction: Array


def _blocks(x: Array, g: int) -> list[Array]:
    return np.split(x, g, axis=-1)


def lstm(cell: Cell, x: Array) -> dict[str, Array]:
    """i, f, C', o, C and h at every step of x (B, T, m), read from t = 0."""
    act, gate = ACTIVATIONS[cell.activation], ACTIVATIONS[cell.recurrent_activation]
    batch, steps, n = x.shape[0], x.shape[1], cell.units
    seen = x @ cell.kernel + (0.0 if cell.bias is None else cell.bias)  # W x_t + b for every step at once
    h, c = np.zeros((batch, n)), np.zeros((batch, n))
    out = {name: np.empty((batch, steps, n)) for name in GATES["lstm"]}
    for t in range(steps):
        z_i, z_f, z_c, z_o = _blocks(seen[:, t] + h @ cell.recurrent, 4)  # + U h_(t-1)
        i, f, candidate, o = gate(z_i), gate(z_f), act(z_c), gate(z_o)
        c = f * c + i * candidate  # C_t = f_t * C_(t-1) + i_t * C'_t
        h = o * act(c)  # h_t = o_t * tanh(C_t)
        for name, value in zip(GATES["lstm"], (i, f, candidate, o, c, h), strict=True):
            out[name][:, t] = value
    return out


def gru(cell: Cell, x: Array) -> dict[str, Array]:
    """z, r, h' and h at every step of x (B, T, m), with the reset gate before or after U_h (reset_after)."""
    act, gate = ACTIVATIONS[cell.activation], ACTIVATIONS[cell.recurrent_activation]
    batch, steps, n = x.shape[0], x.shape[1], cell.units
    bias = np.zeros((2, 3 * n)) if cell.bias is None else np.asarray(cell.bias).reshape(-1, 3 * n)
    seen = x @ cell.kernel + bias[0]
    recurrent_bias = bias[1] if cell.reset_after and len(bias) == 2 else np.zeros(3 * n)
    u_zr, u_h = cell.recurrent[:, : 2 * n], cell.recurrent[:, 2 * n :]
    h = np.zeros((batch, n))
    out = {name: np.empty((batch, steps, n)) for name in GATES["gru"]}
    for t in range(steps):
        x_z, x_r, x_h = _blocks(seen[:, t], 3)
        b_z, b_r, b_h = _blocks(recurrent_bias, 3)
        h_z, h_r = _blocks(h @ u_zr, 2)
        z, r = gate(x_z + h_z + b_z), gate(x_r + h_r + b_r)
        # after: tanh(W_h x_t + b_h + r_t * (U_h h_(t-1) + b'_h)); before: tanh(W_h x_t + U_h (r_t * h_(t-1)) + b_h)
        inner = r * (h @ u_h + b_h) if cell.reset_after else (r * h) @ u_h
        candidate = act(x_h + inner)
        h = z * h + (1.0 - z) * candidate  # h_t = z_t * h_(t-1) + (1 - z_t) * h'_t
        for name, value in zip(GATES["gru"], (z, r, candidate, h), strict=True):
            out[name][:, t] = value
    return out


def simple_rnn(cell: Cell, x: Array) -> dict[str, Array]:
    """h_t = tanh(W x_t + U h_(t-1) + b) at every step of x (B, T, m)."""
    act = ACTIVATIONS[cell.activation]
    seen = x @ cell.kernel + (0.0 if cell.bias is None else cell.bias)
    h = np.zeros((x.shape[0], cell.units))
    out = np.empty((x.shape[0], x.shape[1], cell.units))
    for t in range(x.shape[1]):
        h = act(seen[:, t] + h @ cell.recurrent)
        out[:, t] = h
    return {"hidden": out}


CELLS = {"lstm": lstm, "gru": gru, "rnn": simple_rnn}


def run(direction: Direction, x: Array) -> dict[str, Array]:
    """Every tensor of one direction in its own reading order: a backward direction's step 0 is x's last."""
    return CELLS[direction.cell.kind](direction.cell, x[:, ::-1] if direction.direction == "backward" else x)


def merged(parts: list[Array], merge: str) -> Array:
    """Two directions' outputs side by side, as Keras's Bidirectional merge_mode combines them."""
    if len(parts) == 1:
        return parts[0]
    if merge == "concat":
        return np.concatenate(parts, axis=-1)
    if merge == "sum":
        return parts[0] + parts[1]
    if merge == "mul":
        return parts[0] * parts[1]
    return (parts[0] + parts[1]) / 2.0


def head(network: Network, h: Array) -> Array:
    for layer in network.head:
        if layer.kernel is not None:
            h = h @ layer.kernel + (0.0 if layer.bias is None else layer.bias)
        h = ACTIVATIONS[layer.activation](h)
    return h


def forward(network: Network, x: Array) -> Trace:
    """Run the network on x (B, T, m) scaled as the model reads it; the head after every step.

    The prediction at step t is the head applied to what the last recurrent layer holds after reading t + 1
    steps: h_t, or for a bidirectional layer each direction after t + 1 steps of its own reading. So at the
    last step it is the model's output. A last layer that returns sequences (a per-step model) is shown as
    the model outputs it, position by position.
    """
    gates: dict[tuple[int, str], dict[str, Array]] = {}
    sequence = np.asarray(x, dtype=np.float64)
    reading: list[Array] = []
    for stage in network.stages:
        outputs, reading = [], []
        for direction in stage.directions:
            tensors = run(direction, sequence)
            reading.append(tensors["hidden"])
            backward = direction.direction == "backward"
            ordered = {name: value[:, ::-1] if backward else value for name, value in tensors.items()}
            gates[(stage.index, direction.direction)] = ordered
            outputs.append(ordered["hidden"])
        sequence = merged(outputs, stage.merge)
    last = network.stages[-1]
    read = sequence if last.return_sequences else merged(reading, last.merge)
    return Trace(gates, head(network, read))
