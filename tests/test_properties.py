"""Property-based tests of every reader: generated .npz files, IDX folders and TOML configs.

Whatever Hypothesis generates (valid files, wrong dtypes and shapes, lying headers, cut or extended bytes,
huge numbers, deep nesting), the only allowed outcomes are data (or a config) that satisfies the documented
invariants, or lstmcli's own error: exit code 2 and one line naming the file. Any other exception fails.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lstmcli import datasets
from lstmcli.errors import DataError, UsageError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = datasets.KEYS
DTYPES = ["u1", "i1", "<i2", ">i2", "<u2", "<i4", "<i8", "<u8", "<f2", "<f4", ">f8", "<c8", "|b1", "<U2", "|S3"]


def check_refusal(error: DataError | UsageError, path: Path) -> None:
    text = str(error)
    assert error.exit_code == 2
    assert "\n" not in text and str(path) in text, text


def check_dataset(data: datasets.Dataset, classes: int | None) -> None:
    """The documented invariants of anything `lstmcli.datasets.load` accepts (docs/reference.md, Data)."""
    assert data.x_train.ndim == data.x_test.ndim == 3 and data.x_train.shape[1:] == data.x_test.shape[1:]
    assert len(data.x_train) == len(data.y_train) > 0 and len(data.x_test) == len(data.y_test) > 0
    assert data.x_train.dtype == data.x_test.dtype and data.x_train.dtype in (np.uint8, np.float32)
    assert data.y_train.dtype == data.y_test.dtype == np.int32
    assert 2 <= data.classes <= datasets.MAX_CLASSES
    present = set(np.unique(data.y_train).tolist())
    assert len(present) >= 2 and set(np.unique(data.y_test).tolist()) <= set(range(data.classes))
    if classes is None:
        assert present == set(range(data.classes)) and set(np.unique(data.y_test).tolist()) <= present
    else:
        assert data.classes == classes and present <= set(range(classes))
    if data.x_train.dtype == np.float32:
        for x in (data.x_train, data.x_test):
            assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


def load_or_refuse(path: Path, classes: int | None, named: Path | None = None) -> None:
    try:
        data = datasets.load(path, classes)
    except DataError as error:
        check_refusal(error, named or path)
        event("refused")
    else:
        check_dataset(data, classes)
        event("loaded")


# .npz ---------------------------------------------------------------------------------------------------------


@st.composite
def npz_arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """Four arrays that are mostly right (so that loading gets far), each sometimes wrong in one way."""
    train, test = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    k = draw(st.integers(1, 4))
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    shapes = {"x_train": (train, height, width), "y_train": (train,), "x_test": (test, height, width)}
    shapes["y_test"] = (test,)
    odd_labels = st.sampled_from([0, 1, 2, 9, 42, 255, -1, 10**6])
    arrays = {}
    for key, shape in shapes.items():
        if draw(st.integers(0, 19)) == 0:  # one wrong in shape or dtype
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
            dtype = np.dtype(draw(st.sampled_from(DTYPES)))
            arrays[key] = draw(hnp.arrays(dtype, shape))
        elif key.startswith("y"):
            if draw(st.integers(0, 3)):  # mostly every class of 0..k-1, in some order
                labels = draw(st.permutations([i % k for i in range(shape[0])]))
            else:
                labels = draw(st.lists(odd_labels | st.integers(0, k), min_size=shape[0], max_size=shape[0]))
            arrays[key] = np.array(labels, dtype=np.int64).astype(draw(st.sampled_from(["u1", "<i8", "<f4"])))
        else:
            dtype = draw(st.sampled_from(["u1", "<f4", "<f8", "<i2"]))
            elements = {"u1": st.integers(0, 255), "<i2": st.integers(0, 255), "<f4": st.floats(0, 255, width=32),
                        "<f8": st.floats(0, 1)}[dtype]  # fmt: skip
            array = draw(hnp.arrays(dtype, shape, elements=elements))
            if dtype != "u1" and not draw(st.integers(0, 3)):  # now and then one pixel out of range or not finite
                odd = [-1, 256] if dtype == "<i2" else [float("nan"), float("inf"), -1.0, 256.0]
                array.flat[draw(st.integers(0, array.size - 1))] = draw(st.sampled_from(odd))
            arrays[key] = array
    for key in draw(st.sets(st.sampled_from(KEYS), max_size=1)) if not draw(st.integers(0, 5)) else ():
        arrays[key.upper() if draw(st.booleans()) else key + "x"] = arrays.pop(key)
    return arrays


def mutate(raw: bytes, data: st.DataObject) -> bytes:
    cut = data.draw(st.sampled_from(["none"] * 5 + ["truncate", "flip", "insert"]))
    if cut == "truncate":
        return raw[: data.draw(st.integers(0, len(raw)))]
    if cut == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1 :]
    if cut == "insert":
        i = data.draw(st.integers(0, len(raw)))
        return raw[:i] + data.draw(st.binary(min_size=1, max_size=16)) + raw[i:]
    return raw


@SETTINGS
@given(arrays=npz_arrays(), compressed=st.booleans(), classes=st.sampled_from([None, None, 2, 5, 300]), data=st.data())
def test_npz_property(
    arrays: dict[str, np.ndarray], compressed: bool, classes: int | None, data: st.DataObject, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with np.errstate(all="ignore"):
        (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    path = tmp_path / "generated.npz"
    path.write_bytes(mutate(buffer.getvalue(), data))
    load_or_refuse(path, classes)


@st.composite
def sequence_arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """The user's own sequences, mostly right, with values of any size (NaN, infinities, past float32's range),
    labels of either kind and now and then one array of another shape or dtype."""
    train, test = draw(st.integers(1, 10)), draw(st.integers(1, 5))
    steps, features = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    regress = draw(st.booleans())
    values = st.floats(allow_nan=True, allow_infinity=True) if not draw(st.integers(0, 3)) else st.floats(-1e6, 1e6)
    arrays = {}
    for key, n in (("train", train), ("test", test)):
        arrays[f"x_{key}"] = draw(hnp.arrays("<f8", (n, steps, features), elements=values))
        if regress:
            arrays[f"y_{key}"] = draw(hnp.arrays("<f8", (n,), elements=values))
        else:
            arrays[f"y_{key}"] = np.array(draw(st.permutations([i % 3 for i in range(n)])), dtype=np.int64)
    if not draw(st.integers(0, 4)):  # one array of another shape or dtype
        key = draw(st.sampled_from(KEYS))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
        arrays[key] = draw(hnp.arrays(np.dtype(draw(st.sampled_from(DTYPES))), shape))
    return arrays


@SETTINGS
@given(arrays=sequence_arrays(), classes=st.sampled_from([None, None, 3]), data=st.data())
def test_sequences_property(arrays: dict[str, np.ndarray], classes: int | None, data: st.DataObject,
                            tmp_path: Path) -> None:  # fmt: skip
    """What `load_sequences` accepts is finite float32 (N, T, F) with int32 classes or float32 (N, 1) targets,
    and standardising it with its own statistics never leaves float32 silently; else one line naming the file."""
    import warnings

    from lstmcli.tasks.sequences import Statistics

    buffer = io.BytesIO()
    with np.errstate(all="ignore"):
        np.savez(buffer, **arrays)
    path = tmp_path / "sequences.npz"
    path.write_bytes(mutate(buffer.getvalue(), data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no NumPy warning on the way: refused in one line instead
            got = datasets.load_sequences(path, classes)
            standardised = Statistics.of(got.x_train).apply(got.x_test, str(path))
    except DataError as error:
        check_refusal(error, path)
        event("refused")
        return
    event("loaded")
    for x in (got.x_train, got.x_test, standardised):
        assert x.dtype == np.float32 and x.ndim == 3 and np.isfinite(x).all()
    assert got.x_train.shape[1:] == got.x_test.shape[1:]
    if got.y_train.dtype == np.float32:
        assert got.classes == 1 and got.y_train.shape == (len(got.x_train), 1) and np.isfinite(got.y_train).all()
    else:
        assert got.y_train.dtype == got.y_test.dtype == np.int32 and got.classes >= 2


# IDX ----------------------------------------------------------------------------------------------------------


@st.composite
def idx_file(draw: st.DrawFn, array: np.ndarray) -> bytes:
    """An IDX encoding of `array`, sometimes with a lying header (sizes that overflow, promise more or less,
    a wrong type code or dimension count) or a payload cut or extended."""
    code, ndim, dims = 0x08, array.ndim, list(array.shape)
    payload = array.astype(np.uint8).tobytes()
    lie = draw(st.sampled_from(["none", "none", "none", "dims", "code", "ndim", "payload"]))
    if lie == "dims":
        dims = draw(st.lists(st.sampled_from([0, 1, 3, 255, 65536, 2**31, 2**32 - 1]), min_size=1, max_size=4))
        ndim = len(dims)
    elif lie == "code":
        code = draw(st.sampled_from([0x00, 0x07, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0xFF]))
    elif lie == "ndim":
        ndim = draw(st.integers(0, 255))
    raw = bytes([0, 0, code, ndim]) + struct.pack(f">{len(dims)}I", *dims) + payload
    if lie == "payload":
        raw = raw[: draw(st.integers(0, len(raw)))] if draw(st.booleans()) else raw + draw(st.binary(max_size=9))
    return raw


@SETTINGS
@given(data=st.data(), classes=st.sampled_from([None, None, 3, 10]))
def test_idx_property(data: st.DataObject, classes: int | None, tmp_path: Path) -> None:
    train, test, height, width = (data.draw(st.integers(1, n)) for n in (10, 5, 4, 4))
    arrays = {
        "x_train": data.draw(hnp.arrays(np.uint8, (train, height, width))),
        "y_train": np.arange(train, dtype=np.uint8) % data.draw(st.integers(1, 3))
        if data.draw(st.booleans())
        else data.draw(hnp.arrays(np.uint8, (train,), elements=st.integers(0, 3))),
        "x_test": data.draw(hnp.arrays(np.uint8, (test, height, width))),
        "y_test": data.draw(hnp.arrays(np.uint8, (test,), elements=st.integers(0, 2))),
    }
    folder = tmp_path / "idx"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for key, stem in datasets.IDX_FILES.items():
        raw = data.draw(idx_file(arrays[key]))
        if data.draw(st.booleans()):
            content = gzip.compress(raw, mtime=0)
            content = content if data.draw(st.integers(0, 4)) else mutate(content, data)
            (folder / f"{stem}.gz").write_bytes(content)
        else:
            (folder / stem).write_bytes(raw)
    load_or_refuse(folder, classes)


# TOML ---------------------------------------------------------------------------------------------------------

KNOWN = ("units", "batch_size", "batch-size", "learning_rate", "epochs", "steps", "seed", "cell", "data", "preset",
         "classes", "order", "schedule", "bidirectional", "layers", "eval_every", "checkpoint_every")  # fmt: skip
SCALARS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 2, 10, 2**31, 2**63 - 1, -(2**63), 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["lstm", "gru", "seed", "default", "cosine", "shuffle", "~nosuchuser/x", "", "a\x00b"]),
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + "".join(c if c.isalnum() or c in " ~/._-" else f"\\u{ord(c):04x}" for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"


NESTED = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["a", "b"]), inner, max_size=2), max_leaves=8)  # fmt: skip


@SETTINGS
@given(
    entries=st.dictionaries(st.sampled_from(KNOWN) | st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True),
                            SCALARS | NESTED, max_size=6),
    depth=st.sampled_from([0, 0, 0, 40, 3000]),
    data=st.data(),
)  # fmt: skip
def test_toml_property(entries: dict[str, Any], depth: int, data: st.DataObject, tmp_path: Path) -> None:
    from lstmcli.train import config_file
    from lstmcli.train.config import TrainConfig, from_preset

    text = "".join(f"{key} = {toml_value(value)}\n" for key, value in entries.items())
    if depth:
        text += "deep = " + "[" * depth + "]" * depth + "\n"
    path = tmp_path / "generated.toml"
    path.write_bytes(mutate(text.encode(), data))
    try:
        preset, settings_ = config_file.merge(config_file.load(path), {})
        config = from_preset(preset, **settings_)
    except UsageError as error:
        check_refusal(error, path)
        event("refused")
    else:
        event("loaded")
        assert isinstance(config, TrainConfig)
        assert config.batch_size >= 1 and 0 < config.learning_rate <= 10 and 0 <= config.seed < 2**31


@pytest.mark.parametrize("text", ["units = 8\n", 'data = "x.npz"\nclasses = 12\n', "a = [[1]]\n"])
def test_toml_nesting_scan_is_exact_on_ordinary_files(text: str) -> None:
    from lstmcli.train.config_file import nesting

    assert nesting(text) == text.count("[")
    assert nesting('s = "[[[\\"[[[" # [[[\nt = \'[[\'\nu = """\n[[\n"""\n') == 0
