"""`lstmcli params`: count in closed form, verify against the framework, and judge; the result is a ParamsReport."""

from __future__ import annotations

from lstmcli import runtime
from lstmcli.errors import CheckFailed
from lstmcli.model import torch_reference
from lstmcli.model.count import count
from lstmcli.model.factory import build_model, check_buildable, verification_refused
from lstmcli.model.memory import spec_memory
from lstmcli.model.spec import ModelSpec
from lstmcli.schemas import ParamsReport


def keras_count(spec: ModelSpec) -> int:
    """count_params() of the factory's model: the number the closed form must equal."""
    runtime.tensorflow()
    return int(build_model(spec, cheap=True).count_params())


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


def judge(report: ParamsReport) -> None:
    """Exit 1 when the framework's count differs from the closed form."""
    if report.verified is not None and report.verified != report.total:
        raise CheckFailed(f"closed form {report.total:,} but {report.framework} counts {report.verified:,}")
