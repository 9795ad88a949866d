"""`lstmcli sweep run`, `show` and `list`: configurations, trials and studies as tables, CSV or JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmcli.cli.views.output import print_csv, print_json, print_wide
from lstmcli.formatting import confidence, number, setting, spread
from lstmcli.schemas import SweepConfiguration, SweepCounts, SweepList, SweepListProblem, SweepReport, SweepTrial


def searched(configurations: list[SweepConfiguration]) -> list[str]:
    """The options that vary across configurations, in the order they first appear."""
    names: dict[str, None] = {}
    for configuration in configurations:
        names.update(dict.fromkeys(configuration.params))
    return list(names)


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={setting(v)}" for k, v in params.items()) or "base"


def table(report: SweepReport) -> Table:
    """`sweep show`: one row per configuration, best mean validation accuracy first, with 95% intervals."""
    names = searched(report.configurations)
    title = f"sweep {report.study} ({report.storage}): {tally_text(report.counts, None)}"
    out = Table(title=escape(title), title_justify="left")  # names and values from the storage are text
    for name in names:
        out.add_column(escape(name.replace("_", " ")))
    headers = ("params", "n", "val acc (mean ± sd)", "95% CI", "test acc (mean ± sd)", "95% CI",
               "best val", "seconds", "pruned")  # fmt: skip
    for header in headers:
        out.add_column(header, justify="right")
    for c in report.configurations:
        out.add_row(
            *[escape(setting(c.params.get(name))) for name in names],
            number(c.parameters, ","), str(c.n), spread(c.val_accuracy_mean, c.val_accuracy_std, ".4f"),
            confidence(c.val_accuracy_mean, c.val_accuracy_ci_low, c.val_accuracy_ci_high, ".4f"),
            spread(c.test_accuracy_mean, c.test_accuracy_std, ".4f"),
            confidence(c.test_accuracy_mean, c.test_accuracy_ci_low, c.test_accuracy_ci_high, ".4f"),
            number(c.val_accuracy_best, ".4f"), number(c.seconds_mean, ".1f"), str(c.pruned),
        )  # fmt: skip
    return out


def csv_rows(report: SweepReport) -> list[dict[str, Any]]:
    """The configurations as flat rows: each searched option a column of its own."""
    return [{**c.params, **c.model_dump(exclude={"params", "seeds", "trials"})} for c in report.configurations]


def tally_text(counts: SweepCounts, best: SweepTrial | None) -> str:
    """3/8 done, 1 running, 0 pruned, 0 failed; best val 0.9123 (trial 2: cell=gru units=8 seed 0)."""
    total = counts.total - counts.retried
    text = (f"{counts.complete}/{total} done, {counts.running} running, {counts.waiting} waiting, "
            f"{counts.pruned} pruned, {counts.failed} failed")  # fmt: skip
    if best is not None:
        text += f"; best val {best.val_accuracy:.4f} (trial {best.number}: {params_text(best.params)} "
        text += f"seed {best.seed})"
    return text


def trial_text(row: SweepTrial) -> str:
    """One finished trial, for the progress lines."""
    head = f"trial {row.number} {params_text(row.params)} seed {row.seed}"
    if row.state == "COMPLETE":
        return (f"{head}: val {number(row.val_accuracy, '.4f')} test {number(row.test_accuracy, '.4f')} "
                f"in {number(row.seconds, '.1f')} s")  # fmt: skip
    if row.state == "PRUNED":
        return f"{head}: pruned (val {number(row.val_accuracy, '.4f')})"
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
                    number(row.best_val_accuracy, ".4f"), escape(row.started or "-"), escape(row.storage))  # fmt: skip
    return out


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
            console.print(f"accuracy against parameters: {report.plot}", highlight=False, markup=False, soft_wrap=True)


def show_list(listing: SweepList, fmt: str, console: Console, errors: Console) -> None:
    if fmt == "json":
        print_json(listing.to_json())
    elif not listing.sweeps:
        errors.print(f"no sweeps in {listing.where}", highlight=False, markup=False)
    else:
        print_wide(console, list_table(listing))
