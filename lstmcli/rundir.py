"""The run directory: what a training run leaves on disk, written so that a kill never corrupts it.

Layout of a run (docs/reference.md describes each file)::

    config.json        resolved configuration (written first; identifies the run)
    checkpoint.npz     weights, optimiser state, step, history so far (atomic, at every evaluation
                       and every --checkpoint-every steps)
    history.csv        one row per chunk of steps (training means, learning rate; held-out figures
                       at each evaluation, test at the end)
    metrics.json       final metrics (present only once the run is complete)
    model.keras        the trained model in Keras's format
    curves.png         learning curves (written by lstmcli.plots at the end)
    confusion.png      confusion-matrix heat map (written by `lstmcli eval RUN`)
    tensorboard/       TensorBoard event files (with --tensorboard)
    .lock              held (flock) while a process writes the run

Every file is written to a temporary name in the same folder, flushed, fsynced, then renamed over the
old one, so a reader or a resumed run only ever sees a complete old file or a complete new one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lstmcli.errors import DataError, UsageError

CONFIG = "config.json"
CHECKPOINT = "checkpoint.npz"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
CURVES = "curves.png"
CONFUSION = "confusion.png"
TENSORBOARD = "tensorboard"
LOCK = ".lock"
RUN_FILES = (CONFIG, CHECKPOINT, HISTORY, METRICS, MODEL)
# What `train --force` removes before starting again: metrics.json first, so that a --force killed half-way
# never leaves a run that looks complete.
REPLACED_BY_FORCE = (METRICS, *RUN_FILES, CURVES, CONFUSION)
HISTORY_FIELDS = (
    "step", "epoch", "seconds", "learning_rate", "train_loss", "train_accuracy",
    "val_loss", "val_accuracy", "test_loss", "test_accuracy",
)  # fmt: skip


def temporary_name(path: Path) -> Path:
    """The sibling a writer fills before renaming it over `path`; it keeps the suffix (Keras checks it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to fill; then fsync it, rename it over `path` and fsync the folder.

    A reader or a resumed run therefore only ever sees a complete old file or a complete new one.
    """
    tmp = temporary_name(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # never hide the error that brought us here
            tmp.unlink()
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write `path` through `write(handle)`, atomically (see atomic_path)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable or not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def read_history(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(handle)]


def new_run_dir(root: Path) -> Path:
    """A fresh folder under `root` named by date and time, never one that exists already."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in range(1000):
        candidate = root / (stamp if suffix == 0 else f"{stamp}-{suffix}")
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"cannot create a run folder under {root}: {exc.strerror}; choose --out") from None
    raise UsageError(f"cannot find a free run folder name under {root}")


def prepare_out_dir(path: Path) -> Path:
    """Create `path` if needed and check that it can be written, before any training starts."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path}: is a file, not a folder; choose a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot create it ({exc.strerror}); choose a writable folder") from None
    if not path.is_dir():
        raise UsageError(f"--out {path}: is a file, not a folder")
    probe = path / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out {path}: cannot write there ({exc.strerror}); choose a writable folder") from None
    return path


def holds_run(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_FILES)


# Names of the temporary files a writer of the run creates (atomic_write, the model save, the write probe).
TEMPORARY_PATTERNS = (".*.tmp", ".*.tmp.*", ".write-test-*")


def remove_stale_temporaries(path: Path) -> None:
    """Delete what a process killed in mid-write left behind. Only safe while holding the run's lock."""
    for pattern in TEMPORARY_PATTERNS:
        for stale in path.glob(pattern):
            with contextlib.suppress(OSError):
                stale.unlink()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run so that two processes never write it at once.

    flock is released by the kernel when the process dies, so a SIGKILLed run never leaves a stale lock.
    """
    import fcntl

    lock_path = path / LOCK
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise UsageError(f"{path}: cannot write there ({exc.strerror}); choose a writable folder") from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise UsageError(
                f"{path} is being written by another lstmcli train (pid {owner}); "
                "wait for it to finish or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        remove_stale_temporaries(path)
        yield
    finally:
        handle.close()


def is_locked(path: Path) -> bool:
    """Whether a live process holds the run's lock now (a sweep waits for it rather than fail the trial)."""
    import fcntl

    try:
        handle = open(path / LOCK, "a+")  # noqa: SIM115 - closed below, which releases a lock we took
    except OSError:
        return False  # unwritable: the caller's own attempt reports it
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False
