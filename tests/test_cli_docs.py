"""docs/cli.md is generated from the Typer app and must match it; shell completion comes from Typer too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "cli.md"
REGENERATE = "typer lstmcli.cli.app utils docs --name lstmcli --output docs/cli.md"


def lstmcli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from lstmcli.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT
    )


def test_docs_match_the_app(tmp_path: Path) -> None:
    generated = tmp_path / "cli.md"
    # A narrow and odd terminal width: the Markdown must not depend on the terminal it is made in.
    env = {**os.environ, "COLUMNS": "37", "TERM": "dumb"}
    command = [sys.executable, "-m", "typer", "lstmcli.cli.app", "utils", "docs", "--name", "lstmcli"]
    done = subprocess.run([*command, "--output", str(generated)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert generated.read_text() == DOCS.read_text(), f"docs/cli.md is out of date; regenerate it with: {REGENERATE}"
    for command_name in ("params", "train", "eval", "runs"):
        assert f"## `lstmcli {command_name}`" in generated.read_text()


def test_shell_completion_is_typers() -> None:
    script = lstmcli("--show-completion", "bash")
    assert script.returncode == 0
    assert "_LSTMCLI_COMPLETE=complete_bash" in script.stdout
    words = lstmcli(_LSTMCLI_COMPLETE="complete_bash", COMP_WORDS="lstmcli ru", COMP_CWORD="1")
    assert words.stdout.split() == ["runs"]
    keys = lstmcli(_LSTMCLI_COMPLETE="complete_bash", COMP_WORDS="lstmcli runs --sort test_a", COMP_CWORD="3")
    assert keys.stdout.split() == ["test_accuracy"]
    options = lstmcli(_LSTMCLI_COMPLETE="complete_bash", COMP_WORDS="lstmcli train --ten", COMP_CWORD="2")
    assert options.stdout.split() == ["--tensorboard"]
    assert "--install-completion" in lstmcli("--help").stdout
