"""Evaluating a Keras model on a test split: loading it safely, predicting fast, summarising, judging.

`train` (at every evaluation) and `eval` share these functions, so the accuracy a run records is
computed exactly as `lstmcli eval` computes it later.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmcli import datasets, files, plots, runtime, tasks
from lstmcli.errors import CheckFailed, DataError, FieldError, FileError, literal
from lstmcli.model.load import load_model, resolve_model_path
from lstmcli.model.predict import make_predictor
from lstmcli.rundir import RunFolder
from lstmcli.schemas import EvalResult, SequenceData, TaskInfo
from lstmcli.tasks import Task
from lstmcli.train.config import read_run_config
from lstmcli.train.examples import judged_sequences, stored_record, task_data

if TYPE_CHECKING:
    import keras

# The generated tasks whose examples a user can lay out in a file of their own: the adding problem's pairs
# (feature 0 the value, feature 1 the marker) and their sums. The copy task's per-step labels are not a file's.
USER_FILES = ("adding",)
# The figures of lstmcli.metrics.summarize that `eval` reports with a test_ prefix, named as `train` names them.
TEST_METRICS = ("loss", "accuracy", "macro_f1")


def check_plot_path(plot: Path) -> None:
    """The picture goes to a new file or replaces a regular one; a device, FIFO, folder or link is left alone."""
    plots.picture_format(plot)
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


def check_compatible(model: keras.Model, x: np.ndarray, task: Task, classes: int, path: Path) -> None:
    """The model reads the test sequences' shape and emits what the task's figures need (its head)."""
    _, steps, features = model.inputs[0].shape
    what = "images" if task.source == "mnist" else "sequences"
    if (steps is not None and steps != x.shape[1]) or features != x.shape[2]:
        raise DataError(
            f"{path}: the model reads {steps} steps of {features} features but the test {what} are "
            f"{x.shape[1]}x{x.shape[2]}; evaluate it on data of the size it was trained on"
        )
    shape = tuple(model.outputs[0].shape)
    wanted = {"classify": "(batch, classes)", "regress": "(batch, targets)", "sequence": "(batch, steps, classes)"}
    if len(shape) != (3 if task.kind == "sequence" else 2) or shape[-1] is None:
        raise DataError(
            f"{path}: the model's output has shape {shape}, not {wanted[task.kind]} as task {task.name} needs; "
            "evaluate a model trained on this task"
        )
    if task.kind == "regress" and shape[-1] != classes:
        raise DataError(f"{path}: the model gives {shape[-1]} outputs but task {task.name} has {classes} targets")
    if task.kind != "regress" and shape[-1] < classes:
        raise DataError(f"{path}: the model predicts {shape[-1]} classes but the test labels go up to {classes - 1}")


def check_probabilities(probs: np.ndarray, path: Path) -> None:
    """The scores must be a class distribution (softmax): a loss and an accuracy of anything else mislead."""
    flat = probs.reshape(-1, probs.shape[-1])
    finite = bool(np.isfinite(flat).all())
    if not finite or flat.min() < -1e-6 or not np.allclose(flat.sum(axis=1), 1.0, atol=1e-3):
        raise DataError(
            f"{path}: the model's outputs are not class probabilities (each row must be >= 0 and sum to 1, "
            "as a softmax gives); evaluate a model whose last layer is a softmax"
        )


def check_outputs(outputs: np.ndarray, task: Task, path: Path) -> None:
    if task.kind != "regress":
        check_probabilities(outputs, path)
    elif not np.isfinite(outputs).all():
        raise DataError(f"{path}: the model's outputs are not finite numbers; evaluate a model that trained well")


def judged_data(target: Path, model_path: Path, data_path: str | None) -> tuple[Task, datasets.Dataset]:
    """The task and the data a model is judged on: `data_path`, else a run's own task and data (its
    config.json, read as strictly as --resume reads it), else the bundled MNIST read row by row. A run on the
    user's sequences standardises any file with its stored statistics; an adding run reads a user's adding file.
    `eval` and `gates` read the same."""
    is_run = model_path != target
    if not is_run or files.status(RunFolder(target).config, str(target), follow=False) is None:
        return tasks.task("rows"), task_data(tasks.task("rows"), data_path, None)
    config = read_run_config(target)
    if config.task in tasks.FILE_TASKS:  # judged with the statistics the run stored, on its file or another
        assert config.data is not None  # TrainConfig requires the file of this task
        return judged_sequences(data_path or config.data, run_record(RunFolder(target)))
    task = config.task_spec()
    if task.name in USER_FILES and data_path is not None:  # the user's own examples of a generated task
        return task, user_examples(task, data_path)
    if task.generated and data_path is not None:
        raise FieldError("data", f"{{data}}: task {task.name} generates its own test examples; drop it")
    return task, task_data(task, data_path or config.data, config.classes)


def run_record(folder: RunFolder) -> SequenceData:
    """data.json of a run on the user's sequences, field by field: without its statistics it cannot be judged."""
    record = stored_record(folder)
    if record is None:
        raise DataError(
            f"{folder.path}: a run on your own sequences, but it has no {folder.data.name} (the statistics it "
            "standardises them with); train it again"
        )
    return record


def user_examples(task: Task, data_path: str) -> datasets.Dataset:
    """A user's file of a generated task's examples (the adding problem's (N, T, 2) pairs, float targets), as
    the task's generator lays them out; a generated task is not standardised, so neither is the file."""
    data = datasets.load_sequences(data_path, kind=task.kind)
    if (data.timesteps, data.features) != (task.steps, task.features):
        raise DataError(
            f"{literal(data.source)}: holds sequences of {data.timesteps} steps of {data.features} features; task "
            f"{task.name} at T = {task.length} is {task.steps} steps of {task.features}"
        )
    return data


def evaluate(
    target: Path, data_path: str | None = None, unsafe: bool = False, min_accuracy: float | None = None,
    plot: Path | None = None, draw: bool = True,
) -> EvalResult:  # fmt: skip
    """`lstmcli eval`: a run directory or .keras file on its test split (the run's own task and data by default).

    The confusion-matrix PNG of a classifier goes to `plot`, or into a run directory; `draw=False` writes
    none. With `min_accuracy`, the result says whether it passed; `judge` turns a failure into exit 1.
    """
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise FieldError("min_accuracy", f"{{min_accuracy}} must be between 0 and 1, got {min_accuracy}")
    model_path = resolve_model_path(target)
    is_run = model_path != target
    if plot is not None and draw:  # a picture that cannot be written is refused before any work
        check_plot_path(plot)
    task, data = judged_data(target, model_path, data_path)
    if task.kind != "classify":
        if min_accuracy is not None:
            raise FieldError(
                "min_accuracy", f"{{min_accuracy}} gates a classifier; task {task.name} is judged by its {task.metric}"
            )
        plot, draw = None, False  # a confusion matrix is a classifier's picture
    if plot is None and draw and is_run:
        plot = RunFolder(target).confusion
        check_plot_path(plot)
    runtime.tensorflow()
    model = load_model(model_path, unsafe=unsafe)
    check_compatible(model, data.x_test, task, data.classes, model_path)
    outputs = make_predictor(model, data.scale)(data.x_test)
    check_outputs(outputs, task, model_path)
    result = _result(task, task.summarize(outputs, data.y_test), str(model_path), data.source)
    if min_accuracy is not None and result.test_accuracy is not None:
        result.min_accuracy, result.passed = min_accuracy, result.test_accuracy >= min_accuracy
    if plot is not None and draw:
        _draw_confusion(result, plot)
    return result


def _result(task: Task, scores: dict[str, Any], model: str, source: str) -> EvalResult:
    """The EvalResult of a task's figures: a classifier's as they always were, another task's beside its baseline."""
    if task.kind == "classify":
        named = {f"test_{k}" if k in TEST_METRICS else k: v for k, v in scores.items()}
        return EvalResult(model=model, data=source, task=None if task.name == "rows" else TaskInfo.of(task), **named)
    return EvalResult(
        model=model, data=source, samples=scores["samples"], test_loss=scores["loss"], test_accuracy=None,
        test_macro_f1=None, per_class=[], confusion_matrix=[], task=TaskInfo.of(task), test_mse=scores.get("mse"),
        test_recall_accuracy=scores.get("recall_accuracy"),
    )  # fmt: skip


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
