"""A real, throwaway PostgreSQL server for tests (for the Optuna storage of `lstmcli sweep`).

Why this shape:

- Tests must run on a fresh machine where nothing was installed by hand, so the server binaries come from the
  first source that exists: the system's `initdb`/`postgres` (on PATH, or Debian's /usr/lib/postgresql/N/bin),
  else the ones bundled in the pip package `pgserver` (PostgreSQL 16, manylinux wheel). Only its binaries are
  used, not its Python API: that API adds a system user with `useradd`, widens the permissions of parent
  folders, registers atexit hooks and waits for readiness without a time limit.
- PostgreSQL refuses to run as root, and CI runs as root, so when root we run `initdb` and `postgres` as the
  unprivileged `nobody` (Python's `subprocess` does the setuid, no `su`/`runuser` needed) in a temp dir it owns.
- `postgres` is started directly rather than through `pg_ctl`: we hold its PID, so stopping it (SIGINT = fast
  shutdown, then SIGKILL) cannot miss, and every wait has a deadline, so nothing can hang.
- It listens on 127.0.0.1 only, on a free port, with no unix socket; durability is off (fsync, full pages)
  because the data is deleted at the end; dynamic shared memory uses files in the data dir, so a small or
  missing /dev/shm (containers) does not matter.

`LSTMCLI_TEST_PG` picks the source: `auto` (default: system, then pgserver), `system` or `pgserver`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ENV_VAR = "LSTMCLI_TEST_PG"
MODES = ("auto", "system", "pgserver")
UNPRIVILEGED_USER = "nobody"
SUPERUSER = "postgres"
DATABASE = "postgres"

INITDB_TIMEOUT_S = 60.0
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3

_log = logging.getLogger(__name__)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries can be found on this machine (the only reason the fixture skips)."""


@dataclass(frozen=True)
class PostgresBinaries:
    """A folder holding `initdb` and `postgres`, and where it came from ("system" or "pgserver")."""

    bindir: Path
    source: str

    @property
    def initdb(self) -> Path:
        return self.bindir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bindir / "postgres"


def _mode() -> str:
    mode = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV_VAR}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def _system_binaries() -> PostgresBinaries | None:
    """The system's binaries: `initdb` on PATH (symlinks resolved, `postgres` must sit beside it), else Debian's
    versioned folder, which the `postgresql` apt package does not put on PATH."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version_key(p.parent.name))[::-1]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return PostgresBinaries(bindir, "system")
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _pgserver_binaries() -> PostgresBinaries | None:
    """The binaries inside the `pgserver` wheel, found without importing it (its import has side effects)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
        return PostgresBinaries(bindir, "pgserver")
    return None


def find_binaries(mode: str | None = None) -> list[PostgresBinaries]:
    """The usable sources in order of preference; raises PostgresUnavailable (saying what was looked for) if none."""
    mode = mode or _mode()
    found: list[PostgresBinaries] = []
    missing: list[str] = []
    if mode in ("auto", "system"):
        system = _system_binaries()
        if system:
            found.append(system)
        else:
            missing.append("no initdb+postgres on PATH or in /usr/lib/postgresql/*/bin")
    if mode in ("auto", "pgserver"):
        bundled = _pgserver_binaries()
        if bundled:
            found.append(bundled)
        else:
            missing.append("pip package 'pgserver' not installed")
    if not found:
        raise PostgresUnavailable(f"no PostgreSQL server available ({ENV_VAR}={mode}): " + "; ".join(missing))
    return found


@dataclass(frozen=True)
class _RunAs:
    """Who runs the server: the current user (uid None), or `nobody` when we are root."""

    uid: int | None = None
    gid: int | None = None

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid if self.gid is not None else -1)


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs()
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError as exc:
        # initdb needs a passwd entry for its effective user; every Debian/Ubuntu image has `nobody`.
        raise PostgresUnavailable(
            f"running as root and there is no '{UNPRIVILEGED_USER}' user to run postgres as"
        ) from exc
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _others_can_traverse(path: Path) -> bool:
    """Whether every folder down to `path` is searchable by others (mode bits; root's temp dirs often are not)."""
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "HOME": str(home), "TZ": "UTC"}


def _run(cmd: list[str], run_as: _RunAs, workdir: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=workdir,
        env=_env(workdir),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **run_as.popen_kwargs(),
    )


def _reachable(binaries: PostgresBinaries, run_as: _RunAs, workdir: Path) -> PostgresBinaries:
    """The binaries, copied under `workdir` first if the unprivileged user cannot execute them where they are
    (a venv under /root, mode 700). The copy keeps the wheel's layout, whose RPATH is relative."""
    if run_as.uid is None:
        return binaries
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if _run([str(binaries.postgres), "--version"], run_as, workdir, 10).returncode == 0:
            return binaries
    if binaries.source != "pgserver":
        raise RuntimeError(f"user '{UNPRIVILEGED_USER}' cannot run {binaries.postgres}")
    package = binaries.bindir.parent.parent  # site-packages/pgserver
    copy = workdir / "site" / "pgserver" / "pginstall"
    for part in ("bin", "lib", "share"):
        shutil.copytree(package / "pginstall" / part, copy / part, symlinks=True)
    libs = package.parent / "pgserver.libs"
    if libs.is_dir():
        shutil.copytree(libs, workdir / "site" / "pgserver.libs", symlinks=True)
    return PostgresBinaries(copy / "bin", binaries.source)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(no log: {exc})"


def _initdb(binaries: PostgresBinaries, run_as: _RunAs, workdir: Path, data: Path) -> None:
    cmd = [str(binaries.initdb), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"]
    result = _run([*cmd, "--no-sync"], run_as, workdir, INITDB_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"{binaries.initdb} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def _start(binaries: PostgresBinaries, run_as: _RunAs, workdir: Path, data: Path, port: int) -> subprocess.Popen[bytes]:
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "port": str(port),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "16MB",
        "dynamic_shared_memory_type": "mmap",
        "max_connections": "50",
        "logging_collector": "off",
    }
    cmd = [str(binaries.postgres), "-D", str(data)]
    for key, value in settings.items():
        cmd += ["-c", f"{key}={value}"]
    with (workdir / "postgres.log").open("ab") as log:
        return subprocess.Popen(
            cmd,
            cwd=workdir,
            env=_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C aimed at pytest reaches us, and we stop the server ourselves
            **run_as.popen_kwargs(),
        )


def _wait_ready(proc: subprocess.Popen[bytes], data: Path, port: int, deadline: float) -> bool:
    """True once postmaster.pid says "ready" and the port accepts; False if the server exited first."""
    pidfile = data / "postmaster.pid"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            lines = pidfile.read_text().splitlines()
            if len(lines) >= 8 and lines[7].strip() == "ready":
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
        time.sleep(0.05)
    raise TimeoutError(f"postgres not ready within {START_TIMEOUT_S:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; each wait bounded."""
    for sig, timeout in ((signal.SIGINT, STOP_TIMEOUT_S), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)


def _sqlalchemy_driver() -> str:
    """psycopg 3 if installed (what the `postgres` extra brings), else psycopg2."""
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "psycopg2"
    return "psycopg"


@contextlib.contextmanager
def _server(binaries: PostgresBinaries, base: Path) -> Iterator[str]:
    run_as = _run_as()
    if run_as.uid is not None and not _others_can_traverse(base):
        base = Path(tempfile.gettempdir())  # pytest's /tmp/pytest-of-root is 0700: `nobody` could not enter it
    workdir = Path(tempfile.mkdtemp(prefix="lstmcli-pg-", dir=base))
    proc: subprocess.Popen[bytes] | None = None
    try:
        workdir.chmod(0o755)
        run_as.chown(workdir)
        binaries = _reachable(binaries, run_as, workdir)
        data = workdir / "data"
        started = time.monotonic()
        _initdb(binaries, run_as, workdir, data)
        deadline = time.monotonic() + START_TIMEOUT_S
        for _attempt in range(PORT_ATTEMPTS):
            port = _free_port()
            proc = _start(binaries, run_as, workdir, data, port)
            if _wait_ready(proc, data, port, deadline):
                break
            log = _tail(workdir / "postgres.log")
            if "could not bind" not in log and "already in use" not in log:
                raise RuntimeError(f"postgres exited with {proc.returncode}; log:\n{log}")
            _log.info("port %d was taken before postgres bound it; trying another", port)
        else:
            raise RuntimeError(f"postgres found no free port in {PORT_ATTEMPTS} attempts")
        _log.info(
            "postgres (%s, %s) ready on 127.0.0.1:%d in %.2f s",
            binaries.source,
            binaries.bindir,
            port,
            time.monotonic() - started,
        )
        yield f"postgresql+{_sqlalchemy_driver()}://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        stopping = time.monotonic()
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
        _log.info("postgres stopped and removed in %.2f s", time.monotonic() - stopping)


@contextlib.contextmanager
def running_postgres(tmp_path: Path, mode: str | None = None) -> Iterator[str]:
    """Start a private PostgreSQL server and yield its SQLAlchemy URL (for `optuna.storages.RDBStorage`).

    The server and its temp dir (created under `tmp_path` when the server's user can reach it, else under the
    system temp dir) are stopped and removed on exit, whatever happened. In `auto` mode a source that fails to
    start (say an odd system install) falls back to the next one with a warning. Raises PostgresUnavailable if
    there are no binaries at all.
    """
    errors: list[str] = []
    for binaries in find_binaries(mode):
        with contextlib.ExitStack() as stack:
            try:
                url = stack.enter_context(_server(binaries, tmp_path))
            except Exception as exc:  # try the next source; re-raised below if none starts
                errors.append(f"{binaries.source} ({binaries.bindir}): {exc}")
                warnings.warn(f"PostgreSQL from {binaries.source} did not start: {exc}", RuntimeWarning, stacklevel=3)
                continue
            yield url  # leaving the stack stops the server and removes its dir, even when the body raised
            return
    raise RuntimeError("no PostgreSQL source could start:\n" + "\n".join(errors))


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the whole session (initdb + start take about a second); skipped only without binaries."""
    try:
        find_binaries()
        _run_as()
    except PostgresUnavailable as exc:
        pytest.skip(f"{exc}; install PostgreSQL (apt-get install postgresql) or `pip install pgserver`")
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url
