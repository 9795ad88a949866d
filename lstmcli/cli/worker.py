"""`python -m lstmcli.cli.worker SETTINGS_JSON`: one process of `sweep run --workers K`.

The worker itself is lstmcli.sweep.worker.serve; this is its edge, like `lstmcli`'s own: the one argument
parsed, and a library error said in one line with the flags of the fields it names, then its exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lstmcli.cli import errors
from lstmcli.errors import LstmcliError, warnings_held
from lstmcli.sweep.worker import serve


def main(argv: list[str] | None = None) -> int:
    """Entry of a worker process; its one argument is a JSON object of serve's keywords."""
    try:
        settings = json.loads((argv if argv is not None else sys.argv[1:])[0])
        settings["runs_dir"] = Path(settings["runs_dir"])
        with warnings_held():  # its stderr is relayed to the user's terminal: no library warning on it
            return serve(**settings)
    except LstmcliError as exc:
        print(f"lstmcli: error: {errors.message(exc)}", file=sys.stderr, flush=True)
        return errors.exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
