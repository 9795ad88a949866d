"""`lstmcli sweep run`, `show` and `list`: configurations, trials and studies as tables, CSV or JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcli.cli.views.output import print_csv, print_json, print_wide
from lstmcli.formatting import confidence, number, setting, spread
from lstmcli.schemas import (
    SweepConfiguration,
    SweepCounts,
    SweepList,
    SweepListProblem,
    SweepListRow,
    SweepReport,
    SweepTrial,
)


def searched(configurations: list[SweepConfiguration]) -> list[str]:
    """The options that vary across configurations, in the order they first appear."""
    names: dict[str, None] = {}
    for configuration in configurations:
        names.update(dict.fromkeys(configuration.params))
    return list(names)


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={setting(v)}" for k, v in params.items()) or "base"


# Each figure's column header and number format; a classification sweep's columns are those of every earlier
# version. A loss can be far below 0.001 once a task is solved, so it is shown to four significant digits.
HEADERS = {"val_accuracy": ("val acc", ".4f"), "test_accuracy": ("test acc", ".4f"), "val_mse": ("val MSE", ".4g"),
           "test_mse": ("test MSE", ".4g"), "val_loss": ("val loss", ".4g"), "test_loss": ("test loss", ".4g"),
           "test_recall_accuracy": ("test recall", ".4f")}  # fmt: skip


# What the plot line says the picture shows, by the sweep's objective.
PLOTTED = {"val_accuracy": "accuracy", "val_mse": "MSE", "val_loss": "loss"}


def figures_of(report: SweepReport) -> tuple[str, ...]:
    """The figures the report summarises, its objective first (lstmcli/sweep/results.py FIGURES)."""
    from lstmcli.sweep.results import FIGURES

    return FIGURES[report.objective]


def table(report: SweepReport) -> Table:
    """`sweep show`: one row per configuration, best mean of the objective first, with 95% intervals; a task
    judged by its loss also shows the test figure as a fraction of its memoryless baseline."""
    names, figures = searched(report.configurations), figures_of(report)
    title = f"sweep {report.study} ({report.storage}): {tally_text(report.counts, None)}"
    out = Table(title=escape(title), title_justify="left")  # names and values from the storage are text
    for name in names:
        out.add_column(escape(name.replace("_", " ")))
    baseline = report.baseline
    headers = ["params", "n"]
    for figure in figures:
        headers += [f"{HEADERS[figure][0]} (mean ± sd)", "95% CI"]
    headers += [*(["of baseline"] if baseline else []), "best val", "seconds", "pruned"]
    for header in headers:
        out.add_column(header, justify="right")
    for c in report.configurations:
        cells = [*[escape(setting(c.params.get(name))) for name in names], number(c.parameters, ","), str(c.n)]
        for figure in figures:
            spec, mean = HEADERS[figure][1], getattr(c, f"{figure}_mean")
            low, high = getattr(c, f"{figure}_ci_low"), getattr(c, f"{figure}_ci_high")
            cells += [spread(mean, getattr(c, f"{figure}_std"), spec), confidence(mean, low, high, spec)]
        if baseline:
            test = getattr(c, f"{figures[1]}_mean")
            cells.append("-" if test is None else f"{test / baseline:.1%}")
        cells += [number(getattr(c, f"{figures[0]}_best"), HEADERS[figures[0]][1]), number(c.seconds_mean, ".1f"),
                  str(c.pruned)]  # fmt: skip
        out.add_row(*cells)
    return out


def csv_rows(report: SweepReport) -> list[dict[str, Any]]:
    """The configurations as flat rows: each searched option a column of its own (a loss task's sweep without
    the accuracy columns it has no figures for)."""
    from lstmcli.sweep.results import ACCURACY_FIELDS, RANKED_BY

    dropped = {"params", "seeds", "trials", *(ACCURACY_FIELDS if report.objective != RANKED_BY else ())}
    return [{**c.params, **c.model_dump(exclude=dropped)} for c in report.configurations]


def tally_text(counts: SweepCounts, best: SweepTrial | None) -> str:
    """3/8 done, 1 running, 0 pruned, 0 failed; best val 0.9123 (trial 2: cell=gru units=8 seed 0)."""
    total = counts.total - counts.retried
    text = (f"{counts.complete}/{total} done, {counts.running} running, {counts.waiting} waiting, "
            f"{counts.pruned} pruned, {counts.failed} failed")  # fmt: skip
    if best is not None:
        text += f"; best val {figure_text(best, best.figure)} (trial {best.number}: {params_text(best.params)} "
        text += f"seed {best.seed})"
    return text


def figure_text(row: SweepTrial, figure: str) -> str:
    """A trial's figure as the progress lines say it: `0.9123` for an accuracy, `MSE 0.0123` for another."""
    value = getattr(row, figure)
    if figure.endswith("_accuracy"):
        return number(value, ".4f")
    label, spec = HEADERS[figure]
    return f"{label.split()[-1]} {number(value, spec)}"


def trial_text(row: SweepTrial) -> str:
    """One finished trial, for the progress lines."""
    head = f"trial {row.number} {params_text(row.params)} seed {row.seed}"
    val, test = row.figure, "test_" + row.figure.removeprefix("val_")
    if row.state == "COMPLETE":
        return f"{head}: val {figure_text(row, val)} test {figure_text(row, test)} in {number(row.seconds, '.1f')} s"
    if row.state == "PRUNED":
        return f"{head}: pruned (val {figure_text(row, val)})"
    if row.retried:
        return f"{head}: stopped, queued again"
    return f"{head}: failed: {row.error or 'no reason recorded'}"


def list_table(listing: SweepList) -> Table:
    """`sweep list`: the studies in a storage or under a runs folder."""
    out = Table(title=f"sweeps in {escape(listing.where)}", title_justify="left")
    for header in ("name", "search", "trials", "complete", "best val", "started", "storage"):
        out.add_column(header, justify="right" if header in ("trials", "complete", "best val") else "left")
    for row in listing.sweeps:
        if isinstance(row, SweepListProblem):
            out.add_row("-", "", "", "", "", "", f"{escape(row.storage)}: [red]{escape(row.problem)}[/]")
            continue
        search = row.search or ("(not lstmcli)" if not row.sweep else "-")
        out.add_row(escape(row.name), escape(search), str(row.trials), str(row.complete),
                    best_text(row), escape(row.started or "-"), escape(row.storage))  # fmt: skip
    return out


def best_text(row: SweepListRow) -> str:
    """A study's best validation figure: its accuracy, or a loss task's objective named (`mse 0.0123`)."""
    if row.objective is None:
        return number(row.best_val_accuracy, ".4f")
    return f"{escape(row.objective.removeprefix('val_'))} {number(row.best_value, '.4g')}"


def show(report: SweepReport, fmt: str, console: Console) -> None:
    """`sweep show`; the plot line where one was drawn."""
    if fmt == "json":
        print_json(report.to_json())
    elif fmt == "csv":
        print_csv(csv_rows(report))
    else:
        print_wide(console, table(report))
        if report.comparison is not None:
            console.print(report.comparison.text, highlight=False, markup=False, soft_wrap=True)
        if report.plot:
            what = PLOTTED.get(report.objective, report.objective)
            console.print(f"{what} against parameters: {report.plot}", highlight=False, markup=False, soft_wrap=True)


def show_list(listing: SweepList, fmt: str, console: Console, errors: Console) -> None:
    if fmt == "json":
        print_json(listing.to_json())
    elif not listing.sweeps:
        errors.print(f"no sweeps in {listing.where}", highlight=False, markup=False)
    else:
        print_wide(console, list_table(listing))
