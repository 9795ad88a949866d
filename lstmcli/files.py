"""Opening what the user names: paths that say what is wrong with them, regular files only, bounded sizes.

Every reader of lstmcli (data files, TOML, run files, models) opens through `open_regular`, so a FIFO,
a device or a socket is refused before anything blocks on it or reads it forever, and a file inside a run
folder is never reached through a symbolic link. Standard library only: the CLI imports it before TensorFlow.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from lstmcli.errors import DataError, FileError, UsageError, literal
from lstmcli.formatting import human_bytes

# Deflate emits at least one bit-pair per 258 bytes it outputs, so one compressed byte expands to at most
# 1032 bytes (zlib's documented limit); a zip member or gzip that declares more than that is lying.
MAX_DEFLATE_RATIO = 1032
# At most this share of the memory available may go to reading a data set: training needs the rest.
MEMORY_SHARE = 0.5


KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


def kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    return KINDS.get(stat.S_IFMT(mode), "not a regular file")


def expand(text: str | os.PathLike[str]) -> Path:
    """The path the user meant: `~` and `~user` expanded. ValueError says why there is none."""
    raw = os.fspath(text)
    if raw == "":
        raise ValueError("an empty path; give a file or folder")
    if "\0" in raw:
        raise ValueError(f"{raw!r} holds a NUL character, which no path can")
    if raw.startswith("~"):
        expanded = os.path.expanduser(raw)
        if expanded.startswith("~"):  # os.path.expanduser leaves what it cannot expand as it was
            user = raw[1:].split("/", 1)[0].split(os.sep, 1)[0]
            why = f"no such user {user!r}" if user else "no home folder (HOME is not set)"
            raise ValueError(f"cannot expand {raw.split('/', 1)[0]} in {raw}: {why}")
        raw = expanded
    return Path(raw)


def label(what: str, field: str | None = None) -> str:
    """How a message names a path: `what` as it is, after `{field}` where a field gave it (the command line
    shows the field's flag there: `--data /x`); a template for lstmcli.errors.LstmcliError."""
    if field is None:
        return literal(what)
    return f"{{{field}}} {literal(what)}" if what else f"{{{field}}}"


def user_path(text: str | os.PathLike[str], what: str = "", field: str | None = None) -> Path:
    """`expand` for the library: a path from an argument, a TOML file, config.json or the environment."""
    try:
        return expand(text)
    except ValueError as exc:
        # A text that names no path is a bad value, not a bad file: a UsageError, as TOML and options expect.
        raise UsageError(f"{label(what, field)}: {literal(exc)}", fields=True) from None


NUL = "the name holds a NUL byte, which no file's name can; give the path without it"


def status(path: Path, what: str, follow: bool = True, field: str | None = None) -> os.stat_result | None:
    """The path's status (of the link itself when not `follow`), None when it does not exist; one line for
    the rest, so that a folder that cannot be entered is not a traceback."""
    try:
        return os.stat(path, follow_symlinks=follow)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise FileError(path, describe_error(label(what, field), exc)) from None
    except ValueError:  # a NUL byte: from an API call or a file (a command line cannot hold one)
        raise FileError(path, f"{label(what, field)}: {NUL}") from None


def describe_error(where: str, exc: OSError) -> str:
    """What an OSError met on a path means, after `where` (a template: see `label`): permission, a link
    where none is followed, or the system's words."""
    if exc.errno == errno.EACCES or isinstance(exc, PermissionError):
        return f"{where}: permission denied (the file, or a folder on its way, is not open to you); fix the permissions"
    if exc.errno == errno.ELOOP:
        return f"{where}: a symbolic link where lstmcli follows none (or a loop of links); replace it with the file"
    return f"{where}: cannot be opened ({literal(exc.strerror or exc)})"


def open_regular(path: Path, what: str, owned: bool = False, field: str | None = None) -> BinaryIO:
    """Open `path` for reading only if it is a regular file.

    O_NONBLOCK makes the open of a FIFO return at once (a plain open blocks until a writer comes); fstat
    on the open descriptor then says what it really is, with no window for a swap. `owned` files (those of
    a run folder) are opened with O_NOFOLLOW: a link there is refused, never followed.
    """
    where = label(what, field)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if owned:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    if not hasattr(os, "O_NONBLOCK"):  # Windows: no FIFOs to block on, but check before opening anyway
        found = status(path, what, field=field)
        if found is not None and not stat.S_ISREG(found.st_mode):
            raise FileError(path, f"{where}: is {kind(found.st_mode)}, not a regular file; give a file")
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileError(path, f"{where}: no such file") from None
    except ValueError:
        raise FileError(path, f"{where}: {NUL}") from None
    except OSError as exc:
        if owned and exc.errno in (errno.ELOOP, errno.EMLINK):
            link = f"{where}: is a symbolic link; lstmcli never follows links inside a run folder"
            raise FileError(path, link) from None
        raise FileError(path, describe_error(where, exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileError(path, f"{where}: is {kind(mode)}, not a regular file; give a file")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(path: Path, what: str, limit: int, owned: bool = False, field: str | None = None) -> bytes:
    """The whole of a small regular file, refused (before reading) when it is larger than `limit` bytes."""
    where = label(what, field)
    with open_regular(path, what, owned, field) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            most = human_bytes(limit, byte_word="bytes")
            raise FileError(path, f"{where}: {size:,} bytes, larger than the {most} such a file may have")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise FileError(path, f"{where}: cannot be read ({literal(exc.strerror or exc)})") from None
    if len(data) > limit:  # grew while we read it
        most = human_bytes(limit, byte_word="bytes")
        raise FileError(path, f"{where}: larger than the {most} such a file may have")
    return data


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (Linux's MemAvailable), None when it cannot tell."""
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", "rb") as handle:
        for line in handle:
            if line.startswith(b"MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(nbytes: int, what: str) -> None:
    """Refuse, before allocating, what would take more than MEMORY_SHARE of the memory available; `what`
    names it as a message template (`label`)."""
    available = available_memory()
    if available is not None and nbytes > available * MEMORY_SHARE:
        raise DataError(
            f"{what}: needs {human_bytes(nbytes, byte_word='bytes')} of memory, more than half of the "
            f"{human_bytes(available, byte_word='bytes')} "
            "available; use a smaller data set or a larger machine",
            fields=True,
        )
