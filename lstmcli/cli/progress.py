"""How training shows its progress: a Rich bar in a terminal, plain periodic lines elsewhere.

CI logs cannot render a live bar (every refresh would become a line), so when the output is not a
terminal the same figures come as one line every few seconds and one per evaluation.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lstmcli.train.reporter import Quiet, Reporter


class PlainLines(Quiet):
    """One line per evaluation and one every `period` seconds, for logs."""

    def __init__(self, console: Console, period: float = 10.0) -> None:
        self.console, self.period, self.last = console, period, 0.0
        self.total = 0

    def start(self, total: int, done: int) -> None:
        self.total = total
        self.last = time.monotonic()

    def advance(self, step: int, epoch: float, loss: float, accuracy: float, rate: float) -> None:
        now = time.monotonic()
        if now - self.last >= self.period:
            self.last = now
            left = (self.total - step) / rate if rate > 0 else float("nan")
            self.console.print(
                f"step {step}/{self.total} epoch {epoch:.2f} loss {loss:.4f} acc {accuracy:.4f} "
                f"{rate:.0f} steps/s, {left:.0f}s left",
                highlight=False,
            )

    def evaluated(self, step: int, epoch: float, which: str, accuracy: float, loss: float) -> None:
        self.console.print(
            f"step {step} epoch {epoch:.2f} {which} accuracy {accuracy:.4f} {which} loss {loss:.4f}", highlight=False
        )

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)


class RichBar(PlainLines):
    """A live bar with step, epoch, loss, accuracy, rate and time left; evaluations print above it."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epoch {task.fields[epoch]:.2f}"),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("acc {task.fields[acc]:.4f}"),
            TextColumn("{task.fields[rate]:.0f} steps/s"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = None

    def start(self, total: int, done: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("train", total=total, completed=done, epoch=0.0, loss=0.0, acc=0.0, rate=0.0)

    def advance(self, step: int, epoch: float, loss: float, accuracy: float, rate: float) -> None:
        self.progress.update(self.task, completed=step, epoch=epoch, loss=loss, acc=accuracy, rate=rate)

    def evaluated(self, step: int, epoch: float, which: str, accuracy: float, loss: float) -> None:
        self.progress.console.print(
            f"step {step:>6}  epoch {epoch:6.2f}  {which} accuracy [bold]{accuracy:.4f}[/]  {which} loss {loss:.4f}"
        )

    def message(self, text: str) -> None:
        self.progress.console.print(text)

    def stop(self) -> None:
        self.progress.stop()


def make_reporter(console: Console, quiet: bool) -> Reporter:
    if quiet:
        return Quiet()
    return RichBar(console) if console.is_terminal else PlainLines(console)
