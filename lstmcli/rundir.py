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

A run writes only what it owns: a new run goes into a new or empty folder (never among the user's files),
its temporary files are created exclusively and never through a link, a file is renamed only over a regular
file, and the lock holder refuses a run folder whose own files are links or special files before writing.
A start that fails before config.json exists removes the lock and the folders it created.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lstmcli import files, records
from lstmcli.errors import FileError, UsageError, literal

CONFIG = "config.json"
CHECKPOINT = "checkpoint.npz"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
CURVES = "curves.png"
CONFUSION = "confusion.png"


def gates_plot(sample: int) -> str:
    """`lstmcli gates RUN --sample N` draws RUN/gates-N.png."""
    return f"gates-{sample}.png"


TENSORBOARD = "tensorboard"
LOCK = ".lock"
RUN_FILES = (CONFIG, CHECKPOINT, HISTORY, METRICS, MODEL)
# What `train --force` removes before starting again: metrics.json first, so that a --force killed half-way
# never leaves a run that looks complete.
REPLACED_BY_FORCE = (METRICS, *RUN_FILES, CURVES, CONFUSION)
# Run files are small; these bound what a reader takes in before it refuses one as damaged.
MAX_JSON_BYTES = 16 << 20
MAX_HISTORY_BYTES = 256 << 20
HISTORY_FIELDS = records.FIELDS


def temporary_name(path: Path) -> Path:
    """The sibling a writer fills before renaming it over `path`; it keeps the suffix (Keras checks it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


# Exactly the names temporary_name gives the files of a run (and the write probe of lstmcli 0.1): the only
# files a new writer deletes, so that a user's own `.notes.tmp` is never taken for one.
STALE = re.compile(
    r"\.(?:" + "|".join(Path(n).stem for n in (*RUN_FILES, CURVES, CONFUSION)) + r")\.\d+\.tmp\.[a-z]+|\.write-test-\d+"
)


def _replaceable(path: Path) -> None:
    """Refuse to rename over anything but a regular file: a device node, FIFO, folder or link named by the
    user stays as it was (OSError, reported by the caller with the path)."""
    found = os.lstat(path) if os.path.lexists(path) else None
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise OSError(errno.EEXIST, f"is {files.kind(found.st_mode)}; lstmcli replaces only regular files", str(path))


def _create_exclusive(path: Path) -> int:
    """A new file descriptor for `path`, which must not exist (a stale one of ours is removed first)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path.name)
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    return os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)


class WriteFailed(OSError):
    """A run file that could not be written (a full disk, a folder made read-only or removed): the OSError
    that the caller reports, with the file it was for and the space it needed, which the system error lacks."""

    def __init__(self, path: Path, cause: OSError, needed: int, free: int | None) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path, self.needed, self.free = path, needed, free

    def describe(self) -> str:
        """`checkpoint.npz: No space left on device, about N bytes needed, M free`."""
        text = f"{self.path.name}: {self.strerror}"
        if self.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            text += f", about {self.needed:,} bytes needed"
            text += "" if self.free is None else f", {self.free:,} bytes free"
        return text


def _write_failed(path: Path, tmp: Path, cause: OSError) -> WriteFailed:
    """What a failed write of `path` through `tmp` needed: at least what it had written and the old file's size."""
    sizes = [0]
    for candidate in (tmp, path):
        with contextlib.suppress(OSError):
            sizes.append(os.lstat(candidate).st_size)
    try:
        free: int | None = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    return WriteFailed(path, cause, max(sizes), free)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to fill; then fsync it, rename it over `path` and fsync the folder.

    A reader or a resumed run therefore only ever sees a complete old file or a complete new one. The
    temporary file is created here, exclusively and never through a link, before the caller fills it.
    """
    _replaceable(path)
    tmp = temporary_name(path)
    try:
        os.close(_create_exclusive(tmp))
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _replaceable(path)
        os.replace(tmp, path)
    except WriteFailed:
        raise
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.ENOENT, errno.EACCES):
            raise
        raise _write_failed(path, tmp, exc) from exc
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
    with atomic_path(path) as tmp, open(tmp, "r+b") as handle:
        write(handle)  # type: ignore[arg-type]


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a run file: a regular file, not a link, of bounded size."""
    data = files.read_limited(path, str(path), MAX_JSON_BYTES, owned=True)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FileError(path, literal(f"{path}: unreadable or not JSON ({' '.join(str(exc).split())[:200]})")) from None
    if not isinstance(value, dict):
        raise FileError(path, literal(f"{path}: expected a JSON object"))
    return value


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=records.columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def read_history(path: Path) -> list[dict[str, float]]:
    """The rows of history.csv ([] before the first evaluation); FileError if it cannot be read."""
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


def holds_run(path: Path) -> bool:
    return any(os.path.lexists(path / name) for name in RUN_FILES)


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
    if holds_run(out):
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


@contextlib.contextmanager
def new_run(out: Path | None, root: Path, force: bool, settings: dict[str, Any]) -> Iterator[Path]:
    """The folder of a new run, locked, with config.json written: `out`, or a dated one under `root`.

    With `force`, the run already in `out` is replaced (its files removed, metrics.json first). If anything
    fails before config.json is written, what this made (the lock, new folders) is removed again.
    """
    created: list[Path] = []
    run = _new_dated_folder(root, created) if out is None else _out_folder(out, force, created)
    lock = RunLock(run)
    try:
        with lock.held():
            try:
                if force:
                    _remove_run_files(run)
                write_json(run / CONFIG, settings)
            except OSError as exc:
                where = files.label(str(run), "out")
                detail = literal(exc.strerror or exc)
                raise FileError(run, f"{where}: cannot write there ({detail}); choose a writable folder") from None
            created.clear()  # the run exists now: from here on a failure leaves it resumable
            yield run
    finally:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _remove_run_files(run: Path) -> None:
    """What `--force` removes: the run's own files (checked regular by the lock holder) and its TensorBoard logs."""
    for name in REPLACED_BY_FORCE:
        with contextlib.suppress(FileNotFoundError):
            (run / name).unlink()
    if os.path.lexists(run / TENSORBOARD):
        shutil.rmtree(run / TENSORBOARD)


def check_run_files(run: Path) -> None:
    """Refuse a run folder whose own files are links or special files: writing them would write elsewhere
    (through the link) or into a device or FIFO. Its tensorboard/ must hold only TensorBoard's event files."""
    for name in (*RUN_FILES, CURVES, CONFUSION, LOCK):
        found = files.status(run / name, str(run / name), follow=False)
        if found is not None and not stat.S_ISREG(found.st_mode):
            raise UsageError(
                f"{run / name}: is {files.kind(found.st_mode)}, not a regular file; lstmcli writes a run's files "
                "only as regular files of its own: remove it, or choose another folder"
            )
    logs = run / TENSORBOARD
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
                    f"{logs} holds {entry.relative_to(logs)}, which is not a TensorBoard event file lstmcli wrote; "
                    "move it away, or choose another folder"
                )


def remove_stale_temporaries(path: Path) -> None:
    """Delete what a process killed in mid-write left behind. Only safe while holding the run's lock."""
    for name in os.listdir(path):
        if STALE.fullmatch(name) and not stat.S_ISDIR(os.lstat(path / name).st_mode):
            with contextlib.suppress(OSError):
                (path / name).unlink()


class RunLock:
    """An exclusive lock on a run, so that two processes never write it at once; the file holds the pid.

    On POSIX it is flock, which the kernel releases when the process dies, so a SIGKILLed run never leaves
    a stale lock. The file is opened with O_NOFOLLOW and checked to be a regular file, and emptied only
    once the lock is held. filelock was measured as the alternative: 3.20.x opens the lock with O_TRUNC
    (every refused contender would wipe the holder's pid) and follows no links only since 3.20.1; 4.3.1
    refuses links and does not truncate but keeps no pid and locks a FIFO without a word. Neither adds
    anything here but a dependency, so fcntl stays, with msvcrt's byte-range lock where fcntl is missing.
    """

    def __init__(self, run: Path) -> None:
        self.run, self.path = run, run / LOCK
        self.fd: int | None = None
        self.created = False

    def _open(self) -> int:
        flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            try:
                fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644)
                self.created = True
            except FileExistsError:
                fd = os.open(self.path, flags)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise UsageError(f"{self.path}: is a symbolic link; lstmcli never writes through links in a run "
                                 "folder: remove it, or choose another folder") from None  # fmt: skip
            raise UsageError(f"{self.run}: cannot write there ({exc.strerror}); choose a writable folder") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise UsageError(f"{self.path}: is {files.kind(mode)}, not a regular file; remove it")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return fd

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block. A lock file this call created is removed again when the run is refused
        here, or when the block fails before config.json exists: a refusal leaves the folder as it was."""
        fd = self._open()
        started = False
        try:
            self._acquire(fd)
            check_run_files(self.run)
            remove_stale_temporaries(self.run)
            started = True
            yield
        except BaseException:
            if self.created and not (started and (self.run / CONFIG).exists()):
                with contextlib.suppress(OSError):
                    self.path.unlink()
            raise
        finally:
            os.close(fd)

    def _acquire(self, fd: int) -> None:
        if not _try_lock(fd):
            owner = _read_at_start(fd).strip() or "another process"
            raise UsageError(  # not the folder's fault: someone else is using it
                f"{literal(self.run)} is being written by another lstmcli train (pid {literal(owner)}); "
                "wait for it to finish or choose another {out}",
                fields=True,
            )
        try:
            _write_at_start(fd, str(os.getpid()).encode())
        except OSError as exc:
            raise UsageError(f"{self.run}: cannot write there ({exc.strerror}); choose a writable folder") from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the run's lock (RunLock) for the block."""
    with RunLock(path).held():
        yield


# Where msvcrt locks its byte: past the pid, so that a refused process can still read who holds the lock.
WINDOWS_LOCK_OFFSET = 1 << 20


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _read_at_start(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode("ascii", "replace")


def _write_at_start(fd: int, data: bytes) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.ftruncate(fd, len(data))


def is_locked(path: Path) -> bool:
    """Whether a live process holds the run's lock now (a sweep waits for it rather than fail the trial)."""
    try:
        fd = os.open(path / LOCK, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False  # no lock file, or one we may not open: the caller's own attempt reports it
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)  # releases the lock if we took it
