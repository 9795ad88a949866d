"""Shared fixtures: small real slices of the bundled MNIST and one short real training run.

Everything uses the real TensorFlow/Keras; the slices keep the suite within a few minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from lstmcli import cli
from lstmcli import data as dataset

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TRAIN_SLICE = 2000
TEST_SLICE = 500


@pytest.fixture(scope="session")
def mnist_arrays() -> dict[str, np.ndarray]:
    with np.load(dataset.bundled_path(), allow_pickle=False) as npz:
        return {k: npz[k] for k in dataset.KEYS}


def mnist_slice(arrays: dict[str, np.ndarray], train: int, test: int, stride: int = 1) -> dict[str, np.ndarray]:
    """The first `train` and `test` images (every `stride`-th row and column) in the Keras layout."""
    return {
        "x_train": arrays["x_train"][:train, ::stride, ::stride],
        "y_train": arrays["y_train"][:train],
        "x_test": arrays["x_test"][:test, ::stride, ::stride],
        "y_test": arrays["y_test"][:test],
    }


@pytest.fixture(scope="session")
def small_npz(tmp_path_factory: pytest.TempPathFactory, mnist_arrays: dict[str, np.ndarray]) -> Path:
    """The first 2,000 training and 500 test images of MNIST, as a Keras-layout .npz."""
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(path, **mnist_slice(mnist_arrays, TRAIN_SLICE, TEST_SLICE))
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, small_npz: Path) -> Path:
    """A complete 200-step run on the small slice, shared by the eval and report tests."""
    from lstmcli.cli.progress import Quiet
    from lstmcli.train.config import from_preset
    from lstmcli.train.run import start

    out = tmp_path_factory.mktemp("runs") / "run"
    config = from_preset("default", steps=200, eval_every=50, data=str(small_npz))
    start(config, out, out.parent, Quiet())
    return out


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder` (files with their SHA-256)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a file in it, so that a new runs/ folder or a stray file would show."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LSTMCLI_DATA", raising=False)
    monkeypatch.delenv("LSTMCLI_RUNS", raising=False)
    (tmp_path / "keep.txt").write_text("untouched")
    return tmp_path


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *watched: Path) -> str:
    """Run the CLI; assert exit 2, exactly one line on stderr, nothing on stdout, the disk unchanged."""
    folders = [Path.cwd(), *watched]
    before = [snapshot(f) if f.is_dir() else f.stat().st_mtime_ns for f in folders]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2, f"{argv}: exit {code}\n{out}\n{err}"
    assert "Traceback" not in err and "Traceback" not in out
    assert out == "", out
    assert err.count("\n") == 1 and err.startswith("lstmcli: error: "), err
    assert [snapshot(f) if f.is_dir() else f.stat().st_mtime_ns for f in folders] == before, argv
    return err
