"""`lstmcli gates`: one call from a run folder or .keras file to a checked `GatesResult`, its PNG and .npz.

The model is loaded through the same safe reader as `eval` (lstmcli.evaluate), read into NumPy
(keras_model.read), recomputed (recurrence.forward) and checked against Keras on every sequence it shows or
counts; only then is anything written. Statistics over K samples stream through batches of SAMPLE_BATCH.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import atomic, evaluate, files, tasks
from lstmcli.errors import DataError, FieldError, FileError, literal
from lstmcli.gates import keras_model, recurrence
from lstmcli.gates.statistics import Accumulator
from lstmcli.model.load import load_model, resolve_model_path
from lstmcli.rundir import RunFolder
from lstmcli.schemas import GateLayer, GatesResult

# Sequences recomputed at once for --samples: each holds every gate at every step, about 50 KB for LSTM(75).
SAMPLE_BATCH = 250
# The model "has made up its mind" from the first step after which its final answer stays this sure.
DECIDED = 0.9
DIGITS = 6
# What the heads that are not a last-step classifier answer, for the line that refuses them.
ANSWERS = {"regress": "with a number, not a class", "sequence": "a class at every step, not one at the last"}
# The tasks whose model reads a class at the last step: the MNIST ones (the generated tasks have a MIN_LENGTH).
CLASSIFIED = tuple(name for name in tasks.NAMES if name not in tasks.MIN_LENGTH)


def watch(
    target: Path, sample: int = 0, samples: int | None = None, data_path: str | None = None, unsafe: bool = False,
    plot: Path | None = None, draw: bool = True, save: Path | None = None,
) -> GatesResult:  # fmt: skip
    """Every gate of every recurrent layer on test sequence `sample`, and with `samples` statistics over the
    first K; the PNG goes to `plot`, or into a run directory (none with `draw=False`), the tensors to `save`."""
    if sample < 0 or (samples is not None and samples < 1):
        raise FieldError(
            "sample" if sample < 0 else "samples",
            f"{{sample}} must be 0 or more and {{samples}} 1 or more, got {sample} and {samples}",
        )
    model_path = resolve_model_path(target)
    if plot is None and draw and model_path != target:
        plot = RunFolder(target).gates_plot(sample)
    if plot is not None and draw:
        evaluate.check_plot_path(plot)
    if save is not None:
        _check_save_path(save)
    task, data = evaluate.judged_data(target, model_path, data_path)
    if task.kind != "classify":  # refused before TensorFlow loads: the run's config says what it answers
        raise DataError(
            f"{literal(target)}: task {task.name} answers {ANSWERS.get(task.kind, task.kind)}; `lstmcli gates` "
            f"explains a class read at the last step (tasks {', '.join(CLASSIFIED)}): use `lstmcli eval` for it"
        )
    count = len(data.y_test)
    if sample >= count or (samples or 0) > count:
        raise FieldError(
            "sample" if sample >= count else "samples",
            f"{{sample}} {sample} / {{samples}} {samples}: the test set of {literal(data.source)} has {count:,} "
            f"sequences (0 to {count - 1:,})",
        )
    from lstmcli import runtime

    runtime.tensorflow()
    model = load_model(model_path, unsafe=unsafe)
    _check_shape(model, data, model_path)
    recomputed = keras_model.read(model, model_path)
    x = data.x_test[sample : sample + 1] / data.scale
    trace = recurrence.forward(recomputed.network, x)
    found = keras_model.differences(recomputed, model, x, trace)
    worst = keras_model.check(found, model_path)
    result = _result(recomputed.network, trace, found, worst, model_path, data, sample)
    if samples is not None:
        result.statistics = _statistics(recomputed, model, data, samples, model_path)
    if save is not None:
        _save(result, trace, save)
    if plot is not None and draw:
        from lstmcli.gates import picture

        try:
            picture.draw(result, plot)
        except OSError as exc:
            why = f"{{plot}} {literal(plot)}: cannot write it ({literal(exc.strerror)}); choose another path"
            raise FileError(plot, why) from None
        result.plot = str(plot)
    return result


def _check_shape(model: Any, data: Any, path: Path) -> None:
    _, steps, features = model.inputs[0].shape
    if (steps is not None and steps != data.x_test.shape[1]) or features != data.x_test.shape[2]:
        shape = f"{data.x_test.shape[1]}x{data.x_test.shape[2]}"
        raise DataError(f"{path}: the model reads {steps} steps of {features} features but the test sequences are "
                        f"{shape}; use data of the size it was trained on")  # fmt: skip
    classes = model.outputs[0].shape[-1]
    if classes is None or classes < data.classes:
        raise DataError(f"{path}: the model predicts {classes} classes but the test labels go up to {data.classes - 1}")


def _check_save_path(save: Path) -> None:
    where = files.label(str(save), "save")
    if save.suffix != ".npz":
        raise FieldError("save", f"{where}: the tensors are written as an .npz archive; give a name ending in .npz")
    folder = files.status(save.parent, str(save), field="save")
    if folder is None or not stat.S_ISDIR(folder.st_mode):
        raise FileError(save, f"{where}: no folder {literal(save.parent)} to write it in")
    found = files.status(save, str(save), follow=False, field="save")
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise FileError(save, f"{where}: is {files.kind(found.st_mode)}, not a regular file; choose another path")


def _matrix(values: np.ndarray) -> list[list[float]]:
    return np.round(values, DIGITS).tolist()


def decided(prediction: np.ndarray) -> int | None:
    """The first step from which the final answer is the most likely class with at least DECIDED probability."""
    final = int(prediction[-1].argmax())
    sure = (prediction.argmax(axis=-1) == final) & (prediction[:, final] >= DECIDED)
    if not sure[-1]:
        return None
    unsure = np.flatnonzero(~sure)
    return int(unsure[-1] + 1) if len(unsure) else 0


def _result(network: recurrence.Network, trace: recurrence.Trace, found: dict[str, float], worst: float,
            model_path: Path, data: Any, sample: int) -> GatesResult:  # fmt: skip
    layers = []
    for d in network.directions:
        tensors = trace.gates[(d.index, d.direction)]
        layers.append(GateLayer(
            layer=d.layer, index=d.index, direction=d.direction, cell=d.cell.kind, units=d.cell.units,
            reset_after=d.cell.reset_after if d.cell.kind == "gru" else None,
            max_difference=found[f"{d.layer} {d.direction}"],
            gates={name: _matrix(value[0]) for name, value in tensors.items()},
        ))  # fmt: skip
    prediction = trace.prediction[0]
    predicted = int(prediction[-1].argmax())
    return GatesResult(
        schema_version=1, model=str(model_path), data=data.source, sample=sample, label=int(data.y_test[sample]),
        predicted=predicted, confidence=round(float(prediction[-1, predicted]), DIGITS),
        decided_step=decided(prediction), steps=int(data.x_test.shape[1]), features=int(data.x_test.shape[2]),
        classes=int(prediction.shape[-1]), input=_matrix(data.x_test[sample] / data.scale), layers=layers,
        prediction=_matrix(prediction), max_difference=worst, tolerance=keras_model.TOLERANCE,
    )  # fmt: skip


def _statistics(recomputed: keras_model.Recomputed, model: Any, data: Any, samples: int, path: Path) -> Any:
    """Every batch is recomputed, checked against Keras and folded into running sums, then dropped."""
    totals = Accumulator(recomputed.network, int(data.x_test.shape[1]))
    for start in range(0, samples, SAMPLE_BATCH):
        stop = min(start + SAMPLE_BATCH, samples)
        x = data.x_test[start:stop] / data.scale
        trace = recurrence.forward(recomputed.network, x)
        worst = keras_model.check(keras_model.differences(recomputed, model, x, trace), path)
        totals.add(trace, data.y_test[start:stop], worst)
    return totals.result()


def tensors(result: GatesResult, trace: recurrence.Trace) -> dict[str, np.ndarray]:
    """Every tensor of the result at full precision, under names a notebook can index: layer0_forward_input."""
    arrays = {"input": np.asarray(result.input), "prediction": trace.prediction[0]}
    for layer in result.layers:
        for name, value in trace.gates[(layer.index, layer.direction)].items():
            arrays[f"layer{layer.index}_{layer.direction}_{name}"] = value[0]
    if result.statistics is not None:
        arrays["accuracy_by_step"] = np.asarray(result.statistics.accuracy_by_step)
        for entry in result.statistics.layers:
            prefix = f"layer{entry.index}_{entry.direction}"
            for gate, saturation in entry.saturation.items():
                arrays[f"{prefix}_{gate}_below"] = np.asarray(saturation.below)
                arrays[f"{prefix}_{gate}_above"] = np.asarray(saturation.above)
                arrays[f"{prefix}_{gate}_mean_by_step"] = np.asarray(entry.mean_by_step[gate])
    return arrays


def _save(result: GatesResult, trace: recurrence.Trace, save: Path) -> None:
    arrays = tensors(result, trace)
    try:
        atomic.write(save, lambda handle: np.savez(handle, **arrays))
    except OSError as exc:
        why = f"{{save}} {literal(save)}: cannot write it ({literal(exc.strerror)}); choose another path"
        raise FileError(save, why) from None
    result.saved = str(save)
