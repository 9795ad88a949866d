"""The PNG of `lstmcli gates`: the input, the prediction as it is read, and every gate as a units x steps map.

Drawn with lstmcli.plots' figure and atomic save (matplotlib's Agg canvas, no pyplot), imported only here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstmcli import plots
from lstmcli.errors import printable
from lstmcli.gates.recurrence import SIGMOID_GATES
from lstmcli.gates.result import GatesResult


def _colours(cell: str, gate: str, values: np.ndarray) -> dict[str, object]:
    """Gates on 0..1; tanh outputs on -1..1; the cell state on its own symmetric range."""
    if gate in SIGMOID_GATES[cell]:
        return {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
    bound = 1.0 if gate != "cell" else max(float(np.abs(values).max()), 1e-6)
    return {"cmap": "RdBu_r", "vmin": -bound, "vmax": bound}


def draw(result: GatesResult, path: Path) -> Path:
    columns = max(2, *(len(layer.gates) for layer in result.layers))
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
