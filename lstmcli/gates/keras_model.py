"""A Keras model read into a `recurrence.Network`, and the check of the recomputation against Keras itself.

Keras is imported lazily (only a caller that already holds a loaded model reaches it). What can be
recomputed is a chain: the input, recurrent layers (LSTM, GRU, SimpleRNN or keras.layers.RNN around their
cells, alone or inside Bidirectional) with Dropout-like layers between them, then a head of Dense and
Activation layers ending in a softmax. Anything else is refused in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli.errors import CheckFailed, DataError
from lstmcli.gates.recurrence import ACTIVATIONS, MERGES, Cell, Dense, Direction, Network, Stage, Trace

CELL_TYPES = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "rnn"}
# Layers that are the identity at inference: they may sit between the recurrent layers or in the head.
IDENTITY = {"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"}
# The largest difference between the NumPy recomputation and Keras's own output that is still agreement.
TOLERANCE = 1e-4
RECOMPUTABLE = "LSTM, GRU and SimpleRNN layers (or Bidirectional around them) and a Dense softmax head"


def _refused(path: Path, layer: Any, why: str) -> DataError:
    return DataError(f"{path}: layer {layer.name!r} {why}; `lstmcli gates` recomputes {RECOMPUTABLE}")


def _activation(function: Any, layer: Any, path: Path) -> str:
    name = getattr(function, "__name__", None)
    if name not in ACTIVATIONS:
        raise _refused(path, layer, f"uses the activation {name or function!r}, which lstmcli cannot recompute")
    return str(name)


def _weights(holder: Any) -> dict[str, np.ndarray]:
    return {w.path.rsplit("/", 1)[-1]: np.asarray(w.numpy(), dtype=np.float64) for w in holder.weights}


def _cell(layer: Any, path: Path, wrapped: bool = False) -> Cell:
    """One direction: its cell's type, weights and activations, refusing what the equations do not cover."""
    cell = getattr(layer, "cell", None)
    kind = CELL_TYPES.get(type(cell).__name__)
    if kind is None:
        raise _refused(path, layer, f"has a {type(cell).__name__} cell, which lstmcli cannot recompute")
    if (getattr(layer, "go_backwards", False) and not wrapped) or getattr(layer, "return_state", False):
        raise _refused(path, layer, "reads backwards or returns its state outside Bidirectional")
    weights = _weights(cell)
    gate = "sigmoid" if kind == "rnn" else _activation(cell.recurrent_activation, layer, path)
    return Cell(kind, weights["kernel"], weights["recurrent_kernel"], weights.get("bias"),
                _activation(cell.activation, layer, path), gate, bool(getattr(cell, "reset_after", True)))  # fmt: skip


def _stage(layer: Any, index: int, path: Path) -> Stage:
    import keras

    if isinstance(layer, keras.layers.Bidirectional):
        if layer.merge_mode not in MERGES:
            raise _refused(path, layer, f"merges its directions as {layer.merge_mode!r}")
        forward, backward = layer.forward_layer, layer.backward_layer
        directions = (Direction(layer.name, index, "forward", _cell(forward, path, wrapped=True)),
                      Direction(layer.name, index, "backward", _cell(backward, path, wrapped=True)))  # fmt: skip
        return Stage(layer.name, index, directions, layer.merge_mode, bool(forward.return_sequences))
    return Stage(layer.name, index, (Direction(layer.name, index, "forward", _cell(layer, path)),), "concat",
                 bool(layer.return_sequences))  # fmt: skip


def _head_layer(layer: Any, path: Path) -> Dense:
    weights = _weights(layer)
    kernel = weights.get("kernel") if type(layer).__name__ == "Dense" else None
    return Dense(kernel, weights.get("bias"), _activation(layer.activation, layer, path))


def _chain(model: Any, path: Path) -> list[Any]:
    """The model's layers, when each reads the one before it (a Sequential, or a Functional chain)."""
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise DataError(f"{path}: the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                        f"`lstmcli gates` reads one chain of layers")  # fmt: skip
    if isinstance(model, keras.Sequential):
        return layers  # a chain by construction (its layers' first graph nodes may be from an earlier build)
    previous = model.inputs[0]
    for layer in layers:
        try:
            reads = layer.input
        except (AttributeError, ValueError):
            reads = None
        if reads is not previous:
            raise _refused(path, layer, "does not read the layer before it (the model is not one chain)")
        previous = layer.output
    return layers


@dataclass
class Recomputed:
    """A model read into NumPy, with what the check needs: the Keras layer behind each stage."""

    network: Network
    layers: list[Any]
    stage_layers: dict[int, Any] = field(default_factory=dict)
    probes: dict[tuple[int, str], Any] = field(default_factory=dict)


def read(model: Any, path: Path) -> Recomputed:
    """The model as a Network, or a DataError saying which layer cannot be recomputed and why."""
    layers = _chain(model, path)
    if not any(hasattr(layer, "cell") or type(layer).__name__ == "Bidirectional" for layer in layers):
        raise DataError(f"{path}: the model has no recurrent layer (LSTM, GRU or SimpleRNN); it has no gates to show")
    stages, head, stage_layers = [], [], {}
    for layer in layers:
        kind = type(layer).__name__
        if kind in IDENTITY:
            continue
        if head or kind in ("Dense", "Activation"):
            if kind not in ("Dense", "Activation"):
                raise _refused(path, layer, "follows the head")
            head.append(_head_layer(layer, path))
        elif hasattr(layer, "cell") or kind == "Bidirectional":
            stage_layers[len(stages)] = layer
            stages.append(_stage(layer, len(stages), path))
        else:
            raise _refused(path, layer, f"is a {kind}, which lstmcli cannot recompute")
    if not head or head[-1].activation != "softmax":
        raise DataError(f"{path}: the model does not end in a softmax; `lstmcli gates` reads a classifier whose "
                        "last layer gives one probability per class")  # fmt: skip
    return Recomputed(Network(tuple(stages), tuple(head)), layers, stage_layers)


def _probe(recomputed: Recomputed, stage: Stage, direction: str) -> Any:
    """A copy of one direction's Keras layer that returns h for every step (in its own reading order)."""
    key = (stage.index, direction)
    if key not in recomputed.probes:
        outer = layer = recomputed.stage_layers[stage.index]
        if len(stage.directions) == 2:
            layer = outer.forward_layer if direction == "forward" else outer.backward_layer
        config = {**layer.get_config(), "return_sequences": True, "return_state": False, "stateful": False}
        copy = type(layer).from_config(config)
        copy.build(outer.input.shape)
        copy.set_weights(layer.get_weights())
        recomputed.probes[key] = copy
    return recomputed.probes[key]


def differences(recomputed: Recomputed, model: Any, x: np.ndarray, trace: Trace) -> dict[str, float]:
    """The largest difference from Keras, per layer and direction (h at every step) and for the prediction.

    Keras runs each layer on the input the model gives it (the layers are called in order, as the chain
    the model is); a copy of each recurrent layer with return_sequences gives h at every step.
    """
    stage_of = {id(layer): recomputed.network.stages[i] for i, layer in recomputed.stage_layers.items()}
    out: dict[str, float] = {}
    value = x.astype(np.float32)
    for layer in recomputed.layers:
        stage = stage_of.get(id(layer))
        for direction in stage.directions if stage is not None else ():
            keras_h = np.asarray(_probe(recomputed, stage, direction.direction)(value))
            if direction.direction == "backward":
                keras_h = keras_h[:, ::-1]  # its own reading order back to sequence order, as Bidirectional does
            ours = trace.gates[(stage.index, direction.direction)]["hidden"]
            out[f"{stage.layer} {direction.direction}"] = float(np.abs(keras_h - ours).max())
        value = np.asarray(layer(value, training=False))
    keras_output = np.asarray(model(x.astype(np.float32), training=False))
    ours = trace.prediction if keras_output.ndim == 3 else trace.prediction[:, -1]
    out["prediction"] = float(np.abs(keras_output - ours).max())
    return out


def check(found: dict[str, float], path: Path) -> float:
    """The largest difference; a CheckFailed (exit 1) above TOLERANCE, never a picture of wrong numbers."""
    where, worst = max(found.items(), key=lambda item: item[1])
    if not worst <= TOLERANCE:  # NaN fails too
        raise CheckFailed(f"{path}: the NumPy recomputation differs from Keras by {worst:.3g} at {where} "
                          f"(limit {TOLERANCE:g}); its gates would not be the model's")  # fmt: skip
    return worst
