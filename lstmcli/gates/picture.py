"""The PNG of `lstmcli gates`: the input, the prediction as it is read, and every gate as a units x steps map.

Drawn with lstmcli.plots' figure and atomic save (matplotlib's Agg canvas, no pyplot), imported only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lstmcli import plots
from lstmcli.errors import printable
from lstmcli.gates.recurrence import SIGMOID_GATES
from lstmcli.schemas import GatesResult, GateStatistics


def _colours(cell: str, gate: str, values: np.ndarray) -> dict[str, object]:
    """Gates on 0..1; tanh outputs on -1..1; the cell state on its own symmetric range."""
    if gate in SIGMOID_GATES[cell]:
        return {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
    bound = 1.0 if gate != "cell" else max(float(np.abs(values).max()), 1e-6)
    return {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}


def _statistics(stats: GateStatistics, panels: list[Any]) -> None:
    """Accuracy if reading stopped at each step, and the saturation plot of Karpathy et al. per layer."""
    if len(panels) < 2:
        return
    accuracy, saturation = panels[0], panels[1]
    accuracy.set_axis_on()
    accuracy.plot(range(1, len(stats.accuracy_by_step) + 1), stats.accuracy_by_step, "o-", markersize=3)
    accuracy.set_ylim(0, 1)
    accuracy.set_xlabel("steps read")
    accuracy.set_ylabel("accuracy")
    accuracy.set_title(f"accuracy if reading stopped ({stats.samples:,} samples)", fontsize="small")
    accuracy.grid(True, alpha=0.3)
    saturation.set_axis_on()
    for layer in stats.layers:
        for gate, shares in layer.saturation.items():
            saturation.scatter(shares.below, shares.above, s=10, alpha=0.7, label=printable(f"{layer.layer} {gate}"))
    saturation.plot([0, 1], [1, 0], color="grey", linewidth=0.5)
    saturation.set_xlim(0, 1)
    saturation.set_ylim(0, 1)
    saturation.set_xlabel(f"share of steps below {stats.low:g}")
    saturation.set_ylabel(f"share of steps above {stats.high:g}")
    saturation.set_title("saturation, one point per unit", fontsize="small")
    saturation.legend(fontsize="x-small")


def draw(result: GatesResult, path: Path) -> Path:
    columns = max(2 if result.statistics is None else 4, *(len(layer.gates) for layer in result.layers))
    figure = plots._figure(3.2 * columns, 2.8 * (1 + len(result.layers)))
    grid = figure.subplots(1 + len(result.layers), columns, squeeze=False)
    for axes in grid.flat:
        axes.set_axis_off()
    digit, curve = grid[0][0], grid[0][1]
    digit.set_axis_on()
    digit.imshow(np.asarray(result.input), cmap="gray_r", aspect="auto")
    digit.set_title(f"sample {result.sample}, label {result.label}", fontsize="medium")
    digit.set_ylabel("step (row read)")
    curve.set_axis_on()
    prediction = np.asarray(result.prediction)
    for label in range(result.classes):
        strong = label == result.predicted
        curve.plot(prediction[:, label], linewidth=2.5 if strong else 0.8, label=str(label) if strong else None)
    curve.set_ylim(0, 1)
    curve.set_xlabel("step")
    curve.set_ylabel("probability")
    curve.set_title(f"predicted {result.predicted} ({result.confidence:.0%})", fontsize="medium")
    curve.legend(loc="upper left", fontsize="small")
    if result.statistics is not None:
        _statistics(result.statistics, grid[0][2:])
    for row, layer in enumerate(result.layers, start=1):
        for column, (gate, values) in enumerate(layer.gates.items()):
            axes = grid[row][column]
            axes.set_axis_on()
            matrix = np.asarray(values).T  # units x steps
            image = axes.imshow(matrix, aspect="auto", interpolation="nearest", **_colours(layer.cell, gate, matrix))
            figure.colorbar(image, ax=axes)
            axes.set_title(printable(f"{layer.layer} {layer.direction}: {gate}"), fontsize="small")
            axes.set_xlabel("step")
            axes.set_ylabel("unit")
    figure.suptitle(printable(f"{Path(result.model).name}: largest difference from Keras {result.max_difference:.1e}"))
    return plots._save(figure, path)
