"""The description of a model that every command shares.

A :class:`ModelSpec` is plain data: the closed-form arithmetic reads it without TensorFlow, and the
model factory turns the very same object into a Keras model, so the two can never describe different
networks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from lstmcli.errors import FieldError, literal

CELLS = ("lstm", "gru", "rnn")
# The Keras class of each cell, as tables and model files name it.
CELL_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}

# Names of the gate blocks in the order Keras concatenates them inside kernel/recurrent_kernel/bias
# (keras.layers.LSTMCell: i, f, c, o; GRUCell: z, r, h). Keeping Keras's order means the per-gate rows
# line up with slices of the real weight matrices.
GATES: dict[str, tuple[str, ...]] = {
    "lstm": ("input", "forget", "candidate", "output"),
    "gru": ("update", "reset", "candidate"),
    "rnn": ("state",),
}

# What the model emits, read from the last recurrent layer: a classifier (Dense softmax) on the last step, a
# linear regressor (Dense, no activation) on the last step, or a classifier at every step (the last recurrent
# layer returns its whole sequence; Keras's Dense applies the same weights at each step, as TimeDistributed
# would). The first is the article's model and the default.
HEADS = ("classify", "regress", "sequence")

# Keras initialises an LSTM's forget-gate bias to 1 (unit_forget_bias=True) and every other bias to 0.
DEFAULT_FORGET_BIAS = 1.0
# The largest forget-gate bias taken, either sign: float32's sigmoid is exactly 1 (or 0) from about 17 on, so a
# larger bias changes nothing, and one past float32's range (1e39) turned the weights infinite at step 0.
MAX_FORGET_BIAS = 100.0
# Fields added after the first published outputs: to_dict leaves them out at their defaults, so the specs
# every existing output and run folder holds stay byte for byte what they were (from_dict fills them in).
LATER_FIELDS = ("head", "forget_bias")

# Largest value accepted for a size-like option. Beyond this the closed form still answers, but
# nothing sensible can be built; the memory check in factory/training gives the precise reason.
MAX_SIZE = 10**9
# Most classes a data set (and so a classifier trained here) may have.
MAX_CLASSES = 10_000
# Sequence length where neither the user nor a model file gives one: MNIST's 28 rows.
DEFAULT_TIMESTEPS = 28
# The torch.nn class of each cell, as PyTorch names it.
TORCH_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def check_positive(field: str, value: int, *, allow_zero: bool = False) -> int:
    """Reject sizes a network cannot have, naming the field so the user knows what to change."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"{{{field}}} must be a whole number, got {literal(repr(value))}")
    if value < low:
        raise FieldError(field, f"{{{field}}} must be at least {low}, got {value}")
    if value > MAX_SIZE:
        raise FieldError(field, f"{{{field}}} is {value:,}, which is absurd; use at most {MAX_SIZE:,}")
    return value


def check_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        shown = f"{field.replace('_', '-')} {literal(repr(value))}"
        raise FieldError(field, f"unknown {shown}; choose one of {', '.join(choices)}")
    return value


def not_lstm(cell: str) -> FieldError:
    """The refusal of a forget-gate bias for a cell without a forget gate."""
    return FieldError("forget_bias", f"{{forget_bias}} exists only for LSTM (the forget gate); not for {{cell}} {cell}")


@dataclass(frozen=True)
class ModelSpec:
    """One recurrent model: Input(timesteps, input_size) -> K recurrent layers -> Dense(classes) as `head` says.

    `classes` is the width of the head: classes for the two classifiers, targets for the regressor (0: no head).
    """

    cell: str = "lstm"
    units: int = 75
    input_size: int = 28
    timesteps: int = DEFAULT_TIMESTEPS
    layers: int = 1
    bidirectional: bool = False
    use_bias: bool = True
    reset_after: bool = True
    classes: int = 10
    unroll: bool = field(default=False, compare=False)
    # PyTorch's LSTM(proj_size=p): h_t is projected from n to p numbers by weight_hr (p x n). Keras has no
    # such option, so only the PyTorch convention counts it; 0 means no projection.
    proj_size: int = 0
    head: str = "classify"
    # The forget gate's initial bias b (LSTM only); the other gates' biases start at 0 whatever b is.
    forget_bias: float = DEFAULT_FORGET_BIAS

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, CELLS)
        check_positive("units", self.units)
        check_positive("input_size", self.input_size)
        check_positive("timesteps", self.timesteps)
        check_positive("layers", self.layers)
        check_positive("classes", self.classes, allow_zero=True)
        if self.layers > 1000:
            raise FieldError("layers", f"{{layers}} is {self.layers:,}, which is absurd; use at most 1000")
        check_positive("proj_size", self.proj_size, allow_zero=True)
        if self.proj_size and self.cell != "lstm":
            raise FieldError(
                "proj_size", f"{{proj_size}} exists only for LSTM (torch.nn.LSTM); not for {{cell}} {self.cell}"
            )
        if self.proj_size >= self.units:
            raise FieldError(
                "proj_size", f"{{proj_size}} must be smaller than {{units}} ({self.units}), got {self.proj_size}"
            )
        check_choice("head", self.head, HEADS)
        self._check_forget_bias()

    def _check_forget_bias(self) -> None:
        b = self.forget_bias
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
            raise FieldError("forget_bias", f"{{forget_bias}} must be a finite number, got {literal(repr(b))}")
        if abs(b) > MAX_FORGET_BIAS:
            raise FieldError(
                "forget_bias",
                f"{{forget_bias}} must be between -{MAX_FORGET_BIAS:g} and {MAX_FORGET_BIAS:g} (the gate is shut or "
                f"open for good well before), got {b:g}",
            )
        if b == DEFAULT_FORGET_BIAS:
            return
        if self.cell != "lstm":
            raise not_lstm(self.cell)
        if not self.use_bias:
            raise FieldError("forget_bias", "{forget_bias} sets a bias; it does not apply with {no_bias}")

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def state_size(self) -> int:
        """Width of h_t, what the recurrent kernel meets and the layer emits: n, or p with a projection."""
        return self.proj_size or self.units

    def layer_input(self, layer: int) -> int:
        """Input width of layer `layer` (0-based): stacked layers read the previous layer's output."""
        return self.input_size if layer == 0 else self.output_size

    @property
    def output_size(self) -> int:
        return self.state_size * self.directions

    @property
    def sequence_output(self) -> bool:
        """Whether the last recurrent layer returns every step (the per-step head reads them all)."""
        return self.head == "sequence"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in LATER_FIELDS:
            if data[name] == self.__dataclass_fields__[name].default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)
