"""SIGINT/SIGTERM as a flag that a loop checks at its next safe point, and the exit codes they end with.

Shared by a training run (which saves its checkpoint before stopping) and a sweep (whose workers and
launcher stop the same way); standard library only.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import ClassVar


class StopSignals:
    """Turn SIGINT/SIGTERM into a flag the loop checks between chunks, so the checkpoint is clean."""

    EXIT_CODES: ClassVar[dict[int, int]] = {signal.SIGINT: 130, signal.SIGTERM: 143}

    def __init__(self) -> None:
        self.received: int | None = None

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        previous = {sig: signal.signal(sig, self._handle) for sig in self.EXIT_CODES}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
