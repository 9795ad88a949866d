"""HDF5 and ONNX files parsed in a child process with resource limits, so a crash in a C parser is not ours.

h5py sits on the HDF5 C library and onnx on protobuf's: a crafted file can make either allocate without
bound, loop, or crash the process (a segfault in a parser would be a crash of lstmcli). So lstmcli never
opens such a file in its own process: `run` starts `python -m lstmcli.model.probe KIND FILE` with a cap on
address space, CPU time and file writes (none), and a wall-clock timeout. The child reads only what the
readers need (names, shapes, dtypes, the model config; the weight values only for `eval`), checks every
declared size against what the file really stores, and answers with one JSON line (then, with `--weights`,
the arrays in .npy format) on stdout. Whatever the file does to the child, the parent gets one line.

The child imports h5py or onnx and pydantic, never TensorFlow; its answer is validated by the same pydantic
models on the way back, and each array is checked against the shape and dtype it was announced with.
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from lstmcli.errors import DataError, UsageError, brief

# The child's limits. Address space: the interpreter with h5py or onnx takes a few hundred MiB of it; the
# rest is for what the file holds (read at most twice: the library's buffer and the array).
BASE_ADDRESS_SPACE = 1 << 30
# A legitimate model parses in a second or two; a mutated 13 KB .h5 kept HDF5 busy for minutes (fuzzing).
CPU_SECONDS = 30
WALL_SECONDS = 60
# Sizes no model file of this kind has; beyond them the file is refused before the child starts.
MAX_H5_BYTES = 8 << 30
MAX_ONNX_BYTES = 2 << 30  # protobuf's own limit for one message
MAX_CONFIG_BYTES = 64 << 20  # the model_config attribute (a few KiB in every model Keras saved)
MAX_ENTRIES = 100_000  # layers, weights, nodes, initializers
# zlib's bound on deflate's expansion (as lstmcli.files.MAX_DEFLATE_RATIO), for filtered HDF5 datasets.
MAX_DEFLATE_RATIO = 1032
KINDS = ("h5", "onnx")
ERROR_EXIT = 3


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Weight(Strict):
    name: str
    shape: tuple[int, ...]
    dtype: str


class H5Layer(Strict):
    name: str
    weights: tuple[Weight, ...]


class H5Probe(Strict):
    """What a legacy Keras HDF5 file holds: the model config and, per layer, its weights' names and shapes."""

    kind: Literal["h5"] = "h5"
    model_config_json: str | None
    keras_version: str | None
    backend: str | None
    layers: tuple[H5Layer, ...]
    stored_bytes: int


class Initializer(Strict):
    name: str
    shape: tuple[int, ...]
    dtype: str


class Node(Strict):
    name: str
    graph: str = ""  # the subgraph it is in ("" for the model's graph): its inputs may name the outer graph's values
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    ints: dict[str, int]
    strings: dict[str, str]


class GraphInput(Strict):
    name: str
    dims: tuple[int | str | None, ...] | None


class OnnxProbe(Strict):
    """An ONNX model's graph without its weight values: initializers' shapes, nodes and their attributes."""

    kind: Literal["onnx"] = "onnx"
    ir_version: int
    producer: str
    opsets: dict[str, int]
    inputs: tuple[GraphInput, ...]
    initializers: tuple[Initializer, ...]
    nodes: tuple[Node, ...]


class Refused(Exception):
    """The child's refusal: the text after the file's name."""


# --- the parent ---------------------------------------------------------------------------------------------


def run(kind: str, path: Path, weights: bool = False) -> tuple[H5Probe | OnnxProbe, list[np.ndarray]]:
    """Parse `path` in a limited child process; one DataError line for whatever goes wrong there."""
    size = path.stat().st_size
    limit = BASE_ADDRESS_SPACE + 3 * size
    cmd = [sys.executable, "-m", "lstmcli.model.probe", kind, str(path), str(limit)] + (["--weights"] * weights)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    library = "HDF5" if kind == "h5" else "ONNX (protobuf)"
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=WALL_SECONDS, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DataError(
            f"{path}: the {library} reader did not finish within {WALL_SECONDS} s; damaged or forged, "
            "save or copy it again"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot start the reader process ({exc.strerror or exc})") from None
    if done.returncode == ERROR_EXIT:
        raise DataError(f"{path}: {brief(done.stdout.decode('utf-8', 'replace'), 400)}")
    if done.returncode < 0 or done.returncode != 0:
        how = _signal_name(-done.returncode) if done.returncode < 0 else f"exit {done.returncode}"
        raise DataError(
            f"{path}: the {library} library failed on this file ({how}{_last_line(done.stderr)}); "
            "it is damaged or crafted, save or copy it again"
        )
    return _parse_answer(kind, path, done.stdout, weights)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return f": {brief(lines[-1], 120)}" if lines else ""


def _parse_answer(kind: str, path: Path, out: bytes, weights: bool) -> tuple[H5Probe | OnnxProbe, list[np.ndarray]]:
    header, _, rest = out.partition(b"\n")
    model = H5Probe if kind == "h5" else OnnxProbe
    try:
        probe = model.model_validate_json(header)
    except ValidationError as exc:
        raise DataError(f"{path}: the reader's answer does not validate ({brief(exc, 120)})") from None
    arrays: list[np.ndarray] = []
    if weights and isinstance(probe, H5Probe):
        stream = io.BytesIO(rest)
        for layer in probe.layers:
            for weight in layer.weights:
                array = np.lib.format.read_array(stream, allow_pickle=False)
                if array.shape != weight.shape or array.dtype.str != weight.dtype:
                    raise DataError(f"{path}: {weight.name} read back as {array.shape}, not {weight.shape}")
                arrays.append(array)
    return probe, arrays


# --- the child ----------------------------------------------------------------------------------------------


def _limit(address_space: int) -> None:
    for name, value in (("RLIMIT_AS", address_space), ("RLIMIT_CPU", CPU_SECONDS), ("RLIMIT_FSIZE", 0),
                        ("RLIMIT_CORE", 0)):  # fmt: skip
        which = getattr(resource, name, None)
        if which is not None:
            _soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, hard))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _attr_list(group: Any, name: str) -> list[str]:
    """A string-list attribute, also when Keras split it into NAME0, NAME1... to fit HDF5's header limit."""
    if name in group.attrs:
        parts = [group.attrs[name]]
    else:
        parts = []
        while f"{name}{len(parts)}" in group.attrs and len(parts) < MAX_ENTRIES:
            parts.append(group.attrs[f"{name}{len(parts)}"])
    out = [_text(item) for part in parts for item in np.atleast_1d(np.asarray(part)).tolist()]
    if len(out) > MAX_ENTRIES:
        raise Refused(f"{name} lists {len(out):,} entries; not a model Keras saved")
    return out


def _h5_attr(handle: Any, name: str) -> str | None:
    if name not in handle.attrs:
        return None
    size = handle.attrs.get_id(name).get_storage_size()
    if size > MAX_CONFIG_BYTES:
        raise Refused(f"its {name} attribute is {size:,} bytes; not a model Keras saved")
    value = handle.attrs[name]
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if not isinstance(value, (str, bytes)):
        raise Refused(f"its {name} attribute is not text")
    return _text(value)


def _h5_dataset(h5py: Any, group: Any, name: str) -> Any:
    """The dataset `name` below `group`, reached through hard links only, its declared size believed only
    when the file stores that much."""
    current = group
    for part in name.split("/"):
        if not part or part not in current:
            raise Refused(f"weight {name} is listed but not stored")
        link = current.get(part, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise Refused(f"weight {name} is a link to elsewhere ({type(link).__name__}); lstmcli follows none")
        current = current[part]
    if not isinstance(current, h5py.Dataset):
        raise Refused(f"weight {name} is not a dataset")
    if current.dtype.kind not in "fiub" or current.dtype.fields is not None:
        raise Refused(f"weight {name} holds {current.dtype}, not numbers")
    if current.external:
        raise Refused(f"weight {name} is stored in another file; lstmcli reads only what the file holds")
    nbytes = math.prod(current.shape or ()) * current.dtype.itemsize
    stored = current.id.get_storage_size()
    ratio = MAX_DEFLATE_RATIO if current.compression or current.id.get_create_plist().get_nfilters() else 1
    if nbytes > max(stored, 0) * ratio and not (current.shape == () and nbytes <= 16):
        raise Refused(f"weight {name} declares shape {current.shape} ({nbytes:,} bytes) but stores {stored:,} bytes")
    return current


def probe_h5(path: str, weights: bool) -> tuple[H5Probe, list[np.ndarray]]:
    """The child's work on a legacy Keras .h5 (also the function the fuzzer calls, in its own process):
    an H5Probe, or Refused with the reason, whatever the file holds."""
    import h5py

    try:
        return _probe_h5(h5py, path, weights)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError) as exc:
        # h5py's words for a damaged file: OSError (unable to open), KeyError (bad object header)...
        raise Refused(
            f"not a readable HDF5 model ({type(exc).__name__}: {brief(exc, 160)}); save or copy it again"
        ) from None


def _probe_h5(h5py: Any, path: str, weights: bool) -> tuple[H5Probe, list[np.ndarray]]:
    with h5py.File(path, "r") as handle:
        config = _h5_attr(handle, "model_config")
        root = handle.get("model_weights", handle)
        if not isinstance(root, h5py.Group):
            raise Refused("model_weights is not a group; not a model Keras saved")
        layers, arrays, total = [], [], 0
        for name in _attr_list(root, "layer_names"):
            if name not in root or not isinstance(root.get(name, getlink=True), h5py.HardLink):
                raise Refused(f"layer {name} is listed but not stored")
            group = root[name]
            found = []
            for weight in _attr_list(group, "weight_names"):
                dataset = _h5_dataset(h5py, group, weight)
                total += math.prod(dataset.shape or ()) * dataset.dtype.itemsize
                found.append(Weight(name=weight, shape=tuple(int(d) for d in dataset.shape), dtype=dataset.dtype.str))
                if weights:
                    arrays.append(np.asarray(dataset[()]))
            layers.append(H5Layer(name=name, weights=tuple(found)))
        version, backend = _h5_attr(root, "keras_version"), _h5_attr(root, "backend")
    probe = H5Probe(model_config_json=config, keras_version=version, backend=backend, layers=tuple(layers),
                    stored_bytes=total)  # fmt: skip
    return probe, arrays


# Bytes per element of each TensorProto data type (0.5: two 4-bit values per byte); STRING (8) has none.
ONNX_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
                 17: 1, 18: 1, 19: 1, 20: 1, 21: 0.5, 22: 0.5, 23: 0.5}  # fmt: skip
ONNX_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
              9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64",
              15: "complex128", 16: "bfloat16"}  # fmt: skip
# TensorProto's typed fields, each holding one entry per element of its data types (complex: two).
TYPED_FIELDS = (("float_data", 1), ("int32_data", 1), ("int64_data", 1), ("double_data", 1), ("uint64_data", 1))


def _external(tensor: Any, name: str, nbytes: int | None, folder: Path) -> None:
    """An initializer stored in a file beside the model: a plain name in the model's folder, a regular file
    that holds the bytes its shape declares at the offset given; its bytes are never read."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    parts = Path(location).parts
    if not location or Path(location).is_absolute() or ".." in parts or "\\" in location or "\0" in location:
        raise Refused(f"initializer {name} names its data file {location!r}, outside the model's folder; refused")
    try:
        found = os.stat(folder / location, follow_symlinks=False)
        offset, length = int(info.get("offset", 0)), int(info.get("length", -1))
    except (OSError, ValueError) as exc:
        raise Refused(f"initializer {name}: its data file {location!r} cannot be used ({brief(exc, 100)})") from None
    if not stat.S_ISREG(found.st_mode):
        raise Refused(f"initializer {name}: its data file {location!r} is not a regular file")
    needed = nbytes if nbytes is not None else max(length, 0)
    if offset < 0 or (length >= 0 and length != needed) or offset + needed > found.st_size:
        raise Refused(f"initializer {name} declares {needed:,} bytes at offset {offset:,} of {location!r}, which "
                      f"holds {found.st_size:,}; damaged, or the data file of another export: "
                      "export the model again")  # fmt: skip


def _initializer(tensor: Any, where: str, folder: Path) -> Initializer:
    """One stored tensor, its declared shape checked against the bytes (or values) it really holds."""
    name = where + tensor.name
    shape = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in shape):
        raise Refused(f"initializer {name} declares a negative dimension {shape}")
    entries = math.prod(shape)
    itemsize = ONNX_ITEMSIZE.get(tensor.data_type)
    if tensor.data_location == 1:  # EXTERNAL: torch.onnx.export writes the weights to FILE.onnx.data beside it
        _external(tensor, name, math.ceil(entries * (itemsize or 0)) if itemsize else None, folder)
        return Initializer(name=name, shape=shape, dtype=ONNX_TYPES.get(tensor.data_type, str(tensor.data_type)))
    if tensor.HasField("raw_data"):
        if itemsize is None or len(tensor.raw_data) != math.ceil(entries * itemsize):
            raise Refused(f"initializer {name} declares shape {shape} but holds {len(tensor.raw_data):,} bytes")
    else:
        held = sum(len(getattr(tensor, field)) for field, _ in TYPED_FIELDS) + len(tensor.string_data)
        per = 2 if tensor.data_type in (14, 15) else 1
        if held != entries * per:
            raise Refused(f"initializer {name} declares shape {shape} but holds {held:,} values")
    return Initializer(name=name, shape=shape, dtype=ONNX_TYPES.get(tensor.data_type, str(tensor.data_type)))


def _nodes(
    onnx: Any, graph: Any, where: str, depth: int, inits: list[Initializer], nodes: list[Node], folder: Path
) -> None:
    """The graph's nodes and initializers, and those of its subgraphs (Loop, Scan, If bodies), by path."""
    if depth > 8:
        raise Refused("graphs nested more than 8 deep; not a model any exporter writes")
    inits.extend(_initializer(t, where, folder) for t in graph.initializer)
    for sparse in graph.sparse_initializer:
        inits.append(_initializer(sparse.values, where, folder))
        inits.append(_initializer(sparse.indices, where, folder))
    for node in graph.node:
        ints, strings = {}, {}
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.INT:
                ints[attribute.name] = int(attribute.i)
            elif attribute.type == onnx.AttributeProto.STRING:
                strings[attribute.name] = attribute.s.decode("utf-8", "replace")
            for sub in [attribute.g] * (attribute.type == onnx.AttributeProto.GRAPH) + list(attribute.graphs):
                _nodes(
                    onnx, sub, f"{where}{node.name or node.op_type}/{attribute.name}/", depth + 1, inits, nodes, folder
                )
        nodes.append(Node(name=where + node.name, graph=where, op_type=node.op_type, domain=node.domain,
                          inputs=tuple(node.input), outputs=tuple(node.output), ints=ints,
                          strings=strings))  # fmt: skip
        if len(nodes) > MAX_ENTRIES or len(inits) > MAX_ENTRIES:
            raise Refused(f"more than {MAX_ENTRIES:,} nodes or initializers; not a recurrent model lstmcli reads")


def probe_onnx(path: str) -> OnnxProbe:
    """The child's work on an .onnx file: parsed by onnx (protobuf), the external data never loaded."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(path, load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise Refused(f"not a readable ONNX model ({type(exc).__name__}: {brief(exc, 160)}); export it again") from None
    try:
        return _probe_onnx(onnx, path, model)
    except (ValueError, TypeError, UnicodeDecodeError, OverflowError) as exc:
        raise Refused(f"not a readable ONNX model ({type(exc).__name__}: {brief(exc, 160)}); export it again") from None


def _probe_onnx(onnx: Any, path: str, model: Any) -> OnnxProbe:
    if not model.HasField("graph"):
        raise Refused("holds no graph; not an ONNX model")
    inits: list[Initializer] = []
    nodes: list[Node] = []
    _nodes(onnx, model.graph, "", 0, inits, nodes, Path(path).parent)
    inputs = []
    for value in model.graph.input:
        tensor = value.type.tensor_type if value.type.HasField("tensor_type") else None
        dims = None
        if tensor is not None and tensor.HasField("shape"):
            dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim)
        inputs.append(GraphInput(name=value.name, dims=dims))
    return OnnxProbe(
        ir_version=int(model.ir_version), producer=f"{model.producer_name} {model.producer_version}".strip(),
        opsets={o.domain or "ai.onnx": int(o.version) for o in model.opset_import}, inputs=tuple(inputs),
        initializers=tuple(inits), nodes=tuple(nodes),
    )  # fmt: skip


def child(argv: list[str]) -> int:
    kind, path, limit, weights = argv[0], argv[1], int(argv[2]), "--weights" in argv[3:]
    _limit(limit)
    out = sys.stdout.buffer
    try:
        if kind == "h5":
            probe, arrays = probe_h5(path, weights)
        else:
            probe, arrays = probe_onnx(path), []
    except Refused as refusal:
        out.write(str(refusal).encode())
        return ERROR_EXIT
    except MemoryError:
        out.write(b"reading it needs more memory than any model of its size; damaged or crafted, save or copy it again")
        return ERROR_EXIT
    except (RecursionError, ValueError, TypeError, KeyError, OSError, RuntimeError) as exc:
        out.write(f"not a readable model file ({type(exc).__name__}: {brief(exc, 160)})".encode())
        return ERROR_EXIT
    out.write(json.dumps(probe.model_dump(mode="json")).encode() + b"\n")
    for array in arrays:
        np.lib.format.write_array(out, np.asarray(array, order="C"), allow_pickle=False)  # 0-d stays 0-d
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]))
