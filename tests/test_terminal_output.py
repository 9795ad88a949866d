"""What reaches the terminal: names that are not UTF-8 are shown escaped, and no Python warning leaks.

Linux accepts any bytes but "/" and NUL in a name; Python holds the bytes of a name that are not UTF-8 as lone
surrogates, which a font (the plots) and a UTF-8 stream (every table and JSON) refuse. Warnings from NumPy,
Keras, torch or SQLAlchemy are held back by the CLI (`--debug` shows them); each fault behind one is an error.
"""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import mnist_slice, refused

from lstmcli import cli
from lstmcli.errors import printable, warnings_held
from lstmcli.rundir import RunFolder

NOT_UTF8 = os.fsdecode(b"run-\xff\xfe")  # valid bytes for Linux, not UTF-8


def test_printable_escapes_the_bytes_of_a_name_that_are_not_utf8() -> None:
    assert printable(NOT_UTF8) == "run-\\xff\\xfe"
    assert printable("café/ü") == "café/ü"  # UTF-8 names are shown as they are
    assert printable("\ud800") == "\\ud800"
    printable(NOT_UTF8).encode("utf-8")  # a UTF-8 stream takes it


def test_an_error_about_a_name_that_is_not_utf8_shows_its_bytes_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every error line passes through one escaping step (lstmcli.errors.one_line): `\\xff`, as `printable`
    shows the name everywhere else, never Python's `\\udcff`."""
    from lstmcli.errors import DataError

    assert str(DataError(f"{NOT_UTF8}: no such file")) == "run-\\xff\\xfe: no such file"
    for argv in (["eval", str(tmp_path / f"{NOT_UTF8}.keras")], ["params", str(tmp_path / f"{NOT_UTF8}.onnx")],
                 ["train", "--data", str(tmp_path / f"{NOT_UTF8}.npz")]):  # fmt: skip
        err = refused(argv, capsys)
        assert "run-\\xff\\xfe" in err and "\\udc" not in err, err


def test_warnings_held_keeps_them_off_the_terminal_and_in_its_list(capsys: pytest.CaptureFixture[str]) -> None:
    with warnings_held() as held:
        warnings.warn("a library's warning", UserWarning, stacklevel=1)
        np.array([1e300]).astype(np.float32)  # NumPy's RuntimeWarning: overflow encountered in cast
    assert [type(w.message) for w in held] == [UserWarning, RuntimeWarning]
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, mnist_arrays: dict[str, np.ndarray]) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    np.savez(path, **mnist_slice(mnist_arrays, 200, 50, stride=4))
    return path


def test_a_run_folder_whose_name_is_not_utf8_trains_lists_and_evaluates(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / NOT_UTF8
    args = ["--data", str(tiny), "--units", "4", "--batch-size", "20", "--steps", "10", "--eval-every", "10"]
    assert cli.main(["train", *args, "--out", str(run)]) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert RunFolder(run).curves.stat().st_size > 0  # the plot, titled with the name
    assert printable(str(run)) in out and err == ""
    for argv in (["runs", str(tmp_path)], ["runs", str(tmp_path), "--format", "csv"], ["eval", str(run)]):
        assert cli.main(argv) == 0, argv
        out, err = capsys.readouterr()
        assert "run-\\xff\\xfe" in out and err == "", (argv, err)
    plot = tmp_path / os.fsdecode(b"plot-\xff.png")
    assert cli.main(["eval", str(run), "--plot", str(plot), "--format", "json"]) == 0
    assert plot.stat().st_size > 0 and capsys.readouterr().err == ""


def test_float_pixels_past_float32_are_refused_without_numpy_warning(
    tmp_path: Path, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.npz"
    x = np.full((20, 7, 7), 1e300)
    np.savez(path, x_train=x, y_train=np.arange(20) % 10, x_test=x[:10], y_test=np.arange(10))
    err = refused(["train", "--data", str(path)], capsys)
    assert "values outside 0..255" in err


def test_debug_shows_the_warnings_that_were_held(capsys: pytest.CaptureFixture[str]) -> None:
    """With --debug the held warnings are printed after the command, so nothing is lost to a maintainer."""
    app = importlib.import_module("lstmcli.cli.app")

    @app.app.command("warn-for-test", hidden=True)
    def _warn() -> None:
        warnings.warn("held until the end", UserWarning, stacklevel=1)

    try:
        assert cli.main(["warn-for-test"]) == 0
        assert capsys.readouterr().err == ""
        assert cli.main(["--debug", "warn-for-test"]) == 0
        assert "UserWarning: held until the end" in capsys.readouterr().err
    finally:
        app.app.registered_commands.pop()
        app.STATE["debug"] = False
