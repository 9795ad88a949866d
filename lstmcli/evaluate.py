"""Evaluating a Keras model on a test split: loading it safely, predicting fast, summarising, judging.

`train` (at every evaluation) and `eval` share these functions, so the accuracy a run records is
computed exactly as `lstmcli eval` computes it later.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstmcli import datasets, files, plots, runtime
from lstmcli.errors import CheckFailed, DataError, FieldError, FileError, literal
from lstmcli.metrics import summarize
from lstmcli.model.load import load_model, resolve_model_path
from lstmcli.model.predict import make_predictor
from lstmcli.rundir import RunFolder
from lstmcli.schemas import EvalResult
from lstmcli.train.config import read_run_config

if TYPE_CHECKING:
    import keras

# The figures of lstmcli.metrics.summarize that `eval` reports with a test_ prefix, named as `train` names them.
TEST_METRICS = ("loss", "accuracy", "macro_f1")


def check_plot_path(plot: Path) -> None:
    """The PNG goes to a new file or replaces a regular one; a device, FIFO, folder or link is left alone."""
    folder = files.status(plot.parent, str(plot), field="plot")
    where = files.label(str(plot), "plot")
    if folder is None or not stat.S_ISDIR(folder.st_mode):
        raise FileError(plot, f"{where}: no folder {literal(plot.parent)} to write it in")
    found = files.status(plot, str(plot), follow=False, field="plot")
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise FileError(
            plot,
            f"{where}: is {files.kind(found.st_mode)}, not a regular file; lstmcli replaces only regular "
            "files: choose another path, or {no_plot}",
        )


def check_compatible(model: keras.Model, x: np.ndarray, classes: int, path: Path) -> None:
    _, steps, features = model.inputs[0].shape
    if (steps is not None and steps != x.shape[1]) or features != x.shape[2]:
        raise DataError(
            f"{path}: the model reads {steps} steps of {features} features but the test images are "
            f"{x.shape[1]}x{x.shape[2]}; evaluate it on data of the size it was trained on"
        )
    shape = tuple(model.outputs[0].shape)
    if len(shape) != 2 or shape[-1] is None:
        raise DataError(
            f"{path}: the model's output has shape {shape}, not (batch, classes); evaluate a classifier whose "
            "last layer gives one probability per class"
        )
    if shape[-1] < classes:
        raise DataError(f"{path}: the model predicts {shape[-1]} classes but the test labels go up to {classes - 1}")


def check_probabilities(probs: np.ndarray, path: Path) -> None:
    """The scores must be a class distribution (softmax): a loss and an accuracy of anything else mislead."""
    finite = bool(np.isfinite(probs).all())
    if not finite or probs.min() < -1e-6 or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise DataError(
            f"{path}: the model's outputs are not class probabilities (each row must be >= 0 and sum to 1, "
            "as a softmax gives); evaluate a model whose last layer is a softmax"
        )


def test_data(target: Path, model_path: Path, data_path: str | None) -> datasets.Dataset:
    """The data a model is judged on: `data_path`, else a run's own data and classes (its config.json, read
    as strictly as --resume reads it), else the bundled MNIST. `eval` and `gates` read the same."""
    run_data, classes = None, None
    is_run = model_path != target
    if data_path is None and is_run and files.status(RunFolder(target).config, str(target), follow=False) is not None:
        config = read_run_config(target)
        run_data, classes = config.data, config.classes
    return datasets.load(data_path or run_data, classes)


def evaluate(
    target: Path, data_path: str | None = None, unsafe: bool = False, min_accuracy: float | None = None,
    plot: Path | None = None, draw: bool = True,
) -> EvalResult:  # fmt: skip
    """`lstmcli eval`: a run directory or .keras file on its test split (the run's own data by default).

    The confusion-matrix PNG goes to `plot`, or into a run directory; `draw=False` writes none. With
    `min_accuracy`, the result says whether it passed; `judge` turns a failure into exit 1.
    """
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise FieldError("min_accuracy", f"{{min_accuracy}} must be between 0 and 1, got {min_accuracy}")
    model_path = resolve_model_path(target)
    is_run = model_path != target
    if plot is None and draw and is_run:
        plot = RunFolder(target).confusion
    if plot is not None and draw:
        check_plot_path(plot)
    data = test_data(target, model_path, data_path)
    runtime.tensorflow()
    model = load_model(model_path, unsafe=unsafe)
    check_compatible(model, data.x_test, data.classes, model_path)
    probs = make_predictor(model, data.scale)(data.x_test)
    check_probabilities(probs, model_path)
    scores = summarize(probs, data.y_test)
    named = {f"test_{k}" if k in TEST_METRICS else k: v for k, v in scores.items()}
    result = EvalResult(model=str(model_path), data=data.source, **named)
    if min_accuracy is not None:
        result.min_accuracy, result.passed = min_accuracy, result.test_accuracy >= min_accuracy
    if plot is not None and draw:
        _draw_confusion(result, plot)
    return result


def _draw_confusion(result: EvalResult, plot: Path) -> None:
    try:
        plots.confusion_heatmap(result.confusion_matrix, plot)
    except OSError as exc:
        where = files.label(str(plot), "plot")
        raise FileError(
            plot, f"{where}: cannot write it ({literal(exc.strerror)}); choose another path or {{no_plot}}"
        ) from None
    result.plot = str(plot)


def judge(result: EvalResult) -> None:
    """Exit 1 (CheckFailed) when the result carries an accuracy gate it did not pass."""
    if result.passed is False:
        raise CheckFailed(
            f"accuracy {result.test_accuracy:.4f} is below {{min_accuracy}} {result.min_accuracy}", fields=True
        )
