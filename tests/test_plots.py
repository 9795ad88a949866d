"""The pictures a run gets: learning curves from `train`, the confusion-matrix heat map from `eval`.

Each picture is opened as an image and checked for its size and for not being blank.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import refused
from PIL import Image

from lstmcli import plots, rundir
from lstmcli.cli import main
from lstmcli.errors import FileError
from lstmcli.rundir import RunFolder


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def assert_picture(path: Path, width: int, height: int) -> None:
    rgb = pixels(path)
    assert rgb.shape == (height, width, 3)
    assert rgb.std() > 20, "the image is (nearly) one flat colour"
    colours = np.unique(rgb.reshape(-1, 3).astype(np.uint8), axis=0)
    assert len(colours) > 50, "too few colours for axes, text and data"


def test_training_leaves_learning_curves(trained_run: Path) -> None:
    assert_picture(RunFolder(trained_run).curves, 1500, 400)
    rgb = pixels(RunFolder(trained_run).curves)
    # matplotlib's default first three colours: train (blue), validation (orange), test (green) are all drawn
    blue, orange, green = np.array([31, 119, 180]), np.array([255, 127, 14]), np.array([44, 160, 44])
    for colour, least in ((blue, 200), (orange, 200), (green, 20)):
        assert (np.abs(rgb - colour).sum(axis=2) < 30).sum() > least


def test_eval_of_a_run_directory_writes_the_heat_map(trained_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)  # leave the shared run as it is
    RunFolder(run).confusion.unlink(missing_ok=True)
    assert main(["eval", str(run), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["plot"] == str(RunFolder(run).confusion)
    assert_picture(RunFolder(run).confusion, 800, 700)


def test_eval_plot_options(trained_run: Path, tmp_path: Path, capsys) -> None:
    elsewhere = tmp_path / "matrix.png"
    assert main(["eval", str(trained_run / "model.keras"), "--plot", str(elsewhere), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["plot"] == str(elsewhere)
    assert_picture(elsewhere, 800, 700)
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns(rundir.CONFUSION))
    assert main(["eval", str(run), "--no-plot", "--format", "json"]) == 0
    assert "plot" not in json.loads(capsys.readouterr().out)
    assert not RunFolder(run).confusion.exists()
    assert main(["eval", str(run), "--plot", str(tmp_path / "no" / "such" / "m.png")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "no folder" in captured.err


def test_heat_map_colours_follow_the_matrix(tmp_path: Path) -> None:
    perfect = np.diag([50] * 3).tolist()
    confused = [[0, 50, 0], [0, 0, 50], [50, 0, 0]]
    images = [pixels(plots.confusion_heatmap(m, tmp_path / f"{i}.png")) for i, m in enumerate((perfect, confused))]
    assert images[0].shape == images[1].shape == (500, 600, 3)
    assert not np.array_equal(images[0], images[1])


def test_plots_refuse_what_they_cannot_draw(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.learning_curves([], tmp_path / "c.png")
    with pytest.raises(ValueError, match="square"):
        plots.confusion_heatmap([[1, 2, 3], [4, 5, 6]], tmp_path / "m.png")
    assert list(tmp_path.iterdir()) == []


# The first bytes of each format plots.FORMATS writes, read here independently of matplotlib.
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff", ".JPEG": b"\xff\xd8\xff", ".pdf": b"%PDF-",
         ".svg": b"<?xml"}  # fmt: skip


@pytest.mark.parametrize("suffix", list(MAGIC))
def test_a_picture_is_written_in_the_format_its_suffix_names(tmp_path: Path, suffix: str) -> None:
    """`--plot x.jpg` wrote PNG bytes under a .jpg name."""
    path = plots.confusion_heatmap([[5, 1], [2, 7]], tmp_path / f"matrix{suffix}")
    head = path.read_bytes()[:200]
    assert head.startswith(MAGIC[suffix]), head[:16]
    if suffix == ".svg":
        assert b"<svg" in head
    if suffix in (".png", ".jpg", ".JPEG"):
        with Image.open(path) as image:
            assert image.format == ("PNG" if suffix == ".png" else "JPEG") and min(image.size) > 300


@pytest.mark.parametrize("name", ["matrix.gif", "matrix.bmp", "matrix", "matrix.png.txt"])
def test_eval_refuses_a_picture_name_it_cannot_write_before_any_work(
    trained_run: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused first: the data named after it (missing here) is never looked at, and nothing is written."""
    argv = ["eval", str(trained_run), "--plot", str(tmp_path / name), "--data", str(tmp_path / "no-such.npz")]
    err = refused(argv, capsys, tmp_path, trained_run)
    assert f"--plot {tmp_path / name}" in err and "names no picture format" in err, err
    assert ".png, .jpg, .jpeg, .svg, .pdf" in err and "no-such.npz" not in err, err
    with pytest.raises(FileError, match="names no picture format"):
        plots.confusion_heatmap([[1]], tmp_path / name)  # the library refuses it too, at the write
    assert not (tmp_path / name).exists()


def test_eval_writes_the_jpeg_it_is_asked_for(trained_run: Path, tmp_path: Path, capsys) -> None:
    plot = tmp_path / "matrix.jpg"
    assert main(["eval", str(trained_run), "--plot", str(plot), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["plot"] == str(plot)
    with Image.open(plot) as image:
        assert image.format == "JPEG" and image.size == (800, 700)


def test_a_loss_sweep_of_one_seed_is_plotted(tmp_path: Path) -> None:
    """A red-team pass: `sweep show --plot` of an adding or copy sweep run with one seed ended in a KeyError,
    the spread of a loss figure being left out of a configuration's record where it has none; a loss of 0 on
    the log scale is drawn without a warning."""
    import warnings

    from lstmcli.schemas import SweepConfiguration

    empty = dict.fromkeys(("val_accuracy_mean", "val_accuracy_std", "val_accuracy_ci_low", "val_accuracy_ci_high",
                           "val_accuracy_best", "test_accuracy_mean", "test_accuracy_std", "test_accuracy_ci_low",
                           "test_accuracy_ci_high", "seconds_mean"))  # fmt: skip

    def record(units: int, parameters: int, mse: float) -> dict[str, object]:
        return SweepConfiguration(params={"units": units}, cell="lstm", parameters=parameters, n=1, seeds=[0],
                                  pruned=0, trials=[units], **empty, val_mse_mean=mse, val_mse_std=None,
                                  test_mse_mean=mse, test_mse_std=None).model_dump()  # fmt: skip

    records = [record(4, 100, 0.0), record(8, 300, 0.05)]
    assert "val_mse_std" not in records[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drawn = plots.sweep_figures(records, tmp_path / "adding.png", ("val_mse", "test_mse"), 1 / 6)
    assert Image.open(drawn).size[0] > 0
