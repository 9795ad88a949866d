"""The checks of a .keras archive that read its names and its config, before Keras opens it.

lstmcli.model.load.check_archive bounds the archive's sizes; this adds what its contents say: a member whose
name would land outside the folder it is extracted to (`../x`, `/etc/x`, `C:\\x`) is refused by name (Keras
would extract the rest and print a Python warning for it), and the config's declared model is held to the
build limits (model/declared.py) before Keras builds it.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path, PurePosixPath

from lstmcli import files
from lstmcli.errors import DataError, brief
from lstmcli.model import declared

CONFIG = "config.json"
WEIGHTS = "model.weights.h5"
DRIVE = re.compile(r"^[A-Za-z]:")


def escapes(name: str) -> bool:
    """Whether extracting a member called `name` could write outside the destination folder."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or bool(DRIVE.match(name)) or ".." in parts or "\0" in name


def check(path: Path) -> None:
    """Names first, then the declared model; the archive's sizes are already bounded (check_archive)."""
    try:
        with files.open_regular(path, str(path)) as handle, zipfile.ZipFile(handle) as archive:
            _check(path, archive)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check the file") from None
    except (zipfile.BadZipFile, EOFError):
        raise DataError(f"{path}: corrupt or truncated .keras file; save or copy it again") from None


def _check(path: Path, archive: zipfile.ZipFile) -> None:
    members = archive.infolist()
    for info in members:
        if escapes(info.filename):
            raise DataError(
                f"{path}: member {info.filename!r} would be extracted outside the archive's folder; "
                "not a model Keras saved (forged), refused before anything is extracted"
            )
    names = {info.filename: info for info in members}
    if CONFIG not in names:
        return  # Keras's own refusal names what is missing
    try:
        config = json.loads(archive.read(CONFIG))
    except (ValueError, RecursionError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path}: its {CONFIG} is not valid JSON ({brief(exc, 120)}); save or copy it again") from None
    stored = names[WEIGHTS].file_size if WEIGHTS in names else 0
    declared.check(config, path, stored, initialisers=True)
