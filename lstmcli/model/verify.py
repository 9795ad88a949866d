"""`lstmcli params`: count in closed form, verify against the framework, present, and judge."""

from __future__ import annotations

from dataclasses import dataclass

from lstmcli import runtime
from lstmcli.errors import CheckFailed
from lstmcli.model import torch_reference
from lstmcli.model.count import ParamCount, count
from lstmcli.model.factory import build_model, check_buildable, verification_refused
from lstmcli.model.memory import Memory, spec_memory
from lstmcli.model.spec import ModelSpec


@dataclass(frozen=True)
class Outcome:
    counts: ParamCount
    keras: int | None
    torch: int | None
    note: str | None = None
    memory: Memory | None = None  # shapes and memory, when a --batch-size was given

    @property
    def verified(self) -> int | None:
        return self.torch if self.counts.convention == "pytorch" else self.keras

    @property
    def framework(self) -> str:
        return "PyTorch" if self.counts.convention == "pytorch" else "Keras"


def keras_count(spec: ModelSpec) -> int:
    """count_params() of the factory's model: the number the closed form must equal."""
    runtime.tensorflow()
    return int(build_model(spec, cheap=True).count_params())


def examine(spec: ModelSpec, convention: str, verify: bool, batch: int | None = None) -> Outcome:
    """Count `spec` in closed form, verify it where that answers in seconds, and add memory for `batch`."""
    counts = count(spec, convention)
    memory = None if batch is None else spec_memory(counts, batch)
    if not verify:
        return Outcome(counts, None, None, memory=memory)
    check_buildable(spec)
    refused = verification_refused(spec, "PyTorch" if convention == "pytorch" else "Keras")
    if refused:
        return Outcome(counts, None, None, refused, memory)
    if convention == "pytorch":
        torch_total = torch_reference.count(spec)
        note = (
            None if torch_total is not None else "PyTorch is not installed (pip install 'lstmcli[torch]'); not verified"
        )
        return Outcome(counts, None, torch_total, note, memory)
    return Outcome(counts, keras_count(spec), None, memory=memory)


def judge(outcome: Outcome) -> None:
    """Exit 1 when the framework's count differs from the closed form."""
    if outcome.verified is not None and outcome.verified != outcome.counts.total:
        raise CheckFailed(f"closed form {outcome.counts.total:,} but {outcome.framework} counts {outcome.verified:,}")
