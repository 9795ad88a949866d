"""Atomic writes: a file is replaced whole or not at all, so a kill or a full disk never corrupts one.

lstmcli promises that a run killed at any moment (SIGKILL, power loss) can be resumed, and that a write
which fails leaves nothing on disk lost or half-written. So every file is written to a temporary sibling,
flushed, fsynced, then renamed over the old one, and the folder is fsynced: a reader or a resumed run only
ever sees a complete old file or a complete new one.

A writer writes only what it owns: the temporary file is created exclusively and never through a link, and
a file is renamed only over a regular file (a device, FIFO, folder or link the user put there stays as it
was). A write that fails for want of room or permission is a WriteFailed, which names the file and the
space it needed. Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lstmcli import files

# The system errors that mean "no room or no permission here" (reported as WriteFailed), not a bug.
WRITE_ERRORS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.ENOENT, errno.EACCES)
NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def temporary_name(path: Path) -> Path:
    """The sibling a writer fills before renaming it over `path`; it keeps the suffix (Keras checks it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def temporary_pattern(names: Iterable[str]) -> str:
    """A regular expression matching exactly the temporary names (temporary_name) of the files `names`, of any
    process: what a later writer may delete as left behind by a killed one, and nothing of the user's."""
    return r"\.(?:" + "|".join(Path(n).stem for n in names) + r")\.\d+\.tmp\.[a-z]+"


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
    """A file that could not be written (a full disk, a folder made read-only or removed): the OSError that
    the caller reports, with the file it was for and the space it needed, which the system error lacks."""

    def __init__(self, path: Path, cause: OSError, needed: int, free: int | None) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path, self.needed, self.free = path, needed, free

    def describe(self) -> str:
        """`checkpoint.npz: No space left on device, about N bytes needed, M free`."""
        text = f"{self.path.name}: {self.strerror}"
        if self.errno in NO_ROOM:
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


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to fill; then fsync it, rename it over `path` and fsync the folder.

    The temporary file is created here, exclusively and never through a link, before the caller fills it
    (a library that writes only to a path of its own choosing, like Keras, fills it by name).
    """
    _replaceable(path)
    tmp = temporary_name(path)
    try:
        os.close(_create_exclusive(tmp))
        yield tmp
        _fsync(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        _replaceable(path)
        os.replace(tmp, path)
    except WriteFailed:
        raise
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS:
            raise
        raise _write_failed(path, tmp, exc) from exc
    finally:
        with contextlib.suppress(OSError):  # never hide the error that brought us here
            tmp.unlink()
    with contextlib.suppress(OSError):
        _fsync(path.parent, os.O_RDONLY)


def write(path: Path, fill: Callable[[io.BufferedWriter], None]) -> None:
    """Write `path` through `fill(handle)`, atomically (see atomic_path): for writers that take a handle."""
    with atomic_path(path) as tmp, open(tmp, "r+b") as handle:
        fill(handle)  # type: ignore[arg-type]


def write_text(path: Path, text: str) -> None:
    """Write `text` as UTF-8, atomically."""
    write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON with sorted keys (stable, so that files can be compared), atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
