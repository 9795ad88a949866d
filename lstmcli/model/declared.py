"""What a saved Keras model's config declares, bounded before Keras builds any of it.

Keras builds (and initialises) every layer a config names before it reads a single weight: a 4 KB file whose
config says LSTM(5000), or 3,000 layers, costs minutes and gigabytes before anything fails. So the config
of a .keras archive (config.json) or of a legacy .h5 file (its model_config attribute) is walked here first,
in pure Python, and held to the limits that guard `--units` and `--layers`:

* the weights it declares must fit in memory as a model `train` may build (model/factory.py's share);
* building it must not take longer than `train` allows (model/factory.py's cost model: Sequential.add
  grows with the square of the layers, an orthogonal initialiser with the cube of the units);
* and the file must store them: the parameters a config declares are counted from below (a layer's input
  width is followed where the config says it, else taken as 1), and each needs at least half a byte in the
  weights file (int4 is the narrowest dtype Keras stores). A config that declares more than its file holds
  is refused by name, whatever the sizes.

Pure Python, no Keras: the limits hold in `params` and `eval` alike, before TensorFlow is asked anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lstmcli.errors import DataError
from lstmcli.formatting import human_bytes
from lstmcli.model import factory
from lstmcli.model.spec import MAX_SIZE

GATES = {"LSTM": 4, "LSTMCell": 4, "GRU": 3, "GRUCell": 3, "SimpleRNN": 1, "SimpleRNNCell": 1}
# Layers whose output has the width of their input (the last axis), so the width can be followed through them.
SAME_WIDTH = {"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "Activation",
              "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Masking", "LayerNormalization",
              "BatchNormalization", "GroupNormalization", "UnitNormalization", "ActivityRegularization"}  # fmt: skip
SIZE_KEYS = ("units", "filters", "input_dim", "output_dim")
# Where a config nests further layers: a model's list, a wrapper's layer, an RNN's cell(s).
NESTED = ("layers", "layer", "backward_layer", "forward_layer", "cell", "cells")
MIN_BYTES_PER_PARAM = 0.5


def class_name(layer: dict[str, Any]) -> str:
    """The class a config entry names, without a module path (keras.layers.recurrent.LSTM is LSTM)."""
    name = layer.get("class_name")
    return name.rsplit(".", 1)[-1].rsplit(">", 1)[-1] if isinstance(name, str) else ""


def _config(layer: Any) -> dict[str, Any]:
    config = layer.get("config") if isinstance(layer, dict) else None
    return config if isinstance(config, dict) else {}


def layers_of(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every layer config below `node` (the model itself excluded), nested models, wrappers and cells included."""
    if depth > 64:
        raise ValueError("layers nested more than 64 deep")
    config = _config(node)
    for key in NESTED:
        inner = config.get(key)
        for item in inner if isinstance(inner, list) else [inner]:
            if isinstance(item, dict) and "class_name" in item:
                yield item
                yield from layers_of(item, depth + 1)


def _int(config: dict[str, Any], key: str) -> int:
    value = config.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _shape_width(shape: Any) -> int | None:
    if isinstance(shape, list) and shape and isinstance(shape[-1], int) and not isinstance(shape[-1], bool):
        return shape[-1] if shape[-1] > 0 else None
    return None


def _inbound_width(layer: dict[str, Any], widths: dict[str, int | None]) -> int | None:
    """The width of a functional layer's first input: from the tensor's recorded shape (Keras 3) or from
    the output of the layer it names (Keras 2's [[name, node, tensor, kwargs]])."""
    stack, seen = [layer.get("inbound_nodes")], 0
    while stack and seen < 10_000:
        item, seen = stack.pop(0), seen + 1
        if isinstance(item, dict):
            history = _config(item).get("keras_history")
            if history is not None:
                width = _shape_width(_config(item).get("shape"))
                return width if width is not None else widths.get(str(history[0])) if history else None
            stack.extend(item.values())
        elif isinstance(item, list):
            if len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int):
                return widths.get(item[0])
            stack.extend(item)
    return None


def lower_bound(layer: dict[str, Any], width: int | None) -> tuple[int, int | None]:
    """(parameters the layer has at least, its output width or None) for an input of `width` (None: unknown)."""
    name, config, m = class_name(layer), _config(layer), width or 1
    if name in GATES:
        n = _int(config, "units")
        return GATES[name] * n * (n + m), n or None
    if name == "RNN":
        cells = config.get("cell")
        inner = _config(cells).get("cells") if class_name(cells or {}) == "StackedRNNCells" else [cells]
        total, current = 0, width
        for cell in inner if isinstance(inner, list) else []:
            params, current = lower_bound(cell, current) if isinstance(cell, dict) else (0, None)
            total += params
        return total, current
    if name == "Bidirectional":
        params, out = lower_bound(config.get("layer") or {}, width)
        concat = config.get("merge_mode", "concat") in ("concat", None)
        return 2 * params, (2 * out if concat else out) if out else None
    if name == "TimeDistributed":
        return lower_bound(config.get("layer") or {}, width)
    if name == "Dense":
        units = _int(config, "units")
        return m * units, units or None
    if name == "Embedding":
        return _int(config, "input_dim") * _int(config, "output_dim"), _int(config, "output_dim") or None
    if name in ("Conv1D", "Conv2D", "Conv3D"):
        kernel = config.get("kernel_size")
        cells = math.prod(k for k in kernel if isinstance(k, int) and k > 0) if isinstance(kernel, list) else 1
        filters = _int(config, "filters")
        return filters * cells * m, filters or None
    if name == "InputLayer":
        shape = config.get("batch_shape") or config.get("batch_input_shape") or config.get("shape")
        return 0, _shape_width(shape)
    return 0, width if name in SAME_WIDTH else None


def declared_params(model: dict[str, Any]) -> int:
    """The parameters `model` declares, counted from below, following widths through Sequential and
    functional graphs (a nested model's own layers are counted with an unknown input width)."""
    total, widths = 0, {}
    width = _shape_width(_config(model).get("batch_input_shape") or _config(model).get("build_input_shape"))
    sequential = class_name(model) == "Sequential"
    for layer in (item for item in _config(model).get("layers") or [] if isinstance(item, dict)):
        if not sequential:
            width = _inbound_width(layer, widths)
        elif width is None:
            width = _shape_width(_config(layer).get("batch_input_shape") or _config(layer).get("batch_shape"))
        if class_name(layer) in ("Sequential", "Functional", "Model"):
            params, out = declared_params(layer), None
        else:
            params, out = lower_bound(layer, width)
        total += params
        widths[str(_config(layer).get("name", layer.get("name")))] = out
        width = out
    return total


def build_seconds(model: dict[str, Any], initialisers: bool) -> float:
    """Keras's time to build the layers declared, by model/factory.py's cost model; `initialisers`: whether
    the recurrent kernels' own initialisers run (a .keras file) or are replaced by zeros (an .h5 we rebuild)."""
    layers = list(layers_of(model))
    seconds = factory.LAYER_SQUARED * len(layers) ** 2 + factory.LAYER_LINEAR * len(layers)
    for layer in layers:
        gates, n = GATES.get(class_name(layer), 0), _int(_config(layer), "units")
        orthogonal = "Orthogonal" in str(_config(layer).get("recurrent_initializer", "orthogonal")).title()
        if initialisers and gates and orthogonal:
            seconds += factory.ORTHOGONAL * gates * n**3
    return seconds


def check(model: Any, path: Path, stored_bytes: int, initialisers: bool) -> None:
    """Refuse a config that declares absurd sizes, more than this machine may build, or more than its file
    stores (`stored_bytes`: the weights file's size), before Keras builds anything of it."""
    if not isinstance(model, dict):
        raise DataError(f"{path}: its model config is not a JSON object; not a model Keras saved")
    try:
        layers = list(layers_of(model))
        for layer in layers:
            for key in SIZE_KEYS:
                value = _config(layer).get(key)
                if isinstance(value, int) and value > MAX_SIZE:
                    name = _config(layer).get("name", class_name(layer))
                    raise DataError(f"{path}: layer {name} declares {key}={value:,}, which is absurd; "
                                    f"no model Keras saved has more than {MAX_SIZE:,}")  # fmt: skip
        params = declared_params(model)
        seconds = build_seconds(model, initialisers)
    except (ValueError, RecursionError) as exc:
        raise DataError(f"{path}: its model config is malformed ({exc}); not a model Keras saved") from None
    allowed = int(factory.physical_memory() * factory.MEMORY_FRACTION)
    if params * 4 > allowed:
        raise DataError(
            f"{path}: declares at least {params:,} parameters, {human_bytes(params * 4, 'MiB', 'GiB')} of weights, "
            f"more than this machine can build ({human_bytes(allowed, 'MiB', 'GiB')} allowed); "
            "read it on a larger machine"
        )
    if seconds > factory.TRAIN_BUILD_SECONDS:
        raise DataError(
            f"{path}: building the {len(layers):,} layers it declares would take about {seconds:,.0f} s (more than "
            f"{factory.TRAIN_BUILD_SECONDS:.0f} s allowed); not a model lstmcli reads"
        )
    if params * MIN_BYTES_PER_PARAM > stored_bytes:
        raise DataError(
            f"{path}: its config declares at least {params:,} parameters but the file stores only "
            f"{stored_bytes:,} bytes of weights; damaged or forged, save or copy it again"
        )
