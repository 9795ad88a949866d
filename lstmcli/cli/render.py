"""Rich renderings of training and evaluation results (the params tables live in params_report)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

SPARK = "▁▂▃▄▅▆▇█"


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
    table.add_row("steps / epochs", f"{metrics['steps']:,} / {metrics['epochs']:.2f}")
    table.add_row("wall time", f"{metrics['seconds']:.1f} s")
    if metrics.get("seconds_to_98") is not None:
        table.add_row("reached 98%", f"step {metrics['first_step_at_98']:,} after {metrics['seconds_to_98']:.1f} s")
    table.add_row("parameters", f"{metrics['parameters']:,}")
    accuracies = [row["test_accuracy"] for row in history]
    if accuracies:
        table.add_row("test accuracy curve", f"{sparkline(accuracies)}  {accuracies[0]:.3f} → {accuracies[-1]:.3f}")
    return table


def eval_tables(result: dict[str, Any]) -> list[Table]:
    overview = Table(title="evaluation", show_header=False, title_justify="left")
    overview.add_column(style="bold")
    overview.add_column()
    overview.add_row("model", result["model"])
    overview.add_row("data", f"{result['data']} ({result['samples']:,} test images)")
    overview.add_row("accuracy", f"{result['accuracy']:.4f}")
    overview.add_row("loss", f"{result['loss']:.4f}")
    overview.add_row("macro F1", f"{result['macro_f1']:.4f}")

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
