"""lstmcli.api: docs/api.md's examples run as a doctest, and the API is the command line's library call."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pytest

from lstmcli import api
from lstmcli.cli import main

DOCS = Path(__file__).parent.parent / "docs" / "api.md"


def test_the_examples_of_docs_api_md_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    failed, tried = doctest.testfile(
        str(DOCS), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert tried > 10 and failed == 0, f"{failed} of {tried} examples in docs/api.md failed (output above)"


def test_every_public_name_is_documented() -> None:
    text = DOCS.read_text()
    for name in api.__all__:
        assert name in text, name


def test_importing_the_api_loads_no_framework() -> None:
    code = "import sys, lstmcli.api; print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_the_json_of_params_is_the_dump_of_api_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--units", "9", "--input", "5", "--no-verify", "--format", "json"]) == 0
    printed = capsys.readouterr().out
    import json

    assert json.loads(printed) == api.count(api.ModelSpec(units=9, input_size=5), verify=False).to_json()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: api.count("x"), "spec"),
        (lambda: api.count(None), "spec"),
        (lambda: api.budget(7, 100), "spec"),
        (lambda: api.read_model(123), "path"),
        (lambda: api.count(api.ModelSpec(), convention="bad", verify=False), "convention"),
        (lambda: api.read_model(Path("m.keras"), batch=0), "batch_size"),
    ],
)
def test_a_wrong_argument_is_an_error_about_its_field(call: object, field: str) -> None:
    """Found by a red-team pass: notebook calls with a wrong type raised AttributeError or TypeError."""
    with pytest.raises(api.FieldError) as raised:
        call()  # type: ignore[operator]
    assert raised.value.field == field and "\n" not in str(raised.value)


def test_params_of_a_model_file_refuses_batch_size_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`--batch-size 0` with a model file was taken as the default, 1."""
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04")
    assert main(["params", str(tmp_path / "m.keras"), "--batch-size", "0"]) == 2
    assert capsys.readouterr().err.strip() == "lstmcli: error: --batch-size must be at least 1, got 0"
