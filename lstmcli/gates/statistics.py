"""Aggregates over many samples, kept as running sums: K samples cost the memory of one batch, not of K.

NumPy only. Karpathy, Johnson and Fei-Fei ("Visualizing and Understanding Recurrent Networks", 2015) plot,
per unit, the fraction of time a gate is left-saturated (below 0.1) or right-saturated (above 0.9); here that,
the mean of each gate at each step, and the accuracy the model would have if it stopped reading at step t.
"""

from __future__ import annotations

import numpy as np

from lstmcli.gates.recurrence import SIGMOID_GATES, Network, Trace
from lstmcli.schemas import GateStatistics, LayerStatistics, Saturation

LOW, HIGH = 0.1, 0.9


class Accumulator:
    def __init__(self, network: Network, steps: int) -> None:
        self.network = network
        self.samples = 0
        self.correct = np.zeros(steps, dtype=np.int64)
        self.below: dict[tuple[int, str, str], np.ndarray] = {}
        self.above: dict[tuple[int, str, str], np.ndarray] = {}
        self.sums: dict[tuple[int, str, str], np.ndarray] = {}
        self.max_difference = 0.0

    def add(self, trace: Trace, labels: np.ndarray, difference: float) -> None:
        """Fold one batch in; nothing of it is kept but the sums."""
        self.samples += len(labels)
        self.correct += (trace.prediction.argmax(axis=-1) == labels[:, None]).sum(axis=0)
        self.max_difference = max(self.max_difference, difference)
        for d in self.network.directions:
            for gate in SIGMOID_GATES[d.cell.kind]:
                value = trace.gates[(d.index, d.direction)][gate]  # (B, T, n)
                key = (d.index, d.direction, gate)
                self.below[key] = self.below.get(key, 0) + (value < LOW).sum(axis=(0, 1))
                self.above[key] = self.above.get(key, 0) + (value > HIGH).sum(axis=(0, 1))
                self.sums[key] = self.sums.get(key, 0) + value.sum(axis=(0, 2))

    def result(self) -> GateStatistics:
        steps = len(self.correct)
        layers = []
        for d in self.network.directions:
            gates = SIGMOID_GATES[d.cell.kind]
            keys = {gate: (d.index, d.direction, gate) for gate in gates}
            seen = self.samples * steps
            saturation = {g: Saturation(below=_floats(self.below[k] / seen), above=_floats(self.above[k] / seen))
                          for g, k in keys.items()}  # fmt: skip
            means = {g: _floats(self.sums[k] / (self.samples * d.cell.units)) for g, k in keys.items()}
            layers.append(LayerStatistics(layer=d.layer, index=d.index, direction=d.direction, cell=d.cell.kind,
                                          saturation=saturation, mean_by_step=means))  # fmt: skip
        return GateStatistics(samples=self.samples, low=LOW, high=HIGH, accuracy_by_step=_floats(self.correct /
                              self.samples), max_difference=self.max_difference, layers=layers)  # fmt: skip


def _floats(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]
