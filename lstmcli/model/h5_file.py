"""A legacy Keras HDF5 model (.h5, .hdf5), as Keras 2.x and Keras 3's legacy save write it, for `params` and `eval`.

What is read from the HDF5 directly, and what goes through Keras:

* h5py reads the file, in a child process with resource limits (model/probe.py): the `model_config`
  attribute, `keras_version`, and for each layer in `layer_names` its `weight_names` with every weight's shape
  and dtype (the values only for `eval`). Every declared shape is checked against the bytes stored.
* lstmcli then rewrites the config for Keras 3, never executing anything: class paths of Keras 2
  (`keras.layers.recurrent.LSTM`) become the class; recurrent options Keras 3 no longer takes but which do
  not change the model (`time_major=False`, `implementation`) are dropped, and `time_major=True` is refused;
  initialisers become zeros and regularizers and constraints are dropped (the weights come from the file, and
  neither matters to counting or inference); a layer that carries code (Lambda, a marshalled function) is
  refused unless `unsafe`. The declared model is held to the build limits (model/declared.py).
* Keras 3 builds the layers from that config with its own legacy deserializer (the one keras.saving.load_model
  uses for .h5), in safe mode; lstmcli checks that every layer's weights have the shapes the file stores, and
  (for `eval`) assigns them. The model is then read like a .keras model (model/keras_model.py).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmcli import files
from lstmcli.errors import DataError, brief
from lstmcli.formatting import human_bytes
from lstmcli.model import declared, probe

if TYPE_CHECKING:
    import keras

    from lstmcli.model.report import FileReport

SUFFIXES = (".h5", ".hdf5")
MAGIC = b"\x89HDF\r\n\x1a\n"
# HDF5 may start after a user block of 512, 1024, 2048... bytes; h5py and Keras write none.
USER_BLOCKS = tuple(512 << k for k in range(12))
# Recurrent options of Keras 2 that Keras 3 refuses, with the value under which dropping them keeps the model.
DROPPED = {"time_major": False, "implementation": None}
CODE_CLASSES = {"Lambda", "__lambda__", "function", "TFOpLambda", "SlicingOpLambda"}
CODE_KEYS = {"function", "function_type", "output_shape_type"}
KERAS_MODULES = ("keras.", "tf_keras.", "tensorflow.python.keras.", "tensorflow.keras.", "keras>")


def what_it_is(head: bytes) -> str:
    """What a file that is not HDF5 looks like it is, for the refusal."""
    if not head:
        return "the file is empty"
    if head.startswith(b"PK\x03\x04"):
        return "it is a zip archive, as a .keras model or a PyTorch .pt file is: give it its own suffix"
    if head[:1] == b"\x80":
        return "it looks like a Python pickle (a legacy PyTorch .pt)"
    if head[:1] == b"\x08":
        return "it looks like a protobuf file, as ONNX is: give it its .onnx name"
    return "no HDF5 signature"


def check_file(path: Path) -> int:
    """A regular file holding HDF5 by content, of a size a model can have; its size in bytes."""
    with files.open_regular(path, str(path)) as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(8)
        found = head == MAGIC
        for offset in USER_BLOCKS:
            if found or offset >= size:
                break
            handle.seek(offset)
            found = handle.read(8) == MAGIC
    if not found:
        raise DataError(f"{path}: not an HDF5 file ({what_it_is(head)}); a legacy Keras model (.h5) is HDF5")
    if size > probe.MAX_H5_BYTES:
        raise DataError(f"{path}: {human_bytes(size)}, more than the {human_bytes(probe.MAX_H5_BYTES)} "
                        "lstmcli reads as a model")  # fmt: skip
    files.check_memory(2 * size, str(path))
    return size


def _refuse_code(path: Path, name: str | None) -> None:
    where = f"layer {name}" if name else "the model"
    raise DataError(
        f"{path}: {where} carries code (a Lambda layer or a marshalled function) that lstmcli will not run; "
        "pass --unsafe only if you trust where the file came from"
    )


def sanitize(node: Any, path: Path, unsafe: bool, depth: int = 0) -> Any:
    """A copy of a Keras 2 (or Keras 3 legacy) config that Keras 3's legacy deserializer builds safely."""
    if depth > 200:
        raise DataError(f"{path}: its model config is nested more than 200 deep; not a model Keras saved")
    if isinstance(node, list):
        return [sanitize(item, path, unsafe, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    name = node.get("class_name")
    if isinstance(name, str):
        if ("." in name or ">" in name) and not name.startswith(KERAS_MODULES):
            raise DataError(f"{path}: names the class {name!r}, which Keras does not ship; lstmcli builds only "
                            "Keras's own layers (load it in Python with the code that defines it)")  # fmt: skip
        out["class_name"] = declared.class_name(node)
        if out["class_name"] in CODE_CLASSES and not unsafe:
            _refuse_code(path, str(declared._config(node).get("name", name)))
    for key, value in node.items():
        if key == "class_name":
            continue
        if key in CODE_KEYS and not unsafe:
            _refuse_code(path, str(node.get("name", key)))
        if key == "module" and isinstance(value, str) and value.startswith(KERAS_MODULES):
            value = _module(value)
        if isinstance(name, str) and key == "config" and isinstance(value, dict):
            value = _layer_options(value, path)
        out[key] = sanitize(value, path, unsafe, depth + 1)
    return out


def _module(module: str) -> str:
    """Keras 3's public module for a Keras 2 one: keras.layers.recurrent (or tf_keras.src...) is keras.layers."""
    for kind in ("layers", "initializers", "regularizers", "constraints", "activations", "optimizers", "losses"):
        if f".{kind}" in module or f"{kind}." in module:
            return f"keras.{kind}"
    return "keras"


def _layer_options(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """A layer's options without those Keras 3 refuses, initialisers as zeros, no regularizers or constraints."""
    out = {}
    for key, value in config.items():
        if key in DROPPED:
            if DROPPED[key] is not None and value not in (DROPPED[key], None):
                raise DataError(f"{path}: layer {config.get('name')} has {key}={value}, a layout Keras 3 cannot "
                                "build; re-save it from Keras 2 with the default layout")  # fmt: skip
            continue
        if key.endswith("_initializer") and isinstance(value, (dict, str)):
            value = {"class_name": "Zeros", "config": {}}
        elif key.endswith(("_regularizer", "_constraint")):
            value = None
        out[key] = value
    return out


def parse_config(path: Path, found: probe.H5Probe, unsafe: bool) -> dict[str, Any]:
    if found.model_config_json is None:
        raise DataError(
            f"{path}: holds weights only (no model_config; written by save_weights); lstmcli needs the model as "
            "model.save() writes it, or read the weights with the code that built the model"
        )
    try:
        config = json.loads(found.model_config_json)
    except (ValueError, RecursionError) as exc:
        raise DataError(f"{path}: its model_config is not valid JSON ({brief(exc, 120)})") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise DataError(f"{path}: its model_config is not a Keras model's config")
    declared.check(config, path, found.stored_bytes, initialisers=False)
    return sanitize(config, path, unsafe)


def build(path: Path, config: dict[str, Any], unsafe: bool) -> keras.Model:
    """Keras 3 builds the model from the rewritten config, as its own .h5 loader would (safe mode)."""
    from lstmcli import runtime

    runtime.tensorflow()
    # keras.saving.load_model reads .h5 through these (keras/src/legacy/saving/legacy_h5_format.py); there is no
    # public entry that takes a config instead of an h5py.File, and lstmcli keeps h5py out of its own process.
    from keras.src.legacy.saving import saving_options, saving_utils
    from keras.src.saving import serialization_lib

    try:
        with warnings.catch_warnings(), saving_options.keras_option_scope(use_legacy_config=True), \
                serialization_lib.SafeModeScope(not unsafe):  # fmt: skip
            warnings.simplefilter("ignore")  # Keras 3's advice about Keras 2 options: not the user's to act on
            model = saving_utils.model_from_config(config)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError... for configs it cannot build
        text = f"{type(exc).__name__}: {brief(exc, 160)}"
        if "safe_mode" in text or "lambda" in text.lower():
            _refuse_code(path, None)
        raise DataError(f"{path}: Keras 3 cannot build the model its config describes ({text})") from None
    if not hasattr(model, "layers"):
        raise DataError(f"{path}: its model_config describes a layer, not a model")
    return model


def match_weights(path: Path, model: keras.Model, found: probe.H5Probe) -> list[tuple[Any, list[Any]]]:
    """Each layer with weights, beside the file's layer of the same rank whose weights have the same shapes."""
    with_weights = [layer for layer in model.layers if layer.trainable_weights + layer.non_trainable_weights]
    stored = [layer for layer in found.layers if layer.weights]
    if len(with_weights) != len(stored):
        raise DataError(f"{path}: its config has {len(with_weights)} layer(s) with weights but the file stores "
                        f"weights for {len(stored)}; damaged, or the weights of another model: save it again "
                        "from the model it came from")  # fmt: skip
    pairs = []
    for layer, saved in zip(with_weights, stored, strict=True):
        variables = layer.trainable_weights + layer.non_trainable_weights  # Keras's legacy .h5 order
        shapes = [tuple(v.shape) for v in variables]
        if shapes != [w.shape for w in saved.weights]:
            raise DataError(
                f"{path}: layer {layer.name} needs weights of shapes {shapes} but the file stores "
                f"{[w.shape for w in saved.weights]} for {saved.name}; damaged, or another model's: save it again "
                "from the model it came from"
            )
        pairs.append((layer, variables))
    return pairs


def read(path: Path, unsafe: bool, timesteps: int | None, batch: int) -> FileReport:
    """`params M.h5`: the model built from its config, checked to hold exactly the weights the file stores."""
    from dataclasses import replace

    from lstmcli.model import keras_model

    check_file(path)
    found, _ = probe.run("h5", path)
    model = build(path, parse_config(path, found, unsafe), unsafe)
    match_weights(path, model, found)
    stored = sum(math.prod(w.shape) for layer in found.layers for w in layer.weights)
    report = keras_model.describe_model(model, path, timesteps, batch)
    if report.total != stored:
        raise DataError(f"{path}: the model counts {report.total:,} parameters, the file stores {stored:,}")
    version = found.keras_version or "unknown"
    note = (
        f"legacy HDF5 written by Keras {version}: config and weight shapes read by h5py (in a separate process), "
        "the layers built by Keras 3 from the config; total = the weights stored in the file"
    )
    return replace(report, notes=(*report.notes, note))


def load_model(path: Path, unsafe: bool = False) -> keras.Model:
    """`eval M.h5`: the model built from its config with the file's weights assigned, layer by layer."""
    check_file(path)
    found, arrays = probe.run("h5", path, weights=True)
    model = build(path, parse_config(path, found, unsafe), unsafe)
    values = iter(arrays)
    for _layer, variables in match_weights(path, model, found):
        for variable in variables:
            variable.assign(np.asarray(next(values)).astype(variable.dtype, copy=False))
    return model
