"""`lstmcli train --config FILE.toml`: a whole experiment in one file, with command-line options on top.

The file is flat TOML whose keys are the training options (`units`, `batch_size`, `learning_rate`,
`epochs` or `steps`, `preset`, ...; dashes are accepted for underscores). Parsing is the standard
library's tomllib (the `tomli` backport on Python 3.10, the same parser); the values are then checked by
TrainConfig's own strict validation, exactly as options given on the command line are.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lstmcli.errors import UsageError
from lstmcli.train.config import MODEL_FIELDS, TrainConfig, from_preset

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

KEYS = (*MODEL_FIELDS, *(name for name in TrainConfig.model_fields if name != "model"))


def load(path: Path) -> dict[str, Any]:
    """The settings in `path`, keyed by option; refuses unknown keys and values of the wrong type."""
    raw = _read(path)
    if "sweep" in raw:
        raise UsageError(f"--config {path}: its [sweep] table is for `lstmcli sweep run`; give train a file without it")
    return _settings(path, raw)


def load_with_sweep(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings in `path` and its [sweep] table (keyed by option; lstmcli.sweep.space checks its entries)."""
    raw = _read(path)
    table = raw.pop("sweep", {})
    if not isinstance(table, dict):
        raise UsageError(f"--config {path}: `sweep` must be a table ([sweep])")
    table = {key.replace("-", "_"): value for key, value in table.items()}
    if "data" in table:
        raise UsageError(f"--config {path}: give data at the top of the file, not in [sweep]")
    return _settings(path, raw), table


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--config {path}: is a folder; give a .toml file") from None
    except OSError as exc:
        raise UsageError(f"--config {path}: cannot read it ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path}: not valid TOML ({exc})") from None


def _settings(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    settings = {key.replace("-", "_"): value for key, value in raw.items()}
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise UsageError(
            f"--config {path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"known keys: {', '.join(KEYS)}"
        )
    if "steps" in settings and "epochs" in settings:
        raise UsageError(f"--config {path}: give steps or epochs, not both")
    preset = settings.pop("preset", "default")
    try:
        checked = from_preset(preset, **settings)
    except UsageError as exc:
        raise UsageError(f"--config {path}: {exc}") from None
    # The values as validated (a TOML integer given for a float field becomes a float).
    settings = {k: getattr(checked.model if k in MODEL_FIELDS else checked, k) for k in settings}
    if isinstance(settings.get("data"), str) and not Path(settings["data"]).expanduser().is_absolute():
        settings["data"] = str(path.parent / Path(settings["data"]))  # relative to the file, not the shell
    return {**settings, "preset": preset}


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
