"""The lock of a run folder: two processes never write one run at once.

A second `train` into the same --out (or a resume of a run that is still training, or a sweep trial that
meets a run in progress) is refused with the holder's pid, before it writes anything: two writers would
interleave checkpoints and history rows and leave a run that neither of them trained.

On POSIX it is flock, which the kernel releases when the process dies, so a SIGKILLed run never leaves a
stale lock. The file is opened with O_NOFOLLOW and checked to be a regular file, and emptied only once the
lock is held (so a refused contender never wipes the holder's pid). filelock was measured as the
alternative: 3.20.x opens the lock with O_TRUNC (every refused contender would wipe the holder's pid) and
follows no links only since 3.20.1; 4.3.1 refuses links and does not truncate but keeps no pid and locks a
FIFO without a word. Neither adds anything here but a dependency, so fcntl stays, with msvcrt's byte-range
lock where fcntl is missing. Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from lstmcli import files
from lstmcli.errors import UsageError, literal

# Where msvcrt locks its byte: past the pid, so that a refused process can still read who holds the lock.
WINDOWS_LOCK_OFFSET = 1 << 20


class RunLock:
    """An exclusive lock on the run folder `run`, held on the file `path` (inside it), which holds the pid."""

    def __init__(self, run: Path, path: Path) -> None:
        self.run, self.path = run, path
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
    def held(self, keep: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Hold the lock for the block. A lock file this call created is removed again when the block fails,
        unless `keep()` says the folder needs it now: a refusal leaves the folder as it was."""
        fd = self._open()
        try:
            self._acquire(fd)
            yield
        except BaseException:
            if self.created and not keep():
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
    """Whether a live process holds the lock file `path` now (a sweep waits for it rather than fail the trial)."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False  # no lock file, or one we may not open: the caller's own attempt reports it
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)  # releases the lock if we took it
