"""The run folder: what a training run leaves on disk, as one object (RunFolder), so that a kill never corrupts it.

Layout of a run (docs/reference.md describes each file)::

    config.json        resolved configuration (written first; identifies the run)
    data.json          a run on the user's own sequences: their kind and shape, the training split's statistics
    checkpoint.npz     weights, optimiser state, step, history so far (atomic, at every evaluation
                       and every --checkpoint-every steps)
    history.csv        one row per chunk of steps (training means, learning rate; held-out figures
                       at each evaluation, test at the end)
    metrics.json       final metrics (present only once the run is complete)
    model.keras        the trained model in Keras's format
    curves.png         learning curves (written by lstmcli.plots at the end)
    confusion.png      confusion-matrix heat map (written by `lstmcli eval RUN`)
    gates-N.png        gate activations of test sample N (written by `lstmcli gates RUN --sample N`)
    tensorboard/       TensorBoard event files (with --tensorboard)
    .lock              held (flock) while a process writes the run

Only this module names the files of a run. Every file is written through lstmcli.atomic (a complete old
file or a complete new one, never half of either), and a run is written only under its lock
(lstmcli.locking), so that two processes never write one run at once.

A run writes only what it owns: a new run goes into a new or empty folder (never among the user's files),
and the lock holder refuses a run folder whose own files are links or special files before writing.
A start that fails before config.json exists removes the lock and the folders it created.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstmcli import atomic, files, locking, records
from lstmcli.errors import FileError, UsageError, literal

CONFIG = "config.json"
DATA = "data.json"
CHECKPOINT = "checkpoint.npz"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
CURVES = "curves.png"
CONFUSION = "confusion.png"
TENSORBOARD = "tensorboard"
LOCK = ".lock"
RUN_FILES = (CONFIG, CHECKPOINT, HISTORY, METRICS, MODEL)
# The files a run writes besides: its pictures, and data.json of a run on the user's own sequences.
OTHER_FILES = (DATA, CURVES, CONFUSION)
# What `train --force` removes before starting again: metrics.json first, so that a --force killed half-way
# never leaves a run that looks complete.
REPLACED_BY_FORCE = (METRICS, *RUN_FILES, *OTHER_FILES)
# Run files are small; these bound what a reader takes in before it refuses one as damaged.
MAX_JSON_BYTES = 16 << 20
MAX_HISTORY_BYTES = 256 << 20
HISTORY_FIELDS = records.FIELDS
# Exactly the names atomic.temporary_name gives the files of a run (and the write probe of lstmcli 0.1): the
# only files a new writer deletes, so that a user's own `.notes.tmp` is never taken for one.
STALE = re.compile(atomic.temporary_pattern((*RUN_FILES, *OTHER_FILES)) + r"|\.write-test-\d+")


@dataclass(frozen=True)
class RunFolder:
    """One run's folder: where each of its files is, reading and writing them, its lock, its creation.

    It holds only the path, so making one is free and says nothing about what is on disk yet.
    """

    path: Path

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def data(self) -> Path:
        return self.path / DATA

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def history(self) -> Path:
        return self.path / HISTORY

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def model(self) -> Path:
        return self.path / MODEL

    @property
    def curves(self) -> Path:
        return self.path / CURVES

    @property
    def confusion(self) -> Path:
        return self.path / CONFUSION

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def gates_plot(self, sample: int) -> Path:
        """`lstmcli gates RUN --sample N` draws RUN/gates-N.png."""
        return self.path / f"gates-{sample}.png"

    def holds_run(self) -> bool:
        """Whether any file of a run is here (a folder that `train` may replace only with `force`)."""
        return any(os.path.lexists(self.path / name) for name in RUN_FILES)

    def read_config_json(self) -> dict[str, Any]:
        """config.json as a JSON object (lstmcli.train.config reads it as a configuration)."""
        return _read_object(self.config)

    def write_config(self, settings: dict[str, Any]) -> None:
        atomic.write_json(self.config, settings)

    def read_data(self) -> dict[str, Any]:
        """data.json as a JSON object (lstmcli.schemas.SequenceData reads it field by field)."""
        return _read_object(self.data)

    def write_data(self, record: dict[str, Any]) -> None:
        atomic.write_json(self.data, record)

    def read_metrics(self) -> dict[str, Any]:
        """metrics.json as a JSON object (present only once the run is complete)."""
        return _read_object(self.metrics)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        """Written last: from here on the run is complete."""
        atomic.write_json(self.metrics, metrics)

    def read_history(self) -> list[dict[str, float]]:
        """The rows of history.csv ([] before the first evaluation); FileError if it cannot be read."""
        path = self.history
        if files.status(path, str(path), follow=False) is None:
            return []
        text = files.read_limited(path, str(path), MAX_HISTORY_BYTES, owned=True)
        try:
            reader = csv.DictReader(io.StringIO(text.decode("utf-8"), newline=""))
            rows = [{str(k): v for k, v in row.items() if v not in (None, "")} for row in reader]
            return records.history(rows, strict=False)
        except (UnicodeDecodeError, ValueError, TypeError, csv.Error) as exc:
            detail = " ".join(str(exc).split())[:200]
            raise FileError(path, literal(f"{path}: not a history written by lstmcli ({detail})")) from None

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=records.columns(rows), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic.write_text(self.history, buffer.getvalue())

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run's lock for the block, having refused a folder whose own files are not regular files and
        removed what a killed writer left behind. A lock file made here stays only once config.json exists."""
        started = False
        with locking.RunLock(self.path, self.lock).held(keep=lambda: started and self.config.exists()):
            self.check_files()
            self.remove_stale_temporaries()
            started = True
            yield

    def is_locked(self) -> bool:
        """Whether a live process holds the run's lock now."""
        return locking.is_locked(self.lock)

    def check_files(self) -> None:
        """Refuse a run folder whose own files are links or special files: writing them would write elsewhere
        (through the link) or into a device or FIFO. Its tensorboard/ must hold only TensorBoard's event files."""
        for name in (*RUN_FILES, *OTHER_FILES, LOCK):
            found = files.status(self.path / name, str(self.path / name), follow=False)
            if found is not None and not stat.S_ISREG(found.st_mode):
                raise UsageError(
                    f"{self.path / name}: is {files.kind(found.st_mode)}, not a regular file; lstmcli writes a run's "
                    "files only as regular files of its own: remove it, or choose another folder"
                )
        logs = self.tensorboard
        found = files.status(logs, str(logs), follow=False)
        if found is None:
            return
        if not stat.S_ISDIR(found.st_mode):
            raise UsageError(f"{logs}: is {files.kind(found.st_mode)}, not the run's own folder of TensorBoard logs; "
                             "remove it, or choose another folder")  # fmt: skip
        for folder, subfolders, names in os.walk(logs):
            for name in subfolders + names:
                entry = Path(folder) / name
                mode = os.lstat(entry).st_mode
                if not (stat.S_ISDIR(mode) or (stat.S_ISREG(mode) and name.startswith("events.out.tfevents."))):
                    raise UsageError(
                        f"{logs} holds {entry.relative_to(logs)}, which is not a TensorBoard event file lstmcli "
                        "wrote; move it away, or choose another folder"
                    )

    def remove_stale_temporaries(self) -> None:
        """Delete what a process killed in mid-write left behind. Only safe while holding the run's lock."""
        for name in os.listdir(self.path):
            if STALE.fullmatch(name) and not stat.S_ISDIR(os.lstat(self.path / name).st_mode):
                with contextlib.suppress(OSError):
                    (self.path / name).unlink()

    def _remove_run_files(self) -> None:
        """What `--force` removes: the run's own files (checked regular by the lock holder) and its TensorBoard
        logs."""
        for name in REPLACED_BY_FORCE:
            with contextlib.suppress(FileNotFoundError):
                (self.path / name).unlink()
        if os.path.lexists(self.tensorboard):
            shutil.rmtree(self.tensorboard)

    @classmethod
    @contextlib.contextmanager
    def new(cls, out: Path | None, runs_root: Path, force: bool, config: dict[str, Any]) -> Iterator[RunFolder]:
        """The folder of a new run, locked, with config.json written: `out`, or a dated one under `runs_root`.

        With `force`, the run already in `out` is replaced (its files removed, metrics.json first). If anything
        fails before config.json is written, what this made (the lock, new folders) is removed again.
        """
        created: list[Path] = []
        folder = cls(_new_dated_folder(runs_root, created) if out is None else _out_folder(out, force, created))
        try:
            with folder.locked():
                try:
                    if force:
                        folder._remove_run_files()
                    folder.write_config(config)
                except OSError as exc:
                    where = files.label(str(folder.path), "out")
                    detail = literal(exc.strerror or exc)
                    raise FileError(
                        folder.path, f"{where}: cannot write there ({detail}); choose a writable folder"
                    ) from None
                created.clear()  # the run exists now: from here on a failure leaves it resumable
                yield folder
        finally:
            for made in reversed(created):
                with contextlib.suppress(OSError):
                    made.rmdir()


def _read_object(path: Path) -> dict[str, Any]:
    """A JSON object from a run file: a regular file, not a link, of bounded size."""
    data = files.read_limited(path, str(path), MAX_JSON_BYTES, owned=True)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FileError(path, literal(f"{path}: unreadable or not JSON ({' '.join(str(exc).split())[:200]})")) from None
    if not isinstance(value, dict):
        raise FileError(path, literal(f"{path}: expected a JSON object"))
    return value


def _mkdir(folder: Path, shown: str, field: str, created: list[Path]) -> bool:
    """Make one folder, recording it; False if it exists already (made meanwhile by someone else)."""
    try:
        folder.mkdir()
    except FileExistsError:
        return False
    except OSError as exc:
        why = f"{files.label(shown, field)}: cannot create it ({literal(exc.strerror)}); choose a writable folder"
        raise FileError(folder, why) from None
    created.append(folder)
    return True


def _make_folders(path: Path, shown: str, field: str, created: list[Path]) -> None:
    """mkdir -p, recording each folder made (outermost first) so that a refused start can remove them;
    errors name the path as `shown`, given by `field`."""
    missing = []
    while files.status(path, shown, follow=False, field=field) is None and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        _mkdir(folder, shown, field, created)


def _new_dated_folder(root: Path, created: list[Path]) -> Path:
    """A fresh folder under `root` named by date and time, never one that exists already."""
    _make_folders(root, str(root), "runs_dir", created)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in range(1000):
        if _mkdir(root / (stamp if suffix == 0 else f"{stamp}-{suffix}"), str(root), "runs_dir", created):
            return created[-1]
    raise UsageError(f"cannot find a free run folder name under {root}")


def _out_folder(out: Path, force: bool, created: list[Path]) -> Path:
    """`out`: a new or empty folder, or one that holds a run (replaced only with `force`)."""
    where = files.label(str(out), "out")
    found = files.status(out, str(out), field="out")
    if found is None:
        _make_folders(out, str(out), "out", created)
        return out
    if not stat.S_ISDIR(found.st_mode):
        raise FileError(out, f"{where}: is a file, not a folder; choose a folder")
    if RunFolder(out).holds_run():
        if not force:
            raise UsageError(  # a choice to make, not a fault of the folder
                f"{where} already holds a run; use {{resume}} {literal(out)} to continue it, {{force}} to replace it, "
                "or choose another folder",
                fields=True,
            )
        return out
    try:
        others = sorted(set(os.listdir(out)) - {LOCK})
    except OSError as exc:
        raise FileError(out, files.describe_error(where, exc)) from None
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise FileError(
            out,
            f"{where}: not a lstmcli run, and not empty ({literal(shown)}); a new run goes into an empty or new "
            "folder, choose another {out}",
        )
    return out
