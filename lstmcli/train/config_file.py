"""`lstmcli train --config FILE.toml`: a whole experiment in one file, with command-line options on top.

The file is flat TOML whose keys are the fields of TrainConfig (`units`, `batch_size`, `learning_rate`,
`epochs` or `steps`, `preset`, ...; dashes are accepted for underscores). Parsing is the standard
library's tomllib (the `tomli` backport on Python 3.10, the same parser); only the check that each key
is known and each value has the field's type is written here, because TOML values arrive untyped.
Ranges and choices are then checked by TrainConfig itself, as for options given on the command line.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any

from lstmcli.errors import UsageError
from lstmcli.model.spec import ModelSpec
from lstmcli.train.config import MODEL_FIELDS, TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

KEYS = (*MODEL_FIELDS, *(name for name in TrainConfig.__dataclass_fields__ if name != "model"))


def _accepted(hint: Any) -> tuple[type, ...]:
    """The types a field accepts, without None (TOML has no null)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(t for t in typing.get_args(hint) if t is not type(None))
    return (hint,)


def _convert(path: Path, key: str, value: Any) -> Any:
    hints = {**typing.get_type_hints(ModelSpec), **typing.get_type_hints(TrainConfig)}
    accepted = _accepted(hints[key])
    if isinstance(value, bool):
        if bool in accepted:
            return value
    elif isinstance(value, int) and int in accepted:
        return value
    elif isinstance(value, (int, float)) and float in accepted:
        return float(value)
    elif isinstance(value, str) and str in accepted:
        return value
    wanted = " or ".join(
        {bool: "true/false", int: "an integer", float: "a number", str: "a string"}[t] for t in accepted
    )
    raise UsageError(f"--config {path}: {key} = {value!r} must be {wanted}")


def load(path: Path) -> dict[str, Any]:
    """The settings in `path`, keyed by TrainConfig field; refuses unknown keys and mistyped values."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--config {path}: is a folder; give a .toml file") from None
    except OSError as exc:
        raise UsageError(f"--config {path}: cannot read it ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path}: not valid TOML ({exc})") from None
    settings = {key.replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise UsageError(
            f"--config {path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"known keys: {', '.join(KEYS)}"
        )
    settings = {key: _convert(path, key, value) for key, value in settings.items()}
    if "steps" in settings and "epochs" in settings:
        raise UsageError(f"--config {path}: give steps or epochs, not both")
    if settings.get("data") and not Path(settings["data"]).expanduser().is_absolute():
        settings["data"] = str(path.parent / Path(settings["data"]))  # relative to the file, not the shell
    return settings


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
