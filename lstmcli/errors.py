"""Errors that end a command with a documented exit code and one line of text.

Exit codes (the same for every command, documented in docs/reference.md):

* 0: success
* 1: a check failed (parameter-count mismatch, accuracy gate, loss became NaN)
* 2: bad usage or bad input (options, data files, run directories, model files)
* 130 / 143: interrupted by SIGINT / SIGTERM after a checkpoint was saved
"""

from __future__ import annotations

import codecs
import contextlib
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def warnings_held() -> Iterator[list[warnings.WarningMessage]]:
    """Keep Python's warnings (NumPy's, Keras's, torch's, SQLAlchemy's) off the terminal, in the list yielded.

    lstmcli speaks in results and one-line errors: a problem worth telling the user is an error with what to do,
    and a library's warning with its source line is noise in a script's stderr. `--debug` shows what was held.
    """
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("default")
        yield held


def _escaped(char: str) -> str:
    """A character no font or UTF-8 stream can carry: a byte of a name that is not UTF-8 (Python holds it as a
    lone surrogate, U+DC80..U+DCFF) as `\\xff`, any other lone surrogate as `\\udXXX`."""
    code = ord(char)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with the bytes of a name that are not UTF-8 escaped: Linux accepts any bytes in a name, a font or a
    UTF-8 terminal does not."""
    return "".join(_escaped(c) if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _escape_in_stream(error: UnicodeError) -> tuple[str, int]:
    """The codec error handler `lstmcli-names`: what `printable` does, for text already on its way out."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(_escaped(c) for c in error.object[error.start : error.end]), error.end


codecs.register_error("lstmcli-names", _escape_in_stream)


def one_line(text: str) -> str:
    """`text` with every control character (a newline in a file name, a zip member's name) escaped, and the bytes
    of a name that are not UTF-8 as `printable` shows them (`\\xff`, never Python's `\\udcff`)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) if 0xD800 <= ord(c) <= 0xDFFF else repr(c)[1:-1] for c in text)


def brief(value: BaseException | str, limit: int = 200) -> str:
    """An exception's (or a text's) message folded onto one line and cut short, to quote inside an error line."""
    text = " ".join(str(value).split())[:limit]
    return text or (type(value).__name__ if isinstance(value, BaseException) else "no detail")


def literal(text: object) -> str:
    """`text` (a path, a value from a file) as it must appear in a message that names fields: braces doubled."""
    return str(text).replace("{", "{{").replace("}", "}}")


# A field's place in a message template, or a doubled brace (a literal one).
_PLACE = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*)\}")


class LstmcliError(Exception):
    """Base class: `str(error)` is the whole message the user sees, always one line.

    Messages quote names and values taken from files and paths; escaping their control characters here
    keeps every message one line whatever the input holds. With `fields=True` the message is a template
    whose `{field}` places name a field of the library (`units`, `batch_size`, `out`): `str(error)` says the
    field's own name, and the command line renders the same error with its flags (lstmcli.cli.errors).
    Anything else put into such a template goes through `literal`.
    """

    exit_code = 2

    def __init__(self, message: str = "", *, fields: bool = False) -> None:
        self.template = str(message) if fields else literal(message)
        super().__init__(self.render(str))

    def render(self, name: Callable[[str], str]) -> str:
        """The message with each field it mentions called `name(field)`."""
        def place(match: re.Match[str]) -> str:
            whole = match.group(0)
            return whole[0] if match.group(1) is None else name(match.group(1))

        return one_line(_PLACE.sub(place, self.template))  # never fails, whatever braces a message holds


class UsageError(LstmcliError):
    """The user asked for something that cannot be done as stated (exit 2)."""

    exit_code = 2


class DataError(LstmcliError):
    """A data file, run directory or model file is missing, unreadable or malformed (exit 2)."""

    exit_code = 2


class CheckFailed(LstmcliError):
    """The command ran, and a check the user relies on failed (exit 1)."""

    exit_code = 1


class Interrupted(LstmcliError):
    """Training was stopped by a signal after saving a checkpoint."""

    def __init__(self, message: str, exit_code: int, *, fields: bool = False) -> None:
        super().__init__(message, fields=fields)
        self.exit_code = exit_code


class FieldError(UsageError):
    """A value given for a field (of a ModelSpec, a TrainConfig, an argument of a library call) that cannot
    be used: `field` names it, and the message (a template, see LstmcliError) says what is wrong and what to do."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message, fields=True)


class FileError(DataError):
    """A file or folder that cannot be used as it is: `path` is the file, the message (a template, see
    LstmcliError) says what is wrong with it and what to do."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        super().__init__(message, fields=True)
