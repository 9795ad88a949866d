"""`params MODEL`: saved Keras models and PyTorch state dicts read back, layer by layer, against the frameworks.

Keras: a zoo of models built here (every recurrent layer kind and option, Bidirectional, stacks, mixed with
Dense, Embedding, Conv1D, Dropout, TimeDistributed...), saved as .keras and read back; the total must be the
original model's count_params() and each recurrent layer's closed form its own count_params(). PyTorch: real
torch modules' state dicts as .pt and .safetensors (skipped without torch), and state dicts written as
.safetensors from NumPy alone (no torch), with shapes laid out by PyTorch's documented rule written here
independently of lstmcli's closed form.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import refused
from typer.testing import CliRunner

from lstmcli import inspection
from lstmcli.cli import app, main
from lstmcli.errors import DataError, UsageError
from lstmcli.model import reader

runner = CliRunner()


# --- Keras: the zoo ---------------------------------------------------------------------------------------------


def zoo() -> dict[str, tuple[Callable[[Any], Any], int]]:
    """name -> (build(keras) -> model, how many of its layers the closed form must cover)."""

    def seq(*layers: Any, shape: tuple = (6, 4), dtype: str = "float32") -> Callable[[Any], Any]:
        def build(keras: Any) -> Any:
            return keras.Sequential([keras.Input(shape=shape, dtype=dtype), *[make(keras) for make in layers]])

        return build

    L = lambda name, *a, **k: lambda keras: getattr(keras.layers, name)(*a, **k)  # noqa: E731
    bi = lambda inner, **k: lambda keras: keras.layers.Bidirectional(inner(keras), **k)  # noqa: E731
    td = lambda inner: lambda keras: keras.layers.TimeDistributed(inner(keras))  # noqa: E731
    cell_rnn = lambda cell, *a, **k: lambda keras: keras.layers.RNN(getattr(keras.layers, cell)(*a, **k))  # noqa: E731

    def two_branches(keras: Any) -> Any:
        x = keras.Input(shape=(5, 3))
        merged = keras.layers.Concatenate()([keras.layers.LSTM(3)(x), keras.layers.GRU(2, reset_after=False)(x)])
        return keras.Model(x, keras.layers.Dense(2)(merged))

    def with_state(keras: Any) -> Any:
        x = keras.Input(shape=(5, 3))
        out, _h, c = keras.layers.LSTM(4, return_state=True)(x)
        return keras.Model(x, keras.layers.Dense(2)(keras.layers.Concatenate()([out, c])))

    stacked_cells = lambda keras: keras.layers.RNN(  # noqa: E731
        keras.layers.StackedRNNCells([keras.layers.LSTMCell(3), keras.layers.GRUCell(2)])
    )
    return {
        "lstm": (seq(L("LSTM", 5), L("Dense", 3)), 1),
        "gru-reset-after": (seq(L("GRU", 4), L("Dense", 3)), 1),
        "gru-reset-before": (seq(L("GRU", 4, reset_after=False), L("Dense", 3)), 1),
        "simplernn-no-bias": (seq(L("SimpleRNN", 3, use_bias=False)), 1),
        "lstm-stack-no-bias": (seq(L("LSTM", 4, use_bias=False, return_sequences=True), L("LSTM", 3)), 2),
        "bi-lstm": (seq(bi(L("LSTM", 4)), L("Dense", 3)), 1),
        "bi-gru-before-sum": (seq(bi(L("GRU", 3, reset_after=False), merge_mode="sum"), L("Dense", 2)), 1),
        "bi-simplernn-ave": (seq(bi(L("SimpleRNN", 2, return_sequences=True), merge_mode="ave")), 1),
        "stack-of-three": (
            seq(bi(L("GRU", 4, return_sequences=True)), L("LSTM", 5, return_sequences=True), L("SimpleRNN", 3)),
            3,
        ),
        "embedding-lstm": (seq(L("Embedding", 50, 8), L("LSTM", 6), L("Dense", 4), shape=(7,), dtype="int32"), 1),
        "conv1d-gru-open-length": (seq(L("Conv1D", 6, 3), L("GRU", 5), L("Dense", 2), shape=(None, 4)), 1),
        "dropout-timedistributed": (
            seq(L("LSTM", 4, return_sequences=True), L("Dropout", 0.5), td(L("Dense", 3))),
            1,
        ),
        "rnn-lstmcell": (seq(cell_rnn("LSTMCell", 4), L("Dense", 2)), 1),
        "rnn-grucell-before": (seq(cell_rnn("GRUCell", 3, reset_after=False)), 1),
        "stacked-cells-not-covered": (seq(stacked_cells, L("Dense", 2)), 0),
        "two-branches": (two_branches, 2),
        "return-state": (with_state, 1),
        "dense-norm-lstm": (seq(L("Dense", 5), L("LayerNormalization"), L("BatchNormalization"), L("LSTM", 4)), 1),
        "bi-gru-stack-dense": (
            seq(bi(L("GRU", 3, return_sequences=True)), bi(L("LSTM", 2, use_bias=False)), L("Dense", 4)),
            2,
        ),
    }


ZOO = zoo()


@pytest.fixture(scope="module")
def keras_zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path, int]]:
    """Every zoo model built and saved: name -> (the original model, its .keras file, layers to cover)."""
    from lstmcli import runtime

    runtime.tensorflow()
    import keras

    folder = tmp_path_factory.mktemp("zoo")
    built = {}
    for name, (build, covered) in ZOO.items():
        model = build(keras)
        model.save(folder / f"{name}.keras")
        built[name] = (model, folder / f"{name}.keras", covered)
    return built


def test_zoo_is_big_enough() -> None:
    assert len(ZOO) >= 15


@pytest.mark.parametrize("name", list(ZOO))
def test_keras_file_counts_equal_count_params(keras_zoo: dict[str, tuple[Any, Path, int]], name: str) -> None:
    model, path, covered = keras_zoo[name]
    report = reader.read(path, False, None, 3)
    assert report.framework == "Keras"
    assert report.total == model.count_params()
    assert sum(layer.params for layer in report.layers) == report.total  # the rows partition the count
    assert len(report.covered) == covered
    for layer in report.layers:
        assert layer.params == model.get_layer(layer.name).count_params(), layer.name
    for layer in report.covered:
        assert layer.closed_form == model.get_layer(layer.name).count_params(), layer.name
        # The closed form's predicted shapes are the saved weights' shapes, in order.
        predicted = [shape for d in layer.counts.directions for _, shape in d.shapes]
        assert predicted == [shape for _, shape in layer.tensors], layer.name
    assert report.mismatches == ()
    inspection.judge(report)


@pytest.mark.parametrize("head", ["classify", "regress", "sequence"])
def test_spec_memory_equals_the_saved_model_read_back(tmp_path: Path, head: str) -> None:
    """Each head's shapes, mult-adds and memory from the spec alone equal what the file reader measures on the
    factory's model saved to disk (Keras's own output shapes, the Dense kernel times the positions it meets)."""
    pytest.importorskip("keras")
    from lstmcli.model.count import count
    from lstmcli.model.factory import build_model
    from lstmcli.model.memory import spec_memory
    from lstmcli.model.spec import ModelSpec

    spec = ModelSpec(units=5, input_size=3, timesteps=7, layers=2, bidirectional=True, classes=4, head=head)
    path = tmp_path / "model.keras"
    build_model(spec, cheap=True).save(path)
    read_back = reader.read(path, False, None, 3).memory
    predicted = spec_memory(count(spec), 3)
    assert [c.output for c in predicted.layers] == [c.output for c in read_back.layers]
    assert [c.macs for c in predicted.layers] == [c.macs for c in read_back.layers]
    for figure in ("params", "activation_bytes", "kept_bytes", "training_bytes", "macs", "torchinfo_macs"):
        assert getattr(predicted, figure) == getattr(read_back, figure), figure


def test_memory_shapes_are_what_keras_computes(keras_zoo: dict[str, tuple[Any, Path, int]]) -> None:
    """An open time axis filled with --timesteps 9: each layer's shape as Keras really produces it (a valid
    Conv1D shortens the sequence to 7), and the GRU's mult-adds are counted over those 7 steps."""
    import keras

    model, path, _ = keras_zoo["conv1d-gru-open-length"]
    report = reader.read(path, False, 9, 2)
    probe = keras.Model(model.inputs, [model.get_layer(c.name).output for c in report.memory.layers])
    real = [tuple(a.shape) for a in probe(np.zeros((2, 9, 4), dtype="float32"))]
    assert real == [(2, *c.output) for c in report.memory.layers]
    gru = next(c for c in report.memory.layers if c.kind == "GRU")
    assert gru.macs == 7 * 3 * 5 * (6 + 5)
    assert report.memory.input_elements == 9 * 4
    assert any("any length" in note for note in report.notes)


def test_fixed_length_model_refuses_another_timesteps(keras_zoo: dict[str, tuple[Any, Path, int]]) -> None:
    _, path, _ = keras_zoo["lstm"]
    with pytest.raises(UsageError, match="sequences of 6 steps"):
        reader.read(path, False, 9, 1)


def test_cli_json_for_a_run_folder(trained_run: Path) -> None:
    import keras

    done = runner.invoke(app, ["params", str(trained_run), "--format", "json", "--batch-size", "50"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    model = keras.saving.load_model(trained_run / "model.keras", compile=False)
    assert data["schema_version"] == 1
    assert data["total"] == model.count_params() == 31_960
    assert data["match"] is True
    lstm = next(layer for layer in data["layers"] if layer["counted_by"] == "closed form")
    assert lstm["closed_form"] == lstm["params"] == 31_200
    assert [g["total"] for g in lstm["recurrent"]["directions"][0]["gates"]] == [7_800] * 4
    memory = data["memory"]
    assert memory["batch"] == 50 and memory["timesteps"] == 28
    assert memory["weights_bytes"] == 4 * 31_960
    assert memory["training_bytes"] == 4 * memory["weights_bytes"] + memory["kept_bytes"]
    assert memory["macs"] == 50 * 865_950  # the same figure `params --units 75 --input 28` gives per sample
    assert memory["torchinfo_macs"] == 50 * 882_760  # docs/lstm.md: torchinfo's figure for the same model
    assert memory["layers"][0]["output_shape"] == [50, 75]


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_cli_table_and_markdown(keras_zoo: dict[str, tuple[Any, Path, int]], fmt: str) -> None:
    _, path, _ = keras_zoo["bi-gru-before-sum"]
    done = runner.invoke(app, ["params", str(path), "--format", fmt])
    assert done.exit_code == 0, done.output
    out = done.stdout
    for text in ("Bidirectional(GRU)", "closed form = count_params()", "forward", "backward", "update", "torchinfo"):
        assert text in out, text
    assert "each equals its layer's count_params()" in out


def test_model_file_with_spec_options_is_refused(
    keras_zoo: dict[str, tuple[Any, Path, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, path, _ = keras_zoo["lstm"]
    assert main(["params", str(path), "--units", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--units" in err and "do not apply" in err


# --- PyTorch state dicts ----------------------------------------------------------------------------------------


def torch_shapes(cell: str, inp: int, hidden: int, layers: int, bi: bool, bias: bool, proj: int) -> dict[str, tuple]:
    """torch.nn.LSTM/GRU/RNN's parameters by PyTorch's documented rule (not by lstmcli's closed form)."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    out = {}
    for k in range(layers):
        width = inp if k == 0 else (proj or hidden) * (2 if bi else 1)
        for suffix in ("", "_reverse") if bi else ("",):
            out[f"weight_ih_l{k}{suffix}"] = (gates * hidden, width)
            out[f"weight_hh_l{k}{suffix}"] = (gates * hidden, proj or hidden)
            if bias:
                out[f"bias_ih_l{k}{suffix}"] = (gates * hidden,)
                out[f"bias_hh_l{k}{suffix}"] = (gates * hidden,)
            if proj:
                out[f"weight_hr_l{k}{suffix}"] = (proj, hidden)
    return out


# (prefix, cell, input, hidden, layers, bidirectional, bias, proj_size)
TORCH_ZOO = [
    ("", "lstm", 28, 75, 1, False, True, 0),
    ("rnn.", "gru", 5, 7, 2, False, True, 0),
    ("encoder.layer.", "rnn", 3, 4, 3, True, True, 0),
    ("lstm.", "lstm", 8, 16, 2, True, True, 5),
    ("lstm.", "lstm", 6, 9, 1, False, False, 4),
    ("gru.", "gru", 1, 1, 1, True, False, 0),
    ("body.rnn.", "rnn", 10, 2, 4, False, False, 0),
    ("decoder.", "lstm", 4, 3, 3, True, True, 2),
]
OTHERS = {"embedding.weight": (100, 8), "head.weight": (3, 12), "head.bias": (3,), "bn.num_batches_tracked": ()}


def expected_group(case: tuple) -> dict[str, Any]:
    _prefix, cell, inp, hidden, layers, bi, bias, proj = case
    return {"cell": cell, "input_size": inp, "units": hidden, "layers": layers, "bidirectional": bi,
            "use_bias": bias, "proj_size": proj}  # fmt: skip


def write_numpy_safetensors(path: Path, case: tuple) -> dict[str, tuple]:
    from safetensors.numpy import save_file

    prefix, *sizes = case
    shapes = {prefix + name: shape for name, shape in torch_shapes(*sizes).items()} | OTHERS
    save_file({name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()}, str(path))
    return shapes


def check_report(report: reader.FileReport, case: tuple, shapes: dict[str, tuple]) -> None:
    assert report.framework == "PyTorch"
    assert report.total == sum(math.prod(s) for s in shapes.values())
    [group] = report.covered
    spec = group.counts.spec
    assert {k: getattr(spec, k) for k in expected_group(case)} == expected_group(case)
    stored = sum(math.prod(s) for name, s in shapes.items() if name not in OTHERS)
    assert group.params == group.closed_form == stored
    assert sorted(layer.name for layer in report.layers if layer.counts is None) == sorted(OTHERS)
    inspection.judge(report)


@pytest.mark.parametrize("case", TORCH_ZOO, ids=lambda c: f"{c[1]}-L{c[4]}-{'bi' if c[5] else 'uni'}-p{c[7]}")
def test_safetensors_without_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: tuple) -> None:
    """No torch in the process: a None entry in sys.modules makes `import torch` fail."""
    monkeypatch.setitem(sys.modules, "torch", None)
    path = tmp_path / "model.safetensors"
    shapes = write_numpy_safetensors(path, case)
    check_report(reader.read(path, False, None, 1), case, shapes)


@pytest.mark.parametrize("case", TORCH_ZOO, ids=lambda c: f"{c[1]}-L{c[4]}-{'bi' if c[5] else 'uni'}-p{c[7]}")
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_real_torch_state_dicts(tmp_path: Path, case: tuple, suffix: str) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    prefix, cell, inp, hidden, layers, bi, bias, proj = case
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    extra = {"proj_size": proj} if proj else {}
    rnn = module(inp, hidden, num_layers=layers, bidirectional=bi, bias=bias, batch_first=True, **extra)
    state = {prefix + name: p.detach() for name, p in rnn.state_dict().items()}
    state |= {name: torch.zeros(shape) for name, shape in OTHERS.items()}
    path = tmp_path / f"model{suffix}"
    if suffix == ".pt":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    shapes = {name: tuple(t.shape) for name, t in state.items()}
    assert shapes == {prefix + n: s for n, s in torch_shapes(*case[1:]).items()} | OTHERS  # the rule is PyTorch's
    report = reader.read(path, False, 11, 1)
    check_report(report, case, shapes)
    assert report.covered[0].counts.total == sum(p.numel() for p in rnn.parameters())
    assert report.memory.timesteps == 11


def test_nested_pt_checkpoint_is_flattened(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    rnn = torch.nn.GRU(3, 4)
    torch.save({"model": rnn.state_dict(), "epoch": 7}, tmp_path / "ckpt.pt")
    report = reader.read(tmp_path / "ckpt.pt", False, None, 1)
    assert report.covered[0].name == "model"
    assert report.total == sum(p.numel() for p in rnn.parameters())


class OpensAFile:
    """Pickles to a call of open(marker, "w"): unpickling it creates the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def test_pickle_carrying_pt_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "code-ran"
    path = tmp_path / "hostile.pt"
    torch.save({"lstm.weight_ih_l0": torch.zeros(4, 2), "payload": OpensAFile(marker)}, path)
    assert main(["params", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused" in err and "weights_only" in err, err
    assert not marker.exists()
    # The payload is real: unpickling without weights_only runs it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_pt_without_torch_says_how_to_read_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    (tmp_path / "w.pt").write_bytes(b"PK\x03\x04whatever")
    with pytest.raises(UsageError, match="needs PyTorch"):
        reader.read(tmp_path / "w.pt", False, None, 1)


def test_shapes_that_fit_no_module_are_not_claimed(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"x.weight_ih_l0": np.zeros((10, 3), np.float32), "x.weight_hh_l0": np.zeros((10, 4), np.float32)},
              str(tmp_path / "odd.safetensors"))  # fmt: skip
    report = reader.read(tmp_path / "odd.safetensors", False, None, 1)
    assert report.covered == () and report.total == 70
    assert any("fit none" in note for note in report.notes)


def test_tensor_names_are_shown_as_written_not_as_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tensor named like Rich markup is text: the table shows `[bold]head.weight`, not a bold `head.weight`."""
    from safetensors.numpy import save_file

    tensors = {"rnn.weight_ih_l0": np.zeros((32, 4), np.float32), "rnn.weight_hh_l0": np.zeros((32, 8), np.float32),
               "rnn.bias_ih_l0": np.zeros(32, np.float32), "rnn.bias_hh_l0": np.zeros(32, np.float32),
               "[bold]head.weight": np.zeros((10, 8), np.float32)}  # fmt: skip
    monkeypatch.chdir(tmp_path)  # a short relative name: the table title does not wrap
    save_file(tensors, "[x]w.safetensors")
    assert main(["params", "[x]w.safetensors"]) == 0
    out = capsys.readouterr().out
    assert "[bold]head.weight" in out and "[x]w.safetensors" in out


# --- damaged files: one line, exit 2 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory, keras_zoo: dict[str, tuple[Any, Path, int]]) -> dict[str, Path]:
    from safetensors.numpy import save_file

    folder = tmp_path_factory.mktemp("damaged")
    good = keras_zoo["lstm"][1].read_bytes()
    (folder / "truncated.keras").write_bytes(good[: len(good) // 2])
    save_file({"a": np.zeros((4, 4), np.float32)}, str(folder / "good.safetensors"))
    raw = (folder / "good.safetensors").read_bytes()
    (folder / "truncated.safetensors").write_bytes(raw[:-10])
    (folder / "text.safetensors").write_text("not a tensor file at all")
    (folder / "garbage.pt").write_bytes(b"\x80\x04garbage that is no pickle")
    (folder / "empty.pth").write_bytes(b"")
    (folder / "weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    return {p.name: p for p in folder.iterdir() if p.name != "good.safetensors"}


@pytest.mark.parametrize(
    ("name", "needs_torch"),
    [("truncated.keras", False), ("truncated.safetensors", False), ("text.safetensors", False),
     ("garbage.pt", True), ("empty.pth", True), ("weights.h5", False), ("missing.safetensors", False)],
)  # fmt: skip
def test_damaged_file_is_one_line_and_exit_2(
    damaged: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, needs_torch: bool
) -> None:
    if needs_torch:
        pytest.importorskip("torch")
    path = damaged.get(name, tmp_path / name)
    assert main(["params", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("lstmcli: error:"), captured.err
    assert str(path) in captured.err and "Traceback" not in captured.err


def test_damaged_files_raise_data_error(damaged: dict[str, Path]) -> None:
    for name in ("truncated.safetensors", "text.safetensors"):
        with pytest.raises(DataError, match=r"not a readable \.safetensors"):
            reader.read(damaged[name], False, None, 1)


@pytest.mark.parametrize(("name", "folder"), [("gone", False), ("weights.bin", False), ("gone.keras", False),
                                              ("run.v2", True)])  # fmt: skip
def test_a_path_params_cannot_read_names_every_format_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, folder: bool
) -> None:
    """Missing, or named for no reader: the line lists every suffix `params` reads (lstmcli.model.reader.SUFFIXES),
    and a run folder with a dot in its name is still read as a folder (here: one that is not a run)."""
    path = tmp_path / name
    if folder:
        path.mkdir()
    elif name == "weights.bin":
        path.write_bytes(b"\x89HDF\r\n\x1a\n")
    err = refused(["params", str(path)], capsys)
    assert str(path) in err, err
    if folder:
        assert "not a lstmcli run" in err, err
    else:
        formats = ".keras, .h5, .hdf5" + ("" if name.endswith(".keras") else ", .onnx, .safetensors, .pt, .pth")
        assert f"give a run directory or a model file ({formats})" in err, err
