"""`lstmcli params MODEL`: which reader a model file needs, and the judgement of what it holds."""

from __future__ import annotations

from pathlib import Path

from lstmcli.errors import CheckFailed, DataError
from lstmcli.model import keras_file, torch_file
from lstmcli.model.report import FileReport
from lstmcli.schemas import ModelFileReport

TORCH_SUFFIXES = (".safetensors", ".pt", ".pth")


def read(path: Path, unsafe: bool, timesteps: int | None, batch: int) -> FileReport:
    """Read a .keras file, a run folder or a state dict; the suffix decides which reader."""
    if path.suffix in TORCH_SUFFIXES:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        return torch_file.read(path, timesteps, batch)
    return keras_file.read(path, unsafe, timesteps, batch)


def describe(path: Path, unsafe: bool, timesteps: int | None, batch: int) -> ModelFileReport:
    """`params MODEL`: what the file holds, layer by layer beside the closed form, as the typed result."""
    return ModelFileReport.of(read(path, unsafe, timesteps, batch))


def judge(report: ModelFileReport) -> None:
    """Exit 1 when a recurrent layer's closed form differs from what the file holds for it."""
    if report.mismatches:
        worst = report.mismatches[0]
        raise CheckFailed(
            f"{worst.name}: closed form {worst.closed_form:,} but {report.framework} holds {worst.params:,} "
            f"({len(report.mismatches)} layer(s) differ)"
        )
