"""Seeded mutation fuzzing of the three file formats lstmcli reads: .npz, IDX folders and .keras models.

Every mutated file must either load into something valid or raise a DataError whose text is one line
naming the file; any other exception (zlib.error, struct.error, an h5py error, a crash) fails the test.
The seeds are fixed, so a failure names a case that can be replayed.

Case counts: 400 byte-level .npz (half compressed), 200 structural .npz (keys missing or renamed, random
dtypes, shapes and values), 300 byte-level IDX folders (half gzipped), 300 .keras files (half byte-level,
half one zip member damaged or missing) = 1,200 cases, about 5 s. The first run found one escape: a
damaged .npy header inside an .npz made NumPy raise tokenize.TokenError (now a DataError).
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lstmcli import datasets
from lstmcli.errors import DataError

NPZ_BYTE_CASES = 400
NPZ_STRUCTURE_CASES = 200
IDX_CASES = 300
KERAS_CASES = 300


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to a few random edits of the kinds real damage takes: flipped bits, overwritten bytes,
    truncation, inserted and deleted runs, a duplicated block."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not out:
            break
        kind = rng.randrange(6)
        i = rng.randrange(len(out))
        if kind == 0:
            out[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind == 2:
            del out[rng.randrange(len(out)) :]
        elif kind == 3:
            out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        elif kind == 4:
            del out[i : i + rng.randint(1, 64)]
        else:
            j = rng.randrange(len(out))
            out[i:i] = out[j : j + rng.randint(1, 128)]
    return bytes(out)


def check_clean(path: Path, load: Callable[[], Any], outcomes: Counter[str]) -> Any:
    """Run `load`; a DataError must be one line naming `path`. Returns what loaded, or None."""
    try:
        result = load()
    except DataError as error:
        text = str(error)
        assert "\n" not in text and str(path) in text, text
        outcomes["refused"] += 1
        return None
    outcomes["loaded"] += 1
    return result


def check_dataset(data: datasets.Dataset) -> None:
    """What loading promises about anything it accepts."""
    assert data.x_train.ndim == data.x_test.ndim == 3
    assert data.x_train.shape[1:] == data.x_test.shape[1:]
    assert len(data.x_train) == len(data.y_train) > 0 and len(data.x_test) == len(data.y_test) > 0
    assert data.x_train.dtype == data.x_test.dtype and data.x_train.dtype in (np.uint8, np.float32)
    assert data.y_train.dtype == data.y_test.dtype == np.int32
    assert 2 <= data.classes <= datasets.MAX_CLASSES
    for y in (data.y_train, data.y_test):
        assert y.min() >= 0 and y.max() < data.classes
    if data.x_train.dtype == np.float32:
        for x in (data.x_train, data.x_test):
            assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


@pytest.fixture(scope="module")
def arrays(mnist_arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "x_train": mnist_arrays["x_train"][:24, ::2, ::2],
        "y_train": mnist_arrays["y_train"][:24],
        "x_test": mnist_arrays["x_test"][:8, ::2, ::2],
        "y_test": mnist_arrays["y_test"][:8],
    }


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def test_npz_byte_mutations(arrays: dict[str, np.ndarray], tmp_path: Path) -> None:
    rng = random.Random(20240401)
    bases = [npz_bytes(arrays, compressed) for compressed in (False, True)]
    outcomes: Counter[str] = Counter()
    path = tmp_path / "fuzz.npz"
    for case in range(NPZ_BYTE_CASES):
        path.write_bytes(mutate(bases[case % 2], rng))
        data = check_clean(path, lambda: datasets.load(path), outcomes)
        if data is not None:
            check_dataset(data)
    assert sum(outcomes.values()) == NPZ_BYTE_CASES
    assert outcomes["refused"] > NPZ_BYTE_CASES // 2, outcomes  # the mutations do damage


def random_array(rng: random.Random, np_rng: np.random.Generator) -> np.ndarray:
    dtype = rng.choice(["u1", "i1", "i2", "u2", "i4", "i8", "u8", "f2", "f4", "f8", "c8", "b1", "U2", "S3", "M8[s]"])
    shape = tuple(rng.choice((0, 1, 2, 3, 7)) for _ in range(rng.choice((0, 1, 1, 2, 3, 3, 3, 4))))
    size = int(np.prod(shape))
    if dtype[0] in "US":
        return np.array([str(rng.randrange(100)) for _ in range(size)], dtype=dtype).reshape(shape)
    if dtype.startswith("M8"):
        return np.zeros(shape, dtype=dtype)
    values = np_rng.choice([0, 1, 2, 9, 10, 255, 256, -1, 0.5, 1e9, np.nan, np.inf, -np.inf], size=size)
    with np.errstate(all="ignore"):
        return values.astype(dtype).reshape(shape)


def test_npz_structure_mutations(arrays: dict[str, np.ndarray], tmp_path: Path) -> None:
    """Valid zip files with the wrong content: keys missing or extra, arrays of random dtype, shape, values."""
    rng = random.Random(77)
    np_rng = np.random.default_rng(77)
    outcomes: Counter[str] = Counter()
    path = tmp_path / "structure.npz"
    for _case in range(NPZ_STRUCTURE_CASES):
        content = dict(arrays)
        for key in rng.sample(datasets.KEYS, rng.randint(1, 2)):
            roll = rng.random()
            if roll < 0.15:
                del content[key]
            elif roll < 0.3:
                content[key.upper()] = content.pop(key)
            elif roll < 0.45:  # keep the shape, change the dtype
                content[key] = content[key].astype(rng.choice(["f4", "i8", "u2", "f2", "i1", "c8", "b1"]))
            elif roll < 0.6:  # keep the shape and dtype, one odd value
                changed = content[key].astype(np.float64)
                changed.flat[rng.randrange(changed.size)] = rng.choice([-1, 256, 1e6, 0.5, np.nan, np.inf])
                content[key] = changed
            else:
                content[key] = random_array(rng, np_rng)
        np.savez(path, **content)
        data = check_clean(path, lambda: datasets.load(path), outcomes)
        if data is not None:
            check_dataset(data)
    assert sum(outcomes.values()) == NPZ_STRUCTURE_CASES
    assert outcomes["refused"] > NPZ_STRUCTURE_CASES // 2, outcomes


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_idx_byte_mutations(arrays: dict[str, np.ndarray], tmp_path: Path) -> None:
    rng = random.Random(1998)
    files = {key: idx_bytes(arrays[key]) for key in datasets.KEYS}
    outcomes: Counter[str] = Counter()
    for case in range(IDX_CASES):
        folder = tmp_path / f"case{case}"
        folder.mkdir()
        gz = case % 2 == 1
        damaged = rng.choice(datasets.KEYS)
        for key, stem in datasets.IDX_FILES.items():
            content = gzip.compress(files[key], mtime=0) if gz else files[key]
            if key == damaged:
                content = mutate(content, rng)
            (folder / (f"{stem}.gz" if gz else stem)).write_bytes(content)
        target = folder / (datasets.IDX_FILES[damaged] + (".gz" if gz else ""))
        try:
            data = datasets.load(folder)
        except DataError as error:
            text = str(error)
            assert "\n" not in text and str(folder) in text, text
            outcomes["refused"] += 1
        else:
            check_dataset(data)
            outcomes["loaded"] += 1
        target.unlink()
    assert sum(outcomes.values()) == IDX_CASES
    assert outcomes["refused"] > IDX_CASES // 2, outcomes


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from lstmcli import runtime
    from lstmcli.model.factory import build_model
    from lstmcli.model.spec import ModelSpec

    runtime.tensorflow()
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    build_model(ModelSpec(cell="lstm", units=4, input_size=14, timesteps=14)).save(path)
    return path.read_bytes()


def test_keras_mutations(keras_file: bytes, tmp_path: Path) -> None:
    """Half the cases damage the .keras bytes; half re-zip it with one member (config.json, metadata.json,
    model.weights.h5) damaged or missing, which zip's CRC would otherwise catch before Keras sees it."""
    import keras

    from lstmcli.model.load import load_model

    rng = random.Random(31337)
    with zipfile.ZipFile(io.BytesIO(keras_file)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    outcomes: Counter[str] = Counter()
    path = tmp_path / "fuzz.keras"
    for case in range(KERAS_CASES):
        if case % 2 == 0:
            content = mutate(keras_file, rng)
        else:
            damaged = dict(members)
            name = rng.choice(sorted(damaged))
            if rng.random() < 0.1:
                del damaged[name]
            else:
                damaged[name] = mutate(damaged[name], rng)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for member, data in damaged.items():
                    archive.writestr(member, data)
            content = buffer.getvalue()
        path.write_bytes(content)
        model = check_clean(path, lambda: load_model(path), outcomes)
        if model is not None:
            assert isinstance(model, keras.Model) and len(model.inputs[0].shape) == 3
    assert sum(outcomes.values()) == KERAS_CASES
    assert outcomes["refused"] > KERAS_CASES // 3, outcomes
