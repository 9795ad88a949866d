"""`lstmcli params`: a counted spec, the budget question and a model file, as tables, Markdown or JSON.

Every figure comes from the result the library returned (ParamsReport, BudgetReport, ModelFileReport);
names read from a model file are text, never Rich markup.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from lstmcli.cli.explain import layer_label
from lstmcli.cli.views.output import md_table, print_json, print_wide, rich_table
from lstmcli.formatting import human_bytes, megabytes, mult_adds_unit, shape
from lstmcli.model.spec import CELL_NAMES
from lstmcli.schemas import BudgetReport, FileLayer, LayerCount, MemoryReport, ModelFileReport, ParamsReport

HEADERS = ["layer", "gate", "kernel", "recurrent kernel", "bias", "params"]
SHAPE_HEADERS = ["layer", "weights as stored (gates fused)", "mult-adds per sample"]
MEMORY_HEADERS = ["layer", "output", "per step", "forward (MB)", "kept for BPTT (MB)", "mult-adds"]


def layer_rows(layers: list[LayerCount], labels: list[str]) -> list[list[str]]:
    """Gate rows, the projection and a subtotal for each direction, each named by its label."""
    out: list[list[str]] = []
    for name, d in zip(labels, layers, strict=True):
        for g in d.gates:
            out.append([name, g.gate, f"{g.kernel:,}", f"{g.recurrent_kernel:,}", f"{g.bias:,}", f"{g.total:,}"])
        if d.projection:
            out.append([name, "projection weight_hr", "", "", "", f"{d.projection:,}"])
        out.append([name, "subtotal", "", "", "", f"{d.total:,}"])
    return out


def rows(report: ParamsReport) -> list[list[str]]:
    """Table rows shared by the Rich and Markdown renderings: gates, subtotals, head, total."""
    out = layer_rows(report.layers, [layer_label(report.spec, d.layer, d.direction) for d in report.layers])
    if report.head:
        h = report.head
        out.append(["Dense head", f"{h.classes} classes", f"{h.kernel:,}", "", f"{h.bias:,}", f"{h.total:,}"])
    out.append(["total", "", "", "", "", f"{report.total:,}"])
    return out


def shape_rows(report: ParamsReport) -> list[list[str]]:
    """The tensors exactly as the framework stores them (fused gates), one row per layer and direction."""
    out = []
    for d in report.layers:
        stored = ", ".join(f"{n} {shape(s)}" for n, s in d.shapes.items())
        out.append([layer_label(report.spec, d.layer, d.direction), stored, f"{d.macs:,}"])
    if report.head:
        h = report.head
        out.append(["Dense head", f"kernel ({h.inputs}, {h.classes}), bias ({h.classes},)", f"{h.macs:,}"])
    return out


def summary_line(report: ParamsReport) -> str:
    text = f"closed form {report.total:,} ({report.convention} convention)"
    verified, framework = report.verified, report.framework
    if verified is None:
        return text + "; not verified"
    verdict = "match" if verified == report.total else "MISMATCH"
    what = "count_params()" if framework == "Keras" else "parameter count"
    return text + f"; {framework} {what} {verified:,}: {verdict}"


def cost_line(report: ParamsReport) -> str:
    """Compute and memory: mult-adds of the matrix products of one sample's forward pass, and weight bytes."""
    return (
        f"one forward pass of one sample over {report.spec.timesteps} steps: {report.macs:,} mult-adds "
        f"({report.flops:,} FLOPs, matrix products only); weights {human_bytes(report.memory_bytes['float32'])} "
        f"float32, {human_bytes(report.memory_bytes['bfloat16'])} bfloat16"
    )


def markdown(report: ParamsReport) -> str:
    lines = [*md_table(HEADERS, rows(report)), "", *md_table(SHAPE_HEADERS, shape_rows(report))]
    lines += ["", summary_line(report), "", cost_line(report)]
    return "\n".join(lines) + "\n"


def show(report: ParamsReport, fmt: str, console: Console) -> None:
    """The count of a spec: the gate table, the stored tensors, the verdict, costs, memory, the explanation."""
    if fmt == "json":
        print_json(report.to_json())
        return
    if fmt == "markdown":
        print(markdown(report), end="")
        if report.memory:
            print("\n" + memory_markdown(report.memory), end="")
    else:
        title = f"{CELL_NAMES[report.spec.cell]} parameters ({report.convention} convention)"
        table = Table(title=title, title_justify="left")
        for i, header in enumerate(HEADERS):
            table.add_column(header, justify="right" if 1 < i < 6 else "left")
        for row in rows(report):
            table.add_row(*row, style="bold" if row[1] in ("subtotal", "") else None)
        console.print(table)
        shapes = Table(title="tensors", title_justify="left")
        for i, header in enumerate(SHAPE_HEADERS):
            shapes.add_column(header, justify="right" if i == 2 else "left")
        for row in shape_rows(report):
            shapes.add_row(*row)
        console.print(shapes)
        console.print(summary_line(report), highlight=False)
        console.print(cost_line(report), highlight=False, soft_wrap=True)
        if report.memory:
            memory_view(report.memory, console)
    if report.note:
        console.print(report.note, highlight=False, markup=False, soft_wrap=True)
    if report.explanation is not None:
        # soft_wrap: each line of the blackboard stays one line (the terminal folds it), so formulas copy whole.
        console.print()
        console.print(report.explanation, highlight=False, markup=False, soft_wrap=True, end="")


# --- shapes and memory ---------------------------------------------------------------------------------------


def memory_rows(memory: MemoryReport) -> list[list[str]]:
    """One row per layer at the batch and length asked; a star marks where torchinfo's count differs."""
    unit, scale = mult_adds_unit(memory.macs)
    out = []
    for c in memory.layers:
        macs = "?" if c.macs is None else f"{c.macs / scale:,.2f} {unit}"
        star = "*" if c.torchinfo_macs is not None and c.macs is not None and c.torchinfo_macs != c.macs else ""
        cells = [shape(c.output_shape), shape(c.step_shape), megabytes(c.activation_bytes), megabytes(c.kept_bytes)]
        out.append([c.name, *cells, macs + star])
    total = f"{memory.macs / scale:,.2f} {unit}"
    out.append(["total", "", "", megabytes(memory.activation_bytes), megabytes(memory.kept_bytes), total])
    return out


def memory_lines(memory: MemoryReport) -> list[str]:
    """Training memory written out, and the footnotes: torchinfo's mult-adds, layers not estimated."""
    w = memory.weights_bytes
    lines = [
        f"training, roughly: weights {megabytes(w)} MB + gradients {megabytes(w)} MB + Adam's two moments "
        f"{megabytes(2 * w)} MB + activations kept for backpropagation through time {megabytes(memory.kept_bytes)} "
        f"MB = {megabytes(memory.training_bytes)} MB (float32; MB = 10^6 bytes, as torchinfo)"
    ]
    if memory.torchinfo_macs != memory.macs:
        unit, scale = mult_adds_unit(memory.torchinfo_macs)
        lines.append(
            f"* torchinfo counts {memory.torchinfo_macs / scale:,.2f} {unit} mult-adds ({memory.torchinfo_macs:,}) "
            f"for the same layers in PyTorch: it multiplies every parameter, biases included, by batch x time steps "
            f"in a recurrent layer and by the batch elsewhere (by the output positions in a convolution); the "
            f"figures here count the matrix products only ({memory.macs:,})"
        )
    if memory.not_estimated:
        names = ", ".join(memory.not_estimated)
        lines.append(f"mult-adds not estimated for: {names} (layer kinds lstmcli does not model)")
    return lines


def memory_view(memory: MemoryReport, console: Console) -> None:
    title = f"shapes and memory: batch {memory.batch}, {memory.timesteps} steps"
    console.print(rich_table(title, MEMORY_HEADERS, memory_rows(memory), {3, 4, 5}))
    for line in memory_lines(memory):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def memory_markdown(memory: MemoryReport) -> str:
    lines = [f"shapes and memory: batch {memory.batch}, {memory.timesteps} steps", ""]
    lines += [*md_table(MEMORY_HEADERS, memory_rows(memory)), "", *memory_lines(memory)]
    return "\n".join(lines) + "\n"


# --- the budget question -------------------------------------------------------------------------------------


def budget_rows(report: BudgetReport) -> list[list[str]]:
    out = []
    for label, f in (("at most the budget", report.below), ("at least the budget", report.above)):
        if f is not None:
            mark = " (closest)" if f == report.best else ""
            out.append([label + mark, f"{f.units:,}", f"{f.total:,}", f"{f.total - report.budget:+,}"])
    return out


def show_budget(report: BudgetReport, fmt: str, console: Console) -> None:
    if fmt == "json":
        print_json(report.to_json())
        return
    spec = report.spec
    what = (
        f"{CELL_NAMES[spec.cell]}, {spec.layers} layer(s){', bidirectional' if spec.bidirectional else ''}, "
        f"input {spec.input_size}, {f'Dense({spec.classes}) head' if spec.classes else 'no head'}"
    )
    title = f"units for a budget of {report.budget:,} parameters: {what} ({report.convention} convention)"
    headers = ["model", "units", "parameters", "vs budget"]
    closing = f"closest: {report.units:,} units, {report.total:,} parameters"
    if report.below is None:
        closing += " (even 1 unit is over the budget)"
    if fmt == "markdown":
        print("\n".join([title, "", *md_table(headers, budget_rows(report)), "", closing]))
        return
    console.print(rich_table(title, headers, budget_rows(report), {1, 2, 3}))
    console.print(closing, highlight=False)


# --- a model file --------------------------------------------------------------------------------------------


def counted_by(layer: FileLayer, framework: str) -> str:
    if layer.recurrent is None:
        return "Keras" if framework == "Keras" else "as stored"
    return "closed form = " + ("count_params()" if framework == "Keras" else "stored") if layer.match else "MISMATCH"


def file_rows(report: ModelFileReport) -> list[list[str]]:
    """Every layer (Keras) or recurrent group and other tensor (PyTorch) with what counted it, then the total."""
    out = []
    for layer in report.layers:
        kind = layer.type if layer.recurrent is not None or report.framework == "Keras" else "tensor"
        dims = layer.output_shape if layer.output_shape is not None else next(iter(layer.tensors.values()))
        out.append([layer.name, kind, shape(dims), f"{layer.params:,}", counted_by(layer, report.framework)])
    what = "count_params()" if report.framework == "Keras" else "all tensors"
    out.append(["total", "", "", f"{report.total:,}", what])
    return out


def file_gate_rows(report: ModelFileReport) -> list[list[str]]:
    """The per-gate breakdown of every covered layer, labelled with the layer's own name."""
    out = []
    for layer in report.covered:
        recurrent = layer.recurrent
        assert recurrent is not None
        labels = []
        for d in recurrent.directions:
            stacked = f" l{d.layer}" if recurrent.layers > 1 else ""
            labels.append(f"{layer.name}{stacked} {d.direction if recurrent.bidirectional else ''}".strip())
        out += layer_rows(recurrent.directions, labels)
    return out


def tensor_rows(report: ModelFileReport) -> list[list[str]]:
    """Each covered layer's tensors as stored, beside the shape the closed form predicts for them."""
    out = []
    for layer in report.covered:
        assert layer.recurrent is not None
        predicted = [s for d in layer.recurrent.directions for s in d.shapes.values()]
        for (name, stored), dims in zip(layer.tensors.items(), predicted, strict=False):
            verdict = "=" if stored == dims else "≠"
            out.append([layer.name, name, shape(stored), f"{math.prod(stored):,}", f"{verdict} {shape(dims)}"])
    return out


def file_summary(report: ModelFileReport) -> list[str]:
    """The verdict, the share counted by the framework, and each recurrent module as code."""
    covered, framework = report.covered, report.framework
    whole = "Keras count_params() of the whole model" if framework == "Keras" else "every tensor stored in the file"
    lines = [f"total {report.total:,} = {whole}"]
    if covered:
        against = "its layer's count_params()" if framework == "Keras" else "the sizes of its stored tensors"
        verdict = "each equals " + against if not report.mismatches else f"MISMATCH in {len(report.mismatches)}"
        lines.append(
            f"closed form ({report.convention} convention) covers {len(covered)} recurrent layer(s), "
            f"{report.closed_form_total:,} parameters: {verdict}"
        )
    rest = [layer for layer in report.layers if layer.recurrent is None and layer.params]
    if rest:
        by = "counted by Keras" if framework == "Keras" else "other tensors, as stored"
        lines.append(f"{by}: {sum(layer.params for layer in rest):,} in {len(rest)} layer(s)/tensor(s)")
    lines += [f"{layer.name}: {layer.recurrent.module}" for layer in covered if layer.recurrent is not None]
    return lines


def show_file(report: ModelFileReport, fmt: str, console: Console) -> None:
    if fmt == "json":
        print_json(report.to_json())
        return
    layer_headers = ["layer", "type", "output shape", "params", "counted by"]
    tensor_headers = ["layer", "tensor", "stored", "entries", "closed form"]
    title = f"{report.file} ({report.framework})"
    closed = f"recurrent layers in closed form ({report.convention} convention)"
    tables = [
        (title, layer_headers, file_rows(report), {3}),
        (closed, HEADERS, file_gate_rows(report), {2, 3, 4, 5}),
        ("tensors of the recurrent layers", tensor_headers, tensor_rows(report), {3}),
    ]
    if fmt == "markdown":
        lines: list[str] = []
        for name, headers, body, _ in tables:
            if body:
                lines += [name, "", *md_table(headers, body), ""]
        memory = memory_markdown(report.memory) if report.memory is not None else ""
        print("\n".join([*lines, *file_summary(report), "", memory, *report.notes]))
        return
    for name, headers, body, right in tables:
        if body:
            print_wide(console, rich_table(name, headers, body, right))
    for line in file_summary(report):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if report.memory is not None:
        memory_view(report.memory, console)
    for note in report.notes:
        console.print(note, highlight=False, markup=False, soft_wrap=True)
