"""An ONNX model (.onnx, as torch.onnx.export and tf2onnx write it): its LSTM, GRU and RNN operators in closed form.

The graph is never run. The file is first checked in pure Python to be an ONNX ModelProto by content (its
top-level protobuf fields are walked, each length checked against the file), then parsed by the `onnx`
package in a child process with resource limits (model/probe.py), which answers with the initializers'
shapes (each checked against the bytes stored, in the file or in its external data file beside it) and the
nodes with their attributes.

Each `LSTM`, `GRU` and `RNN` node whose W, R (and B) inputs are initializers is one recurrent layer:
W is (directions, g*n, m), R (directions, g*n, n), B (directions, 2*g*n): two bias vectors per gate (Wb, Rb),
as PyTorch keeps them, so the closed form is the PyTorch convention's, with `hidden_size` n, `direction`
forward, reverse or bidirectional, and GRU's `linear_before_reset` (Keras's reset_after). The gates are listed
in ONNX's order (i, o, f, c for an LSTM; z, r, h for a GRU) under the tutorial's names. Every other
initializer is counted as stored, so the total is every initializer in the file.

A node the operator's definition refuses (no W or R, no hidden_size, stored shapes that do not fit it, an input
that names no value of the graph) is damage, and the file is refused naming the node: leaving it out would
give a total that silently misses a layer. A well-formed node lstmcli does not cover (weights fed or computed
at run time, peepholes) is left out with a note.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import replace
from pathlib import Path

from lstmcli import files
from lstmcli.errors import DataError, UsageError
from lstmcli.formatting import human_bytes
from lstmcli.model import probe
from lstmcli.model.count import ParamCount, count
from lstmcli.model.memory import Memory, recurrent_cost
from lstmcli.model.report import FileLayer, FileReport
from lstmcli.model.spec import ModelSpec

SUFFIX = ".onnx"
CELLS = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}
# ONNX's gate order inside W, R and B, by the names the closed form gives the gates.
ORDER = {"lstm": ("input", "output", "forget", "candidate"), "gru": ("update", "reset", "candidate"), "rnn": ("state",)}
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
DEFAULT_TIMESTEPS = 28
# ModelProto's fields (onnx.proto): 1 ir_version ... 7 graph, 8 opset_import, 14 metadata_props, 20
# training_info, 25 functions, 26 configuration; 9-13 are reserved and never written.
MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}


def _varint(handle: object, limit: int) -> int | None:
    value, shift = 0, 0
    for _ in range(10):
        byte = handle.read(1)  # type: ignore[attr-defined]
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value if value <= limit else None
        shift += 7
    return None


def check_file(path: Path) -> int:
    """A regular file whose top level is a ModelProto holding a graph; its size. Only tags and lengths are read."""
    if importlib.util.find_spec("onnx") is None:
        raise UsageError(f"{path}: reading ONNX needs the onnx package: pip install 'lstmcli[onnx]'")
    with files.open_regular(path, str(path)) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > probe.MAX_ONNX_BYTES:
            raise DataError(f"{path}: {human_bytes(size)}, more than the 2 GiB an ONNX file can be")
        fields, why = set(), None
        while handle.tell() < size and why is None:
            tag = _varint(handle, 1 << 32)
            number, wire = (tag >> 3, tag & 7) if tag is not None else (0, -1)
            if MODEL_FIELDS.get(number) != wire:
                why = f"byte {handle.tell():,} is not a field of an ONNX model"
            elif wire == 0:
                why = None if _varint(handle, 1 << 64) is not None else "a number runs past the end"
            else:
                length = _varint(handle, size - handle.tell())
                why = None if length is not None else f"a field at byte {handle.tell():,} runs past the end"
                handle.seek(length or 0, os.SEEK_CUR)
            fields.add(number)
    if why is None and 7 not in fields:
        why = "it holds no graph" if size else "the file is empty"
    if why is not None:
        raise DataError(f"{path}: not an ONNX model ({why}); export it again")
    return size


def onnx_count(spec: ModelSpec, direction: str, names: tuple[str, ...]) -> ParamCount:
    """The closed form (PyTorch convention) with ONNX's gate order and its tensors, one slice per direction."""
    base = count(spec, "pytorch")
    g, n, m = len(spec.gates), spec.units, spec.input_size
    out = []
    for index, d in enumerate(base.directions):
        by_name = {gate.gate: gate for gate in d.gates}
        shapes = [(f"{names[0]}[{index}]", (g * n, m)), (f"{names[1]}[{index}]", (g * n, n))]
        if spec.use_bias:
            shapes.append((f"{names[2]}[{index}]", (2 * g * n,)))
        label = "reverse" if direction == "reverse" else d.direction
        gates = tuple(by_name[name] for name in ORDER[spec.cell])
        out.append(replace(d, direction=label, gates=gates, shapes=tuple(shapes)))
    return replace(base, directions=tuple(out))


# Operators that only move, reorder or reshape values: an exporter that reorders gates (PyTorch's i, f, g, o
# into ONNX's i, o, f, c) with them computes W, R and B from stored tensors without changing a single value.
MOVES = {"Reshape", "Concat", "Slice", "Split", "Unsqueeze", "Squeeze", "Transpose", "Identity", "Cast", "Gather",
         "Flatten", "Expand"}  # fmt: skip
FLOATS = {"float32", "float16", "bfloat16", "float64"}
Sources = dict[str, frozenset[str] | None]


def sources(
    name: str, inits: dict[str, probe.Initializer], producers: dict[str, probe.Node], memo: Sources
) -> frozenset[str] | None:
    """The float initializers whose values `name` is made of through MOVES only (indices and shapes left out), or
    None when something else computes it (a graph input, arithmetic)."""
    stack: list[tuple[str, bool]] = [(name, False)]
    visited = 0
    while stack:  # post-order without recursion: the graph comes from the file
        current, expanded = stack.pop()
        if current in memo:
            continue
        node = producers.get(current)
        inputs = [i for i in node.inputs if i] if node is not None else []
        if current in inits:
            memo[current] = frozenset([current]) if inits[current].dtype in FLOATS else frozenset()
        elif node is None or node.op_type not in MOVES or visited > 100_000:
            memo[current] = None
        elif not expanded:
            visited += 1
            stack.append((current, True))
            stack.extend((i, False) for i in inputs if i not in memo)
        else:
            parts = [memo.get(i) for i in inputs]
            memo[current] = None if any(p is None for p in parts) else frozenset().union(*parts)  # type: ignore[arg-type]
    return memo.get(name)


class Malformed(Exception):
    """A recurrent node that breaks the ONNX operator's own definition: the file is damaged, not merely a model
    lstmcli does not cover, and is refused rather than left out of the count."""


def label(node: probe.Node) -> str:
    return node.name or (node.outputs[0] if node.outputs else node.op_type)


def check_node(node: probe.Node, inits: dict[str, probe.Initializer], known: frozenset[str] | None) -> tuple[str, int]:
    """What the ONNX operator requires of the node itself (inputs X, W, R; hidden_size; direction; the shapes of
    the stored W, R, B), raised as Malformed; its direction and hidden_size. `known` is every name a value of the
    model's graph has, or None for a node of a subgraph (whose inputs may name the enclosing graph's values)."""
    op, inputs = node.op_type, node.inputs
    for index, role in enumerate(("X", "W", "R")):
        if len(inputs) <= index or not inputs[index]:
            raise Malformed(f"it has no {role} (input {index + 1}), which every {op} has")
    if "hidden_size" not in node.ints:
        raise Malformed("it has no hidden_size attribute")
    n, direction = node.ints["hidden_size"], node.strings.get("direction", "forward")
    dirs = DIRECTIONS.get(direction)
    if n <= 0 or dirs is None:
        raise Malformed(f"hidden_size {n} and direction {direction!r}: the size must be 1 or more and the direction "
                        f"one of {', '.join(DIRECTIONS)}")  # fmt: skip
    for name in inputs:
        if name and known is not None and name not in known:
            raise Malformed(f"its input {name!r} names no initializer, graph input or node output")
    gn = len(ORDER[CELLS[op]]) * n
    wanted = {"W": (dirs, gn, None), "R": (dirs, gn, n), "B": (dirs, 2 * gn)}  # None: W's width m, 1 or more
    for role, name in zip(wanted, inputs[1:4], strict=False):
        init = inits.get(name)
        if init is None:
            continue
        want = wanted[role]
        fits = len(init.shape) == len(want) and all(
            s == w or (w is None and s > 0) for s, w in zip(init.shape, want, strict=True)
        )
        if init.dtype not in FLOATS or not fits:
            shape = "(" + ", ".join("m" if w is None else str(w) for w in want) + ")"
            raise Malformed(f"its {role} {name!r} is {init.dtype} {init.shape}, where hidden_size {n} and direction "
                            f"{direction!r} make it floats of shape {shape}")  # fmt: skip
    return direction, n


def recurrent(
    node: probe.Node, inits: dict[str, probe.Initializer], producers: dict[str, probe.Node], steps: int,
    memo: Sources, known: frozenset[str] | None,
) -> tuple[FileLayer | None, str | None, frozenset[str]]:  # fmt: skip
    """The layer one LSTM/GRU/RNN node is, or None and why it is not covered; and the initializers it claims.
    A node the operator's definition refuses raises Malformed (check_node)."""
    direction, n = check_node(node, inits, known)
    name_, cell, dirs = label(node), CELLS[node.op_type], DIRECTIONS[direction]
    g = len(ORDER[cell])
    names = tuple(node.inputs[i] if len(node.inputs) > i else "" for i in (1, 2, 3))
    found = [sources(name, inits, producers, memo) if name else frozenset() for name in names]
    if any(f is None for f in found) or not found[0] or not found[1]:
        return None, f"{name_}: its weights are computed in the graph, not stored; not covered", frozenset()
    claimed: frozenset[str] = frozenset().union(*found)  # type: ignore[arg-type]
    if node.op_type == "LSTM" and len(node.inputs) > 7 and node.inputs[7]:
        return None, f"{name_}: an LSTM with peepholes (P), which Keras and PyTorch do not have", frozenset()
    bias = bool(names[2])
    params = sum(math.prod(inits[name].shape) for name in claimed)
    direct = all(name in inits for name in names if name)
    if direct:  # shapes checked by check_node
        m = inits[names[0]].shape[2]
    else:  # W's width from the count: params = dirs * g * n * (m + n + 2 [bias])
        m, rest = divmod(params, dirs * g * n)
        m = m - n - 2 * bias if not rest else 0
    if m <= 0:
        return None, f"{name_}: the tensors it is made of fit no {node.op_type}; counted as stored", frozenset()
    try:
        reset_after = node.ints.get("linear_before_reset", 0) == 1
        spec = ModelSpec(cell, n, m, steps, 1, dirs == 2, bias, reset_after, classes=0)
    except UsageError as exc:
        return None, f"{name_}: {exc}", frozenset()
    counts = onnx_count(spec, direction, names)
    if direct:
        tensors = tuple((name, shape) for d in counts.directions for name, shape in d.shapes)
    else:  # the stored tensors it is made of, as stored; the gates' own slices are not in the file
        counts = replace(counts, directions=tuple(replace(d, shapes=()) for d in counts.directions))
        tensors = tuple((name, inits[name].shape) for name in sorted(claimed, key=list(inits).index))
        if counts.recurrent_total != params:
            return None, f"{name_}: the tensors it is made of fit no {node.op_type}; counted as stored", frozenset()
    return FileLayer(name_, node.op_type, params, counts, (None, dirs, None, n), tensors), None, claimed


def read(path: Path, timesteps: int | None, batch: int) -> FileReport:
    """`params M.onnx`: the recurrent nodes in closed form, every other initializer as stored."""
    check_file(path)
    found, _ = probe.run("onnx", path)
    assert isinstance(found, probe.OnnxProbe)
    return report(path, found, timesteps, batch)


def report(path: Path, found: probe.OnnxProbe, timesteps: int | None, batch: int) -> FileReport:
    """The report of what the child found (the fuzzer calls this on its own parse, in one process)."""
    steps = DEFAULT_TIMESTEPS if timesteps is None else timesteps
    inits = {init.name: init for init in found.initializers}
    producers = {out: node for node in found.nodes for out in node.outputs}
    claimed: dict[str, FileLayer] = {}
    notes: list[str] = []
    memo: Sources = {}
    top = [node for node in found.nodes if not node.graph]
    known = frozenset(inits) | {value.name for value in found.inputs} | {out for node in top for out in node.outputs}
    for node in found.nodes:
        if node.op_type not in CELLS or node.domain not in ("", "ai.onnx"):
            continue
        try:
            layer, why, names = recurrent(node, inits, producers, steps, memo, None if node.graph else known)
        except Malformed as exc:
            raise DataError(f"{path}: {node.op_type} node {label(node)!r}: {exc}; the file is damaged, export it "
                            "again") from None  # fmt: skip
        if layer is not None and any(name in claimed for name in names):
            layer, why = None, f"{layer.name}: shares its weights with another node; counted once, as stored"
        if layer is None:
            notes.append(str(why))
            continue
        if not all(name in inits for name in node.inputs[1:4] if name):
            notes.append(f"{layer.name}: W, R, B computed in the graph (gates reordered) from {len(names)} stored "
                         "tensor(s), values unchanged; counted from those")  # fmt: skip
        for name in names:
            claimed[name] = layer
    layers: list[FileLayer] = []
    for init in found.initializers:
        if init.name in claimed:
            if claimed[init.name] not in layers:
                layers.append(claimed[init.name])
            continue
        layers.append(FileLayer(init.name, "tensor", math.prod(init.shape), None, None, ((init.name, init.shape),)))
    covered = [layer for layer in layers if layer.counts is not None]
    costs = tuple(recurrent_cost(layer.name, layer.kind, layer.counts, (steps, layer.counts.spec.output_size))
                  for layer in covered)  # type: ignore[arg-type]  # fmt: skip
    total = sum(layer.params for layer in layers)
    first = covered[0].counts.spec.input_size if covered else 0  # type: ignore[union-attr]
    memory = Memory(batch, steps, steps * first, total, costs)
    notes.append(f"ONNX ({found.producer or 'unknown producer'}, IR {found.ir_version}): read by the onnx package in a "
                 "separate process, never run; gates in ONNX's order, two bias vectors each (Wb, Rb) as PyTorch "
                 "keeps them; total = every initializer stored")  # fmt: skip
    if timesteps is None:
        notes.append(f"shapes and memory for --timesteps {steps} (give the sequence length the graph is run on)")
    return FileReport(str(path), "ONNX", "pytorch", tuple(layers), total, memory, tuple(notes))
