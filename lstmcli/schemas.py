"""The JSON every command prints, as pydantic models: the one definition its published schema comes from.

`python -m lstmcli.schemas docs/schemas` writes one JSON Schema per command; a test keeps the files
current and validates real outputs of every command against them. Objects forbid keys they do not
declare, so a field added to an output without being added here fails that test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, RootModel

from lstmcli.gates.result import GatesResult
from lstmcli.model.spec import ModelSpec

SCHEMA_VERSION = 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainSummary(Strict):
    """`lstmcli train --format json`: metrics.json of the run, and where the run is."""

    schema_version: Literal[1]
    run: str
    steps: int
    epochs: float
    seconds: float
    parameters: int
    keras_parameters: int
    seed: int
    validation_images: int
    eval_set: Literal["validation", "test"]
    keep: Literal["last", "best"]
    kept_step: int
    test_loss: float | None
    test_accuracy: float
    test_macro_f1: float
    val_loss: float | None
    val_accuracy: float | None
    best_val_accuracy: float | None
    best_val_step: int | None
    target_accuracy: float
    target_set: Literal["validation", "test"]
    target_step: int | None
    target_seconds: float | None
    model: ModelSpec


class EvalResult(Strict):
    """`lstmcli eval --format json`: one model judged on a test set."""

    schema_version: Literal[1]
    model: str
    data: str
    samples: int
    test_loss: float | None
    test_accuracy: float
    test_macro_f1: float
    per_class: list[dict[str, float | int]]
    confusion_matrix: list[list[int]]
    min_accuracy: float | None = None
    passed: bool | None = None
    plot: str | None = None


class RunRow(Strict):
    """One run as `lstmcli runs` lists it; figures are null where the run has none (yet)."""

    run: str
    path: str
    status: Literal["complete", "incomplete", "damaged"]
    problem: str | None = None
    cell: str | None
    units: int | None
    layers: int | None
    batch: int | None
    lr: float | None
    schedule: str | None
    seed: int | None
    parameters: int | None
    steps: int | None
    best_val_accuracy: float | None
    test_accuracy: float | None
    test_loss: float | None
    seconds: float | None
    config: dict[str, Any] | None = None


class RunsReport(Strict):
    """`lstmcli runs --format json`: the runs under a folder, and with --group-by their groups."""

    schema_version: Literal[1]
    folder: str
    runs: list[RunRow]
    group_by: list[str] | None = None
    groups: list[dict[str, Any]] | None = None


class GateCount(Strict):
    gate: str
    kernel: int
    recurrent_kernel: int
    bias: int
    total: int


class LayerCount(Strict):
    layer: int
    direction: str
    input_size: int
    units: int
    total: int
    macs: int
    shapes: dict[str, list[int]]
    gates: list[GateCount]


class HeadCount(Strict):
    inputs: int
    classes: int
    kernel: int
    bias: int
    total: int
    macs: int
    shapes: dict[str, list[int]]


class ParamsReport(Strict):
    """`lstmcli params --format json` for a model described by options."""

    schema_version: Literal[1]
    spec: ModelSpec
    convention: Literal["keras", "pytorch"]
    total: int
    recurrent_total: int
    keras: int | None
    torch: int | None
    match: bool | None
    layers: list[LayerCount]
    head: HeadCount | None
    macs: int
    flops: int
    memory_bytes: dict[str, int]
    formula: str
    explanation: str | None = None
    note: str | None = None


class Fit(Strict):
    units: int
    total: int


class BudgetReport(Strict):
    """`lstmcli params --budget P --format json`: the units closest to P parameters, and both neighbours."""

    schema_version: Literal[1]
    budget: int
    convention: Literal["keras", "pytorch"]
    spec: ModelSpec
    units: int
    total: int
    below: Fit | None
    above: Fit | None


class FileReport(Strict):
    """`lstmcli params FILE --format json`: a saved Keras model or a PyTorch state dict, layer by layer."""

    schema_version: Literal[1]
    file: str
    framework: str
    convention: Literal["keras", "pytorch"]
    total: int
    closed_form_total: int
    match: bool | None
    layers: list[dict[str, Any]]
    memory: dict[str, Any] | None
    notes: list[str]


class Params(RootModel[ParamsReport | BudgetReport | FileReport]):
    """`lstmcli params --format json`: options, a budget, or a model file."""


class SweepTrial(Strict):
    """One trial of a sweep, as its storage records it (figures null where it has none)."""

    number: int
    state: Literal["COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"]
    retried: bool
    retry_of: int | None
    params: dict[str, Any]
    cell: Literal["lstm", "gru", "rnn"] | None
    seed: int | None
    parameters: int | None
    val_accuracy: float | None
    test_accuracy: float | None
    seconds: float | None
    run: str | None
    resumed_from: int | None
    host: str | None
    error: str | None


class SweepConfiguration(Strict):
    """One configuration of a sweep: its complete seeds summarised (each seed counted once)."""

    params: dict[str, Any]
    cell: Literal["lstm", "gru", "rnn"] | None
    parameters: int | None
    n: int
    seeds: list[int]
    pruned: int
    val_accuracy_mean: float | None
    val_accuracy_std: float | None
    val_accuracy_best: float | None
    test_accuracy_mean: float | None
    test_accuracy_std: float | None
    seconds_mean: float | None
    trials: list[int]


class SweepCounts(Strict):
    total: int
    complete: int
    running: int
    waiting: int
    pruned: int
    failed: int
    retried: int


class SweepReport(Strict):
    """`lstmcli sweep show --format json`: a sweep read from its storage alone."""

    schema_version: Literal[1]
    study: str
    storage: str
    space: dict[str, Any]
    counts: SweepCounts
    best: SweepTrial | None
    configurations: list[SweepConfiguration]
    trials: list[SweepTrial]
    plot: str | None


class SweepListRow(Strict):
    name: str | None
    storage: str
    problem: str | None = None
    sweep: bool | None = None
    search: str | None = None
    trials: int | None = None
    complete: int | None = None
    best_val_accuracy: float | None = None
    started: str | None = None


class SweepList(Strict):
    """`lstmcli sweep list --format json`: the studies in a storage or under a runs folder."""

    schema_version: Literal[1]
    where: str
    sweeps: list[SweepListRow]


SCHEMAS: dict[str, type[BaseModel]] = {
    "params": Params,
    "train": TrainSummary,
    "eval": EvalResult,
    "runs": RunsReport,
    "sweep-show": SweepReport,
    "sweep-list": SweepList,
    "gates": GatesResult,
}


def schema(command: str) -> dict[str, Any]:
    """The JSON Schema of `command`'s JSON output."""
    document = SCHEMAS[command].model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"lstmcli/{command}.json", **document}


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for command in SCHEMAS:
        path = folder / f"{command}.schema.json"
        path.write_text(json.dumps(schema(command), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m lstmcli.schemas docs/schemas
    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(written)
