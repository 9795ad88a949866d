"""lstmcli.errors and lstmcli.cli.errors: the library names fields and files, the command line flags.

The same error object is read two ways: `str(error)` in the library's words (the field `units`), and
`lstmcli.cli.errors.message(error)` as the command line prints it (the option `--units`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lstmcli import files
from lstmcli.cli import errors
from lstmcli.errors import DataError, FieldError, FileError, UsageError
from lstmcli.model.spec import ModelSpec


@pytest.mark.parametrize(
    ("fields", "field", "library", "command_line"),
    [
        ({"units": 0}, "units", "units must be at least 1, got 0", "--units must be at least 1, got 0"),
        ({"input_size": 0}, "input_size", "input_size must be at least 1", "--input must be at least 1"),
        ({"cell": "lstm{x}"}, "cell", "unknown cell 'lstm{x}'; choose one of", "unknown cell 'lstm{x}'; choose one of"),
        (
            {"cell": "gru", "proj_size": 2},
            "proj_size",
            "proj_size exists only for LSTM (torch.nn.LSTM); not for cell gru",
            "--proj-size exists only for LSTM (torch.nn.LSTM); not for --cell gru",
        ),
    ],
)
def test_a_spec_names_its_fields_and_the_cli_its_flags(
    fields: dict, field: str, library: str, command_line: str
) -> None:
    with pytest.raises(FieldError) as info:
        ModelSpec(**fields)
    assert info.value.field == field
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2
    assert str(info.value).startswith(library)
    assert errors.message(info.value).startswith(command_line)


def test_flags_of_fields() -> None:
    assert errors.flag("use_bias") == "--bias"
    assert errors.flag("runs_dir") == "--runs-dir"
    assert errors.flag("batch_size") == "--batch-size"


def test_a_file_error_carries_its_path_and_keeps_braces_in_it(tmp_path: Path) -> None:
    """A path is the user's text: braces in it are never read as a field."""
    odd = tmp_path / "{units}" / "{0} {x:>9}"
    with pytest.raises(FileError) as info:
        files.open_regular(odd, str(odd), field="data")
    assert info.value.path == odd
    assert isinstance(info.value, DataError) and info.value.exit_code == 2
    assert str(info.value) == f"data {odd}: no such file"
    assert errors.message(info.value) == f"--data {odd}: no such file"


def test_a_plain_error_is_the_same_text_both_ways() -> None:
    error = DataError("{not a field} and {0}")
    assert str(error) == errors.message(error) == "{not a field} and {0}"
