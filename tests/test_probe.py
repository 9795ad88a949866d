"""The reader child (model/probe.py): whatever happens to it, the parent says one line."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from lstmcli.errors import DataError
from lstmcli.model import probe


def fake_python(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGABRT, signal.SIGKILL])
def test_a_child_killed_by_a_signal_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: int) -> None:
    """A real process dying of a real signal, as a parser crash would end it."""
    monkeypatch.setattr(sys, "executable", str(fake_python(tmp_path, f"kill -{sig.name[3:]} $$")))
    (tmp_path / "m.h5").write_bytes(b"x")
    with pytest.raises(DataError, match=rf"failed on this file \({sig.name}") as error:
        probe.run("h5", tmp_path / "m.h5")
    assert "\n" not in str(error.value) and str(tmp_path / "m.h5") in str(error.value)


def test_an_answer_that_does_not_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(fake_python(tmp_path, "echo '{\"kind\": \"h5\", \"layers\": 3}'")))
    (tmp_path / "m.h5").write_bytes(b"x")
    with pytest.raises(DataError, match="does not validate"):
        probe.run("h5", tmp_path / "m.h5")


def test_the_child_cannot_write_files(tmp_path: Path) -> None:
    """RLIMIT_FSIZE 0: a parser tricked into writing gets EFBIG (Python ignores SIGXFSZ), and no byte lands."""
    import subprocess

    code = ("import sys; from lstmcli.model import probe; probe._limit(1 << 30); "
            "f = open(sys.argv[1], 'w'); f.write('x'); f.flush()")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode != 0 and "File too large" in done.stderr
    assert (tmp_path / "out").stat().st_size == 0
