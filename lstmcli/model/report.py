"""What a saved model holds, layer by layer, beside the closed form: the one report of every model reader.

A saved Keras model (.keras, or a run folder) and a PyTorch state dict (.safetensors, .pt, .pth) are read
by their own modules (keras_file, torch_file) into the one :class:`FileReport`, so that rendering, the
judgement and the JSON do not care which framework wrote the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from lstmcli.model.count import ParamCount
from lstmcli.model.memory import Memory


@dataclass(frozen=True)
class FileLayer:
    """One layer of a Keras model, one recurrent group or one other tensor of a state dict."""

    name: str
    kind: str
    params: int  # what the file holds: Keras's count_params() of the layer, or the stored tensors' sizes
    counts: ParamCount | None  # the closed form, for a recurrent layer it covers
    output: tuple[int | None, ...] | None  # as the framework reports it (None: the batch, or an open time axis)
    tensors: tuple[tuple[str, tuple[int, ...]], ...]  # as stored

    @property
    def closed_form(self) -> int | None:
        return None if self.counts is None else self.counts.recurrent_total

    @property
    def match(self) -> bool | None:
        return None if self.counts is None else self.closed_form == self.params


@dataclass(frozen=True)
class FileReport:
    """Everything `params MODEL` shows: the layers, the whole count, shapes and memory, and notes."""

    path: str
    framework: str  # "Keras" or "PyTorch"
    convention: str  # the closed form's convention: "keras" or "pytorch"
    layers: tuple[FileLayer, ...]
    total: int  # Keras's count_params() of the whole model, or every stored tensor's size
    memory: Memory
    notes: tuple[str, ...] = ()

    @property
    def covered(self) -> tuple[FileLayer, ...]:
        return tuple(layer for layer in self.layers if layer.counts is not None)

    @property
    def mismatches(self) -> tuple[FileLayer, ...]:
        return tuple(layer for layer in self.covered if not layer.match)
