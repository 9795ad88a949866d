"""`lstmcli gates` end to end: a run folder and a .keras file, JSON against its schema, the PNG, the .npz, the
statistics streamed in batches, and every refusal in one line with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import keras
import numpy as np
import pytest
from conftest import mnist_slice, refused

from lstmcli.cli import main
from lstmcli.gates import watch as watching
from lstmcli.model.factory import build_model
from lstmcli.model.spec import ModelSpec
from lstmcli.rundir import RunFolder

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "schemas" / "gates.schema.json"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, mnist_arrays: dict[str, np.ndarray]) -> Path:
    """14 x 14 MNIST, a bidirectional GRU over a stacked LSTM, and a model with no recurrent layer."""
    where = tmp_path_factory.mktemp("gates")
    np.savez(where / "mnist14.npz", **mnist_slice(mnist_arrays, 300, 400, stride=2))
    spec = ModelSpec("gru", 3, 14, 14, layers=2, bidirectional=True, reset_after=False, classes=10)
    model = build_model(spec)
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0.0, 0.7, w.shape).astype(np.float32) for w in model.get_weights()])
    model.save(where / "bigru.keras")
    flat = keras.Sequential([keras.Input((14, 14)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    flat.save(where / "flat.keras")
    return where


def output(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def test_json_is_the_published_shape_and_the_models_prediction(folder: Path, capsys) -> None:
    data = folder / "mnist14.npz"
    document = json.loads(output(capsys, "gates", str(folder / "bigru.keras"), "--data", str(data), "--sample", "5",
                                 "--samples", "40", "--format", "json", "--no-plot"))  # fmt: skip
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(document)
    assert [(layer["index"], layer["direction"]) for layer in document["layers"]] == [
        (0, "forward"), (0, "backward"), (1, "forward"), (1, "backward")
    ]  # fmt: skip
    for layer in document["layers"]:
        assert list(layer["gates"]) == ["update", "reset", "candidate", "hidden"] and layer["reset_after"] is False
        assert all(np.asarray(v).shape == (14, 3) for v in layer["gates"].values())
    model = keras.saving.load_model(folder / "bigru.keras")
    with np.load(data) as arrays:
        x, label = arrays["x_test"][5:6] / 255.0, int(arrays["y_test"][5])
    expected = model.predict(x.astype(np.float32), verbose=0)[0]
    np.testing.assert_allclose(document["prediction"][-1], expected, atol=1e-5)
    assert document["label"] == label and document["predicted"] == int(expected.argmax())
    assert np.asarray(document["prediction"]).shape == (14, 10) and document["max_difference"] <= 1e-5
    stats = document["statistics"]
    assert stats["samples"] == 40 and len(stats["accuracy_by_step"]) == 14 and len(stats["layers"]) == 4


def test_statistics_streamed_in_batches_equal_one_batch(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Running sums over batches of 7 give what one batch of all 40 gives: nothing is lost between batches."""
    args = (folder / "bigru.keras", 0, 40, str(folder / "mnist14.npz"))
    whole = watching.watch(*args, draw=False).statistics
    monkeypatch.setattr(watching, "SAMPLE_BATCH", 7)
    streamed = watching.watch(*args, draw=False).statistics
    assert streamed is not None and whole is not None
    close(streamed.model_dump(exclude={"max_difference"}), whole.model_dump(exclude={"max_difference"}))


def close(a: object, b: object) -> None:
    """Equal keys, lengths and strings; numbers within the last rounded digit."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b)
        for key in a:
            close(a[key], b[key])
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            close(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=2e-6)
    else:
        assert a == b


def test_run_folder_plot_and_save(trained_run: Path, tmp_path: Path, capsys) -> None:
    """A run's own data, the PNG in the run folder by default (not one flat colour), every tensor in the .npz."""
    from matplotlib.image import imread

    save = tmp_path / "gates.npz"
    text = output(capsys, "gates", str(trained_run), "--sample", "2", "--samples", "30", "--save", str(save))
    plot = RunFolder(trained_run).gates_plot(2)
    assert f"gates plot: {plot}" in text and "checked against Keras: largest difference" in text
    pixels = imread(plot)
    assert pixels.shape[0] > 300 and len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 100
    with np.load(save, allow_pickle=False) as arrays:
        names = set(arrays.files)
        assert {f"layer0_forward_{g}" for g in ("input", "forget", "candidate", "output", "cell", "hidden")} <= names
        assert arrays["layer0_forward_cell"].shape == (28, 75) and arrays["prediction"].shape == (28, 10)
        assert {"accuracy_by_step", "layer0_forward_forget_below", "layer0_forward_forget_mean_by_step"} <= names


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--sample", "400"], "has 400 sequences"),
        (["--samples", "401"], "has 400 sequences"),
        (["--sample", "-1"], "0 or more"),
        (["--save", "out.txt"], "ending in .npz"),
        (["--plot", "gates.gif"], "the suffix '.gif' names no picture format lstmcli writes"),
    ],
)
def test_bad_options_are_refused(folder: Path, scratch: Path, argv: list[str], says: str, capsys) -> None:
    err = refused(["gates", str(folder / "bigru.keras"), "--data", str(folder / "mnist14.npz"), *argv], capsys, folder)
    assert says in err


def test_a_model_without_recurrent_layers_is_refused(folder: Path, scratch: Path, capsys) -> None:
    err = refused(["gates", str(folder / "flat.keras"), "--data", str(folder / "mnist14.npz")], capsys, folder)
    assert "no recurrent layer" in err


def test_a_run_without_a_model_is_refused(scratch: Path, capsys) -> None:
    (scratch / "run").mkdir()
    assert "not a lstmcli run" in refused(["gates", str(scratch / "run")], capsys)


def test_plot_in_the_format_its_suffix_names(folder: Path, tmp_path: Path, capsys) -> None:
    plot = tmp_path / "gates.svg"
    output(capsys, "gates", str(folder / "bigru.keras"), "--data", str(folder / "mnist14.npz"), "--plot", str(plot))
    assert plot.read_bytes().startswith(b"<?xml") and b"<svg" in plot.read_bytes()[:400]
