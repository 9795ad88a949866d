"""The JSON of `lstmcli gates`, as pydantic models (published as docs/schemas/gates.schema.json).

Gate names are the docs' names (docs/lstm.md): LSTM input, forget, candidate, output, cell, hidden; GRU update,
reset, candidate, hidden; SimpleRNN hidden. Every array is steps x units (or steps x classes), position t being
step t of the input, for a backward direction too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

GateName = Literal["input", "forget", "candidate", "output", "cell", "hidden", "update", "reset"]
Matrix = list[list[float]]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GateLayer(Strict):
    """One direction of one recurrent layer, every tensor at every step."""

    layer: str
    index: int
    direction: Literal["forward", "backward"]
    cell: Literal["lstm", "gru", "rnn"]
    units: int
    reset_after: bool | None
    max_difference: float
    gates: dict[GateName, Matrix]


class Saturation(Strict):
    """Per unit, the fraction of steps (over every sample) a gate spends below 0.1 and above 0.9."""

    below: list[float]
    above: list[float]


class LayerStatistics(Strict):
    layer: str
    index: int
    direction: Literal["forward", "backward"]
    cell: Literal["lstm", "gru", "rnn"]
    saturation: dict[GateName, Saturation]
    mean_by_step: dict[GateName, list[float]]


class GateStatistics(Strict):
    """Over the first `samples` test sequences: saturation, mean gates over time, accuracy if reading stopped."""

    samples: int
    low: float
    high: float
    accuracy_by_step: list[float]
    max_difference: float
    layers: list[LayerStatistics]


class GatesResult(Strict):
    """`lstmcli gates --format json`: one test sequence through every gate, and the prediction as it is read."""

    schema_version: Literal[1]
    model: str
    data: str
    sample: int
    label: int
    predicted: int
    confidence: float
    decided_step: int | None
    steps: int
    features: int
    classes: int
    input: Matrix
    layers: list[GateLayer]
    prediction: Matrix
    max_difference: float
    tolerance: float
    statistics: GateStatistics | None = None
    plot: str | None = None
    saved: str | None = None
