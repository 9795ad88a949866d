"""Every view the commands print: Rich tables, Markdown, CSV and the one JSON writer.

The library returns plain data (dicts, dataclasses); only this module decides how it looks, so a
renderer change shows up in one place and in the golden files under tests/golden/.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcli.model.budget import BudgetAnswer, Fit
from lstmcli.model.count import ParamCount, biases_per_gate
from lstmcli.model.memory import FLOAT_BYTES, Memory
from lstmcli.model.report import FileLayer, FileReport
from lstmcli.model.spec import CELL_NAMES
from lstmcli.model.verify import Outcome

SPARK = "▁▂▃▄▅▆▇█"
# Every JSON object `params` prints carries this; it changes when a field changes meaning or goes away.
SCHEMA_VERSION = 1


def _finite(value: Any) -> Any:
    """NaN and infinities as null: JSON has no spelling for them, and a bare NaN breaks parsers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """The one JSON writer: indented, strict (no NaN), on stdout."""
    print(json.dumps(_finite(data), indent=2, allow_nan=False))


def layer_label(counts: ParamCount, layer: int, direction: str) -> str:
    label = f"{CELL_NAMES[counts.spec.cell]} {layer + 1}"
    return f"{label} {direction}" if counts.spec.bidirectional else label


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def to_json(counts: ParamCount, keras_total: int | None, torch_total: int | None = None) -> dict[str, Any]:
    """The `--format json` object. `keras` is the verified count, or None when not verified."""
    verified = torch_total if counts.convention == "pytorch" else keras_total
    return {
        "schema_version": 1,
        "spec": counts.spec.to_dict(),
        "convention": counts.convention,
        "total": counts.total,
        "recurrent_total": counts.recurrent_total,
        "keras": keras_total,
        "torch": torch_total,
        "match": None if verified is None else verified == counts.total,
        "layers": [
            {
                "layer": d.layer,
                "direction": d.direction,
                "input_size": d.input_size,
                "units": d.units,
                "total": d.total,
                "macs": d.macs,
                "shapes": {name: list(shape) for name, shape in d.shapes},
                "gates": [
                    {
                        "gate": g.gate,
                        "kernel": g.kernel,
                        "recurrent_kernel": g.recurrent,
                        "bias": g.bias,
                        "total": g.total,
                    }
                    for g in d.gates
                ],
            }
            for d in counts.directions
        ],
        "head": None
        if counts.head is None
        else {
            "inputs": counts.head.inputs,
            "classes": counts.head.classes,
            "kernel": counts.head.kernel,
            "bias": counts.head.bias,
            "total": counts.head.total,
            "macs": counts.head.macs,
            "shapes": {"kernel": [counts.head.inputs, counts.head.classes], "bias": [counts.head.classes]},
        },
        "macs": counts.macs,
        "flops": counts.flops,
        "memory_bytes": {"float32": counts.weight_bytes("float32"), "bfloat16": counts.weight_bytes("bfloat16")},
        "formula": formula(counts),
    }


def formula(counts: ParamCount) -> str:
    """The closed form of the first layer with the user's numbers, e.g. 4 * (75 * (75 + 28) + 75) = 31200."""
    spec, first = counts.spec, counts.directions[0]
    g, n, m = len(spec.gates), spec.units, first.input_size
    nbias = biases_per_gate(spec, counts.convention)
    bias = "" if nbias == 0 else (f" + {n}" if nbias == 1 else f" + 2 * {n}")
    if spec.proj_size:
        p = spec.proj_size
        return f"{g} * ({n} * ({p} + {m}){bias}) + {p} * {n} = {first.total}"
    return f"{g} * ({n} * ({n} + {m}){bias}) = {first.total}"


HEADERS = ["layer", "gate", "kernel", "recurrent kernel", "bias", "params"]


SHAPE_HEADERS = ["layer", "weights as stored (gates fused)", "mult-adds per sample"]


def rows(counts: ParamCount) -> list[list[str]]:
    """Table rows shared by the Rich and Markdown renderings: gates, subtotals, head, total."""
    out: list[list[str]] = []
    for d in counts.directions:
        label = layer_label(counts, d.layer, d.direction)
        for g in d.gates:
            out.append([label, g.gate, f"{g.kernel:,}", f"{g.recurrent:,}", f"{g.bias:,}", f"{g.total:,}"])
        if d.projection:
            out.append([label, "projection weight_hr", "", "", "", f"{d.projection:,}"])
        out.append([label, "subtotal", "", "", "", f"{d.total:,}"])
    if counts.head:
        h = counts.head
        out.append(["Dense head", f"{h.classes} classes", f"{h.kernel:,}", "", f"{h.bias:,}", f"{h.total:,}"])
    out.append(["total", "", "", "", "", f"{counts.total:,}"])
    return out


def shape_rows(counts: ParamCount) -> list[list[str]]:
    """The tensors exactly as the framework stores them (fused gates), one row per layer and direction."""
    out = []
    for d in counts.directions:
        stored = ", ".join(f"{n} {s}" for n, s in d.shapes)
        out.append([layer_label(counts, d.layer, d.direction), stored, f"{d.macs:,}"])
    if counts.head:
        h = counts.head
        out.append(["Dense head", f"kernel ({h.inputs}, {h.classes}), bias ({h.classes},)", f"{h.macs:,}"])
    return out


def markdown(counts: ParamCount, verified: int | None, framework: str) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(counts)]
    lines += ["", "| " + " | ".join(SHAPE_HEADERS) + " |", "|" + "---|" * len(SHAPE_HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in shape_rows(counts)]
    lines.append("")
    lines.append(summary_line(counts, verified, framework))
    lines.append("")
    lines.append(cost_line(counts))
    return "\n".join(lines) + "\n"


def summary_line(counts: ParamCount, verified: int | None, framework: str) -> str:
    text = f"closed form {counts.total:,} ({counts.convention} convention)"
    if verified is None:
        return text + "; not verified"
    verdict = "match" if verified == counts.total else "MISMATCH"
    what = "count_params()" if framework == "Keras" else "parameter count"
    return text + f"; {framework} {what} {verified:,}: {verdict}"


def cost_line(counts: ParamCount) -> str:
    """Compute and memory: mult-adds of the matrix products of one sample's forward pass, and weight bytes."""
    return (
        f"one forward pass of one sample over {counts.spec.timesteps} steps: {counts.macs:,} mult-adds "
        f"({counts.flops:,} FLOPs, matrix products only); weights {human_bytes(counts.weight_bytes('float32'))} "
        f"float32, {human_bytes(counts.weight_bytes('bfloat16'))} bfloat16"
    )


def params_view(outcome: Outcome, fmt: str, explain: bool, console: Console) -> None:
    from lstmcli.cli.explain import explain as explanation

    counts = outcome.counts
    if fmt == "json":
        data = {"schema_version": SCHEMA_VERSION, **to_json(counts, outcome.keras, outcome.torch)}
        if explain:
            data["explanation"] = explanation(counts)
        if outcome.note:
            data["note"] = outcome.note
        if outcome.memory:
            data["memory"] = memory_json(outcome.memory)
        print_json(data)
        return
    if fmt == "markdown":
        print(markdown(counts, outcome.verified, outcome.framework), end="")
        if outcome.memory:
            print("\n" + memory_markdown(outcome.memory), end="")
    else:
        table = Table(title=f"{CELL_NAMES[counts.spec.cell]} parameters ({counts.convention} convention)",
                      title_justify="left")  # fmt: skip
        for i, header in enumerate(HEADERS):
            table.add_column(header, justify="right" if 1 < i < 6 else "left")
        for row in rows(counts):
            style = "bold" if row[1] in ("subtotal", "") else None
            table.add_row(*row, style=style)
        console.print(table)
        shapes = Table(title="tensors", title_justify="left")
        for i, header in enumerate(SHAPE_HEADERS):
            shapes.add_column(header, justify="right" if i == 2 else "left")
        for row in shape_rows(counts):
            shapes.add_row(*row)
        console.print(shapes)
        console.print(summary_line(counts, outcome.verified, outcome.framework), highlight=False)
        console.print(cost_line(counts), highlight=False, soft_wrap=True)
        if outcome.memory:
            memory_view(outcome.memory, console)
    if outcome.note:
        console.print(outcome.note, highlight=False, markup=False, soft_wrap=True)
    if explain:
        # soft_wrap: each line of the blackboard stays one line (the terminal folds it), so formulas copy whole.
        console.print()
        console.print(explanation(counts), highlight=False, markup=False, soft_wrap=True, end="")


def sparkline(values: list[float]) -> str:
    """A one-line picture of a series, scaled between its own minimum and maximum."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1) + 0.5))] for v in values)


def train_summary(run: str, metrics: dict[str, Any], history: list[dict[str, float]]) -> Table:
    table = Table(title=f"run {run}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("test accuracy", f"{metrics['test_accuracy']:.4f}")
    table.add_row("test loss", f"{metrics['test_loss']:.4f}")
    if metrics.get("best_val_accuracy") is not None:
        best = f"{metrics['best_val_accuracy']:.4f} at step {metrics['best_val_step']:,}"
        table.add_row("best validation accuracy", best)
    table.add_row("steps / epochs", f"{metrics['steps']:,} / {metrics['epochs']:.2f}")
    table.add_row("wall time", f"{metrics['seconds']:.1f} s")
    if metrics.get("target_step") is not None:
        table.add_row(
            f"reached {metrics['target_accuracy']:.1%} ({metrics['target_set']})",
            f"step {metrics['target_step']:,} after {metrics['target_seconds']:.1f} s",
        )
    table.add_row("parameters", f"{metrics['parameters']:,}")
    column = "val_accuracy" if metrics.get("eval_set") == "validation" else "test_accuracy"
    accuracies = [row[column] for row in history if column in row]
    if accuracies:
        label = f"{'validation' if column == 'val_accuracy' else 'test'} accuracy curve"
        table.add_row(label, f"{sparkline(accuracies)}  {accuracies[0]:.3f} → {accuracies[-1]:.3f}")
    return table


def eval_tables(result: dict[str, Any]) -> list[Table]:
    overview = Table(title="evaluation", show_header=False, title_justify="left")
    overview.add_column(style="bold")
    overview.add_column()
    overview.add_row("model", result["model"])
    overview.add_row("data", f"{result['data']} ({result['samples']:,} test images)")
    overview.add_row("test accuracy", f"{result['test_accuracy']:.4f}")
    overview.add_row("test loss", f"{result['test_loss']:.4f}")
    overview.add_row("test macro F1", f"{result['test_macro_f1']:.4f}")

    per_class = Table(title="per class", title_justify="left")
    for name in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(name, justify="right")
    for row in result["per_class"]:
        per_class.add_row(
            str(row["class"]),
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            f"{row['f1']:.4f}",
            f"{row['support']:,}",
        )

    matrix = result["confusion_matrix"]
    confusion = Table(title="confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    confusion.add_column("", style="bold", justify="right")
    for c in range(len(matrix)):
        confusion.add_column(str(c), justify="right")
    for c, counts in enumerate(matrix):
        confusion.add_row(
            str(c), *[f"[bold green]{v}[/]" if i == c else (f"[red]{v}[/]" if v else "·") for i, v in enumerate(counts)]
        )
    return [overview, per_class, confusion]


def _number(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec) if spec else str(value)


# Runs table columns: (header, row key, format).
RUN_COLUMNS = (
    ("cell", "cell", ""), ("units", "units", "d"), ("layers", "layers", "d"), ("batch", "batch", "d"),
    ("lr", "lr", "g"), ("schedule", "schedule", ""), ("seed", "seed", "d"), ("params", "parameters", ","),
    ("steps", "steps", ","), ("best val acc", "best_val_accuracy", ".4f"), ("test acc", "test_accuracy", ".4f"),
    ("test loss", "test_loss", ".4f"), ("seconds", "seconds", ".1f"),
)  # fmt: skip
STATUS_STYLE = {"complete": "green", "incomplete": "yellow"}


def runs_table(report: dict[str, Any], root: Path) -> Table:
    """The runs, or with --group-by the groups: mean ± standard deviation (n) of each metric."""
    if "groups" in report:
        return _groups_table(report, root)
    out = Table(title=f"runs under {root}", title_justify="left")
    out.add_column("run")
    for header, _, spec in RUN_COLUMNS:
        out.add_column(header, justify="right" if spec else "left")
    out.add_column("status")
    for r in report["runs"]:
        status = f"[{STATUS_STYLE.get(r['status'], 'red')}]{r['status']}[/]"
        out.add_row(r["run"], *[_number(r.get(key), spec) for _, key, spec in RUN_COLUMNS], status)
    return out


def _groups_table(report: dict[str, Any], root: Path) -> Table:
    keys = [k for k in report["groups"][0] if k not in ("n", "runs", "seeds") and "_mean" not in k and "_std" not in k]
    out = Table(title=f"runs under {root}, grouped by {', '.join(report['group_by'])}", title_justify="left")
    for key in keys:
        out.add_column(key)
    for name in ("n", "best val acc", "test acc", "test loss", "seconds"):
        out.add_column(name, justify="right")
    for g in report["groups"]:
        cells = [
            _spread(g, metric, spec)
            for metric, spec in (
                ("best_val_accuracy", ".4f"),
                ("test_accuracy", ".4f"),
                ("test_loss", ".4f"),
                ("seconds", ".1f"),
            )
        ]
        out.add_row(*[_number(g.get(k), "") for k in keys], str(g["n"]), *cells)  # fmt: skip
    return out


def _spread(group: dict[str, Any], metric: str, spec: str) -> str:
    mean, std = group[f"{metric}_mean"], group[f"{metric}_std"]
    return _number(mean, spec) + ("" if std is None else f" ± {format(std, spec)}")


def print_csv(rows: list[dict[str, Any]]) -> None:
    """Rows as CSV on stdout: scalar columns only, in the rows' own order."""
    import csv
    import sys

    columns = [k for k, v in rows[0].items() if not isinstance(v, (dict, list))] if rows else []
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def print_wide(console: Console, table: Table) -> None:
    """In a pipe or a log, print the table whole rather than fit it to 80 columns."""
    from rich.measure import Measurement

    if not console.is_terminal:
        width = Measurement.get(console, console.options.update_width(10_000), table).maximum
        console = Console(width=max(console.width, width))
    console.print(table)


# --- params: shapes and memory, the inverse question, model files --------------------------------------------


def md_table(headers: list[str], body: list[list[str]]) -> list[str]:
    """A Markdown table, one line per row."""
    head = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return head + ["| " + " | ".join(row) + " |" for row in body]


def rich_table(title: str, headers: list[str], body: list[list[str]], right: set[int]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i in right else "left")
    for row in body:
        table.add_row(*row, style="bold" if row[0] == "total" else None)
    return table


def megabytes(n: int) -> str:
    """Bytes in torchinfo's unit: MB of 10^6 bytes, two decimals."""
    return f"{n / 1e6:,.2f}"


def mult_adds_unit(n: int) -> tuple[str, float]:
    """torchinfo's unit for a mult-add count: millions, or billions/trillions when larger."""
    for unit, scale in (("T", 1e12), ("G", 1e9)):
        if n >= scale:
            return unit, scale
    return "M", 1e6


def _shape(dims: tuple[int | None, ...] | None) -> str:
    if dims is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


MEMORY_HEADERS = ["layer", "output", "per step", "forward (MB)", "kept for BPTT (MB)", "mult-adds"]


def memory_rows(memory: Memory) -> list[list[str]]:
    """One row per layer at the batch and length asked; a star marks where torchinfo's count differs."""
    unit, scale = mult_adds_unit(memory.macs)
    b, out = memory.batch, []
    for c in memory.layers:
        forward = b * c.output_elements * FLOAT_BYTES
        kept = b * (c.output_elements + c.kept) * FLOAT_BYTES
        macs = "?" if c.macs is None else f"{b * c.macs / scale:,.2f} {unit}"
        star = "*" if c.torchinfo_macs is not None and c.macs is not None and c.torchinfo_macs != c.macs else ""
        output = None if c.output is None else (b, *c.output)
        step = None if c.per_step is None else (b, *c.per_step)
        out.append([c.name, _shape(output), _shape(step), megabytes(forward), megabytes(kept), macs + star])
    total = f"{memory.macs / scale:,.2f} {unit}"
    out.append(["total", "", "", megabytes(memory.activation_bytes), megabytes(memory.kept_bytes), total])
    return out


def memory_lines(memory: Memory) -> list[str]:
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
    if memory.unestimated:
        names = ", ".join(memory.unestimated)
        lines.append(f"mult-adds not estimated for: {names} (layer kinds lstmcli does not model)")
    return lines


def memory_view(memory: Memory, console: Console) -> None:
    title = f"shapes and memory: batch {memory.batch}, {memory.timesteps} steps"
    console.print(rich_table(title, MEMORY_HEADERS, memory_rows(memory), {3, 4, 5}))
    for line in memory_lines(memory):
        console.print(line, highlight=False, soft_wrap=True)


def memory_markdown(memory: Memory) -> str:
    lines = [f"shapes and memory: batch {memory.batch}, {memory.timesteps} steps", ""]
    lines += [*md_table(MEMORY_HEADERS, memory_rows(memory)), "", *memory_lines(memory)]
    return "\n".join(lines) + "\n"


def memory_json(memory: Memory) -> dict[str, Any]:
    """Bytes (float32) and mult-adds for the whole batch; per-layer figures likewise."""
    b = memory.batch
    return {
        "batch": b,
        "timesteps": memory.timesteps,
        "input_bytes": b * memory.input_elements * FLOAT_BYTES,
        "activation_bytes": memory.activation_bytes,
        "kept_bytes": memory.kept_bytes,
        "weights_bytes": memory.weights_bytes,
        "gradients_bytes": memory.weights_bytes,
        "adam_bytes": 2 * memory.weights_bytes,
        "training_bytes": memory.training_bytes,
        "macs": memory.macs,
        "torchinfo_macs": memory.torchinfo_macs,
        "not_estimated": list(memory.unestimated),
        "layers": [
            {
                "name": c.name,
                "kind": c.kind,
                "output_shape": None if c.output is None else [b, *c.output],
                "step_shape": None if c.per_step is None else [b, *c.per_step],
                "activation_bytes": b * c.output_elements * FLOAT_BYTES,
                "kept_bytes": b * (c.output_elements + c.kept) * FLOAT_BYTES,
                "macs": None if c.macs is None else b * c.macs,
                "torchinfo_macs": None if c.torchinfo_macs is None else b * c.torchinfo_macs,
            }
            for c in memory.layers
        ],
    }


def budget_json(result: BudgetAnswer) -> dict[str, Any]:
    """`units` and `total` are the closest model's; `below`/`above` the neighbours (null where there is none)."""

    def fit(f: Fit | None) -> dict[str, int] | None:
        return None if f is None else {"units": f.units, "total": f.total}

    return {
        "schema_version": SCHEMA_VERSION,
        "budget": result.budget,
        "convention": result.convention,
        "spec": result.spec.to_dict(),
        "units": result.best.units,
        "total": result.best.total,
        "below": fit(result.below),
        "above": fit(result.above),
    }


def budget_rows(result: BudgetAnswer) -> list[list[str]]:
    out = []
    for label, f in (("at most the budget", result.below), ("at least the budget", result.above)):
        if f is not None:
            mark = " (closest)" if f == result.best else ""
            out.append([label + mark, f"{f.units:,}", f"{f.total:,}", f"{f.total - result.budget:+,}"])
    return out


def budget_view(result: BudgetAnswer, fmt: str, console: Console) -> None:
    if fmt == "json":
        print_json(budget_json(result))
        return
    spec = result.spec
    what = (
        f"{CELL_NAMES[spec.cell]}, {spec.layers} layer(s){', bidirectional' if spec.bidirectional else ''}, "
        f"input {spec.input_size}, {f'Dense({spec.classes}) head' if spec.classes else 'no head'}"
    )
    title = f"units for a budget of {result.budget:,} parameters: {what} ({result.convention} convention)"
    headers = ["model", "units", "parameters", "vs budget"]
    best = result.best
    closing = f"closest: {best.units:,} units, {best.total:,} parameters"
    if result.below is None:
        closing += " (even 1 unit is over the budget)"
    if fmt == "markdown":
        print("\n".join([title, "", *md_table(headers, budget_rows(result)), "", closing]))
        return
    console.print(rich_table(title, headers, budget_rows(result), {1, 2, 3}))
    console.print(closing, highlight=False)


def module_line(layer: FileLayer) -> str:
    """A recurrent layer as the code that makes it: torch.nn.LSTM(...) or keras.layers.LSTM(...)."""
    spec = layer.counts.spec  # type: ignore[union-attr]
    if layer.counts.convention == "pytorch":  # type: ignore[union-attr]
        args = f"input_size={spec.input_size}, hidden_size={spec.units}, num_layers={spec.layers}"
        args += ", bidirectional=True" if spec.bidirectional else ""
        args += f", proj_size={spec.proj_size}" if spec.proj_size else ""
        args += "" if spec.use_bias else ", bias=False"
        return f"torch.nn.{layer.kind}({args})"
    args = f"{spec.units}" + ("" if spec.use_bias else ", use_bias=False")
    args += ", reset_after=False" if spec.cell == "gru" and not spec.reset_after else ""
    inner = f"{CELL_NAMES[spec.cell]}({args})"
    return f"Bidirectional({inner})" if spec.bidirectional else inner


def counted_by(layer: FileLayer, framework: str) -> str:
    if layer.counts is None:
        return "Keras" if framework == "Keras" else "as stored"
    return "closed form = " + ("count_params()" if framework == "Keras" else "stored") if layer.match else "MISMATCH"


def file_rows(report: FileReport) -> list[list[str]]:
    """Every layer (Keras) or recurrent group and other tensor (PyTorch) with what counted it, then the total."""
    out = []
    for layer in report.layers:
        kind = layer.kind if layer.counts is not None or report.framework == "Keras" else "tensor"
        shape = _shape(layer.output) if layer.output is not None else _shape(layer.tensors[0][1])
        out.append([layer.name, kind, shape, f"{layer.params:,}", counted_by(layer, report.framework)])
    what = "count_params()" if report.framework == "Keras" else "all tensors"
    out.append(["total", "", "", f"{report.total:,}", what])
    return out


def file_gate_rows(report: FileReport) -> list[list[str]]:
    """The per-gate breakdown of every covered layer, labelled with the layer's own name."""
    out = []
    for layer in report.covered:
        counts = layer.counts
        prefix = f"{CELL_NAMES[counts.spec.cell]} "  # type: ignore[union-attr]
        for row in rows(counts)[:-1]:  # type: ignore[arg-type]
            number, *direction = row[0][len(prefix) :].split()  # "1", "2 backward": 1-based within the layer
            stacked = f" l{int(number) - 1}" if counts.spec.layers > 1 else ""  # type: ignore[union-attr]
            out.append([f"{layer.name}{stacked} {' '.join(direction)}".strip(), *row[1:]])
    return out


def tensor_rows(report: FileReport) -> list[list[str]]:
    """Each covered layer's tensors as stored, beside the shape the closed form predicts for them."""
    out = []
    for layer in report.covered:
        predicted = [shape for d in layer.counts.directions for _, shape in d.shapes]  # type: ignore[union-attr]
        for (name, stored), shape in zip(layer.tensors, predicted, strict=False):
            verdict = "=" if tuple(stored) == tuple(shape) else "≠"
            out.append([layer.name, name, _shape(stored), f"{math.prod(stored):,}", f"{verdict} {_shape(shape)}"])
    return out


def file_json(report: FileReport) -> dict[str, Any]:
    """`total` is the whole model's count (Keras's count_params(), or every stored tensor); layers in file order."""
    layers = []
    for layer in report.layers:
        recurrent = None
        if layer.counts is not None:
            spec = layer.counts.spec
            recurrent = {
                "module": module_line(layer),
                **{k: v for k, v in spec.to_dict().items() if k not in ("classes", "unroll")},
                "directions": to_json(layer.counts, None)["layers"],
            }
        layers.append(
            {
                "name": layer.name,
                "type": layer.kind,
                "output_shape": None if layer.output is None else list(layer.output),
                "params": layer.params,
                "counted_by": "closed form" if layer.counts is not None else report.framework,
                "closed_form": layer.closed_form,
                "match": layer.match,
                "tensors": {name: list(shape) for name, shape in layer.tensors},
                "recurrent": recurrent,
            }
        )
    covered = report.covered
    return {
        "schema_version": SCHEMA_VERSION,
        "file": report.path,
        "framework": report.framework,
        "convention": report.convention,
        "total": report.total,
        "closed_form_total": sum(layer.params for layer in covered),
        "match": None if not covered else not report.mismatches,
        "layers": layers,
        "memory": memory_json(report.memory),
        "notes": list(report.notes),
    }


def file_summary(report: FileReport) -> list[str]:
    """The verdict, the share counted by the framework, and each recurrent module as code."""
    covered, framework = report.covered, report.framework
    whole = "Keras count_params() of the whole model" if framework == "Keras" else "every tensor stored in the file"
    lines = [f"total {report.total:,} = {whole}"]
    if covered:
        against = "its layer's count_params()" if framework == "Keras" else "the sizes of its stored tensors"
        verdict = "each equals " + against if not report.mismatches else f"MISMATCH in {len(report.mismatches)}"
        lines.append(
            f"closed form ({report.convention} convention) covers {len(covered)} recurrent layer(s), "
            f"{sum(layer.params for layer in covered):,} parameters: {verdict}"
        )
    rest = [layer for layer in report.layers if layer.counts is None and layer.params]
    if rest:
        by = "counted by Keras" if framework == "Keras" else "other tensors, as stored"
        lines.append(f"{by}: {sum(layer.params for layer in rest):,} in {len(rest)} layer(s)/tensor(s)")
    lines += [f"{layer.name}: {module_line(layer)}" for layer in covered]
    return lines


def file_view(report: FileReport, fmt: str, console: Console) -> None:
    if fmt == "json":
        print_json(file_json(report))
        return
    layer_headers = ["layer", "type", "output shape", "params", "counted by"]
    gate_headers = ["layer", "gate", "kernel", "recurrent kernel", "bias", "params"]
    tensor_headers = ["layer", "tensor", "stored", "entries", "closed form"]
    title = f"{report.path} ({report.framework})"
    closed = f"recurrent layers in closed form ({report.convention} convention)"
    tables = [
        (title, layer_headers, file_rows(report), {3}),
        (closed, gate_headers, file_gate_rows(report), {2, 3, 4, 5}),
    ]
    tables.append(("tensors of the recurrent layers", tensor_headers, tensor_rows(report), {3}))
    if fmt == "markdown":
        lines: list[str] = []
        for name, headers, body, _ in tables:
            if body:
                lines += [name, "", *md_table(headers, body), ""]
        print("\n".join([*lines, *file_summary(report), "", memory_markdown(report.memory), *report.notes]))
        return
    for name, headers, body, right in tables:
        if body:
            print_wide(console, rich_table(name, headers, body, right))
    for line in file_summary(report):
        console.print(line, highlight=False, soft_wrap=True)
    memory_view(report.memory, console)
    for note in report.notes:
        console.print(note, highlight=False, soft_wrap=True)


# --- sweeps ----------------------------------------------------------------------------------------------


def _searched(configurations: list[dict[str, Any]]) -> list[str]:
    """The options that vary across configurations, in the order they first appear."""
    names: dict[str, None] = {}
    for configuration in configurations:
        names.update(dict.fromkeys(configuration["params"]))
    return list(names)


def _accuracy(mean: float | None, std: float | None) -> str:
    return _number(mean, ".4f") + ("" if std is None else f" ± {std:.4f}")


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return _number(value, "g" if isinstance(value, float) else "")


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={_param(v)}" for k, v in params.items()) or "base"


def sweep_table(report: dict[str, Any]) -> Table:
    """`sweep show`: one row per configuration, best mean validation accuracy first."""
    configurations = report["configurations"]
    names = _searched(configurations)
    out = Table(title=f"sweep {report['study']} ({escape(report['storage'])}): {tally_text(report['counts'], None)}",
                title_justify="left")  # fmt: skip
    for name in names:
        out.add_column(name.replace("_", " "))
    for header in ("params", "n", "val acc (mean ± sd)", "test acc (mean ± sd)", "best val", "seconds", "pruned"):
        out.add_column(header, justify="right")
    for c in configurations:
        out.add_row(
            *[_param(c["params"].get(name)) for name in names],
            _number(c["parameters"], ","), str(c["n"]), _accuracy(c["val_accuracy_mean"], c["val_accuracy_std"]),
            _accuracy(c["test_accuracy_mean"], c["test_accuracy_std"]), _number(c["val_accuracy_best"], ".4f"),
            _number(c["seconds_mean"], ".1f"), str(c["pruned"]),
        )  # fmt: skip
    return out


def sweep_csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The configurations as flat rows: each searched option a column of its own."""
    skip = ("params", "seeds", "trials")
    return [{**c["params"], **{k: v for k, v in c.items() if k not in skip}} for c in report["configurations"]]


def tally_text(counts: dict[str, Any], best: dict[str, Any] | None) -> str:
    """3/8 done, 1 running, 0 pruned, 0 failed; best val 0.9123 (trial 2: cell=gru units=8 seed 0)."""
    total = counts["total"] - counts["retried"]
    text = (f"{counts['complete']}/{total} done, {counts['running']} running, {counts['waiting']} waiting, "
            f"{counts['pruned']} pruned, {counts['failed']} failed")  # fmt: skip
    if best is not None:
        text += f"; best val {best['val_accuracy']:.4f} (trial {best['number']}: {params_text(best['params'])} "
        text += f"seed {best['seed']})"
    return text


def trial_text(row: dict[str, Any]) -> str:
    """One finished trial, for the progress lines."""
    head = f"trial {row['number']} {params_text(row['params'])} seed {row['seed']}"
    if row["state"] == "COMPLETE":
        return (f"{head}: val {_number(row['val_accuracy'], '.4f')} test {_number(row['test_accuracy'], '.4f')} "
                f"in {_number(row['seconds'], '.1f')} s")  # fmt: skip
    if row["state"] == "PRUNED":
        return f"{head}: pruned (val {_number(row['val_accuracy'], '.4f')})"
    if row["retried"]:
        return f"{head}: stopped, queued again"
    return f"{head}: failed: {row['error'] or 'no reason recorded'}"


def sweeps_table(listing: dict[str, Any]) -> Table:
    """`sweep list`: the studies in a storage or under a runs folder."""
    out = Table(title=f"sweeps in {escape(listing['where'])}", title_justify="left")
    for header in ("name", "search", "trials", "complete", "best val", "started", "storage"):
        out.add_column(header, justify="right" if header in ("trials", "complete", "best val") else "left")
    for row in listing["sweeps"]:
        if row.get("problem"):
            out.add_row("-", "", "", "", "", "", f"{escape(row['storage'])}: [red]{escape(row['problem'])}[/]")
            continue
        search = row["search"] or ("(not lstmcli)" if not row["sweep"] else "-")
        best = _number(row["best_val_accuracy"], ".4f")
        out.add_row(escape(row["name"]), escape(search), str(row["trials"]), str(row["complete"]), best,
                    row["started"] or "-", escape(row["storage"]))  # fmt: skip
    return out
