"""`lstmcli train --config FILE.toml`: a whole experiment in one file, with command-line options on top.

The file is flat TOML whose keys are the training options (`units`, `batch_size`, `learning_rate`,
`epochs` or `steps`, `preset`, ...; dashes are accepted for underscores). Parsing is the standard
library's tomllib (the `tomli` backport on Python 3.10, the same parser); the values are then checked by
TrainConfig's own strict validation, exactly as options given on the command line are.

The parser is not handed everything: the file must be a regular file of at most MAX_BYTES, its arrays and
inline tables may nest at most MAX_DEPTH deep (tomllib recurses once per level, so a few thousand brackets
reach Python's recursion limit), and integers must fit TOML's 64 bits (a larger one overflowed float()).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lstmcli import files
from lstmcli.errors import UsageError, brief, literal
from lstmcli.train.config import MODEL_FIELDS, TrainConfig, from_preset
from lstmcli.train.options import OPTIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

MAX_BYTES = 1 << 20
MAX_DEPTH = 32
INT64 = range(-(2**63), 2**63)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} characters)"


def nesting(text: str) -> int:
    """How deep the arrays and inline tables of a TOML text go, counted outside strings and comments.

    A linear scan, so that the recursive parser never sees a depth it cannot take. A string left open
    ends the scan: the parser then reports the file as invalid.
    """
    depth = deepest = i = 0
    while i < len(text):
        char = text[i]
        if char == "#":
            i = text.find("\n", i)
            if i < 0:
                break
        elif char in "\"'":
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else char
            i = _string_end(text, i + len(quote), quote)
            if i < 0:
                break
            continue
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
        i += 1
    return deepest


def _string_end(text: str, start: int, quote: str) -> int:
    """The index just past the closing `quote` of a string whose content starts at `start`; -1 if none."""
    while (end := text.find(quote, start)) >= 0:
        escapes = len(text[start:end]) - len(text[start:end].rstrip("\\"))
        if quote[0] == "'" or escapes % 2 == 0:  # literal strings have no escapes; basic ones have \"
            return end + len(quote)
        start = end + 1
    return -1


def _parse(path: Path) -> dict[str, Any]:
    what = f"--config {path}"
    data = files.read_limited(path, what, MAX_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what}: not valid TOML (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    depth = nesting(text)
    if depth > MAX_DEPTH:
        raise UsageError(f"{what}: values nested {depth} deep (at most {MAX_DEPTH}); a config is key = value lines")
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:  # ValueError: an int of 4,300+ digits
        raise UsageError(f"{what}: not valid TOML ({brief(exc)})") from None


KEYS = tuple(option.name for option in OPTIONS)


def load(path: Path) -> dict[str, Any]:
    """The settings in `path`, keyed by option; refuses unknown keys and values of the wrong type."""
    return read(path)[0]


def read(path: Path) -> tuple[dict[str, Any], TrainConfig]:
    """The settings in `path` and the configuration they make on their own (validated once, here)."""
    raw = _parse(path)
    if "sweep" in raw:
        raise UsageError(f"--config {path}: its [sweep] table is for `lstmcli sweep run`; give train a file without it")
    return _settings(path, raw)


def load_with_sweep(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings in `path` and its [sweep] table (keyed by option; lstmcli.sweep.space checks its entries)."""
    raw = _parse(path)
    table = raw.pop("sweep", {})
    if not isinstance(table, dict):
        raise UsageError(f"--config {path}: `sweep` must be a table ([sweep])")
    table = {key.replace("-", "_"): value for key, value in table.items()}
    if "data" in table:
        raise UsageError(f"--config {path}: give data at the top of the file, not in [sweep]")
    return _settings(path, raw)[0], table


def _settings(path: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], TrainConfig]:
    settings = {key.replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise UsageError(
            f"--config {path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"known keys: {', '.join(KEYS)}"
        )
    if "steps" in settings and "epochs" in settings:
        raise UsageError(f"--config {path}: give steps or epochs, not both")
    for key, value in settings.items():
        if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
            raise UsageError(f"--config {path}: {key} = {_short(value)} is out of range (TOML integers are 64-bit)")
    if isinstance(settings.get("data"), str):
        data = files.user_path(settings["data"], f"--config {path}: data")
        settings["data"] = str(data if data.is_absolute() else path.parent / data)  # relative to the file
    preset = settings.pop("preset", "default")
    try:  # the file's values on their own, so that a refusal names the file they came from
        checked = from_preset(preset, **settings)
    except UsageError as exc:  # the fields it names keep their place (the command line shows their flags)
        raise UsageError(f"{{config}} {literal(path)}: {exc.template}", fields=True) from None
    # The values as validated (a TOML integer given for a float field becomes a float).
    settings = {k: getattr(checked.model if k in MODEL_FIELDS else checked, k) for k in settings}
    return {**settings, "preset": preset}, checked


def merge(file_settings: dict[str, Any], options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The preset name and the overrides for `config.from_preset`: the file, then the options given.

    Options left out on the command line are None and do not override. A length given on the command
    line replaces the file's length whichever unit each uses (--steps drops the file's epochs).
    """
    given = {key: value for key, value in options.items() if value is not None}
    settings = dict(file_settings)
    if "steps" in given:
        settings.pop("epochs", None)
    if "epochs" in given:
        settings.pop("steps", None)
    settings.update(given)
    preset = settings.pop("preset", "default")
    return preset, settings
