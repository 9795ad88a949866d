"""Shared fixtures: small real slices of the bundled MNIST, one short real training run, golden files.

Everything uses the real TensorFlow/Keras; the slices keep the suite within a few minutes on 2 cores.
The `golden` fixture compares command output with the files under tests/golden/; `--update-golden`
rewrites those files instead (tests/golden/README.md).
"""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from lstmcli import cli, datasets

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TRAIN_SLICE = 2000
TEST_SLICE = 500


@pytest.fixture(scope="session")
def mnist_arrays() -> dict[str, np.ndarray]:
    with np.load(datasets.bundled_path(), allow_pickle=False) as npz:
        return {k: npz[k] for k in datasets.KEYS}


def mnist_slice(arrays: dict[str, np.ndarray], train: int, test: int, stride: int = 1) -> dict[str, np.ndarray]:
    """The first `train` and `test` images (every `stride`-th row and column) in the Keras layout."""
    return {
        "x_train": arrays["x_train"][:train, ::stride, ::stride],
        "y_train": arrays["y_train"][:train],
        "x_test": arrays["x_test"][:test, ::stride, ::stride],
        "y_test": arrays["y_test"][:test],
    }


@pytest.fixture(scope="session")
def small_npz(tmp_path_factory: pytest.TempPathFactory, mnist_arrays: dict[str, np.ndarray]) -> Path:
    """The first 2,000 training and 500 test images of MNIST, as a Keras-layout .npz."""
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(path, **mnist_slice(mnist_arrays, TRAIN_SLICE, TEST_SLICE))
    return path


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory, mnist_arrays: dict[str, np.ndarray]) -> Path:
    """400 training and 100 test images of MNIST, subsampled to 7x7: runs that compile and train in seconds."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    np.savez(path, **mnist_slice(mnist_arrays, 400, 100, stride=4))
    return path


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, small_npz: Path) -> Path:
    """A complete 200-step run on the small slice, shared by the eval and report tests."""
    from lstmcli.cli.progress import Quiet
    from lstmcli.train.config import from_preset
    from lstmcli.train.runner import start

    out = tmp_path_factory.mktemp("runs") / "run"
    config = from_preset("default", steps=200, eval_every=50, data=str(small_npz))
    start(config, out, out.parent, Quiet())
    return out


# --- golden files ------------------------------------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = "--update-golden"
REWRITTEN = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        UPDATE_GOLDEN,
        action="store_true",
        default=False,
        help="Rewrite the expected outputs under tests/golden/ from the current code instead of comparing with them.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REWRITTEN] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """After --update-golden, name the files that changed, so the review starts from `git diff` on them."""
    rewritten = config.stash.get(REWRITTEN, [])
    if config.getoption(UPDATE_GOLDEN):
        terminalreporter.write_sep("-", f"--update-golden: {len(rewritten)} golden file(s) rewritten")
        for name in rewritten:
            terminalreporter.write_line(f"  tests/golden/{name}")


class Golden:
    """Exact comparison of an output with tests/golden/NAME, or (with --update-golden) a rewrite of that file.

    Exact means character for character: the table borders, the padding and the trailing spaces Rich writes
    are part of what users see, and a renderer change must show up here as a diff someone reviews, not slip through
    a substring check. Regenerating is a deliberate act: `pytest tests/test_golden.py --update-golden`.
    """

    def __init__(self, update: bool, rewritten: list[str]) -> None:
        self.update = update
        self.rewritten = rewritten

    def check(self, name: str, actual: str) -> None:
        path = GOLDEN / name
        expected = path.read_text(encoding="utf-8") if path.exists() else None
        if self.update:
            if actual != expected:
                path.parent.mkdir(parents=True, exist_ok=True)
                # newline="": write "\n" as is on every OS, so the file is the same bytes everywhere.
                with open(path, "w", encoding="utf-8", newline="") as handle:
                    handle.write(actual)
                self.rewritten.append(name)
            return
        if expected is None:
            pytest.fail(f"tests/golden/{name} does not exist; create it with: {regenerate_hint()}", pytrace=False)
        # read_text reads a Windows checkout's "\r\n" as "\n": line endings are the checkout's, not the renderer's.
        if actual != expected:
            diff = difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"tests/golden/{name} (expected)",
                "output (actual)",
            )
            pytest.fail(
                f"the output differs from tests/golden/{name}:\n{''.join(diff)}\n"
                f"If the change is intended, regenerate with: {regenerate_hint()}, and review the diff.",
                pytrace=False,
            )

    def read(self, name: str) -> str:
        return (GOLDEN / name).read_text(encoding="utf-8")


def regenerate_hint() -> str:
    return f"python -m pytest tests/test_golden.py {UPDATE_GOLDEN}"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    """Compare with (or, under --update-golden, rewrite) the expected outputs in tests/golden/."""
    config = request.config
    return Golden(bool(config.getoption(UPDATE_GOLDEN)), config.stash[REWRITTEN])
def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder` (files with their SHA-256), hidden folders left out.

    A test that does not move to a scratch folder watches the checkout it runs in; its virtual environment
    (`.venv-ci` under .ci/run) and `.git` hold gigabytes that lstmcli never writes, and hashing them on every
    refusal made the suite many minutes slower.
    """
    found: dict[str, str] = {}
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        here = Path(root)
        for name in folders:
            found[str((here / name).relative_to(folder))] = "dir"
        for name in names:
            path = here / name
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "other"
            found[str(path.relative_to(folder))] = digest
    return found


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a file in it, so that a new runs/ folder or a stray file would show."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LSTMCLI_DATA", raising=False)
    monkeypatch.delenv("LSTMCLI_RUNS", raising=False)
    (tmp_path / "keep.txt").write_text("untouched")
    return tmp_path


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *watched: Path) -> str:
    """Run the CLI; assert exit 2, exactly one line on stderr, nothing on stdout, the disk unchanged."""
    folders = [Path.cwd(), *watched]
    before = [snapshot(f) if f.is_dir() else f.stat().st_mtime_ns for f in folders]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2, f"{argv}: exit {code}\n{out}\n{err}"
    assert "Traceback" not in err and "Traceback" not in out
    assert "Warning" not in err, err  # no Python warning reaches the terminal (lstmcli.errors.warnings_held)
    assert out == "", out
    assert err.count("\n") == 1 and err.startswith("lstmcli: error: "), err
    assert [snapshot(f) if f.is_dir() else f.stat().st_mtime_ns for f in folders] == before, argv
    return err
