"""`lstmcli eval`: the overview, the per-class figures and the confusion matrix of an EvalResult."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcli.cli.views.output import print_json
from lstmcli.cli.views.train import task_rows
from lstmcli.schemas import EvalResult


def tables(result: EvalResult) -> list[Table]:
    overview = Table(title="evaluation", show_header=False, title_justify="left")
    overview.add_column(style="bold")
    overview.add_column()
    overview.add_row("model", escape(result.model))  # paths are text, not markup
    what = "images" if result.task is None or result.task.name in ("pixels", "permuted") else "sequences"
    overview.add_row("data", f"{escape(result.data)} ({result.samples:,} test {what})")
    if result.test_accuracy is not None:
        overview.add_row("test accuracy", f"{result.test_accuracy:.4f}")
    if result.task is None:
        overview.add_row("test loss", f"{result.test_loss:.4f}")
    else:
        task_rows(overview, result.task, result)
    if result.test_macro_f1 is None:
        return [overview]
    overview.add_row("test macro F1", f"{result.test_macro_f1:.4f}")

    per_class = Table(title="per class", title_justify="left")
    for name in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(name, justify="right")
    for row in result.per_class:
        per_class.add_row(str(row.label), f"{row.precision:.4f}", f"{row.recall:.4f}", f"{row.f1:.4f}",
                          f"{row.support:,}")  # fmt: skip

    matrix = result.confusion_matrix
    confusion = Table(title="confusion matrix (rows: true class, columns: predicted)", title_justify="left")
    confusion.add_column("", style="bold", justify="right")
    for c in range(len(matrix)):
        confusion.add_column(str(c), justify="right")
    for c, counts in enumerate(matrix):
        confusion.add_row(
            str(c), *[f"[bold green]{v}[/]" if i == c else (f"[red]{v}[/]" if v else "·") for i, v in enumerate(counts)]
        )
    return [overview, per_class, confusion]


def show(result: EvalResult, fmt: str, console: Console) -> None:
    if fmt == "json":
        print_json(result.to_json())
        return
    for table in tables(result):
        console.print(table)
    if result.plot is not None:
        console.print(f"confusion matrix plot: {result.plot}", highlight=False, markup=False)
