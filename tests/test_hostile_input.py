"""Hostile input, round 2 (issue 13): each class of failure the red team found, closed at its root.

Every case must end in exit 2 and one line on stderr (130 for the Ctrl-C case), never a traceback, never a
hang (a watchdog alarm fails the test instead of blocking forever), nothing on disk changed and nothing
written outside the run folder. Cases that would start training replace it with a stub that fails the
test: a refusal must come before any training.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import mnist_slice, refused, snapshot
from test_bad_input import idx_bytes, write_idx_folder

from lstmcli import cli, datasets, locking, rundir
from lstmcli.cli import errors
from lstmcli.errors import DataError
from lstmcli.rundir import RunFolder

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def arrays(mnist_arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return mnist_slice(mnist_arrays, 60, 20)


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory, arrays: dict[str, np.ndarray]) -> Path:
    path = tmp_path_factory.mktemp("valid") / "valid.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    """A hang fails the test after 60 s instead of blocking the suite (an open() of a FIFO is interrupted)."""

    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError("hung: lstmcli blocked for 60 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusals come before training: reaching it fails the test (and keeps old code from training for long)."""
    from lstmcli.train import runner

    def reached(*_args: object, **_kwargs: object) -> None:
        pytest.fail("training started: the input was not refused")

    monkeypatch.setattr(runner, "_train", reached)


def npz_members(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


# 1. Parsers trust what a file declares -------------------------------------------------------------------


def test_npz_member_that_is_a_raw_pickle_or_text(
    tmp_path: Path, arrays: dict[str, np.ndarray], scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    """np.load hands back the bytes of a member that is not an .npy array; validation then met a bytes object."""
    members = {f"{k}.npy": npy(v) for k, v in arrays.items()}
    pickled = npz_members(tmp_path / "pickled.npz", {**members, "x_train.npy": pickle.dumps([1, 2, 3], protocol=2)})
    err = refused(["train", "--data", str(pickled), "--out", str(scratch / "run")], capsys, tmp_path)
    assert str(pickled) in err and "x_train" in err and "pickle" in err
    text = npz_members(tmp_path / "text.npz", {**members, "y_train.npy": b"1,2,3\n4,5,6\n"})
    err = refused(["train", "--data", str(text), "--out", str(scratch / "run")], capsys, tmp_path)
    assert str(text) in err and "y_train" in err and "not an .npy array" in err


def test_npz_member_whose_header_promises_more_than_it_holds(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    members = {f"{k}.npy": npy(v) for k, v in arrays.items()}
    path = npz_members(tmp_path / "liar.npz", {**members, "x_test.npy": npy_header((10**9, 28, 28)) + b"\0" * 100})
    with pytest.raises(DataError, match=r"x_test.*declares 1,000,000,000 x 28 x 28 values") as error:
        datasets.load(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzipped"])
def test_idx_dimensions_that_overflow(
    tmp_path: Path, arrays: dict[str, np.ndarray], gz: bool, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """65536**4 wraps to 0 in int64: the old check passed an empty body, and reshape raised ValueError."""
    folder = write_idx_folder(tmp_path / "idx", arrays)
    header = bytes([0, 0, 0x08, 4]) + struct.pack(">4I", *(65536,) * 4)
    target = folder / "train-labels-idx1-ubyte"
    target.unlink()
    if gz:
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header))
    else:
        target.write_bytes(header)
    err = refused(["train", "--data", str(folder), "--out", str(scratch / "run")], capsys, tmp_path)
    assert "65536 x 65536 x 65536 x 65536" in err and "train-labels-idx1-ubyte" in err


# 2. TOML: nesting and sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data = " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
        ("x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "nested"),
        ("learning_rate = 1" + "0" * 400 + "\n", "learning_rate"),
        ("units = 1" + "0" * 5000 + "\n", "not valid TOML"),
        ("seed = 1" + "0" * 30 + "\n", "64-bit"),
        ("# " + "x" * (2 << 20) + "\nunits = 8\n", "larger than"),
    ],
    ids=["arrays 5000 deep", "tables 3000 deep", "int past a float", "int of 5000 digits", "int past 64 bits", "2 MiB"],
)
def test_toml_nesting_and_sizes(
    text: str, message: str, tmp_path: Path, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.toml"
    path.write_text(text)
    err = refused(["train", "--config", str(path), "--out", str(scratch / "run")], capsys, tmp_path)
    assert message in err and str(path) in err


# 3. Things that are not regular files ------------------------------------------------------------------------


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_fifo_as_data_env_config_idx_member(
    tmp_path: Path, arrays: dict[str, np.ndarray], scratch: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, no_training: None,
) -> None:  # fmt: skip
    pipe = fifo(tmp_path / "data.npz")
    err = refused(["train", "--data", str(pipe), "--out", str(scratch / "run")], capsys, tmp_path)
    assert str(pipe) in err and "not a regular file" in err
    monkeypatch.setenv("LSTMCLI_DATA", str(pipe))
    assert "not a regular file" in refused(["train", "--out", str(scratch / "run")], capsys, tmp_path)
    monkeypatch.delenv("LSTMCLI_DATA")
    config = fifo(tmp_path / "experiment.toml")
    err = refused(["train", "--config", str(config), "--out", str(scratch / "run")], capsys, tmp_path)
    assert str(config) in err and "not a regular file" in err
    folder = write_idx_folder(tmp_path / "idx", arrays)
    (folder / "t10k-images-idx3-ubyte").unlink()
    fifo(folder / "t10k-images-idx3-ubyte")
    err = refused(["train", "--data", str(folder), "--out", str(scratch / "run")], capsys, tmp_path)
    assert "t10k-images-idx3-ubyte" in err and "not a regular file" in err


def test_fifo_as_model_or_run_file(
    tmp_path: Path, valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    model = fifo(tmp_path / "model.keras")
    err = refused(["eval", str(model), "--data", str(valid)], capsys, tmp_path)
    assert str(model) in err and "not a regular file" in err
    run = tmp_path / "run"
    run.mkdir()
    npz_members(RunFolder(run).model, {"config.json": b"{}"})  # a zip; not read: the run's config comes first
    fifo(RunFolder(run).config)
    err = refused(["eval", str(run)], capsys, tmp_path)
    assert "config.json" in err and "not a regular file" in err
    run = tmp_path / "unfinished"
    run.mkdir()
    RunFolder(run).write_config({"data": str(valid), "steps": 5, "batch_size": 20})
    fifo(RunFolder(run).checkpoint)
    err = refused(["train", "--resume", str(run)], capsys, tmp_path)
    assert "checkpoint.npz" in err and "not a regular file" in err


# 4. Paths --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "~lstmcli-no-such-user/x.npz"],
        ["train", "--config", "~lstmcli-no-such-user/x.toml"],
        ["train", "--out", "~lstmcli-no-such-user/run"],
        ["train", "--runs-dir", "~lstmcli-no-such-user/runs"],
        ["train", "--resume", "~lstmcli-no-such-user/run"],
        ["eval", "~lstmcli-no-such-user/run"],
        ["runs", "~lstmcli-no-such-user/runs"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_tilde_user_that_does_not_exist(
    argv: list[str], valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    if "--data" not in argv and argv[0] == "train" and "--resume" not in argv:
        argv = [*argv, "--data", str(valid)]
    err = refused(argv, capsys)
    assert "~lstmcli-no-such-user" in err and "no such user" in err


@pytest.mark.parametrize(
    "argv",
    [["train", "--out", ""], ["train", "--runs-dir", ""], ["train", "--data", ""], ["train", "--resume", ""],
     ["eval", ""], ["train", "--config", ""]],
    ids=lambda argv: " ".join(argv[:2]),
)  # fmt: skip
def test_empty_paths(
    argv: list[str], valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    """An empty --out was the current folder: the run was written there, among the user's files."""
    if argv[1] != "--data" and argv[0] == "train" and argv[1] != "--resume":
        argv = [*argv, "--data", str(valid)]
    assert "empty path" in refused(argv, capsys)


def test_empty_plot_path(trained_run: Path, scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "empty path" in refused(["eval", str(trained_run), "--plot", ""], capsys, trained_run)


@pytest.fixture
def world(tmp_path: Path, valid: Path) -> Iterator[Path]:
    """A folder another user can reach (pytest's own is private to root), with data and a locked sub-folder."""
    folder = Path(tempfile.mkdtemp(prefix="lstmcli-world-", dir="/tmp"))
    folder.chmod(0o755)
    shutil.copy(valid, folder / "valid.npz")
    (folder / "valid.npz").chmod(0o644)
    locked = folder / "locked"
    locked.mkdir(mode=0o700)
    shutil.copy(valid, locked / "data.npz")
    RunFolder(locked).write_config({"data": str(folder / "valid.npz"), "batch_size": 20})
    (folder / "no-entry").mkdir(mode=0o644)  # readable, not enterable
    yield folder
    shutil.rmtree(folder)


def as_other_user(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI as an unprivileged user (root bypasses permissions), or as ourselves when we are not root."""
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    code = "import sys; from lstmcli.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    env.pop("LSTMCLI_DATA", None)
    return subprocess.run(
        [*prefix, sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def test_folders_that_cannot_be_read_or_entered(world: Path) -> None:
    if os.geteuid() == 0 and (shutil.which("setpriv") is None or as_other_user(["--version"], world).returncode):
        pytest.skip("needs setpriv, and a Python and checkout that an unprivileged user can read")
    cases = {
        "data in a locked folder": (["train", "--data", str(world / "locked" / "data.npz")], "permission denied"),
        "IDX folder not enterable": (["train", "--data", str(world / "no-entry")], "permission denied"),
        "out under a locked folder": (
            ["train", "--batch-size", "20", "--data", str(world / "valid.npz"), "--out", str(world / "locked" / "run")],
            "permission denied",
        ),
        "eval target in a locked folder": (["eval", str(world / "locked" / "model.keras")], "permission denied"),
        "resume a locked folder": (["train", "--resume", str(world / "locked")], "permission denied"),
    }  # fmt: skip
    before = snapshot(world)
    for name, (argv, message) in cases.items():
        done = as_other_user(argv, world)
        assert done.returncode == 2, (name, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr and done.stdout == "", (name, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("lstmcli: error: "), (name, done.stderr)
        assert message in done.stderr.lower(), (name, done.stderr)
    assert snapshot(world) == before


# 5. Writes outside what the run owns ------------------------------------------------------------------------


def fake_run(folder: Path, data: Path) -> Path:
    """A run folder as a kill right after config.json leaves it: resumable, nothing trained yet."""
    folder.mkdir(parents=True)
    RunFolder(folder).write_config({"data": str(data), "steps": 5, "batch_size": 20})
    return folder


def run_with_link(tmp_path: Path, data: Path, name: str) -> tuple[Path, Path]:
    """A run whose file `name` is a link to a file of the user's, outside the run."""
    victim = tmp_path / "precious.txt"
    victim.write_text("the user's work\n")
    run = fake_run(tmp_path / "run", data)
    (run / name).symlink_to(victim)
    return run, victim


@pytest.mark.parametrize("how", ["resume", "force"])
def test_lock_file_that_is_a_symlink(
    how: str, tmp_path: Path, valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    """The lock was opened with open(path, 'a+') and truncated: through a link, the user's file was emptied."""
    run, victim = run_with_link(tmp_path, valid, rundir.LOCK)
    force = ["train", "--batch-size", "20", "--data", str(valid), "--out", str(run), "--force"]
    argv = ["train", "--resume", str(run)] if how == "resume" else force
    err = refused(argv, capsys, tmp_path)
    assert ".lock" in err and "symbolic link" in err
    assert victim.read_text() == "the user's work\n"


@pytest.mark.parametrize("name", [rundir.CHECKPOINT, rundir.HISTORY, rundir.CURVES])
def test_run_file_that_is_a_symlink(
    name: str, tmp_path: Path, valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    run, victim = run_with_link(tmp_path, valid, name)
    err = refused(["train", "--resume", str(run)], capsys, tmp_path)
    assert name in err and "symbolic link" in err
    assert victim.read_text() == "the user's work\n"


@pytest.mark.parametrize("kind", ["fifo", "symlink", "device"])
def test_plot_that_is_not_a_regular_file(
    kind: str, trained_run: Path, tmp_path: Path, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--plot` was written to a temporary file renamed over the path: a device node or FIFO was replaced."""
    target = tmp_path / "plot.png"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        (tmp_path / "elsewhere.png").write_bytes(b"not lstmcli's")
        target.symlink_to(tmp_path / "elsewhere.png")
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a second /dev/null
    mode = os.lstat(target).st_mode
    err = refused(["eval", str(trained_run), "--plot", str(target)], capsys, tmp_path, trained_run)
    assert "--plot" in err and str(target) in err
    assert os.lstat(target).st_mode == mode


def test_out_on_a_folder_that_is_not_a_run(
    tmp_path: Path, valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    """The user's `.notes.tmp` was deleted as a stale temporary file and their curves.png overwritten."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / ".notes.tmp").write_text("draft")
    (folder / "curves.png").write_bytes(b"my own picture")
    for extra in ([], ["--force"]):
        err = refused(
            ["train", "--batch-size", "20", "--data", str(valid), "--out", str(folder), *extra], capsys, tmp_path
        )
        assert str(folder) in err and "not a lstmcli run" in err and ".notes.tmp" in err


def test_force_keeps_a_tensorboard_folder_that_is_not_the_runs(
    tmp_path: Path, valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    run = fake_run(tmp_path / "run", valid)
    RunFolder(run).tensorboard.mkdir()
    (RunFolder(run).tensorboard / "my-notes.txt").write_text("not an event file")
    err = refused(["train", "--batch-size", "20", "--data", str(valid), "--out", str(run), "--force"], capsys, tmp_path)
    assert "tensorboard" in err and "my-notes.txt" in err
    shutil.rmtree(RunFolder(run).tensorboard)
    elsewhere = tmp_path / "logs"
    elsewhere.mkdir()
    RunFolder(run).tensorboard.symlink_to(elsewhere)
    err = refused(
        ["train", "--batch-size", "20", "--data", str(valid), "--out", str(run), "--force", "--tensorboard"],
        capsys,
        tmp_path,
    )
    assert "tensorboard" in err and "symbolic link" in err


def test_failed_start_on_a_full_disk_leaves_nothing(
    tmp_path: Path, valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    """RLIMIT_FSIZE 0 makes every write of a byte fail (EFBIG), as a full disk does (ENOSPC)."""
    before = snapshot(tmp_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    try:
        codes = [
            cli.main(["train", "--batch-size", "20", "--data", str(valid), "--out", str(tmp_path / "new" / "run")]),
            cli.main(["train", "--batch-size", "20", "--data", str(valid), "--runs-dir", str(tmp_path / "runs")]),
        ]
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    out, err = capsys.readouterr()
    assert codes == [2, 2] and out == "", err
    assert err.count("\n") == 2 and "Traceback" not in err, err
    assert snapshot(tmp_path) == before


def test_lock_where_fcntl_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no fcntl (the lock was an ImportError traceback there): msvcrt's byte-range lock is used,
    on a byte past the pid so that a refused process can still say who holds the run."""
    import types

    from lstmcli.errors import UsageError

    calls: list[tuple[int, int, int]] = []
    busy = {"yes": False}

    def msvcrt_locking(fd: int, mode: int, count: int) -> None:
        calls.append((os.lseek(fd, 0, os.SEEK_CUR), mode, count))
        if busy["yes"]:
            raise OSError(13, "Permission denied")

    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl raises ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", types.SimpleNamespace(LK_NBLCK=2, locking=msvcrt_locking))
    run = tmp_path / "run"
    run.mkdir()
    with RunFolder(run).locked():
        assert RunFolder(run).lock.read_text() == str(os.getpid())
    assert calls == [(locking.WINDOWS_LOCK_OFFSET, 2, 1)]
    busy["yes"] = True
    refusal = rf"being written by another lstmcli train \(pid {os.getpid()}\)"
    with pytest.raises(UsageError, match=refusal), RunFolder(run).locked():
        pass


# 6. Bombs: stop at the declared or plausible size -------------------------------------------------------------


def deflate_zeros(prefix: bytes, zeros: int, chunk: int = 1 << 20) -> bytes:
    """Raw deflate of `prefix` and `zeros` zero bytes, made in milliseconds: after a full flush, every chunk of
    zeros compresses to the same bytes, so one compressed chunk is repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert block == again
    count, rest = divmod(zeros - 2 * chunk, chunk)
    return head + block * (count + 2) + compressor.compress(bytes(rest)) + compressor.flush(zlib.Z_FINISH)


def zip_of(members: dict[str, tuple[bytes, int, int]]) -> bytes:
    """A zip archive from raw deflated members: name -> (deflated bytes, CRC-32, declared size)."""
    body, directory = b"", b""
    for name, (data, crc, size) in members.items():
        encoded = name.encode()
        fields = (8, 0, 0x21, crc, len(data), size, len(encoded), 0)
        directory += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, len(body))
        directory += encoded
        body += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, *fields) + encoded + data
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return body + directory + end


def deflated(data: bytes) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data)


def test_gzip_bomb_is_refused_at_the_declared_size(
    tmp_path: Path, arrays: dict[str, np.ndarray], scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2 MB .gz whose IDX header declares 60 labels, followed by 2 GB of zeros: read 61 bytes, not 2 GB."""
    folder = write_idx_folder(tmp_path / "idx", arrays)
    (folder / "train-labels-idx1-ubyte").unlink()
    body = deflate_zeros(idx_bytes(arrays["y_train"]), 2 << 30)
    gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", 0, 0)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gz)
    assert len(gz) < 3 << 20
    started = time.monotonic()
    err = refused(["train", "--data", str(folder), "--out", str(scratch / "run")], capsys, tmp_path)
    assert time.monotonic() - started < 3
    assert "train-labels-idx1-ubyte.gz" in err and "the header says 60 values" in err


def test_zip_bomb_is_refused_before_it_is_read(
    tmp_path: Path, arrays: dict[str, np.ndarray], scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2 MB .npz whose x_train declares 2.5 million images (2 GB of zeros) beside 60 labels."""
    members = {f"{k}.npy": deflated(npy(v)) for k, v in arrays.items() if k != "x_train"}
    shape = (2_500_000, 28, 28)
    header = npy_header(shape)
    members["x_train.npy"] = (deflate_zeros(header, 28 * 28 * shape[0]), 0, len(header) + 28 * 28 * shape[0])
    path = tmp_path / "bomb.npz"
    path.write_bytes(zip_of(members))
    assert path.stat().st_size < 3 << 20
    started = time.monotonic()
    err = refused(["train", "--data", str(path), "--out", str(scratch / "run")], capsys, tmp_path)
    assert time.monotonic() - started < 3
    assert "x_train has 2,500,000 images but y_train has 60 labels" in err


def test_keras_zip_bomb_is_refused_before_keras_reads_it(
    tmp_path: Path, valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2 MB .keras whose config.json inflates to 2 GB: Keras read it whole before failing on it."""
    members = {"metadata.json": deflated(b'{"keras_version": "3.15.1"}')}
    members["config.json"] = (deflate_zeros(b"{", 2 << 30), 0, (2 << 30) + 1)
    path = tmp_path / "bomb.keras"
    path.write_bytes(zip_of(members))
    started = time.monotonic()
    err = refused(["eval", str(path), "--data", str(valid)], capsys, tmp_path)
    assert time.monotonic() - started < 3
    assert "config.json declares 2,147,483,649 bytes" in err


def test_zip_member_declaring_more_than_deflate_can_hold(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    members = {f"{k}.npy": deflated(npy(v)) for k, v in arrays.items()}
    data, crc, _ = members["x_test.npy"]
    members["x_test.npy"] = (data, crc, 3 << 30)
    path = tmp_path / "liar.npz"
    path.write_bytes(zip_of(members))
    with pytest.raises(DataError, match=r"x_test.*declares 3,221,225,472 bytes.*at most"):
        datasets.load(path)


def test_data_larger_than_memory_is_refused_before_reading(
    valid: Path, monkeypatch: pytest.MonkeyPatch, arrays: dict[str, np.ndarray]
) -> None:
    from lstmcli import files

    monkeypatch.setattr(files, "available_memory", lambda: 10_000)
    with pytest.raises(DataError, match=r"needs .* of memory"):
        datasets.load(valid)


# 7. Labels ---------------------------------------------------------------------------------------------------


def labelled(tmp_path: Path, arrays: dict[str, np.ndarray], y_train: np.ndarray, y_test: np.ndarray) -> Path:
    path = tmp_path / "labels.npz"
    np.savez(path, **{**arrays, "y_train": y_train, "y_test": y_test})
    return path


@pytest.mark.parametrize(
    ("train_labels", "test_labels", "named"),
    [
        (np.full(60, 42), np.full(20, 42), "42"),
        (np.where(np.arange(60) == 7, 255, np.arange(60) % 10), np.arange(20) % 10, "0-9, 255"),
        (np.array([0, 1, 2, 4] * 15), np.array([3] * 20), "0-2, 4"),
        (np.arange(60) % 9, np.arange(20) % 10, "9"),
    ],
    ids=["only 42", "0-9 and one 255", "a gap in train, filled by test", "test label never trained"],
)
def test_labels_that_define_another_problem(
    train_labels: np.ndarray, test_labels: np.ndarray, named: str, tmp_path: Path, arrays: dict[str, np.ndarray],
    scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None,
) -> None:  # fmt: skip
    path = labelled(tmp_path, arrays, train_labels, test_labels)
    err = refused(["train", "--data", str(path), "--out", str(scratch / "run")], capsys, tmp_path)
    assert named in err and "--classes" in err


def test_classes_says_what_is_meant(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    path = labelled(tmp_path, arrays, np.arange(60) % 9, np.arange(20) % 10)
    data = datasets.load(path, classes=10)
    assert data.classes == 10
    with pytest.raises(DataError, match=r"labels 0-8.*classes 5") as info:
        datasets.load(path, classes=5)
    assert "which do not fit --classes 5" in errors.message(info.value)  # as the command line says it


def test_classes_option(
    tmp_path: Path, arrays: dict[str, np.ndarray], scratch: Path, capsys: pytest.CaptureFixture[str], no_training: None
) -> None:
    path = labelled(tmp_path, arrays, np.arange(60) % 9, np.arange(20) % 10)
    assert "--classes" in refused(["train", "--data", str(path), "--classes", "1"], capsys, tmp_path)
    err = refused(["train", "--data", str(path), "--classes", "4", "--out", str(scratch / "r")], capsys, tmp_path)
    assert "0-8" in err and "--classes 4" in err
    config = tmp_path / "experiment.toml"
    config.write_text(f'data = "{path}"\nclasses = 4\n')
    assert "--classes 4" in refused(["train", "--config", str(config), "--out", str(scratch / "r")], capsys, tmp_path)


# 8. JSON and the last phase ------------------------------------------------------------------------------------


def test_json_output_is_strict(capsys: pytest.CaptureFixture[str]) -> None:
    from lstmcli.cli.views.output import print_json

    print_json({"loss": float("nan"), "values": [float("inf"), np.float64("-inf"), 1.5], "nested": {"x": np.nan}})
    out = capsys.readouterr().out
    assert "NaN" not in out and "Infinity" not in out
    assert json.loads(out) == {"loss": None, "values": [None, None, 1.5], "nested": {"x": None}}


def test_ctrl_c_while_drawing_the_curves_says_so(
    tmp_path: Path, valid: Path, scratch: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lstmcli import plots
    from lstmcli.train import runner

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_train", lambda *_args, **_kwargs: ({"steps": 5}, []))  # (metrics, history)
    monkeypatch.setattr(plots, "learning_curves", interrupted)
    code = cli.main(
        ["train", "--batch-size", "20", "--data", str(valid), "--steps", "5", "--out", str(tmp_path / "run"), "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 130
    assert err.count("\n") == 1 and err.startswith("lstmcli: error: interrupted"), err
    assert "curves.png" in err and f"--resume {tmp_path / 'run'}" in err
