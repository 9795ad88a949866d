"""`lstmcli params MODEL`: which reader a model file needs (lstmcli.params judges what it holds)."""

from __future__ import annotations

from pathlib import Path

from lstmcli.errors import DataError
from lstmcli.model import h5_file, keras_file, onnx_file, torch_file
from lstmcli.model.report import FileReport

TORCH_SUFFIXES = (".safetensors", ".pt", ".pth")


def read(path: Path, unsafe: bool, timesteps: int | None, batch: int) -> FileReport:
    """Read a .keras file, a run folder or a state dict; the suffix decides which reader."""
    if path.suffix in TORCH_SUFFIXES:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        return torch_file.read(path, timesteps, batch)
    if path.suffix in (".h5", ".hdf5"):  # lstmcli.model.h5_file.SUFFIXES
        return h5_file.read(path, unsafe, timesteps, batch)
    if path.suffix == ".onnx":
        return onnx_file.read(path, timesteps, batch)
    return keras_file.read(path, unsafe, timesteps, batch)
