"""The writers every view shares: the one JSON writer, CSV rows, Markdown and Rich tables, wide printing."""

from __future__ import annotations

import csv
import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


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


# A text cell a spreadsheet would run as a formula (OWASP's list of leading characters).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that starts like a formula (a run folder named `=HYPERLINK(...)`) with a leading `'`, as
    spreadsheet-safe CSV writers do, so that opening the file never runs it; numbers stay numbers."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def print_csv(rows: list[dict[str, Any]]) -> None:
    """Rows as CSV on stdout: scalar columns only, in the rows' own order; formula-like text neutralised."""
    # Every row's columns, in the order they first appear (a row may have fields the first one lacks).
    columns = list(dict.fromkeys(k for row in rows for k, v in row.items() if not isinstance(v, (dict, list))))
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)


def print_wide(console: Console, table: Table) -> None:
    """In a pipe or a log, print the table whole rather than fit it to 80 columns."""
    from rich.measure import Measurement

    if not console.is_terminal:
        width = Measurement.get(console, console.options.update_width(10_000), table).maximum
        console = Console(width=max(console.width, width))
    console.print(table)


def md_table(headers: list[str], body: list[list[str]]) -> list[str]:
    """A Markdown table, one line per row."""
    head = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return head + ["| " + " | ".join(row) + " |" for row in body]


def rich_table(title: str, headers: list[str], body: list[list[str]], right: set[int]) -> Table:
    """A table of plain text: a layer, tensor or file name that looks like markup ([x]) is shown as written."""
    table = Table(title=escape(title), title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(escape(header), justify="right" if i in right else "left")
    for row in body:
        table.add_row(*[escape(cell) for cell in row], style="bold" if row[0] == "total" else None)
    return table
