"""`lstmcli params`: count in closed form, verify against the framework, present, and judge."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from lstmcli.cli import explain as params_report
from lstmcli.errors import CheckFailed
from lstmcli.model.count import ParamCount, count
from lstmcli.model.spec import ModelSpec


@dataclass(frozen=True)
class Outcome:
    counts: ParamCount
    keras: int | None
    torch: int | None
    note: str | None = None

    @property
    def verified(self) -> int | None:
        return self.torch if self.counts.convention == "pytorch" else self.keras

    @property
    def framework(self) -> str:
        return "PyTorch" if self.counts.convention == "pytorch" else "Keras"


def make_spec(
    cell: str, units: int, input_size: int, timesteps: int, layers: int,
    bidirectional: bool, use_bias: bool, reset_after: bool, classes: int,
) -> ModelSpec:  # fmt: skip
    return ModelSpec(cell, units, input_size, timesteps, layers, bidirectional, use_bias, reset_after, classes)


def keras_count(spec: ModelSpec) -> int:
    """count_params() of the factory's model: the number the closed form must equal."""
    from lstmcli import runtime
    from lstmcli.model.factory import build_model

    runtime.tensorflow()
    return int(build_model(spec).count_params())


def run(spec: ModelSpec, convention: str, verify: bool) -> Outcome:
    counts = count(spec, convention)
    if not verify:
        return Outcome(counts, None, None)
    from lstmcli.model.factory import check_buildable

    check_buildable(spec)
    if convention == "pytorch":
        from lstmcli.model import torch_reference

        torch_total = torch_reference.count(spec)
        note = (
            None if torch_total is not None else "PyTorch is not installed (pip install 'lstmcli[torch]'); not verified"
        )
        return Outcome(counts, None, torch_total, note)
    return Outcome(counts, keras_count(spec), None)


def render(outcome: Outcome, fmt: str, explain: bool, console: Console) -> None:
    counts = outcome.counts
    if fmt == "json":
        data = params_report.to_json(counts, outcome.keras, outcome.torch)
        if explain:
            data["explanation"] = params_report.explain(counts)
        if outcome.note:
            data["note"] = outcome.note
        print(json.dumps(data, indent=2))
        return
    if fmt == "markdown":
        print(params_report.markdown(counts, outcome.verified, outcome.framework), end="")
    else:
        table = Table(title=f"{params_report.CELL_NAMES[counts.spec.cell]} parameters ({counts.convention} convention)",
                      title_justify="left")  # fmt: skip
        for i, header in enumerate(params_report.HEADERS):
            table.add_column(header, justify="right" if 1 < i < 6 else "left")
        for row in params_report.rows(counts):
            style = "bold" if row[1] in ("subtotal", "") else None
            table.add_row(*row, style=style)
        console.print(table)
        shapes = Table(title="tensors", title_justify="left")
        for i, header in enumerate(params_report.SHAPE_HEADERS):
            shapes.add_column(header, justify="right" if i == 2 else "left")
        for row in params_report.shape_rows(counts):
            shapes.add_row(*row)
        console.print(shapes)
        console.print(params_report.summary_line(counts, outcome.verified, outcome.framework), highlight=False)
        console.print(params_report.cost_line(counts), highlight=False, soft_wrap=True)
    if outcome.note:
        console.print(outcome.note, highlight=False, soft_wrap=True)
    if explain:
        # soft_wrap: each line of the blackboard stays one line (the terminal folds it), so formulas copy whole.
        console.print()
        console.print(params_report.explain(counts), highlight=False, markup=False, soft_wrap=True, end="")


def check(outcome: Outcome) -> None:
    if outcome.verified is not None and outcome.verified != outcome.counts.total:
        raise CheckFailed(f"closed form {outcome.counts.total:,} but {outcome.framework} counts {outcome.verified:,}")
