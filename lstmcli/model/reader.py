"""`lstmcli params MODEL`: which reader a model file needs (lstmcli.params judges what it holds)."""

from __future__ import annotations

import stat
from pathlib import Path

from lstmcli import files
from lstmcli.errors import DataError
from lstmcli.model import h5_file, keras_file, load, onnx_file, torch_file
from lstmcli.model.report import FileReport

TORCH_SUFFIXES = (".safetensors", ".pt", ".pth")
# What `params MODEL` reads: the Keras models (lstmcli.model.load), ONNX, PyTorch state dicts.
SUFFIXES = (*load.SUFFIXES, onnx_file.SUFFIX, *TORCH_SUFFIXES)


def read(path: Path, unsafe: bool, timesteps: int | None, batch: int) -> FileReport:
    """Read a .keras file, a run folder or a state dict; the suffix decides which reader."""
    if path.suffix not in SUFFIXES:  # a run folder, or nothing `params` reads: said with every format it takes
        found = files.status(path, str(path))
        if found is None or not stat.S_ISDIR(found.st_mode):
            why = "no such file or folder" if found is None else "not a model file by its name"
            raise DataError(f"{path}: {why}; give {load.accepted(SUFFIXES)}")
    if path.suffix in TORCH_SUFFIXES:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        return torch_file.read(path, timesteps, batch)
    if path.suffix in h5_file.SUFFIXES:
        return h5_file.read(path, unsafe, timesteps, batch)
    if path.suffix == onnx_file.SUFFIX:
        return onnx_file.read(path, timesteps, batch)
    return keras_file.read(path, unsafe, timesteps, batch)
