"""`lstmcli params MODEL`: what a saved model holds, layer by layer, beside the closed form.

A saved Keras model (.keras, or a run folder) and a PyTorch state dict (.safetensors, .pt, .pth) are read
by their own modules (keras_file, torch_file) into the one :class:`FileReport`, so that rendering, the
check and the JSON do not care which framework wrote the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lstmcli.errors import CheckFailed, DataError
from lstmcli.model.count import ParamCount
from lstmcli.model.memory import Memory

TORCH_SUFFIXES = (".safetensors", ".pt", ".pth")


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


def read(path: Path, unsafe: bool, timesteps: int | None, batch: int) -> FileReport:
    """Read a .keras file, a run folder or a state dict; the suffix decides which reader."""
    if path.suffix in TORCH_SUFFIXES:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        from lstmcli.model import torch_file

        return torch_file.read(path, timesteps, batch)
    if path.suffix in (".h5", ".hdf5"):  # lstmcli.model.h5_file.SUFFIXES
        from lstmcli.model import h5_file

        return h5_file.read(path, unsafe, timesteps, batch)
    if path.suffix == ".onnx":
        from lstmcli.model import onnx_file

        return onnx_file.read(path, timesteps, batch)
    from lstmcli.model import keras_file

    return keras_file.read(path, unsafe, timesteps, batch)


def check(report: FileReport) -> None:
    """Exit 1 when a recurrent layer's closed form differs from what the file holds for it."""
    if report.mismatches:
        worst = report.mismatches[0]
        raise CheckFailed(
            f"{worst.name}: closed form {worst.closed_form:,} but {report.framework} holds {worst.params:,} "
            f"({len(report.mismatches)} layer(s) differ)"
        )
