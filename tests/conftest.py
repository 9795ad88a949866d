"""Shared fixtures: small real slices of the bundled MNIST and one short real training run.

Everything uses the real TensorFlow/Keras; the slices keep the suite within a few minutes on 2 cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

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
