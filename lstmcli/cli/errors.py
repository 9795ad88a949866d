"""The edge between the library's errors and the command line: fields become flags, errors exit codes.

The library names what an error is about by its field (`units`, `batch_size`, `runs_dir`); the command line
says the same thing with the option that sets it (`--units`, `--batch-size`, `--runs-dir`). This is the
only place that knows how one becomes the other.
"""

from __future__ import annotations

from lstmcli.errors import LstmcliError

# Fields whose flag is not the field's name with dashes.
FLAGS = {
    "use_bias": "--bias",
    "input_size": "--input",
    "batch": "--batch-size",  # ModelSpec memory's batch of sequences: `params --batch-size`
}


def flag(field: str) -> str:
    """The option that sets `field` (`use_bias` is --bias, `runs_dir` is --runs-dir)."""
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def message(error: LstmcliError) -> str:
    """The error's one line as the command line says it: with the flags of the fields it names."""
    return error.render(flag)


def exit_code(error: LstmcliError) -> int:
    return error.exit_code
