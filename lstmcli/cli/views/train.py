"""`lstmcli train`: the summary of a finished run (a table with its accuracy curve), its folder, or its JSON."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcli.cli.views.output import print_json
from lstmcli.formatting import sparkline
from lstmcli.rundir import RunFolder
from lstmcli.schemas import EvalResult, TaskInfo, TrainSummary

# How the tables name each task's figure (lstmcli.tasks: Task.metric).
FIGURE_NAMES = {"accuracy": "accuracy", "mse": "MSE", "recall_accuracy": "recall accuracy"}


def task_rows(out: Table, task: TaskInfo, result: TrainSummary | EvalResult) -> None:
    """A task's own figure and loss, each beside what a model that remembers nothing scores."""
    name = FIGURE_NAMES[task.metric]
    test, loss = getattr(result, f"test_{task.metric}"), result.test_loss
    length = f", T = {task.length:,}" if task.length is not None else ""
    out.add_row("task", f"{task.name}{length}")
    if test is not None and task.metric != "accuracy":
        out.add_row(f"test {name}", f"{test:.4f}  (baseline {task.baseline.metric:.4f}: {escape(task.baseline.how)})")
    if loss is not None:
        share = loss / task.baseline.loss
        out.add_row("test loss", f"{loss:.4f}  ({share:.1%} of the baseline's {task.baseline.loss:.4f})")


def table(summary: TrainSummary, history: list[dict[str, float]]) -> Table:
    out = Table(title=f"run {escape(summary.run)}", show_header=False, title_justify="left")
    out.add_column(style="bold")
    out.add_column()
    task = summary.task
    if summary.test_accuracy is not None:
        out.add_row("test accuracy", f"{summary.test_accuracy:.4f}")
    if task is None:
        out.add_row("test loss", f"{summary.test_loss:.4f}")
    else:
        task_rows(out, task, summary)
    if summary.best_val_accuracy is not None:
        out.add_row("best validation accuracy", f"{summary.best_val_accuracy:.4f} at step {summary.best_val_step:,}")
    elif task is not None and summary.best_val is not None:
        out.add_row(f"best validation {task.objective}", f"{summary.best_val:.4f} at step {summary.best_val_step:,}")
    out.add_row("steps / epochs", f"{summary.steps:,} / {summary.epochs:.2f}")
    out.add_row("wall time", f"{summary.seconds:.1f} s")
    if summary.target_step is not None:
        out.add_row(
            f"reached {summary.target_accuracy:.1%} ({summary.target_set})",
            f"step {summary.target_step:,} after {summary.target_seconds:.1f} s",
        )
    out.add_row("parameters", f"{summary.parameters:,}")
    figure = task.metric if task is not None else "accuracy"
    prefix = "val" if summary.eval_set == "validation" else "test"
    column = f"{prefix}_{figure}"
    values = [row[column] for row in history if column in row]
    if values:
        label = f"{'validation' if prefix == 'val' else 'test'} {FIGURE_NAMES[figure]} curve"
        out.add_row(label, f"{sparkline(values)}  {values[0]:.3f} → {values[-1]:.3f}")
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
