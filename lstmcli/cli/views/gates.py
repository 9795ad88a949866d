"""The terminal view of `lstmcli gates`: the input drawn row by row beside the prediction as it grows, every
gate as a units x steps map of shade characters, and the statistics over K samples.

Plain characters, no colour: the pictures read the same in a log, a pipe and a golden file. The PNG
(lstmcli.gates.picture) has the colour scales.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcli.gates.recurrence import SIGMOID_GATES
from lstmcli.gates.watch import DECIDED
from lstmcli.schemas import GateLayer, GatesResult, GateStatistics

SHADES = " ░▒▓█"
SPARK = "▁▂▃▄▅▆▇█"
BAR = 30
# Units whose gate spends more than this share of all steps saturated are listed as saturated.
MOSTLY = 0.5


def shade(values: np.ndarray) -> str:
    """Values in 0..1 as shade characters, darker for larger."""
    levels = np.clip((np.asarray(values) * len(SHADES)).astype(int), 0, len(SHADES) - 1)
    return "".join(SHADES[i] for i in levels)


def spark(values: list[float], low: float = 0.0, high: float = 1.0) -> str:
    scaled = (np.asarray(values) - low) / max(high - low, 1e-12)
    return "".join(SPARK[i] for i in np.clip((scaled * len(SPARK)).astype(int), 0, len(SPARK) - 1))


def _unit_scale(layer: GateLayer, gate: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    """A gate's values mapped to 0..1, and the range that maps to ' ' .. '█'."""
    if gate in SIGMOID_GATES[layer.cell]:
        return values, "0 to 1"
    bound = 1.0 if gate != "cell" else max(float(np.abs(values).max()), 1e-6)
    return (values / bound + 1.0) / 2.0, f"{-bound:.2g} to {bound:.2g}"


def decision(result: GatesResult) -> str:
    final = f"{result.confidence:.0%} sure it is a {result.predicted} after the last row"
    if result.decided_step is None:
        return f"{final}; not {DECIDED:.0%} sure before the end"
    p = result.prediction[result.decided_step][result.predicted]
    return f"{p:.0%} sure it is a {result.predicted} after row {result.decided_step + 1} of {result.steps} ({final})"


def reading(result: GatesResult) -> Iterator[str]:
    """One line per step: the row read, the most likely class so far, and the final answer's probability."""
    target = result.predicted
    yield f"row  input{' ' * max(result.features - 5, 0)}  so far    p({target})"
    for t, (row, probs) in enumerate(zip(result.input, result.prediction, strict=True)):
        best = int(np.argmax(probs))
        p = probs[target]
        bar = "█" * round(p * BAR)
        yield f"{t + 1:>3}  {shade(np.asarray(row))}  {best} {probs[best]:>4.0%}  {p:>6.1%} {bar}".rstrip()


def heatmaps(layer: GateLayer, width: int) -> Iterator[str]:
    """Each gate as units (rows) x steps (columns), as many side by side as the width allows."""
    steps = len(next(iter(layer.gates.values())))
    maps = {gate: _unit_scale(layer, gate, np.asarray(values).T) for gate, values in layer.gates.items()}
    column = max(steps, *(len(legend) for _, legend in maps.values()))
    per_band = max(1, (width - 6) // (column + 2))
    names = list(maps)
    where = f"{layer.layer} {layer.direction} ({layer.cell}, {layer.units} units)"
    yield f"{where}: rows units, columns steps; ' ' lowest, '█' highest"
    for start in range(0, len(names), per_band):
        band = names[start : start + per_band]
        yield "      " + "  ".join(f"{gate:<{column}}" for gate in band).rstrip()
        yield "      " + "  ".join(f"{maps[gate][1]:<{column}}" for gate in band).rstrip()
        for unit in range(layer.units):
            yield f"{unit:>4}  " + "  ".join(f"{shade(maps[gate][0][unit]):<{column}}" for gate in band).rstrip()


def _units(shares: list[float]) -> str:
    found = [str(i) for i, share in enumerate(shares) if share > MOSTLY]
    return ", ".join(found) if found else "none"


def statistics_table(stats: GateStatistics) -> Table:
    table = Table(title=f"over the first {stats.samples:,} test sequences", title_justify="left")
    for column in ("layer", "gate", f"units mostly < {stats.low:g}", f"units mostly > {stats.high:g}",
                   "mean at each step"):  # fmt: skip
        table.add_column(column)
    for layer in stats.layers:
        for gate, saturation in layer.saturation.items():
            table.add_row(escape(f"{layer.layer} {layer.direction}"), gate, _units(saturation.below),
                          _units(saturation.above), spark(layer.mean_by_step[gate]))  # fmt: skip
    return table


def accuracy_line(stats: GateStatistics) -> str:
    accuracy = stats.accuracy_by_step
    best = max(accuracy)
    first = next(t for t, a in enumerate(accuracy) if a >= best - 0.005)
    return (
        f"accuracy if reading stopped after each row: {spark(accuracy)}  {accuracy[0]:.1%} after row 1, "
        f"{accuracy[-1]:.1%} after row {len(accuracy)}; within 0.5 points of its best from row {first + 1}"
    )


def gates_view(result: GatesResult, console: Console) -> None:
    say = lambda text: console.print(text, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
    say(f"{result.model}: sample {result.sample} of {result.data}, label {result.label}, predicted {result.predicted}")
    say(decision(result))
    for line in reading(result):
        say(line)
    for layer in result.layers:
        say("")
        for line in heatmaps(layer, console.width):
            say(line)
    if result.statistics is not None:
        say("")
        console.print(statistics_table(result.statistics))
        say(accuracy_line(result.statistics))
    say(f"checked against Keras: largest difference {result.max_difference:.1e} (limit {result.tolerance:g})")
    if result.plot:
        say(f"gates plot: {result.plot}")
    if result.saved:
        say(f"tensors: {result.saved}")
