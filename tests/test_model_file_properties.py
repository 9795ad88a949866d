"""Property-based tests (Hypothesis) of the .h5 and ONNX readers, the archive-name check and the declared-size
check: generated files are read exactly, damaged ones refused in one line naming the file, nothing else."""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lstmcli.errors import DataError, LstmcliError
from lstmcli.model import declared, keras_archive, onnx_file, probe, reader

# Each example of the file tests starts the reader's child process (about half a second).
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FAST = settings(max_examples=300, deadline=None)


def damage(data: bytes, draw: Any) -> bytes:
    if not data or not draw(st.booleans()):  # half the files as written, half damaged
        return data
    kind = draw(st.sampled_from(["cut", "flip", "zero-run"]))
    at = draw(st.integers(0, len(data) - 1))
    if kind == "cut":
        return data[:at]
    if kind == "flip":
        out = bytearray(data)
        out[at] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    return data[:at] + bytes(draw(st.integers(1, 64))) + data[at + 64 :]


@given(name=st.text(alphabet="ab./\\:C\0", max_size=12))
@FAST
def test_a_name_that_does_not_escape_stays_inside(name: str) -> None:
    if not keras_archive.escapes(name):
        base = "/base/dir"
        landed = os.path.normpath(os.path.join(base, name.replace("\\", "/")))
        assert landed == base or landed.startswith(base + "/"), (name, landed)


@given(data=st.binary(max_size=200))
@FAST
def test_onnx_top_level_check_on_any_bytes(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("onnx") / "x.onnx"
    path.write_bytes(data)
    try:
        onnx_file.check_file(path)
    except DataError as error:
        assert str(path) in str(error) and "\n" not in str(error)


CONFIG_KEYS = ["class_name", "config", "layers", "layer", "cell", "cells", "units", "name", "batch_shape",
               "inbound_nodes", "input_dim", "output_dim", "filters", "kernel_size", "merge_mode", "keras_history",
               "shape"]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(CONFIG_KEYS), inner, max_size=5),
    max_leaves=40,
)  # fmt: skip


@given(config=json_values, stored=st.integers(0, 10**9))
@FAST
def test_declared_check_on_any_json(config: Any, stored: int) -> None:
    """Any JSON: accepted or one DataError, never another exception (the walk is bounded and typed)."""
    try:
        declared.check(config, Path("m.keras"), stored, initialisers=True)
    except DataError as error:
        assert "m.keras" in str(error) and "\n" not in str(error)
        event("refused")
    else:
        event("accepted")


# --- ONNX files made by onnx.helper --------------------------------------------------------------------------


@st.composite
def onnx_models(draw: Any) -> tuple[bytes, int, list[int]]:
    """A graph of LSTM/GRU/RNN nodes with W, R and (maybe) B initializers, and other initializers: the bytes,
    the sum of the initializers' sizes, and each node's stored parameters."""
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes, recurrent = [], [], []
    for index in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["LSTM", "GRU", "RNN"]))
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
        n, m = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        direction = draw(st.sampled_from(["forward", "reverse", "bidirectional"]))
        dirs = 2 if direction == "bidirectional" else 1
        shapes = {f"W{index}": (dirs, gates * n, m), f"R{index}": (dirs, gates * n, n)}
        if draw(st.booleans()):
            shapes[f"B{index}"] = (dirs, 2 * gates * n)
        inits += [numpy_helper.from_array(np.zeros(s, np.float32), name) for name, s in shapes.items()]
        names = list(shapes) + [""] * (3 - len(shapes))
        nodes.append(helper.make_node(op, [f"X{index}", *names], [f"Y{index}"], hidden_size=n, direction=direction,
                                      name=f"{op.lower()}{index}"))  # fmt: skip
        recurrent.append(sum(math.prod(s) for s in shapes.values()))
    for index in range(draw(st.integers(0, 3))):
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
        inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), f"other{index}"))
    inputs = [helper.make_tensor_value_info(f"X{i}", TensorProto.FLOAT, [5, 1, None]) for i in range(len(nodes))]
    outputs = [helper.make_tensor_value_info(f"Y{i}", TensorProto.FLOAT, None) for i in range(len(nodes))]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits))
    return model.SerializeToString(), sum(math.prod(t.dims) for t in inits), recurrent


@given(model=onnx_models(), data=st.data())
@SLOW
def test_onnx_property(model: tuple[bytes, int, list[int]], data: st.DataObject,
                       tmp_path_factory: pytest.TempPathFactory) -> None:  # fmt: skip
    content, total, recurrent = model
    damaged = damage(content, data.draw)
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    path.write_bytes(damaged)
    try:
        report = reader.read(path, False, None, 1)
    except LstmcliError as error:
        assert damaged != content, error
        assert str(path) in str(error) and "\n" not in str(error)
        event("refused")
        return
    event("read")
    assert report.total == sum(layer.params for layer in report.layers)
    if damaged == content:
        assert report.total == total
        assert sorted(layer.params for layer in report.covered) == sorted(recurrent)
        assert all(layer.match for layer in report.covered)


# --- HDF5 files laid out as Keras lays them out ---------------------------------------------------------------


@st.composite
def h5_models(draw: Any) -> tuple[bytes, dict[str, list[tuple[int, ...]]]]:
    import h5py

    layers = {}
    for index in range(draw(st.integers(1, 4))):
        shapes = draw(st.lists(st.lists(st.integers(0, 6), max_size=3).map(tuple), min_size=1, max_size=3))
        layers[f"layer{index}"] = shapes
    buffer = io.BytesIO()
    compression = draw(st.sampled_from([None, "gzip"]))
    with h5py.File(buffer, "w") as handle:
        handle.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
        root = handle.create_group("model_weights")
        root.attrs["layer_names"] = np.array([name.encode() for name in layers])
        for name, shapes in layers.items():
            group = root.create_group(name)
            group.attrs["weight_names"] = np.array([f"{name}/w{i}".encode() for i in range(len(shapes))])
            for i, shape in enumerate(shapes):
                chunks = compression is not None and math.prod(shape) > 0 and shape != ()
                group.create_dataset(f"{name}/w{i}", data=np.ones(shape, np.float32),
                                     compression=compression if chunks else None)  # fmt: skip
    return buffer.getvalue(), layers


@given(model=h5_models(), data=st.data())
@SLOW
def test_h5_probe_property(model: tuple[bytes, dict[str, Any]], data: st.DataObject,
                           tmp_path_factory: pytest.TempPathFactory) -> None:  # fmt: skip
    """The child reads every shape exactly as written; a damaged file is read or refused in one line."""
    content, layers = model
    damaged = damage(content, data.draw)
    path = tmp_path_factory.mktemp("h5") / "m.h5"
    path.write_bytes(damaged)
    try:
        found, arrays = probe.run("h5", path, weights=True)
    except LstmcliError as error:
        assert damaged != content, error
        assert str(path) in str(error) and "\n" not in str(error)
        event("refused")
        return
    event("read")
    assert isinstance(found, probe.H5Probe)
    assert [a.shape for a in arrays] == [w.shape for layer in found.layers for w in layer.weights]
    if damaged == content:
        assert {layer.name: [w.shape for w in layer.weights] for layer in found.layers} == layers
        assert all(np.all(a == 1) for a in arrays)
