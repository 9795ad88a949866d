"""`params M.h5` and `eval M.h5`: legacy Keras HDF5 files written here by the real tools, read back.

Keras 3's legacy save (`model.save("x.h5")`) and genuine Keras 2 (`tf_keras`, the Keras 2 that TensorFlow
ships for legacy code) write every file in the test itself. Each total must equal the weights stored in the
file (counted here with h5py, independently of lstmcli), each recurrent layer's closed form its own
count_params(), and each per-gate row the closed form of the equivalent spec.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from conftest import refused

from lstmcli import inspection
from lstmcli.cli import main
from lstmcli.errors import DataError
from lstmcli.model import reader
from lstmcli.model.count import count

# tf_keras's advice when a test saves the legacy format on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file:UserWarning")


def stored_weights(path: Path) -> int:
    """Every weight under model_weights, as h5py reads the file."""
    sizes: list[int] = []
    with h5py.File(path, "r") as handle:
        handle["model_weights"].visititems(
            lambda _, item: sizes.append(item.size) if isinstance(item, h5py.Dataset) else None
        )
    return sum(sizes)


def zoo(k: Any, keras2: bool) -> dict[str, Callable[[], Any]]:
    """The recurrent layers the issue names: LSTM, GRU both conventions, SimpleRNN, stacked, bidirectional."""
    extra = {"time_major": False} if keras2 else {}  # options Keras 3 refuses on load
    impl = {"implementation": 1} if keras2 else {}

    def seq(*layers: Any) -> Callable[[], Any]:
        return lambda: k.Sequential([k.Input(shape=(7, 5)), *[make() for make in layers]])

    L = lambda name, *a, **kw: lambda: getattr(k.layers, name)(*a, **kw)  # noqa: E731
    bi = lambda inner, **kw: lambda: k.layers.Bidirectional(inner(), **kw)  # noqa: E731

    def functional() -> Any:
        x = k.Input(shape=(7, 5))
        y = k.layers.GRU(4, reset_after=False, return_sequences=True, **extra)(x)
        return k.Model(x, k.layers.Dense(3, activation="softmax")(k.layers.SimpleRNN(2)(y)))

    return {
        "lstm": seq(L("LSTM", 6, **extra, **impl), L("Dense", 3)),
        "gru-reset-after": seq(L("GRU", 4, **extra), L("Dense", 3)),
        "gru-reset-before": seq(L("GRU", 4, reset_after=False, **impl), L("Dense", 3)),
        "simplernn": seq(L("SimpleRNN", 3, use_bias=False)),
        "stacked": seq(L("LSTM", 4, return_sequences=True), L("GRU", 3, return_sequences=True), L("SimpleRNN", 2)),
        "bidirectional": seq(bi(L("LSTM", 3, return_sequences=True, **extra)), bi(L("GRU", 2), merge_mode="sum")),
        "functional": functional,
    }


COVERED = {"lstm": 1, "gru-reset-after": 1, "gru-reset-before": 1, "simplernn": 1, "stacked": 3, "bidirectional": 2,
           "functional": 2}  # fmt: skip


@pytest.fixture(scope="module")
def h5_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, dict[str, int], Path]]:
    """(writer-name) -> (count_params(), each layer's count_params(), the .h5), from Keras 3 and from tf_keras."""
    from lstmcli import runtime

    runtime.tensorflow()
    import keras

    folder = tmp_path_factory.mktemp("h5")
    out = {}
    writers = [("keras3", keras)]
    try:
        import tf_keras

        writers.append(("keras2", tf_keras))
    except ImportError:  # the test extra installs it; without it only Keras 3's files are written
        pass
    for writer, k in writers:
        for name, build in zoo(k, writer == "keras2").items():
            model = build()
            path = folder / f"{writer}-{name}.h5"
            model.save(path)
            out[f"{writer}-{name}"] = (model.count_params(), {la.name: la.count_params() for la in model.layers}, path)
    return out


def test_genuine_keras2_is_installed() -> None:
    """The test extra installs tf_keras; without it the Keras 2 half of the cases would silently not run."""
    import tf_keras

    assert tf_keras.__version__.startswith("2.")


@pytest.mark.parametrize("writer", ["keras3", "keras2"])
@pytest.mark.parametrize("name", list(COVERED))
def test_h5_total_is_the_stored_weights(h5_files: dict[str, Any], writer: str, name: str) -> None:
    total, per_layer, path = h5_files[f"{writer}-{name}"]
    if writer == "keras2":
        with h5py.File(path, "r") as handle:
            assert handle["model_weights"].attrs["keras_version"].startswith("2.")
            if name in ("lstm", "gru-reset-after"):
                assert '"time_major": false' in handle.attrs["model_config"]  # what Keras 3 refuses to load
    report = reader.read(path, False, None, 2)
    assert report.framework == "Keras"
    assert report.total == total == stored_weights(path)
    assert sum(layer.params for layer in report.layers) == report.total
    assert len(report.covered) == COVERED[name]
    for layer in report.layers:
        assert layer.params == per_layer[layer.name], layer.name
    for layer in report.covered:
        assert layer.closed_form == per_layer[layer.name]
        spec = layer.counts.spec
        for direction in layer.counts.directions:
            expected = count(spec).directions[0].gates
            assert direction.gates == expected  # each per-gate figure is the closed form of the equivalent spec
    inspection.judge(report)
    assert any("legacy HDF5" in note for note in report.notes)


def test_h5_cli_json(h5_files: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    total, _, path = h5_files["keras2-bidirectional"]
    assert main(["params", str(path), "--format", "json", "--batch-size", "4", "--timesteps", "7"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["total"] == total and data["match"] is True and data["memory"]["batch"] == 4
    assert captured.err == ""  # no Python warning reaches the terminal


def rewrite_config(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        change(config)
        handle.attrs["model_config"] = json.dumps(config)


def test_keras2_class_paths_are_read(h5_files: dict[str, Any], tmp_path: Path) -> None:
    """Keras 2 configs that name keras.layers.recurrent classes and modules (Keras 3 has neither)."""
    total, _, original = h5_files["keras2-stacked"]
    path = tmp_path / "paths.h5"
    path.write_bytes(original.read_bytes())

    def legacy(config: dict[str, Any]) -> None:
        for layer in config["config"]["layers"][1:]:
            layer["class_name"] = f"keras.layers.recurrent.{layer['class_name']}"
            layer["module"] = "keras.layers.recurrent"

    rewrite_config(path, legacy)
    report = reader.read(path, False, None, 1)
    assert report.total == total and len(report.covered) == 3


def test_time_major_true_is_refused(h5_files: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "time-major.h5"
    path.write_bytes(h5_files["keras2-lstm"][2].read_bytes())
    rewrite_config(path, lambda c: c["config"]["layers"][1]["config"].update(time_major=True))
    with pytest.raises(DataError, match="time_major=True"):
        reader.read(path, False, None, 1)


def test_lambda_h5_is_refused_unless_unsafe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((7, 5)), tf_keras.layers.Lambda(lambda x: x * 2),
                                 tf_keras.layers.LSTM(3)])  # fmt: skip
    path = tmp_path / "lambda.h5"
    model.save(path)
    err = refused(["params", str(path)], capsys)
    assert "carries code" in err and "--unsafe" in err
    assert main(["params", str(path), "--unsafe"]) == 0
    capsys.readouterr()


def test_custom_class_is_refused(h5_files: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "custom.h5"
    path.write_bytes(h5_files["keras2-lstm"][2].read_bytes())
    rewrite_config(path, lambda c: c["config"]["layers"][1].update(class_name="mypackage.layers.FancyLSTM"))
    with pytest.raises(DataError, match="Keras does not ship"):
        reader.read(path, False, None, 1)


# --- eval ------------------------------------------------------------------------------------------------------


def test_eval_h5_equals_eval_keras(trained_run: Path, small_npz: Path, tmp_path: Path) -> None:
    """The trained run saved as Keras 3's legacy .h5, and its weights in a genuine Keras 2 .h5: same scores."""
    import keras
    import tf_keras

    from lstmcli.evaluate import evaluate

    model = keras.saving.load_model(trained_run / "model.keras", compile=False)
    keras3 = tmp_path / "run-keras3.h5"
    model.save(keras3)
    twin = tf_keras.Sequential([tf_keras.Input((28, 28)), tf_keras.layers.LSTM(75, time_major=False),
                                tf_keras.layers.Dense(10, activation="softmax")])  # fmt: skip
    twin.set_weights(model.get_weights())
    keras2 = tmp_path / "run-keras2.h5"
    twin.save(keras2)
    reference = evaluate(trained_run / "model.keras", str(small_npz), draw=False)
    for path in (keras3, keras2):
        result = evaluate(path, str(small_npz), draw=False)
        assert result.test_accuracy == reference.test_accuracy > 0.3, path
        assert result.test_loss == pytest.approx(reference.test_loss, rel=1e-6)
        assert result.confusion_matrix == reference.confusion_matrix


# --- damaged and forged files: one line, exit 2 -------------------------------------------------------------------


def test_damaged_h5_files(h5_files: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = h5_files["keras2-lstm"][2].read_bytes()
    cases = {
        "truncated.h5": good[: len(good) // 2],
        "magic-only.h5": b"\x89HDF\r\n\x1a\n",
        "text.h5": b"not a model",
        "empty.h5": b"",
        "zip.h5": b"PK\x03\x04" + bytes(100),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        for command in ("params", "eval"):
            err = refused([command, str(tmp_path / name)], capsys)
            assert name in err, err


def test_bit_flipped_h5_files(h5_files: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Random damage: each file is read (the flip hit padding or a weight) or refused in one line."""
    good = h5_files["keras3-bidirectional"][2].read_bytes()
    rng = random.Random(19)
    outcomes = {"read": 0, "refused": 0}
    for case in range(12):
        damaged = bytearray(good)
        for _ in range(rng.choice((1, 4, 16))):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        path = tmp_path / f"flip{case}.h5"
        path.write_bytes(bytes(damaged))
        code = main(["params", str(path), "--format", "json"])
        _, err = capsys.readouterr()
        assert code in (0, 1, 2) and "Traceback" not in err, err
        if code == 2:
            assert err.count("\n") == 1 and str(path) in err, err
        outcomes["read" if code != 2 else "refused"] += 1
    assert outcomes["refused"] > 0


def test_oversized_declared_shape(h5_files: dict[str, Any], tmp_path: Path) -> None:
    """A weight declared (10^6, 10^6) and never stored (HDF5 allocates on write): refused before it is read."""
    path = tmp_path / "huge.h5"
    path.write_bytes(h5_files["keras2-lstm"][2].read_bytes())
    with h5py.File(path, "r+") as handle:
        group = handle["model_weights/dense"]
        names = list(group.attrs["weight_names"])
        del group[names[0]]
        group.create_dataset(names[0], shape=(10**6, 10**6), dtype="float32")
    assert path.stat().st_size < 100_000
    with pytest.raises(DataError, match="declares shape"):
        reader.read(path, False, None, 1)


def test_weights_only_h5(tmp_path: Path) -> None:
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((7, 5)), tf_keras.layers.LSTM(3)])
    model.save_weights(tmp_path / "w.h5")
    with pytest.raises(DataError, match="weights only"):
        reader.read(tmp_path / "w.h5", False, None, 1)


def test_huge_declared_h5_is_refused_before_building(
    h5_files: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A small .h5 whose config says LSTM(5000): refused from the config, in params and eval."""
    path = tmp_path / "lstm5000.h5"
    path.write_bytes(h5_files["keras2-lstm"][2].read_bytes())
    rewrite_config(path, lambda c: c["config"]["layers"][1]["config"].update(units=5000))
    for command in ("params", "eval"):
        err = refused([command, str(path)], capsys)
        assert f"declares at least {4 * 5000 * (5000 + 5) + 5000 * 3:,} parameters" in err, err  # LSTM, Dense
        assert "stores only" in err, err


def test_h5_memory_and_mult_adds(h5_files: dict[str, Any]) -> None:
    _, _, path = h5_files["keras2-lstm"]
    report = reader.read(path, False, None, 8)
    lstm = report.memory.layers[0]
    assert report.memory.batch == 8 and report.memory.timesteps == 7
    assert lstm.macs == 7 * 4 * 6 * (5 + 6)
    assert math.prod(lstm.output) == 6
    assert np.isclose(report.memory.weights_bytes, 4 * report.total)
