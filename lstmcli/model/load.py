"""Loading a saved .keras model safely: the file checked as an archive first, then Keras's safe mode.

`params MODEL`, `eval` and the benchmarks load through here, so every way a file can be damaged ends in
the same one line. TensorFlow and Keras are imported inside the functions that need them (and only
after the archive checks), so refusing a bad file is quick.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from lstmcli import files, rundir
from lstmcli.errors import DataError, FileError, brief, literal
from lstmcli.model import h5_file, keras_archive
from lstmcli.rundir import RunFolder

if TYPE_CHECKING:
    import keras

KERAS_SUFFIX = ".keras"
# The model files `eval`, `gates` and `params` load as Keras models: one definition, for the checks and the messages.
SUFFIXES = (KERAS_SUFFIX, *h5_file.SUFFIXES)


def accepted(suffixes: tuple[str, ...] = SUFFIXES) -> str:
    """What a command that loads a model takes, as its refusals say it."""
    return f"a run directory or a model file ({', '.join(suffixes)})"


def resolve_model_path(target: Path) -> Path:
    """Accept a run directory or a .keras file; say clearly which it is not.

    The model must be a regular file (a FIFO would block the load forever) holding a plausible zip
    archive; in a run directory it is the run's own file, never reached through a link. All of this is
    checked before the data or TensorFlow load.
    """
    found = files.status(target, str(target))
    if found is None:
        raise DataError(f"{target}: no such file or folder; give {accepted()}")
    if stat.S_ISDIR(found.st_mode):
        folder = RunFolder(target)
        path = folder.model
        if files.status(path, str(path), follow=False) is None:
            if files.status(folder.checkpoint, str(target), follow=False) is not None:
                raise DataError(
                    f"{target}: this run has not finished (no {rundir.MODEL} yet); "
                    f"resume it with: lstmcli train --resume {target}"
                )
            raise DataError(f"{target}: not a lstmcli run (no {rundir.MODEL}); give {accepted()}")
        files.open_regular(path, str(path), owned=True).close()
        check_archive(path)
        return path
    if target.suffix in h5_file.SUFFIXES:  # a legacy Keras model
        h5_file.check_file(target)
        return target
    if target.suffix != KERAS_SUFFIX:
        raise DataError(f"{target}: not a model file by its name; give {accepted()}")
    check_archive(target)
    return target


# config.json and metadata.json of a .keras file are a few KiB; a larger one is not a model Keras saved.
MAX_JSON_MEMBER = 64 << 20


def check_archive(path: Path) -> None:
    """A .keras file is a zip archive: refuse one that is not, or whose members declare more than deflate
    can hold, more than the memory available, or JSON members of absurd size (a zip bomb), before Keras
    inflates any of it."""
    try:
        with files.open_regular(path, str(path)) as handle:
            if handle.read(4) != b"PK\x03\x04":
                raise DataError(
                    f"{path}: not a .keras model (a .keras file is a zip archive; this one is not); check the file"
                )
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                members = archive.infolist()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check the file") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        raise DataError(
            f"{path}: corrupt or truncated .keras file (its zip directory is missing); save or copy it again"
        ) from None
    for info in members:
        deflated = info.compress_type == zipfile.ZIP_DEFLATED
        if info.file_size > info.compress_size * (files.MAX_DEFLATE_RATIO if deflated else 1) or (
            info.filename.endswith(".json") and info.file_size > MAX_JSON_MEMBER
        ):
            raise DataError(
                f"{path}: {info.filename} declares {info.file_size:,} bytes from {info.compress_size:,}; "
                "not a model Keras saved (damaged, forged or a zip bomb)"
            )
    files.check_memory(sum(info.file_size for info in members), files.label(str(path)))
    keras_archive.check(path)  # member names, and the model its config declares (before Keras builds it)


def load_model(path: Path, unsafe: bool = False) -> keras.Model:
    """Load a sequence classifier with Keras's safe mode on unless the user opted out (see load_keras)."""
    model = h5_file.load_model(path, unsafe) if path.suffix in h5_file.SUFFIXES else load_keras(path, unsafe)
    if not hasattr(model, "inputs") or len(model.inputs) != 1 or len(model.inputs[0].shape) != 3:
        raise DataError(f"{path}: not a sequence classifier (expects input of shape (batch, timesteps, features))")
    return model


def load_keras(path: Path, unsafe: bool = False) -> keras.Model:
    """Load any .keras model with safe mode on unless the user opted out: a file that carries code is refused.

    Every way a file can be damaged ends in one DataError line; `params MODEL` shares it with `eval`.
    """
    import keras  # only once the archive is checked: a refused file never waits for Keras to load

    check_archive(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "unsafe" in text.lower() or "lambda" in text.lower():
            raise FileError(
                path,
                f"{literal(path)}: the model carries code (e.g. a Lambda layer) that safe mode will not run; "
                "pass {unsafe} only if you trust where the file came from",
            ) from None
        raise DataError(f"{path}: not a loadable .keras model ({brief(text)}); save or copy it again") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(
            f"{path}: corrupt or truncated .keras file ({type(exc).__name__}: {brief(exc)}); save or copy it again"
        ) from None
    except Exception as exc:
        raise DataError(
            f"{path}: not a loadable .keras model ({type(exc).__name__}: {brief(exc)}); save or copy it again"
        ) from None
    return model


