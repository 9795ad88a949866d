"""Evaluating a Keras model on a test split: loading it safely, predicting fast, summarising, judging.

`train` (at every evaluation) and `eval` share these functions, so the accuracy a run records is
computed exactly as `lstmcli eval` computes it later.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmcli import files, rundir
from lstmcli.errors import CheckFailed, DataError, UsageError, brief
from lstmcli.model import keras_archive

if TYPE_CHECKING:
    import keras

# Images per forward pass. Keras evaluate(batch_size=50) pays Python and dispatch overhead 200 times
# for the test set; large batches in one graph pay it a handful of times.
PREDICT_BATCH = 2500

# The figures of lstmcli.metrics.summarize that `eval` reports with a test_ prefix, named as `train` names them.
TEST_METRICS = ("loss", "accuracy", "macro_f1")


def make_predictor(model: keras.Model, scale: float) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping raw images (uint8 or float) to class probabilities, traced once.

    Each batch is split into one slice per tower (lstmcli.runtime.towers), run side by side on the
    inter-op threads; docs/performance.md compares it with Keras's evaluate().
    """
    import tensorflow as tf

    from lstmcli.runtime import towers

    @tf.function(reduce_retracing=True)
    def forward(slices: list[tf.Tensor]) -> tf.Tensor:
        return tf.concat([model(tf.cast(part, tf.float32) / scale, training=False) for part in slices], axis=0)

    def predict(x: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(x), PREDICT_BATCH):
            batch = x[i : i + PREDICT_BATCH]
            slices = [tf.constant(part) for part in np.array_split(batch, min(towers(), len(batch)))]
            out.append(forward(slices).numpy())
        return np.concatenate(out)

    return predict


def resolve_model_path(target: Path) -> Path:
    """Accept a run directory or a .keras file; say clearly which it is not.

    The model must be a regular file (a FIFO would block the load forever) holding a plausible zip
    archive; in a run directory it is the run's own file, never reached through a link. All of this is
    checked before the data or TensorFlow load.
    """
    found = files.status(target, str(target))
    if found is None:
        raise DataError(f"{target}: no such run directory or .keras file")
    if stat.S_ISDIR(found.st_mode):
        path = target / rundir.MODEL
        if files.status(path, str(path), follow=False) is None:
            if files.status(target / rundir.CHECKPOINT, str(target), follow=False) is not None:
                raise DataError(
                    f"{target}: this run has not finished (no {rundir.MODEL} yet); "
                    f"resume it with: lstmcli train --resume {target}"
                )
            raise DataError(f"{target}: not a lstmcli run (no {rundir.MODEL}); give a run directory or a .keras file")
        files.open_regular(path, str(path), owned=True).close()
        check_archive(path)
        return path
    if target.suffix in (".h5", ".hdf5"):  # a legacy Keras model (lstmcli.model.h5_file.SUFFIXES)
        from lstmcli.model import h5_file

        h5_file.check_file(target)
        return target
    if target.suffix != ".keras":
        raise DataError(f"{target}: not a .keras model file; give a run directory, a .keras or a legacy .h5 file")
    check_archive(target)
    return target


def check_plot_path(plot: Path) -> None:
    """The PNG goes to a new file or replaces a regular one; a device, FIFO, folder or link is left alone."""
    folder = files.status(plot.parent, f"--plot {plot}", UsageError)
    if folder is None or not stat.S_ISDIR(folder.st_mode):
        raise UsageError(f"--plot {plot}: no folder {plot.parent} to write it in")
    found = files.status(plot, f"--plot {plot}", UsageError, follow=False)
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise UsageError(
            f"--plot {plot}: is {files.kind(found.st_mode)}, not a regular file; lstmcli replaces only regular "
            "files: choose another path, or --no-plot"
        )


# config.json and metadata.json of a .keras file are a few KiB; a larger one is not a model Keras saved.
MAX_JSON_MEMBER = 64 << 20


def check_archive(path: Path) -> None:
    """A .keras file is a zip archive: refuse one that is not, or whose members declare more than deflate
    can hold, more than the memory available, or JSON members of absurd size (a zip bomb), before Keras
    inflates any of it."""
    try:
        with files.open_regular(path, str(path)) as handle:
            if handle.read(4) != b"PK\x03\x04":
                raise DataError(
                    f"{path}: not a .keras model (a .keras file is a zip archive; this one is not); check the file"
                )
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                members = archive.infolist()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check the file") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        raise DataError(
            f"{path}: corrupt or truncated .keras file (its zip directory is missing); save or copy it again"
        ) from None
    for info in members:
        deflated = info.compress_type == zipfile.ZIP_DEFLATED
        if info.file_size > info.compress_size * (files.MAX_DEFLATE_RATIO if deflated else 1) or (
            info.filename.endswith(".json") and info.file_size > MAX_JSON_MEMBER
        ):
            raise DataError(
                f"{path}: {info.filename} declares {info.file_size:,} bytes from {info.compress_size:,}; "
                "not a model Keras saved (damaged, forged or a zip bomb)"
            )
    files.check_memory(sum(info.file_size for info in members), str(path))
    keras_archive.check(path)  # member names, and the model its config declares (before Keras builds it)


def load_model(path: Path, unsafe: bool = False) -> keras.Model:
    """Load a sequence classifier with Keras's safe mode on unless the user opted out (see load_keras)."""
    if path.suffix in (".h5", ".hdf5"):
        from lstmcli.model import h5_file

        model = h5_file.load_model(path, unsafe)
    else:
        model = load_keras(path, unsafe)
    if not hasattr(model, "inputs") or len(model.inputs) != 1 or len(model.inputs[0].shape) != 3:
        raise DataError(f"{path}: not a sequence classifier (expects input of shape (batch, timesteps, features))")
    return model


def load_keras(path: Path, unsafe: bool = False) -> keras.Model:
    """Load any .keras model with safe mode on unless the user opted out: a file that carries code is refused.

    Every way a file can be damaged ends in one DataError line; `params MODEL` shares it with `eval`.
    """
    import keras

    check_archive(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "unsafe" in text.lower() or "lambda" in text.lower():
            raise DataError(
                f"{path}: the model carries code (e.g. a Lambda layer) that safe mode will not run; "
                "pass --unsafe only if you trust where the file came from"
            ) from None
        raise DataError(f"{path}: not a loadable .keras model ({brief(text)}); save or copy it again") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(
            f"{path}: corrupt or truncated .keras file ({type(exc).__name__}: {brief(exc)}); save or copy it again"
        ) from None
    except Exception as exc:
        raise DataError(
            f"{path}: not a loadable .keras model ({type(exc).__name__}: {brief(exc)}); save or copy it again"
        ) from None
    return model


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


def evaluate(
    target: Path, data_path: str | None = None, unsafe: bool = False, min_accuracy: float | None = None,
    plot: Path | None = None, draw: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """`lstmcli eval`: a run directory or .keras file on its test split (the run's own data by default).

    The confusion-matrix PNG goes to `plot`, or into a run directory; `draw=False` writes none. With
    `min_accuracy`, the result says whether it passed; `judge` turns a failure into exit 1.
    """
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise UsageError(f"--min-accuracy must be between 0 and 1, got {min_accuracy}")
    from lstmcli import data as datasets
    from lstmcli import runtime
    from lstmcli.metrics import summarize

    model_path = resolve_model_path(target)
    is_run = model_path != target
    if plot is None and draw and is_run:
        plot = target / rundir.CONFUSION
    if plot is not None and draw:
        check_plot_path(plot)
    run_data, classes = None, None
    if data_path is None and is_run and files.status(target / rundir.CONFIG, str(target), follow=False) is not None:
        from lstmcli.train.config import read_run_config

        config = read_run_config(target)  # validated as --resume validates it: the run's data and its --classes
        run_data, classes = config.data, config.classes
    data = datasets.load(data_path or run_data, classes)
    runtime.tensorflow()
    model = load_model(model_path, unsafe=unsafe)
    check_compatible(model, data.x_test, data.classes, model_path)
    probs = make_predictor(model, data.scale)(data.x_test)
    check_probabilities(probs, model_path)
    scores = summarize(probs, data.y_test)
    result: dict[str, Any] = {"schema_version": 1, "model": str(model_path), "data": data.source}
    result.update({f"test_{k}" if k in TEST_METRICS else k: v for k, v in scores.items()})
    if min_accuracy is not None:
        result["min_accuracy"], result["passed"] = min_accuracy, result["test_accuracy"] >= min_accuracy
    if plot is not None and draw:
        _draw_confusion(result, plot)
    return result


def _draw_confusion(result: dict[str, Any], plot: Path) -> None:
    from lstmcli import plots

    try:
        plots.confusion_heatmap(result["confusion_matrix"], plot)
    except OSError as exc:
        raise UsageError(f"--plot {plot}: cannot write it ({exc.strerror}); choose another path or --no-plot") from None
    result["plot"] = str(plot)


def judge(result: dict[str, Any]) -> None:
    """Exit 1 (CheckFailed) when the result carries an accuracy gate it did not pass."""
    if result.get("passed") is False:
        raise CheckFailed(f"accuracy {result['test_accuracy']:.4f} is below --min-accuracy {result['min_accuracy']}")
