"""`lstmcli train`: the summary of a finished run (a table with its accuracy curve), its folder, or its JSON."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcli.cli.views.output import print_json
from lstmcli.formatting import sparkline
from lstmcli.rundir import RunFolder
from lstmcli.schemas import TrainSummary


def table(summary: TrainSummary, history: list[dict[str, float]]) -> Table:
    out = Table(title=f"run {escape(summary.run)}", show_header=False, title_justify="left")
    out.add_column(style="bold")
    out.add_column()
    out.add_row("test accuracy", f"{summary.test_accuracy:.4f}")
    out.add_row("test loss", f"{summary.test_loss:.4f}")
    if summary.best_val_accuracy is not None:
        out.add_row("best validation accuracy", f"{summary.best_val_accuracy:.4f} at step {summary.best_val_step:,}")
    out.add_row("steps / epochs", f"{summary.steps:,} / {summary.epochs:.2f}")
    out.add_row("wall time", f"{summary.seconds:.1f} s")
    if summary.target_step is not None:
        out.add_row(
            f"reached {summary.target_accuracy:.1%} ({summary.target_set})",
            f"step {summary.target_step:,} after {summary.target_seconds:.1f} s",
        )
    out.add_row("parameters", f"{summary.parameters:,}")
    column = "val_accuracy" if summary.eval_set == "validation" else "test_accuracy"
    accuracies = [row[column] for row in history if column in row]
    if accuracies:
        label = f"{'validation' if column == 'val_accuracy' else 'test'} accuracy curve"
        out.add_row(label, f"{sparkline(accuracies)}  {accuracies[0]:.3f} → {accuracies[-1]:.3f}")
    return out


def show(
    summary: TrainSummary, history: list[dict[str, float]], fmt: str, quiet: bool, tensorboard: bool, console: Console
) -> None:
    """The JSON; with --quiet only the folder; else the table (its curve from the history in memory), the
    curves' file and what to run next."""
    run = Path(summary.run)
    folder = RunFolder(run)
    if fmt == "json":
        print_json(summary.to_json())
    elif quiet:
        print(run)
    else:
        console.print(table(summary, history))
        console.print(f"learning curves: {folder.curves}", highlight=False, markup=False)
        if tensorboard:
            board = folder.tensorboard
            console.print(f"TensorBoard: tensorboard --logdir {board}", highlight=False, markup=False)
        console.print(f"evaluate with: lstmcli eval {run}", highlight=False, markup=False)
