"""Nothing lstmcli reads is executed: .keras files carrying code are refused unless --unsafe, pickles never load.

Each hostile file here really carries code: its payload creates a marker file when run. The tests show
the payload runs when the protection is switched off (--unsafe, allow_pickle=True) and never otherwise.
"""

from __future__ import annotations

import ast
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import mnist_slice

from lstmcli import cli, rundir
from lstmcli.errors import DataError
from lstmcli.rundir import RunFolder

PACKAGE = Path(__file__).resolve().parents[1] / "lstmcli"


class OpensAFile:
    """Pickles to a call of open(marker, "w"): unpickling it creates the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


@pytest.fixture(scope="module")
def data_7x7(tmp_path_factory: pytest.TempPathFactory, mnist_arrays: dict[str, np.ndarray]) -> Path:
    path = tmp_path_factory.mktemp("data") / "7x7.npz"
    np.savez(path, **mnist_slice(mnist_arrays, 50, 30, stride=4))
    return path


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 7x7 classifier whose Lambda layer writes a marker file whenever its code runs."""
    from lstmcli import runtime

    runtime.tensorflow()
    import keras

    folder = tmp_path_factory.mktemp("lambda")
    marker = folder / "code-ran"
    # The path is a constant inside the function's code (Keras saves the bytecode; default arguments do not
    # survive its round trip), so the payload is self-contained, as a hostile file's would be.
    payload = eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")
    model = keras.Sequential(
        [
            keras.Input(shape=(7, 7)),
            keras.layers.Lambda(payload, name="payload"),
            keras.layers.SimpleRNN(4),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    path = folder / "payload.keras"
    model.save(path)
    marker.unlink(missing_ok=True)  # building the model ran the lambda once
    return path, marker


def one_line(err: str) -> None:
    assert err.count("\n") == 1 and err.startswith("lstmcli: error: ") and "Traceback" not in err, err


def test_lambda_model_is_refused_in_safe_mode(
    lambda_model: tuple[Path, Path], data_7x7: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, marker = lambda_model
    with pytest.raises(DataError, match="carries code"):
        from lstmcli.model.load import load_model

        load_model(path)
    code = cli.main(["eval", str(path), "--data", str(data_7x7)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    one_line(err)
    assert "the model carries code (e.g. a Lambda layer) that safe mode will not run" in err
    assert "--unsafe" in err
    assert not marker.exists()


def test_lambda_model_runs_with_unsafe(
    lambda_model: tuple[Path, Path], data_7x7: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: the file really carries code, and --unsafe is what lets it run."""
    path, marker = lambda_model
    code = cli.main(["eval", str(path), "--data", str(data_7x7), "--unsafe", "--format", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["samples"] == 30
    assert marker.exists()
    marker.unlink()


def test_config_naming_a_python_function_is_refused_even_with_unsafe(
    lambda_model: tuple[Path, Path], tmp_path: Path
) -> None:
    """A config.json edited to make a layer's activation os.system: Keras only resolves its own objects."""
    from lstmcli.model.load import load_model

    with zipfile.ZipFile(lambda_model[0]) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    dense = config["config"]["layers"][-1]
    dense["config"]["activation"] = {"module": "os", "class_name": "function", "config": "system"}
    dense["config"]["activation"]["registered_name"] = "function"
    members["config.json"] = json.dumps(config).encode()
    hostile = tmp_path / "os-system.keras"
    with zipfile.ZipFile(hostile, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    for unsafe in (False, True):
        with pytest.raises(DataError) as refused:
            load_model(hostile, unsafe=unsafe)
        assert "\n" not in str(refused.value) and str(hostile) in str(refused.value)


def test_npz_with_a_pickle_is_refused_and_never_unpickled(
    data_7x7: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "unpickled"
    with np.load(data_7x7, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    hostile = tmp_path / "pickle.npz"
    np.savez(hostile, **{**arrays, "y_test": np.array([OpensAFile(marker)] * 30, dtype=object)})

    code = cli.main(["train", "--data", str(hostile), "--steps", "5", "--out", str(tmp_path / "run")])
    _, err = capsys.readouterr()
    assert code == 2
    one_line(err)
    assert "holds Python objects (pickles), which lstmcli never loads" in err
    assert not marker.exists() and not (tmp_path / "run").exists()

    with np.load(hostile, allow_pickle=True) as npz:  # the control: unpickling does run the payload
        npz["y_test"]
    assert marker.exists()


def test_checkpoint_with_a_pickle_is_refused_on_resume(
    data_7x7: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lstmcli.train.config import from_preset

    marker = tmp_path / "unpickled"
    run = tmp_path / "run"
    run.mkdir()
    config = from_preset("default", data=str(data_7x7), units=4, steps=10, batch_size=10)
    RunFolder(run).config.write_text(json.dumps(config.to_dict()))
    buffer = io.BytesIO()
    np.savez(buffer, step=np.array(5), elapsed=np.array(1.0), history=np.array([OpensAFile(marker)], dtype=object))
    RunFolder(run).checkpoint.write_bytes(buffer.getvalue())
    before = {p.name: p.read_bytes() for p in run.iterdir()}

    code = cli.main(["train", "--resume", str(run)])
    _, err = capsys.readouterr()
    assert code == 2
    one_line(err)
    assert "checkpoint unreadable" in err and "holds Python objects (pickles), which lstmcli never loads" in err
    assert not marker.exists()
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name != rundir.LOCK} == before


def test_every_np_load_in_the_package_refuses_pickles() -> None:
    """Static check of the source: no np.load / numpy.load at all (every .npz, the checkpoint too, is read by
    lstmcli.npzfile, which has no unpickler), and no module imports pickle, marshal or shelve, or calls eval/exec."""
    for source in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(source.read_text(), str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                is_np_load = isinstance(func, ast.Attribute) and func.attr == "load"
                assert not (is_np_load and getattr(func.value, "id", "") in {"np", "numpy"}), (
                    f"{source.name}:{node.lineno}: np.load; read an .npz with lstmcli.npzfile"
                )
                if isinstance(func, ast.Name):
                    assert func.id not in {"eval", "exec"}, f"{source.name}:{node.lineno}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not {"pickle", "marshal", "shelve", "dill", "cloudpickle"} & set(names), source.name
