"""Shapes, memory and mult-adds of a forward and a training pass, layer by layer, for a batch and a length.

Pure Python, like the closed form: the spec-based `params`, a saved Keras model and a PyTorch state dict all
describe their layers as :class:`LayerCost` rows, and :class:`Memory` adds them up the same way for all three.

What is counted (docs/lstm.md, "Shapes and memory", says why):

* activations of a forward pass: every layer's output, batch x elements x 4 bytes (float32);
* training: weights, their gradients and Adam's two moments (4 x the weights), plus what backpropagation
  through time keeps: the input, every layer's output, and for a recurrent layer, per step and direction,
  its gate pre-activations (g x n), its state h_t (and the cell state C_t of an LSTM);
* mult-adds: the matrix products only (as `count` counts them); torchinfo's figure, which multiplies every
  parameter (biases included) by batch x time steps for recurrent modules and by the batch for others, is
  kept beside it so the two can be compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from lstmcli.model.count import ParamCount, count
from lstmcli.model.spec import CELL_NAMES, check_positive

FLOAT_BYTES = 4


@dataclass(frozen=True)
class LayerCost:
    """One layer's output and costs for one sample (the batch multiplies them in :class:`Memory`)."""

    name: str
    kind: str
    params: int
    output: tuple[int, ...] | None  # without the batch axis; the time axis included where there is one
    per_step: tuple[int, ...] | None  # the same without the time axis
    macs: int | None  # matrix products; None where not estimated (a layer kind we do not model)
    torchinfo_macs: int | None  # torchinfo's rule for the same weights; None where unknown
    kept: int = 0  # floats kept for backpropagation besides the output (gates and states of a recurrent layer)

    @property
    def output_elements(self) -> int:
        return math.prod(self.output) if self.output is not None else 0


@dataclass(frozen=True)
class Memory:
    """The sums over layers for `batch` samples of `timesteps` steps; bytes are float32."""

    batch: int
    timesteps: int
    input_elements: int  # per sample
    params: int
    layers: tuple[LayerCost, ...]

    def __post_init__(self) -> None:
        check_positive("batch", self.batch)
        check_positive("timesteps", self.timesteps)

    @property
    def weights_bytes(self) -> int:
        return self.params * FLOAT_BYTES

    @property
    def activation_bytes(self) -> int:
        """Every layer's output for the batch: what a forward pass writes."""
        return self.batch * sum(c.output_elements for c in self.layers) * FLOAT_BYTES

    @property
    def kept_bytes(self) -> int:
        """What backpropagation through time keeps: the input, the outputs, the gates and states of each step."""
        floats = self.input_elements + sum(c.output_elements + c.kept for c in self.layers)
        return self.batch * floats * FLOAT_BYTES

    @property
    def training_bytes(self) -> int:
        """Weights + gradients + Adam's two moments (4 copies) + the activations kept for backpropagation."""
        return 4 * self.weights_bytes + self.kept_bytes

    @property
    def macs(self) -> int:
        return self.batch * sum(c.macs or 0 for c in self.layers)

    @property
    def torchinfo_macs(self) -> int:
        return self.batch * sum(c.torchinfo_macs if c.torchinfo_macs is not None else c.macs or 0 for c in self.layers)

    @property
    def unestimated(self) -> tuple[str, ...]:
        """Layers with weights whose mult-adds are not estimated (their kind is not modelled)."""
        return tuple(c.name for c in self.layers if c.macs is None)


def recurrent_cost(name: str, kind: str, counts: ParamCount, output: tuple[int, ...]) -> LayerCost:
    """A recurrent layer's row from its one-layer closed form (all its directions; T is counts.spec.timesteps).

    `output` is what the layer emits, (T, width) or (width,): the caller knows return_sequences and merge modes.
    """
    spec = counts.spec
    t, n = spec.timesteps, spec.units
    states = spec.state_size + (n if spec.cell == "lstm" else 0)  # h_t, and C_t for an LSTM
    kept = t * spec.directions * (len(spec.gates) * n + states)
    torchinfo = t * count(spec, "pytorch").recurrent_total
    return LayerCost(name, kind, counts.recurrent_total, output, output[-1:], counts.macs, torchinfo, kept)


def spec_costs(counts: ParamCount) -> tuple[LayerCost, ...]:
    """The rows of the spec-based model: each recurrent layer (its directions together), then the head."""
    spec, rows = counts.spec, []
    for layer in range(spec.layers):
        one = replace(spec, layers=1, input_size=spec.layer_input(layer), classes=0)
        name = f"{CELL_NAMES[spec.cell]} {layer + 1}"
        kind = f"Bidirectional({CELL_NAMES[spec.cell]})" if spec.bidirectional else CELL_NAMES[spec.cell]
        every_step = layer < spec.layers - 1 or spec.sequence_output
        output = (spec.timesteps, spec.output_size) if every_step else (spec.output_size,)
        rows.append(recurrent_cost(name, kind, count(one, counts.convention), output))
    if counts.head:
        h = counts.head
        output = (spec.timesteps, h.classes) if spec.sequence_output else (h.classes,)
        # torchinfo multiplies a non-recurrent module's parameters by the batch only, whatever its input's length.
        rows.append(LayerCost("Dense head", "Dense", h.total, output, (h.classes,), h.macs, h.total))
    return tuple(rows)


def spec_memory(counts: ParamCount, batch: int) -> Memory:
    spec = counts.spec
    return Memory(batch, spec.timesteps, spec.timesteps * spec.input_size, counts.total, spec_costs(counts))
