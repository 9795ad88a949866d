"""`params M.onnx`: ONNX files exported here by torch.onnx.export from nn.LSTM/GRU/RNN, read back without running.

Each total must equal the sum of the file's initializers (read here with the onnx package, independently of
lstmcli), each per-gate row the closed form of the equivalent spec, and each gate figure the same as `params`
on the module's own state dict.
"""

from __future__ import annotations

import json
import math
import random
import warnings
from pathlib import Path
from typing import Any

import pytest

from lstmcli import inspection
from lstmcli.cli import main
from lstmcli.errors import DataError, UsageError
from lstmcli.model import onnx_file, reader
from lstmcli.model.count import count
from lstmcli.model.spec import ModelSpec

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from conftest import refused  # noqa: E402

# (cell, input, hidden, layers, bidirectional, bias, exporter): the TorchScript exporter writes every cell as
# its ONNX operator; the default (dynamo) exporter writes LSTM and GRU so, with the weights in FILE.onnx.data.
CASES = [
    ("lstm", 4, 5, 1, False, True, "torchscript"),
    ("lstm", 6, 3, 2, True, True, "torchscript"),
    ("gru", 5, 4, 1, True, True, "torchscript"),
    ("gru", 3, 6, 2, False, False, "torchscript"),
    ("rnn", 4, 3, 1, False, True, "torchscript"),
    ("rnn", 2, 4, 3, True, False, "torchscript"),
    ("lstm", 4, 5, 2, True, True, "dynamo"),
    ("gru", 3, 2, 1, False, True, "dynamo"),
]
MODULES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def case_id(case: tuple) -> str:
    cell, _, _, layers, bi, bias, exporter = case
    return f"{cell}-L{layers}-{'bi' if bi else 'uni'}-{'bias' if bias else 'nobias'}-{exporter}"


def export(case: tuple, path: Path) -> Any:
    cell, inp, hidden, layers, bi, bias, exporter = case
    module = getattr(torch.nn, MODULES[cell])(inp, hidden, num_layers=layers, bidirectional=bi, bias=bias,
                                              batch_first=True)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(2, 7, inp),), str(path), dynamo=exporter == "dynamo", verbose=False)
    return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    folder = tmp_path_factory.mktemp("onnx")
    return {case_id(case): (export(case, folder / f"{case_id(case)}.onnx"), folder / f"{case_id(case)}.onnx")
            for case in CASES}  # fmt: skip


def initializer_total(path: Path) -> int:
    model = onnx.load(str(path), load_external_data=False)
    return sum(math.prod(t.dims) for t in model.graph.initializer)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_onnx_totals_and_gates(exported: dict[str, tuple[Any, Path]], case: tuple, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    cell, inp, hidden, layers, bi, bias, _ = case
    module, path = exported[case_id(case)]
    report = reader.read(path, False, 7, 2)
    assert report.framework == "ONNX"
    assert report.total == initializer_total(path)
    assert len(report.covered) == layers  # one ONNX node per stacked layer
    assert sum(layer.params for layer in report.covered) == sum(p.numel() for p in module.parameters())
    inspection.judge(report)
    # The closed form of the equivalent spec, gate by gate (ONNX's gate order, the same figures).
    spec = ModelSpec(cell, hidden, inp, 7, layers, bi, bias, True, classes=0)
    expected = count(spec, "pytorch").directions
    got = [d for layer in report.covered for d in layer.counts.directions]
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert {g.gate: g for g in mine.gates} == {g.gate: g for g in theirs.gates}
        assert [g.gate for g in mine.gates] == list(onnx_file.ORDER[cell])
    # ... and the same figures as `params` on the module's state dict.
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp_path / "state.safetensors"))
    state = reader.read(tmp_path / "state.safetensors", False, 7, 2)
    from_state = [d for d in state.covered[0].counts.directions]
    for mine, theirs in zip(got, from_state, strict=True):
        assert {g.gate: g.total for g in mine.gates} == {g.gate: g.total for g in theirs.gates}
        assert (mine.input_size, mine.units, mine.total) == (theirs.input_size, theirs.units, theirs.total)
    assert report.memory.macs == state.memory.macs


def test_onnx_cli_json_and_memory(exported: dict[str, tuple[Any, Path]], capsys: pytest.CaptureFixture[str]) -> None:
    _, path = exported["lstm-L2-bi-bias-torchscript"]
    assert main(["params", str(path), "--format", "json", "--batch-size", "16", "--timesteps", "30"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)
    assert data["framework"] == "ONNX" and data["match"] is True
    assert data["memory"]["batch"] == 16 and data["memory"]["timesteps"] == 30
    first = next(layer for layer in data["layers"] if layer["recurrent"])
    assert first["recurrent"]["bidirectional"] is True and first["recurrent"]["input_size"] == 6


def test_gru_linear_before_reset_is_reset_after(tmp_path: Path) -> None:
    """An ONNX GRU with linear_before_reset=0 (what tf2onnx writes for Keras's reset_after=False): still two
    bias vectors per gate in B, and reset_after False in the spec."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    n, m = 3, 2
    inits = [numpy_helper.from_array(np.zeros(shape, np.float32), name)
             for name, shape in (("W", (1, 3 * n, m)), ("R", (1, 3 * n, n)), ("B", (1, 6 * n)))]  # fmt: skip
    node = helper.make_node("GRU", ["X", "W", "R", "B"], ["Y"], hidden_size=n, linear_before_reset=0, name="gru")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, m])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)  # fmt: skip
    onnx.save(helper.make_model(graph), tmp_path / "gru.onnx")
    [layer] = reader.read(tmp_path / "gru.onnx", False, None, 1).covered
    assert layer.counts.spec.reset_after is False and layer.params == layer.closed_form == 3 * (n * m + n * n + 2 * n)


# --- damaged and forged ------------------------------------------------------------------------------------------


def test_damaged_onnx_files(exported: dict[str, tuple[Any, Path]], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    good = exported["lstm-L1-uni-bias-torchscript"][1].read_bytes()
    cases = {
        "truncated.onnx": good[: len(good) // 2],
        "text.onnx": b"not a model at all",
        "empty.onnx": b"",
        "zip.onnx": b"PK\x03\x04" + bytes(64),
        "hdf5.onnx": b"\x89HDF\r\n\x1a\n" + bytes(64),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        err = refused(["params", str(tmp_path / name)], capsys)
        assert name in err and ("not an ONNX model" in err or "not a readable ONNX" in err), err


def test_bit_flipped_onnx(exported: dict[str, tuple[Any, Path]], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    good = exported["gru-L1-bi-bias-torchscript"][1].read_bytes()
    rng = random.Random(2019)
    refusals = 0
    for case in range(16):
        damaged = bytearray(good)
        for _ in range(rng.choice((1, 3, 10))):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        path = tmp_path / f"flip{case}.onnx"
        path.write_bytes(bytes(damaged))
        code = main(["params", str(path), "--format", "json"])
        _, err = capsys.readouterr()
        assert code in (0, 1, 2) and "Traceback" not in err, err
        if code == 2:
            assert err.count("\n") == 1 and str(path) in err, err
            refusals += 1
    assert refusals > 0


def forged(tmp_path: Path, name: str, change: Any) -> Path:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((1, 4, 2), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, 4, 1), np.float32), "R")
    change(w)
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3, 1, 2])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [w, r])  # fmt: skip
    path = tmp_path / name
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def test_oversized_declared_initializer(tmp_path: Path) -> None:
    """dims of 10^6 x 10^6 over 32 bytes of data: refused before anything allocates it."""

    def huge(w: Any) -> None:
        del w.dims[:]
        w.dims.extend([1, 10**6, 10**6])

    path = forged(tmp_path, "huge.onnx", huge)
    assert path.stat().st_size < 1000
    with pytest.raises(DataError, match="declares shape"):
        reader.read(path, False, None, 1)


def test_external_data_outside_the_folder(tmp_path: Path) -> None:
    def outside(w: Any) -> None:
        w.ClearField("raw_data")
        w.data_location = 1
        for key, value in (("location", "../../etc/passwd"), ("offset", "0"), ("length", "32")):
            w.external_data.add(key=key, value=value)

    with pytest.raises(DataError, match="outside the model's folder"):
        reader.read(forged(tmp_path, "outside.onnx", outside), False, None, 1)


def test_external_data_too_short(tmp_path: Path) -> None:
    (tmp_path / "w.data").write_bytes(bytes(8))

    def short(w: Any) -> None:
        w.ClearField("raw_data")
        w.data_location = 1
        w.external_data.add(key="location", value="w.data")

    with pytest.raises(DataError, match="declares 32 bytes"):
        reader.read(forged(tmp_path, "short.onnx", short), False, None, 1)


def test_without_onnx_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    with pytest.raises(UsageError, match=r"pip install 'lstmcli\[onnx\]'"):
        reader.read(tmp_path / "m.onnx", False, None, 1)


def test_lstm_inside_a_module_default_exporter(tmp_path: Path) -> None:
    """The usual case: the LSTM is a submodule, and the default exporter keeps PyTorch's weight_hh_l0... as
    initializers and reorders their gates in the graph (Slice, Concat): counted from the stored tensors."""

    class Tagger(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
            self.head = torch.nn.Linear(10, 3)

        def forward(self, x: Any) -> Any:
            return self.head(self.lstm(x)[0][:, -1])

    model = Tagger()
    path = tmp_path / "tagger.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 7, 6),), str(path))
    report = reader.read(path, False, 7, 1)
    assert report.total == initializer_total(path)
    assert [layer.params for layer in report.covered] == [2 * 4 * 5 * (6 + 5 + 2), 2 * 4 * 5 * (10 + 5 + 2)]
    assert sum(layer.params for layer in report.covered) == sum(p.numel() for p in model.lstm.parameters())
    assert [layer.counts.spec.input_size for layer in report.covered] == [6, 10]
    inspection.judge(report)


def test_tf2onnx_from_a_keras2_model(tmp_path: Path) -> None:
    """tf2onnx writes a Keras LSTM as the ONNX LSTM operator, with B holding Keras's bias and a zero Rb: the
    PyTorch convention's count, g*n more than Keras's count_params() of the layer; every initializer counted
    (those of the Loop body it writes for a GRU too)."""
    tf2onnx = pytest.importorskip("tf2onnx")
    from lstmcli import runtime

    runtime.tensorflow()
    import tensorflow as tf
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((7, 5)), tf_keras.layers.LSTM(4, return_sequences=True),
                                 tf_keras.layers.GRU(3, reset_after=False), tf_keras.layers.Dense(2)])  # fmt: skip
    path = tmp_path / "keras.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=(tf.TensorSpec((None, 7, 5), tf.float32),))
    path.write_bytes(proto.SerializeToString())
    report = reader.read(path, False, None, 1)

    def every_initializer(graph: Any) -> int:
        inner = [every_initializer(a.g) for node in graph.node for a in node.attribute if a.type == a.GRAPH]
        return sum(math.prod(t.dims) for t in graph.initializer) + sum(inner)

    assert report.total == every_initializer(onnx.load(str(path)).graph)
    [lstm] = report.covered
    assert lstm.params == model.layers[0].count_params() + 4 * 4 == lstm.closed_form
    assert (lstm.counts.spec.units, lstm.counts.spec.input_size) == (4, 5)


def malformed(tmp_path: Path, name: str, op: str = "LSTM", inputs: tuple[str, ...] = ("X", "W", "R", "B"),
              shapes: dict[str, tuple[int, ...]] | None = None, **attributes: Any) -> Path:  # fmt: skip
    """One recurrent node of hidden_size 2 (unless `attributes` say otherwise) over stored W, R, B."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = len(onnx_file.ORDER[onnx_file.CELLS[op]])
    shapes = shapes or {"W": (1, 2 * g, 3), "R": (1, 2 * g, 2), "B": (1, 4 * g)}
    inits = [numpy_helper.from_array(np.zeros(shape, np.float32), key) for key, shape in shapes.items()]
    attributes = {k: v for k, v in ({"hidden_size": 2} | attributes).items() if v is not None}  # None: left out
    node = helper.make_node(op, list(inputs), ["Y"], name="rec", **attributes)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)  # fmt: skip
    path = tmp_path / name
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def test_well_formed_node_is_counted(tmp_path: Path) -> None:
    """The baseline of the damaged variants below: the same file undamaged reads as one covered LSTM."""
    [layer] = reader.read(malformed(tmp_path, "good.onnx"), False, None, 1).covered
    assert layer.params == layer.closed_form == 4 * 2 * (3 + 2 + 2)


@pytest.mark.parametrize(
    ("variant", "change", "says"),
    [
        ("no-W", {"inputs": ("X", "", "R", "B")}, "has no W"),
        ("no-R", {"inputs": ("X", "W")}, "has no R"),
        ("W-names-nothing", {"inputs": ("X", "W_gone", "R", "B")}, "'W_gone' names no initializer"),
        ("B-names-nothing", {"inputs": ("X", "W", "R", "nothing")}, "'nothing' names no initializer"),
        ("X-names-nothing", {"inputs": ("Z", "W", "R", "B")}, "'Z' names no initializer"),
        ("no-hidden-size", {"hidden_size": None}, "no hidden_size attribute"),
        ("hidden-size-0", {"hidden_size": 0}, "hidden_size 0"),
        ("hidden-size-inconsistent", {"hidden_size": 3}, "its W 'W' is float32 (1, 8, 3), where hidden_size 3"),
        ("bad-direction", {"direction": "sideways"}, "direction 'sideways'"),
        ("bidirectional-one-direction", {"direction": "bidirectional"}, "make it floats of shape (2, 8, m)"),
        ("R-rank-2", {"shapes": {"W": (1, 8, 3), "R": (8, 2), "B": (1, 16)}}, "its R 'R' is float32 (8, 2)"),
        ("W-width-0", {"shapes": {"W": (1, 8, 0), "R": (1, 8, 2), "B": (1, 16)}}, "(1, 8, 0)"),
        ("B-short", {"shapes": {"W": (1, 8, 3), "R": (1, 8, 2), "B": (1, 8)}}, "its B 'B' is float32 (1, 8)"),
        ("GRU-with-LSTM-shapes", {"op": "GRU", "shapes": {"W": (1, 8, 3), "R": (1, 8, 2), "B": (1, 16)}},
         "make it floats of shape (1, 6, m)"),
    ],
)
def test_malformed_recurrent_node_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], variant: str,
                                          change: dict[str, Any], says: str) -> None:  # fmt: skip
    """A node the operator's definition refuses is damage: one line naming the node and what is wrong, exit 2,
    never a report whose total silently leaves the layer out."""
    attributes = {k: v for k, v in change.items() if k not in ("op", "inputs", "shapes")}
    path = malformed(tmp_path, f"{variant}.onnx", change.get("op", "LSTM"), change.get("inputs", ("X", "W", "R", "B")),
                     change.get("shapes"), **attributes)  # fmt: skip
    err = refused(["params", str(path)], capsys)
    assert str(path) in err and "node 'rec'" in err and says in err and "damaged" in err, err
