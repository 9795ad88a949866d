"""A built Keras model, layer by layer: the one FileReport of a .keras file, a run folder or a legacy .h5.

lstmcli.model.keras_file and lstmcli.model.h5_file load a model their own way and describe it here, so the
two formats give the same breakdown (per-gate counts, shapes, memory) and neither needs the other.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmcli.errors import FieldError
from lstmcli.model.count import count
from lstmcli.model.memory import LayerCost, Memory, recurrent_cost
from lstmcli.model.report import FileLayer, FileReport
from lstmcli.model.spec import DEFAULT_TIMESTEPS, ModelSpec

if TYPE_CHECKING:
    import keras

CELL_TYPES = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "rnn"}
# Layers with weights but no matrix products: a table lookup, or elementwise scaling.
NO_PRODUCTS = {"Embedding", "BatchNormalization", "LayerNormalization", "GroupNormalization"}
# Layers whose kernel meets every position of the input once: mult-adds = kernel entries x positions.
PRODUCTS = {"Dense", "Conv1D", "Conv2D", "Conv3D"}
CONV = {"Conv1D", "Conv2D", "Conv3D"}

Shape = tuple[int, ...]


def cell_spec(layer: Any, input_size: int, timesteps: int) -> ModelSpec | None:
    """The one-layer spec of a keras.layers.RNN whose cell the closed form covers, else None."""
    cell = getattr(layer, "cell", None)
    kind = CELL_TYPES.get(type(cell).__name__)
    if kind is None:
        return None
    reset_after = bool(getattr(cell, "reset_after", True))
    return ModelSpec(kind, int(cell.units), input_size, timesteps, 1, False, bool(cell.use_bias), reset_after, 0)


def recurrent_spec(layer: Any, timesteps: int) -> ModelSpec | None:
    """The closed form's description of `layer`, or None when it is not a recurrent layer we cover."""
    import keras

    try:
        input_size = int(layer.input.shape[-1])
    except (AttributeError, ValueError, TypeError, IndexError):
        return None  # shared layers have several inputs; an open feature axis cannot be counted
    if isinstance(layer, keras.layers.Bidirectional):
        forward = cell_spec(layer.forward_layer, input_size, timesteps)
        backward = cell_spec(layer.backward_layer, input_size, timesteps)
        return replace(forward, bidirectional=True) if forward is not None and forward == backward else None
    if isinstance(layer, keras.layers.RNN):
        return cell_spec(layer, input_size, timesteps)
    return None


def kind_of(layer: Any) -> str:
    """The class name, with what a wrapper wraps: Bidirectional(LSTM), TimeDistributed(Dense), RNN(LSTMCell)."""
    name = type(layer).__name__
    inner = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
    if inner is not None:
        return f"{name}({type(inner).__name__})"
    if name == "RNN" and getattr(layer, "cell", None) is not None:
        return f"RNN({type(layer.cell).__name__})"
    return name


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, int) for d in value)


def _shape_list(value: Any) -> list[Any]:
    """compute_output_shape's answer as a flat list of shapes (one shape, or nested lists of them)."""
    if _is_shape(value):
        return [tuple(value)]
    return [shape for item in value for shape in _shape_list(item)]


def node_tensors(layer: Any) -> tuple[list[Any], list[Any]]:
    """The input and output tensors of the layer's call in the model's graph, flattened.

    A loaded Sequential model may have built a layer twice (Keras records a node each time); the last node
    is the one its graph connects, so that is the one read (Keras's own summary reads _inbound_nodes too).
    """
    import keras

    nodes = getattr(layer, "_inbound_nodes", None)
    if nodes:
        return keras.tree.flatten(nodes[-1].input_tensors), keras.tree.flatten(nodes[-1].output_tensors)
    return keras.tree.flatten(layer.input), keras.tree.flatten(layer.output)


def concrete_shapes(model: keras.Model, timesteps: int) -> dict[int, Shape]:
    """Every tensor's shape without the batch axis at `timesteps` steps, propagated layer by layer.

    An open time axis (None) becomes `timesteps` at the input; each layer's compute_output_shape then says
    what it makes of it (a valid Conv1D shortens it), so later layers see the real lengths.
    """

    def fill(shape: Any) -> Shape:
        return tuple(timesteps if d is None else int(d) for d in shape[1:])

    known = {id(t): fill(t.shape) for t in model.inputs}
    for layer in model.layers:
        try:
            inputs, outputs = node_tensors(layer)
        except (AttributeError, ValueError):
            continue
        if all(id(t) in known for t in outputs):
            continue
        given = [(None, *known.get(id(t), fill(t.shape))) for t in inputs]
        try:
            shapes = _shape_list(layer.compute_output_shape(given[0] if len(given) == 1 else given))
        except Exception:  # a layer without its own compute_output_shape: its symbolic shape, time filled in
            shapes = [t.shape for t in outputs]
        for tensor, shape in zip(outputs, shapes, strict=False):
            known[id(tensor)] = fill(shape)
    return known


def other_cost(layer: Any, name: str, kind: str, params: int, output: Shape) -> LayerCost:
    """A layer the closed form does not cover: mult-adds where the rule is plain, torchinfo's rule beside it."""
    base = type(getattr(layer, "layer", None) or layer).__name__
    per_step = output[1:] if len(output) >= 2 else output
    positions = math.prod(output[:-1]) if output else 1
    if params == 0 or base in NO_PRODUCTS:
        macs: int | None = 0
    elif base in PRODUCTS:
        kernel = getattr(getattr(layer, "layer", None) or layer, "kernel", None)
        macs = math.prod(kernel.shape) * positions if kernel is not None else None
    else:
        macs = None
    # torchinfo: every parameter once per sample, or once per output position for a convolution.
    torchinfo = params * positions if base in CONV else params
    return LayerCost(name, kind, params, output, per_step, macs, torchinfo)


def describe(layer: Any, timesteps: int, shapes: dict[int, Shape]) -> tuple[FileLayer, LayerCost | None]:
    """One row of the layer table and, except for the input layer, its row of the memory table."""
    import keras

    inputs, outputs = node_tensors(layer)
    shown = tuple(outputs[0].shape) if outputs else None
    params = int(layer.count_params())
    tensors = tuple((w.path, tuple(int(d) for d in w.shape)) for w in layer.weights)
    seen = shapes.get(id(inputs[0]), ()) if len(inputs) == 1 else ()
    spec = recurrent_spec(layer, seen[0] if len(seen) >= 2 else timesteps)  # its steps: a Conv1D may shorten them
    counts = count(spec) if spec is not None else None
    row = FileLayer(layer.name, kind_of(layer), params, counts, shown, tensors)
    if isinstance(layer, keras.layers.InputLayer):
        return row, None
    output = shapes.get(id(outputs[0]), ()) if outputs else ()
    if counts is not None and output:
        return row, recurrent_cost(layer.name, row.kind, counts, output)
    return row, other_cost(layer, layer.name, row.kind, params, output)


def model_timesteps(model: keras.Model, asked: int | None) -> tuple[int, str | None]:
    """The sequence length to use: the model's own, or `asked` (DEFAULT_TIMESTEPS when None) where its time
    axis is open."""
    shape = model.inputs[0].shape if len(model.inputs) else ()
    own = shape[1] if len(shape) >= 2 else None
    if own is not None:
        if asked is not None and asked != own:
            raise FieldError(
                "timesteps", f"the model reads sequences of {own} steps; {{timesteps}} {asked} does not apply to it"
            )
        return int(own), None
    steps = DEFAULT_TIMESTEPS if asked is None else asked
    return steps, f"the model takes sequences of any length; shapes and memory for --timesteps {steps}"


def describe_model(model: keras.Model, path: Path, timesteps: int | None, batch: int) -> FileReport:
    """Every layer of a loaded model, with memory for `batch` sequences (a .keras file's, or a rebuilt .h5's)."""
    steps, note = model_timesteps(model, timesteps)
    shapes = concrete_shapes(model, steps)
    rows, costs = [], []
    for layer in model.layers:
        row, cost = describe(layer, steps, shapes)
        rows.append(row)
        if cost is not None:
            costs.append(cost)
    inputs = sum(math.prod(shapes.get(id(t), ())) for t in model.inputs)
    memory = Memory(batch, steps, inputs, int(model.count_params()), tuple(costs))
    notes = (note,) if note else ()
    return FileReport(str(path), "Keras", "keras", tuple(rows), int(model.count_params()), memory, notes)
