"""The parameter type of every path option: what the user typed, refused in one line when it names nothing.

Typer's own Path type turns an empty string into `.` (so `--out ""` silently meant the current folder) and
leaves `~user` unexpanded when the shell did not expand it (a quoted path, an environment variable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from lstmcli.files import expand


class UserPath(click.ParamType):
    """A path with `~` expanded; an empty one, or one naming an unknown user, is a usage error (exit 2)."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        try:
            return expand(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(incomplete, type="file")]


PATH = UserPath()
