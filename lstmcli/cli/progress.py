"""How training shows its progress: a Rich bar in a terminal, plain periodic lines elsewhere.

CI logs cannot render a live bar (every refresh would become a line), so when the output is not a
terminal the same figures come as one line every few seconds and one per evaluation.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.status import Status

from lstmcli.train.reporter import Quiet, Reporter

if TYPE_CHECKING:
    from lstmcli.schemas import SweepCounts, SweepTrial


# How the progress line names each task's figure (lstmcli.tasks: Task.metric).
SHORT = {"accuracy": "acc", "mse": "mse", "recall_accuracy": "recall"}


class PlainLines(Quiet):
    """One line per evaluation and one every `period` seconds, for logs."""

    def __init__(self, console: Console, period: float = 10.0) -> None:
        self.console, self.period, self.last = console, period, 0.0
        self.total = 0
        self.figure = "accuracy"

    def start(self, total: int, done: int, figure: str = "accuracy") -> None:
        self.total, self.figure = total, figure
        self.last = time.monotonic()

    def advance(self, step: int, epoch: float, loss: float, accuracy: float, rate: float) -> None:
        now = time.monotonic()
        if now - self.last >= self.period:
            self.last = now
            left = (self.total - step) / rate if rate > 0 else float("nan")
            self.console.print(
                f"step {step}/{self.total} epoch {epoch:.2f} loss {loss:.4f} {SHORT[self.figure]} {accuracy:.4f} "
                f"{rate:.0f} steps/s, {left:.0f}s left",
                highlight=False,
            )

    def evaluated(self, step: int, epoch: float, which: str, accuracy: float, loss: float) -> None:
        self.console.print(
            f"step {step} epoch {epoch:.2f} {which} {self.figure} {accuracy:.4f} {which} loss {loss:.4f}",
            highlight=False,
        )

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)


class RichBar(PlainLines):
    """A live bar with step, epoch, loss, accuracy, rate and time left; evaluations print above it.

    Before the first step a spinner says what the run is doing (loading the data, TensorFlow, building the
    model); the bar then says it is compiling the step, and shows figures only once a step has run.
    """

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.status = Status("", console=console)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[figures]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: TaskID | None = None

    def phase(self, text: str) -> None:
        self.status.update(text)
        self.status.start()  # a no-op when it is already showing

    def start(self, total: int, done: int, figure: str = "accuracy") -> None:
        self.figure = figure
        self.status.stop()  # one live display at a time
        self.progress.start()
        # The first call traces the compiled step: seconds in which no step has run, so no figure is shown.
        self.task = self.progress.add_task("compiling the step", total=total, completed=done, figures="")

    def advance(self, step: int, epoch: float, loss: float, accuracy: float, rate: float) -> None:
        assert self.task is not None
        figures = f"epoch {epoch:.2f} loss {loss:.4f} {SHORT[self.figure]} {accuracy:.4f} {rate:.0f} steps/s"
        self.progress.update(self.task, completed=step, description="train", figures=figures)

    def evaluated(self, step: int, epoch: float, which: str, accuracy: float, loss: float) -> None:
        self.progress.console.print(
            f"step {step:>6}  epoch {epoch:6.2f}  {which} {self.figure} [bold]{accuracy:.4f}[/]  "
            f"{which} loss {loss:.4f}"
        )

    def message(self, text: str) -> None:
        self.progress.console.print(text)

    def stop(self) -> None:
        self.status.stop()
        self.progress.stop()


def make_reporter(console: Console, quiet: bool) -> Reporter:
    if quiet:
        return Quiet()
    return RichBar(console) if console.is_terminal else PlainLines(console)


class SweepLines:
    """A sweep in a log: one line per finished trial, with the tally and the best so far."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def update(self, counts: SweepCounts, best: SweepTrial | None, finished: list[SweepTrial]) -> None:
        from lstmcli.cli.views.sweep import tally_text, trial_text

        for row in finished:
            self.console.print(f"{trial_text(row)}; {tally_text(counts, best)}", highlight=False,
                               markup=False, soft_wrap=True)  # fmt: skip

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def stop(self) -> None: ...


class SweepLive(SweepLines):
    """A sweep in a terminal: a live status line (trials done, running, pruned, failed, the best so far);
    each finished trial is printed above it."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        from rich.live import Live

        self.live = Live("", console=console, refresh_per_second=4, transient=True)
        self.live.start()

    def update(self, counts: SweepCounts, best: SweepTrial | None, finished: list[SweepTrial]) -> None:
        from rich.text import Text

        from lstmcli.cli.views.sweep import tally_text, trial_text

        for row in finished:
            self.live.console.print(trial_text(row), highlight=False, markup=False)
        self.live.update(Text(f"sweep: {tally_text(counts, best)}", style="bold"))

    def message(self, text: str) -> None:
        self.live.console.print(text, highlight=False, markup=False)

    def stop(self) -> None:
        self.live.stop()


class SweepQuiet(SweepLines):
    """--quiet: no progress; a worker's error still reaches the console."""

    def update(self, counts: SweepCounts, best: SweepTrial | None, finished: list[SweepTrial]) -> None: ...


def make_sweep_watcher(console: Console, quiet: bool) -> SweepLines:
    if quiet:
        return SweepQuiet(console)
    return SweepLive(console) if console.is_terminal else SweepLines(console)
