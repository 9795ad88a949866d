"""`lstmcli runs`: the runs under a folder, or their groups across seeds, as a table, CSV or JSON."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcli.cli.views.output import print_csv, print_json, print_wide
from lstmcli.formatting import number, spread
from lstmcli.schemas import RunsReport

# Runs table columns: (header, RunRow field, format).
RUN_COLUMNS = (
    ("cell", "cell", ""), ("units", "units", "d"), ("layers", "layers", "d"), ("batch", "batch", "d"),
    ("lr", "lr", "g"), ("schedule", "schedule", ""), ("seed", "seed", "d"), ("params", "parameters", ","),
    ("steps", "steps", ","), ("best val acc", "best_val_accuracy", ".4f"), ("test acc", "test_accuracy", ".4f"),
    ("test loss", "test_loss", ".4f"), ("seconds", "seconds", ".1f"),
)  # fmt: skip
TASK_COLUMNS = (("task", "task", ""), ("test mse", "test_mse", ".4f"), ("test recall", "test_recall_accuracy", ".4f"))
# Group table columns beside n: (header, RunGroup figure, format).
GROUP_COLUMNS = (
    ("best val acc", "best_val_accuracy", ".4f"), ("test acc", "test_accuracy", ".4f"),
    ("test loss", "test_loss", ".4f"), ("seconds", "seconds", ".1f"),
)  # fmt: skip
STATUS_STYLE = {"complete": "green", "incomplete": "yellow"}


def table(report: RunsReport, root: Path) -> Table:
    """The runs, or with --group-by the groups: mean ± standard deviation (n) of each metric."""
    if report.groups is not None:
        return groups_table(report, root)
    out = Table(title=f"runs under {escape(str(root))}", title_justify="left")
    out.add_column("run")
    # The tasks' columns only where some run has one: a folder of the article's runs looks as it always did.
    columns = RUN_COLUMNS + tuple(c for c in TASK_COLUMNS if any(getattr(r, c[1]) is not None for r in report.runs))
    for header, _, spec in columns:
        out.add_column(header, justify="right" if spec else "left")
    out.add_column("status")
    for r in report.runs:
        status = f"[{STATUS_STYLE.get(r.status, 'red')}]{r.status}[/]"
        cells = [escape(number(getattr(r, key), spec)) for _, key, spec in columns]
        out.add_row(escape(r.run), *cells, status)  # a folder name is text, not markup
    return out


def groups_table(report: RunsReport, root: Path) -> Table:
    groups = report.groups or []
    keys = list(groups[0].settings) if groups else []
    out = Table(title=f"runs under {escape(str(root))}, grouped by {escape(', '.join(report.group_by or []))}",
                title_justify="left")  # fmt: skip
    for key in keys:
        out.add_column(key)
    for name in ("n", *(header for header, _, _ in GROUP_COLUMNS)):
        out.add_column(name, justify="right")
    for g in groups:
        cells = [spread(*g.figure(metric), spec) for _, metric, spec in GROUP_COLUMNS]
        out.add_row(*[escape(number(g.settings.get(k))) for k in keys], str(g.n), *cells)
    return out


def show(report: RunsReport, fmt: str, root: Path, console: Console, errors: Console) -> None:
    if fmt == "json":
        print_json(report.to_json())
    elif fmt == "csv":
        rows = report.groups if report.groups is not None else report.runs
        print_csv([row.model_dump() for row in rows])
    elif not report.runs:
        errors.print(f"no runs under {root}", highlight=False, markup=False)
    else:
        print_wide(console, table(report, root))
