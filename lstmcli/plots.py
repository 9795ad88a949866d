"""Pictures of a run: learning curves (written by `train`) and the confusion matrix (written by `eval`).

A picture is written in the format its name's suffix says (FORMATS: PNG, JPEG, SVG, PDF, all drawn by
matplotlib itself); a name with any other suffix is refused before any work, never written as PNG under it.

matplotlib is imported inside the functions, so commands that draw nothing never pay for it, and only its
object-oriented API is used (a `Figure` on an Agg canvas, no pyplot): no GUI backend, no global figure
state, the same pixels with or without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstmcli import atomic, files
from lstmcli.errors import FileError, literal, printable

if TYPE_CHECKING:
    from matplotlib.figure import Figure


DPI = 100
# The suffixes a picture's name may end with (any case), and the matplotlib format each one names.
FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg", ".pdf": "pdf"}


def picture_format(path: Path, field: str | None = "plot") -> str:
    """The format `path`'s suffix names; refused (naming `field`) for a suffix matplotlib is not asked to write,
    so that a picture is never written in one format under another's name."""
    chosen = FORMATS.get(path.suffix.lower())
    if chosen is None:
        suffix = f"the suffix {literal(repr(path.suffix))}" if path.suffix else "a name without a suffix"
        raise FileError(
            path,
            f"{files.label(str(path), field)}: {suffix} names no picture format lstmcli writes; end the name with "
            f"{', '.join(FORMATS)}",
        )
    return chosen


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    """Write the picture atomically, like every other file of a run, in the format its name says."""
    chosen = picture_format(path, None)
    atomic.write(path, lambda handle: figure.savefig(handle, format=chosen, dpi=DPI))
    return path


FIGURES = {"accuracy": "accuracy", "recall_accuracy": "recall accuracy", "mse": "mean squared error"}


def learning_curves(history: Sequence[dict[str, float]], path: Path, title: str = "") -> Path:
    """Loss, accuracy and learning rate against steps, from the rows of history.csv.

    The training line is the mean over each chunk of steps; validation and test are points where they
    were measured (the test set once, at the end, except in the article's schedule).
    """
    if not history:
        raise ValueError("no rows recorded; nothing to plot")
    figure = _figure(15, 4)
    loss_axes, accuracy_axes, rate_axes = figure.subplots(1, 3)
    # The task's figure (lstmcli.tasks: Task.metric), as the history's columns name it.
    figured = next((k for k in FIGURES if any(f"train_{k}" in row or f"val_{k}" in row for row in history)), "accuracy")
    loss_label = "mean squared error" if figured == "mse" else "cross-entropy loss"
    for axes, key, label in ((loss_axes, "loss", loss_label), (accuracy_axes, figured, FIGURES[figured])):
        _series(axes, history, f"train_{key}", "train (mean over each chunk)", "-")
        _series(axes, history, f"val_{key}", "validation", "o-")
        _series(axes, history, f"test_{key}", "test", "s")
        axes.set_ylabel(label)
        axes.legend()
    _series(rate_axes, history, "learning_rate", "Adam learning rate", "-")
    rate_axes.set_ylabel("learning rate")
    for axes in (loss_axes, accuracy_axes, rate_axes):
        axes.set_xlabel("step")
        axes.grid(True, alpha=0.3)
    tested = [row for row in history if f"test_{figured}" in row]
    if tested:
        accuracy_axes.set_title(f"final test {FIGURES[figured]} {tested[-1][f'test_{figured}']:.4f}",
                                fontsize="medium")  # fmt: skip
        loss_axes.set_title(f"final test loss {tested[-1]['test_loss']:.4f}", fontsize="medium")
    if title:
        figure.suptitle(printable(title))
    return _save(figure, path)


def _series(axes: Any, history: Sequence[dict[str, float]], key: str, label: str, style: str) -> None:
    points = [(row["step"], row[key]) for row in history if row.get(key) is not None]
    if points:
        steps, values = zip(*points, strict=True)
        axes.plot(steps, values, style, label=label, markersize=4 if len(points) <= 60 else 2)


def confusion_heatmap(matrix: Sequence[Sequence[int]], path: Path, title: str = "") -> Path:
    """The confusion matrix as a heat map: rows true classes, columns predicted, each cell its count.

    Colours are the share of the row (the recall of the true class), so errors in rare and common
    classes are equally visible; the numbers are the raw counts.
    """
    import numpy as np

    counts = np.asarray(matrix, dtype=np.int64)
    classes = counts.shape[0]
    if counts.ndim != 2 or counts.shape[1] != classes or classes == 0:
        raise ValueError(f"a confusion matrix must be square and non-empty, got shape {counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = max(5.0, 0.55 * classes + 1.5)
    figure = _figure(size + 1.0, size)
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="share of the true class")
    ticks = list(range(classes))
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    if classes <= 30:
        for row in range(classes):
            for column in range(classes):
                if counts[row, column]:
                    colour = "white" if shares[row, column] > 0.5 else "black"
                    axes.text(column, row, str(counts[row, column]), ha="center", va="center", color=colour,
                              fontsize="small")  # fmt: skip
    accuracy = np.trace(counts) / max(int(counts.sum()), 1)
    axes.set_title(printable(title) or f"confusion matrix, accuracy {accuracy:.4f} ({int(counts.sum()):,} images)")
    return _save(figure, path)


# How the sweep plot labels each figure a sweep summarises (lstmcli/sweep/results.py FIGURES).
FIGURE_LABELS = {"val_accuracy": "validation accuracy", "test_accuracy": "test accuracy", "val_mse": "validation MSE",
                 "test_mse": "test MSE", "val_loss": "validation loss", "test_loss": "test loss"}  # fmt: skip


def sweep_figures(
    configurations: Sequence[dict[str, Any]], path: Path, figures: Sequence[str] = ("val_accuracy", "test_accuracy"),
    baseline: float | None = None, title: str = "",
) -> Path:  # fmt: skip
    """A sweep's validation and test figure (its task's: accuracy, MSE, loss) against the parameter count, one
    series per cell; a task judged by its loss on a log scale, with its memoryless baseline as a line.

    Each point is a configuration's mean over its seeds, its error bar the standard deviation across them
    (none with one seed): the picture that says whether a cell wins at equal size or only by being larger.
    """
    shown = list(figures[:2])  # the validation figure and the test set's (the copy task's recall stays in tables)
    plotted = [c for c in configurations if c.get("parameters") is not None and c.get(f"{shown[0]}_mean") is not None]
    if not plotted:
        raise ValueError("no configuration has a complete trial; nothing to plot")
    figure = _figure(12, 4.5)
    panels = figure.subplots(1, 2, sharey=True)
    cells = sorted({str(c.get("cell")) for c in plotted})
    for axes, key in zip(panels, shown, strict=True):
        for cell in cells:
            # .get: a figure's spread is left out of a configuration's record where it has none (a single seed)
            points = sorted((c["parameters"], c[f"{key}_mean"], c.get(f"{key}_std") or 0.0) for c in plotted
                            if str(c.get("cell")) == cell and c.get(f"{key}_mean") is not None)  # fmt: skip
            if points:
                xs, ys, errors = zip(*points, strict=True)
                axes.errorbar(xs, ys, yerr=errors, fmt="o", capsize=3, label=cell)
        if baseline is not None:
            axes.axhline(baseline, color="grey", linestyle="--", label=f"baseline {baseline:.4g}")
            axes.set_yscale("log")
        counts = [c["parameters"] for c in plotted]
        if min(counts) > 0 and max(counts) / min(counts) > 10:
            axes.set_xscale("log")
        axes.set_xlabel("parameters")
        axes.set_ylabel(f"{FIGURE_LABELS.get(key, key)} (mean ± sd over seeds)")
        axes.grid(True, alpha=0.3)
        axes.legend(title="cell")
    if title:
        figure.suptitle(printable(title))
    return _save(figure, path)
