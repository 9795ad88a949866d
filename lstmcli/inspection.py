"""`lstmcli params` as library calls: a spec counted and verified, the budget question, a model file read.

Each returns the typed result whose dump is the command's JSON (lstmcli.schemas). The network's own modules
(lstmcli.model) count, build and read, and know nothing of the results built on them; this layer joins the
two, so that the arithmetic stays importable without pydantic.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lstmcli import schemas
from lstmcli.errors import CheckFailed
from lstmcli.model import torch_reference
from lstmcli.model.budget import Fit, closest, closest_units
from lstmcli.model.count import count
from lstmcli.model.factory import check_buildable, verification_refused
from lstmcli.model.memory import spec_memory
from lstmcli.model.spec import ModelSpec, check_positive
from lstmcli.model.verify import keras_count
from lstmcli.schemas import BudgetReport, ModelFileReport, ParamsReport


def examine(spec: ModelSpec, convention: str, verify: bool, batch: int | None = None) -> ParamsReport:
    """Count `spec` in closed form, verify it where that answers in seconds, and add memory for `batch`."""
    counts = count(spec, convention)
    memory = None if batch is None else spec_memory(counts, batch)
    if not verify:
        return ParamsReport.of(counts, memory=memory)
    check_buildable(spec)
    refused = verification_refused(spec, "PyTorch" if convention == "pytorch" else "Keras")
    if refused:
        return ParamsReport.of(counts, note=refused, memory=memory)
    if convention == "pytorch":
        torch_total = torch_reference.count(spec)
        note = (
            None if torch_total is not None else "PyTorch is not installed (pip install 'lstmcli[torch]'); not verified"
        )
        return ParamsReport.of(counts, torch=torch_total, note=note, memory=memory)
    return ParamsReport.of(counts, keras=keras_count(spec), memory=memory)


def budget(spec: ModelSpec, target: int, convention: str = "keras") -> BudgetReport:
    """`params --budget`: the neighbours of `target` for the model `spec` describes, with the closest one's
    units in `spec`."""
    below, above = closest_units(spec, target, convention)
    best = closest(below, above, target)

    def neighbour(fit: Fit | None) -> schemas.Fit | None:
        return None if fit is None else schemas.Fit(units=fit.units, total=fit.total)

    return BudgetReport(budget=target, convention=convention, spec=replace(spec, units=best.units),
                        units=best.units, total=best.total, below=neighbour(below),
                        above=neighbour(above))  # fmt: skip


def describe(path: Path, unsafe: bool, timesteps: int | None, batch: int) -> ModelFileReport:
    """`params MODEL`: what the file holds, layer by layer beside the closed form."""
    check_positive("batch_size", batch)
    if timesteps is not None:
        check_positive("timesteps", timesteps)
    from lstmcli.model import reader  # NumPy and the file formats: only when a file is read, not for a count

    return ModelFileReport.of(reader.read(path, unsafe, timesteps, batch))


def judge(report: ParamsReport | ModelFileReport) -> None:
    """Exit 1 when the framework's count differs from the closed form (a layer's, for a model file)."""
    if isinstance(report, ParamsReport):
        if report.verified is not None and report.verified != report.total:
            raise CheckFailed(f"closed form {report.total:,} but {report.framework} counts {report.verified:,}")
    elif report.mismatches:
        worst = report.mismatches[0]
        raise CheckFailed(
            f"{worst.name}: closed form {worst.closed_form:,} but {report.framework} holds {worst.params:,} "
            f"({len(report.mismatches)} layer(s) differ)"
        )
