"""What `train` shows while it runs: the live view a terminal gets (rendered by Rich as one would), a log's lines."""

from __future__ import annotations

import io
import re

from rich.console import Console

from lstmcli.cli.progress import PlainLines, RichBar, make_reporter

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal() -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=120, color_system=None), screen


def shown(screen: io.StringIO) -> str:
    """What the terminal displayed so far, without the cursor movements."""
    return ANSI.sub("", screen.getvalue())


def test_a_terminal_gets_the_live_view() -> None:
    console, _ = terminal()
    assert isinstance(make_reporter(console, quiet=False), RichBar)
    log = Console(file=io.StringIO(), force_terminal=False)
    assert type(make_reporter(log, quiet=False)) is PlainLines


def test_the_terminal_says_what_happens_before_the_first_step_and_shows_no_figure_before_there_is_one() -> None:
    console, screen = terminal()
    bar = RichBar(console)
    try:
        for phase in ("loading the data", "loading TensorFlow", "building the model"):
            bar.phase(phase)
            bar.status._live.refresh()
            assert phase in shown(screen)
        before = len(screen.getvalue())
        bar.start(300, 0)
        bar.progress.refresh()
        compiling = ANSI.sub("", screen.getvalue()[before:])
        assert "compiling the step" in compiling and "0/300" in compiling
        assert "loss" not in compiling and "steps/s" not in compiling and "acc" not in compiling
        before = len(screen.getvalue())
        bar.advance(10, 0.04, 2.1234, 0.25, 120.0)
        bar.progress.refresh()
        running = ANSI.sub("", screen.getvalue()[before:])
        assert "train" in running and "10/300" in running
        assert "epoch 0.04 loss 2.1234 acc 0.2500 120 steps/s" in running
        assert "compiling" not in running
    finally:
        bar.stop()
    assert not bar.status._live.is_started and not bar.progress.live.is_started


def test_a_log_gets_only_the_lines_it_always_had() -> None:
    """No spinner, no phase lines in a log: its lines stay what README.md shows."""
    screen = io.StringIO()
    lines = PlainLines(Console(file=screen, force_terminal=False, width=200), period=0.0)
    lines.phase("loading TensorFlow")
    lines.start(300, 0)
    lines.advance(100, 1.0, 0.5, 0.9, 100.0)
    lines.evaluated(100, 1.0, "validation", 0.95, 0.2)
    lines.stop()
    assert screen.getvalue().splitlines() == [
        "step 100/300 epoch 1.00 loss 0.5000 acc 0.9000 100 steps/s, 2s left",
        "step 100 epoch 1.00 validation accuracy 0.9500 validation loss 0.2000",
    ]
