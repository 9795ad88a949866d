"""Closed-form parameter, mult-add and memory counts for recurrent classifiers.

Pure Python on purpose: `lstmcli params --no-verify` must answer in a fraction of TensorFlow's import
time, and the counts must stay checkable against Keras (and PyTorch) by tests rather than by trust.
Counting lives here; turning counts into tables, JSON or a blackboard explanation lives in
`lstmcli.cli.explain` (torchinfo keeps the same split).

Per gate block of a layer with input width m and n units:

* kernel: m x n weights (applied to x_t)
* recurrent kernel: n x n weights (applied to h_{t-1})
* bias: n, or 2n where two bias vectors are kept (Keras GRU with reset_after, every PyTorch cell)

so an LSTM layer (4 blocks) has 4 * (n * (n + m) + n) parameters in Keras. PyTorch's LSTM with
proj_size p shrinks h_t to p numbers: the recurrent kernel is then n x p per block, and one projection
matrix weight_hr of p x n is added per layer and direction.

Mult-adds (`macs`) count the matrix products only, for one sample: per step and direction x_t times the
fused kernel and h_(t-1) times the fused recurrent kernel, g * n * (m + n), times the timesteps; the head
once, or at every step for the per-step head (the same weights at each step). Bias additions, activations
and elementwise gate products are not counted (docs/lstm.md says why, and how this differs from torchinfo,
which counts every parameter, biases included, once per step).
"""

from __future__ import annotations

from dataclasses import dataclass

from lstmcli.errors import FieldError
from lstmcli.model.spec import ModelSpec

CONVENTIONS = ("keras", "pytorch")

BYTES_PER_PARAM = {"float32": 4, "bfloat16": 2}


@dataclass(frozen=True)
class GateCount:
    """Weights of one gate block (one slice of the fused Keras matrices)."""

    gate: str
    kernel: int
    recurrent: int
    bias: int

    @property
    def total(self) -> int:
        return self.kernel + self.recurrent + self.bias


@dataclass(frozen=True)
class DirectionCount:
    """One direction of one recurrent layer: its gate rows and the tensors as the framework stores them."""

    layer: int
    direction: str
    input_size: int
    units: int
    gates: tuple[GateCount, ...]
    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    macs: int
    projection: int = 0  # PyTorch's weight_hr (p x n), outside the gate blocks

    @property
    def total(self) -> int:
        return sum(g.total for g in self.gates) + self.projection


@dataclass(frozen=True)
class HeadCount:
    """The Dense head on the last layer's output: a classifier or a regressor, on the last step or every step.

    `classes` is the head's width (classes, or regression targets); `steps` how many positions it meets.
    """

    inputs: int
    classes: int
    kernel: int
    bias: int
    macs: int
    kind: str = "classify"
    steps: int = 1

    @property
    def total(self) -> int:
        return self.kernel + self.bias


@dataclass(frozen=True)
class ParamCount:
    """Everything `lstmcli params` reports, before any formatting."""

    spec: ModelSpec
    convention: str
    directions: tuple[DirectionCount, ...]
    head: HeadCount | None

    @property
    def recurrent_total(self) -> int:
        return sum(d.total for d in self.directions)

    @property
    def total(self) -> int:
        return self.recurrent_total + (self.head.total if self.head else 0)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one sample over all timesteps."""
        return sum(d.macs for d in self.directions) + (self.head.macs if self.head else 0)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def weight_bytes(self, dtype: str = "float32") -> int:
        return self.total * BYTES_PER_PARAM[dtype]

    def layer_total(self, layer: int) -> int:
        return sum(d.total for d in self.directions if d.layer == layer)


def biases_per_gate(spec: ModelSpec, convention: str) -> int:
    """How many bias vectors each gate keeps.

    Keras keeps one, except GRU with reset_after=True, which keeps an input bias and a recurrent bias
    because the reset gate multiplies (U h + b_rec) after the product. PyTorch (and cuDNN) keep
    b_ih and b_hh for every cell; mathematically the two add up to one, so it is a convention, not a
    different model.
    """
    if not spec.use_bias:
        return 0
    if convention == "pytorch":
        return 2
    if spec.cell == "gru" and spec.reset_after:
        return 2
    return 1


def _shapes(
    spec: ModelSpec, convention: str, layer: int, direction: str, m: int, nbias: int
) -> tuple[tuple[str, tuple[int, ...]], ...]:
    n, g, r = spec.units, len(spec.gates), spec.state_size
    if convention == "pytorch":
        suffix = f"_l{layer}" + ("_reverse" if direction == "backward" else "")
        shapes = [(f"weight_ih{suffix}", (g * n, m)), (f"weight_hh{suffix}", (g * n, r))]
        if nbias:
            shapes += [(f"bias_ih{suffix}", (g * n,)), (f"bias_hh{suffix}", (g * n,))]
        if spec.proj_size:
            shapes.append((f"weight_hr{suffix}", (spec.proj_size, n)))
        return tuple(shapes)
    shapes = [("kernel", (m, g * n)), ("recurrent_kernel", (n, g * n))]
    if nbias == 1:
        shapes.append(("bias", (g * n,)))
    elif nbias == 2:
        shapes.append(("bias", (2, g * n)))
    return tuple(shapes)


def count(spec: ModelSpec, convention: str = "keras") -> ParamCount:
    """Count every weight of `spec` in the closed form, gate by gate."""
    if convention not in CONVENTIONS:
        raise FieldError("convention", f"unknown {{convention}} {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    if spec.proj_size and convention != "pytorch":
        raise FieldError("proj_size", "Keras's LSTM has no projection; {proj_size} needs {convention} pytorch")
    n, r, p = spec.units, spec.state_size, spec.proj_size
    nbias = biases_per_gate(spec, convention)
    names = ("forward", "backward")[: spec.directions]
    directions = []
    for layer in range(spec.layers):
        m = spec.layer_input(layer)
        for direction in names:
            gates = tuple(GateCount(gate, m * n, n * r, nbias * n) for gate in spec.gates)
            macs = spec.timesteps * (len(spec.gates) * n * (m + r) + p * n)
            shapes = _shapes(spec, convention, layer, direction, m, nbias)
            directions.append(DirectionCount(layer, direction, m, n, gates, shapes, macs, p * n))
    return ParamCount(spec, convention, tuple(directions), head_count(spec))


def head_count(spec: ModelSpec) -> HeadCount | None:
    """The head's weights (the same for every kind) and its products (once per step it is applied at)."""
    if not spec.classes:
        return None
    k, c = spec.output_size, spec.classes
    steps = spec.timesteps if spec.sequence_output else 1
    return HeadCount(k, c, k * c, c, steps * k * c, spec.head, steps)
