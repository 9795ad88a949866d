"""A PyTorch state dict (.safetensors, .pt, .pth): its torch.nn.LSTM/GRU/RNN groups found by name and shape.

torch.nn.LSTM/GRU/RNN store, per layer k and direction, weight_ih_l{k} (g*n, m), weight_hh_l{k} (g*n, n or p),
bias_ih_l{k} and bias_hh_l{k} (g*n,) unless bias=False, weight_hr_l{k} (p, n) with proj_size p, and the same
with a `_reverse` suffix when bidirectional. From layer 0 the sizes follow: m, n, g (so the cell), p; the
number of layers and directions from the names. The closed form (PyTorch convention) of the inferred module
must then predict every one of the group's tensor shapes exactly, or the group is not claimed.

.safetensors is read with the safetensors package, shapes only, no torch needed. .pt/.pth need torch and are
loaded with weights_only=True, so a file that carries arbitrary Python objects is refused, never unpickled.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from lstmcli.errors import DataError, UsageError, brief
from lstmcli.model.count import count
from lstmcli.model.memory import Memory, recurrent_cost
from lstmcli.model.report import FileLayer, FileReport
from lstmcli.model.spec import DEFAULT_TIMESTEPS, TORCH_NAMES, ModelSpec

NAME = re.compile(r"^(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>\d+)"
                  r"(?P<reverse>_reverse)?$")  # fmt: skip
CELL_BY_GATES = {4: "lstm", 3: "gru", 1: "rnn"}

Shapes = dict[str, tuple[int, ...]]


def read_safetensors(path: Path) -> Shapes:
    """Every tensor's shape, from the header; the data is never loaded."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except SafetensorError as exc:
        raise DataError(f"{path}: not a readable .safetensors file ({exc}); save or copy it again") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check the file") from None


def read_pt(path: Path) -> Shapes:
    """A torch.save()d state dict, loaded with weights_only=True: tensors and plain containers, nothing else."""
    try:
        import torch
    except ImportError:
        raise UsageError(
            f"{path}: reading .pt/.pth needs PyTorch (pip install 'lstmcli[torch]'); "
            "or save the state dict with safetensors, which lstmcli reads without it"
        ) from None

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError (a bad zip), EOFError, OSError...
        if "weights only load failed" in str(exc).lower():
            raise DataError(
                f"{path}: refused, the file carries Python objects other than tensors, and lstmcli loads .pt files "
                "with weights_only=True only (never unpickling arbitrary objects); save model.state_dict() instead"
            ) from None
        why = f"{type(exc).__name__}: {brief(exc)}"
        raise DataError(f"{path}: corrupt or not a PyTorch file ({why}); save or copy it again") from None
    shapes: Shapes = {}
    _flatten(loaded, "", shapes, torch.Tensor)
    if not shapes:
        raise DataError(f"{path}: holds no tensors; give a state dict (model.state_dict())")
    return shapes


def _flatten(value: Any, prefix: str, out: Shapes, tensor: type) -> None:
    """Tensors anywhere in nested dicts (e.g. {"model": state_dict, "epoch": 3}), under dotted names."""
    if isinstance(value, tensor):
        out[prefix] = tuple(value.shape)
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out, tensor)


def infer_spec(names: Shapes, timesteps: int) -> ModelSpec | None:
    """The torch.nn module whose parameters these are (names without the group prefix), or None."""
    ih, hh, hr = names.get("weight_ih_l0"), names.get("weight_hh_l0"), names.get("weight_hr_l0")
    if ih is None or hh is None or len(ih) != 2 or len(hh) != 2:
        return None
    proj = hr[0] if hr is not None and len(hr) == 2 else 0
    units = hr[1] if proj else hh[1]
    gates, remainder = divmod(ih[0], units) if units else (0, 1)
    if remainder or gates not in CELL_BY_GATES:
        return None
    layers = 1 + max(int(NAME.match(name)["layer"]) for name in names)  # type: ignore[index]
    try:
        spec = ModelSpec(
            cell=CELL_BY_GATES[gates], units=units, input_size=ih[1], timesteps=timesteps, layers=layers,
            bidirectional=any(name.endswith("_reverse") for name in names), use_bias="bias_ih_l0" in names,
            classes=0, proj_size=proj,
        )  # fmt: skip
    except UsageError:
        return None
    predicted = {name: shape for d in count(spec, "pytorch").directions for name, shape in d.shapes}
    return spec if predicted == names else None


def group_layers(shapes: Shapes, timesteps: int) -> tuple[list[FileLayer], list[str]]:
    """The recurrent groups (by name prefix) and every other tensor, in the file's order; notes on near misses."""
    groups: dict[str, Shapes] = defaultdict(dict)
    for name, shape in shapes.items():
        match = NAME.match(name)
        if match:
            groups[match["prefix"]][name[len(match["prefix"]) :]] = shape
    claimed: dict[str, FileLayer] = {}
    notes = []
    for prefix, names in groups.items():
        spec = infer_spec(names, timesteps)
        label = prefix.rstrip(".") or "(top level)"
        if spec is None:
            notes.append(f"{label}: tensors named like torch.nn.LSTM/GRU/RNN parameters whose shapes fit none")
            continue
        counts = count(spec, "pytorch")
        # In the closed form's order (PyTorch's own), whatever order the file keeps them in.
        tensors = tuple((prefix + name, names[name]) for d in counts.directions for name, _ in d.shapes)
        stored = sum(math.prod(shape) for _, shape in tensors)
        kind = TORCH_NAMES[spec.cell]
        claimed[prefix] = FileLayer(label, kind, stored, counts, (None, None, spec.output_size), tensors)
    layers: list[FileLayer] = []
    for name, shape in shapes.items():
        match = NAME.match(name)
        if match and match["prefix"] in claimed:
            if claimed[match["prefix"]] not in layers:
                layers.append(claimed[match["prefix"]])
            continue
        layers.append(FileLayer(name, "tensor", math.prod(shape), None, None, ((name, shape),)))
    return layers, notes


def read(path: Path, timesteps: int | None, batch: int) -> FileReport:
    """The state dict at `path`, its recurrent groups inferred, with shapes and memory for `batch` x T steps."""
    shapes = read_safetensors(path) if path.suffix == ".safetensors" else read_pt(path)
    steps = DEFAULT_TIMESTEPS if timesteps is None else timesteps
    layers, notes = group_layers(shapes, steps)
    costs = tuple(
        recurrent_cost(layer.name, layer.kind, layer.counts, (steps, layer.counts.spec.output_size))
        for layer in layers
        if layer.counts is not None
    )
    first = next((layer.counts.spec for layer in layers if layer.counts is not None), None)
    total = sum(layer.params for layer in layers)
    memory = Memory(batch, steps, steps * first.input_size if first else 0, total, costs)
    if timesteps is None:
        notes.append(f"a state dict does not say how long its sequences are; shapes and memory for --timesteps {steps}")
    if len(costs) < len(layers):
        notes.append("other tensors: weights only (a state dict has no graph, so their outputs are not known)")
    return FileReport(str(path), "PyTorch", "pytorch", tuple(layers), total, memory, tuple(notes))
