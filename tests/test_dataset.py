"""Loading data: the bundled MNIST, .npz files and IDX folders (gzipped or not), any image size, bad files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import mnist_slice

from lstmcli import datasets
from lstmcli.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode like the MNIST distribution: magic 0x00 0x00 type ndim, big-endian sizes, big-endian data."""
    codes = {v: k for k, v in datasets.IDX_DTYPES.items()}
    big = array.astype(array.dtype.newbyteorder(">"))
    code = codes[big.dtype.str.replace("|", ">")]
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes()


def write_idx(folder: Path, arrays: dict[str, np.ndarray], gz: set[str] = frozenset(), dotted: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in datasets.IDX_FILES.items():
        name = stem.replace("-idx", ".idx") if dotted else stem
        data = idx_bytes(arrays[key])
        if key in gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def sample(mnist_arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return mnist_slice(mnist_arrays, 300, 50)


def assert_same(data: datasets.Dataset, arrays: dict[str, np.ndarray]) -> None:
    for key in datasets.KEYS:
        assert np.array_equal(getattr(data, key), arrays[key]), key
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int32
    assert data.classes == int(arrays["y_train"].max()) + 1


def test_bundled_mnist_is_verified_and_complete() -> None:
    data = datasets.load()
    assert data.x_train.shape == (60_000, 28, 28) and data.x_test.shape == (10_000, 28, 28)
    assert (data.timesteps, data.features, data.classes, data.scale) == (28, 28, 10, 255.0)
    assert data.source == "bundled MNIST"


def test_damaged_bundled_copy_is_detected(mnist_arrays: dict[str, np.ndarray]) -> None:
    damaged = dict(mnist_arrays, y_test=mnist_arrays["y_test"].copy())
    damaged["y_test"][0] ^= 1
    with pytest.raises(DataError, match=r"y_test does not match its published SHA-256; .* reinstall"):
        datasets.verify_mnist(damaged, datasets.bundled_path())


def test_npz(sample: dict[str, np.ndarray], tmp_path: Path) -> None:
    np.savez(tmp_path / "plain.npz", **sample)
    np.savez_compressed(tmp_path / "compressed.npz", **sample)
    assert_same(datasets.load(tmp_path / "plain.npz"), sample)
    assert_same(datasets.load(str(tmp_path / "compressed.npz")), sample)


@pytest.mark.parametrize(
    ("gz", "dotted"),
    [(set(), False), (set(datasets.KEYS), False), ({"x_train", "y_test"}, False), (set(), True)],
    ids=["raw", "all gzipped", "some gzipped", "dotted names"],
)
def test_idx_folder(sample: dict[str, np.ndarray], tmp_path: Path, gz: set[str], dotted: bool) -> None:
    assert_same(datasets.load(write_idx(tmp_path / "idx", sample, gz, dotted)), sample)


def test_idx_matches_the_npz_it_came_from(sample: dict[str, np.ndarray], tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", **sample)
    a, b = datasets.load(tmp_path / "a.npz"), datasets.load(write_idx(tmp_path / "idx", sample, set(datasets.KEYS)))
    for key in datasets.KEYS:
        assert np.array_equal(getattr(a, key), getattr(b, key))


def test_idx_types_other_than_bytes_are_read_big_endian(tmp_path: Path) -> None:
    values = np.array([[0, 1], [258, 32767]], dtype=np.int16)
    path = tmp_path / "short-idx2"
    path.write_bytes(idx_bytes(values))
    read = datasets.read_idx(path)
    assert read.dtype == np.int16 and np.array_equal(read, values)
    floats = np.array([0.5, 0.25], dtype=np.float32)
    path.write_bytes(idx_bytes(floats))
    assert np.array_equal(datasets.read_idx(path), floats)


@pytest.mark.parametrize(("height", "width"), [(28, 28), (20, 12), (12, 20), (1, 5), (64, 3)])
def test_any_image_size_is_height_steps_of_width_features(height: int, width: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(height * 100 + width)
    arrays = {
        "x_train": rng.integers(0, 256, (40, height, width), dtype=np.uint8),
        "y_train": (np.arange(40) % 3).astype(np.uint8),
        "x_test": rng.integers(0, 256, (10, height, width), dtype=np.uint8),
        "y_test": (np.arange(10) % 3).astype(np.uint8),
    }
    for data in (datasets.load(write_idx(tmp_path / "idx", arrays, {"x_test"})), _npz(tmp_path, arrays)):
        assert (data.timesteps, data.features, data.classes) == (height, width, 3)
        assert np.array_equal(data.x_train, arrays["x_train"])


def test_model_for_non_square_images_reads_rows_as_timesteps(tmp_path: Path) -> None:
    from lstmcli.model.factory import build_model
    from lstmcli.train.config import from_preset

    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (8, 20, 12), dtype=np.uint8), "y_train": np.arange(8) % 4}
    arrays.update(x_test=arrays["x_train"][:4], y_test=arrays["y_train"][:4])
    data = _npz(tmp_path, arrays)
    model = build_model(from_preset("default").model_spec(data.timesteps, data.features, data.classes))
    assert tuple(model.inputs[0].shape) == (None, 20, 12)
    assert model.outputs[0].shape[-1] == 4


def _npz(folder: Path, arrays: dict[str, np.ndarray], name: str = "data.npz") -> datasets.Dataset:
    np.savez(folder / name, **arrays)
    return datasets.load(folder / name)


def test_accepted_variants(sample: dict[str, np.ndarray], tmp_path: Path) -> None:
    """Forms real files come in: a channel axis, column labels, float pixels in 0..1 or 0..255, float labels."""
    x, y = sample["x_train"], sample["y_train"]
    base = dict(sample)
    data = _npz(tmp_path, {**base, "x_train": x[..., None], "x_test": sample["x_test"][..., None]})
    assert data.x_train.shape == (300, 28, 28)
    assert np.array_equal(_npz(tmp_path, {**base, "y_train": y[:, None]}).y_train, y)
    assert np.array_equal(_npz(tmp_path, {**base, "y_train": y.astype(np.float64)}).y_train, y)
    unit = {**base, "x_train": x / 255.0, "x_test": sample["x_test"] / 255.0}
    scaled = _npz(tmp_path, unit)
    assert scaled.x_train.dtype == np.float32 and scaled.scale == 1.0
    assert np.allclose(scaled.x_train, x / 255.0)
    as_255 = _npz(tmp_path, {**base, "x_train": x.astype(np.float64), "x_test": sample["x_test"].astype(np.float32)})
    assert np.allclose(as_255.x_train, x / 255.0) and as_255.x_test.max() <= 1.0


def test_mixed_uint8_and_float_splits_share_one_scale(sample: dict[str, np.ndarray], tmp_path: Path) -> None:
    """A uint8 training split with a float 0..1 test split: both end in 0..1, neither divided twice."""
    arrays = {**sample, "x_test": sample["x_test"] / 255.0}
    data = _npz(tmp_path, arrays)
    assert data.x_train.dtype == data.x_test.dtype == np.float32
    assert np.allclose(data.x_train, sample["x_train"] / 255.0)
    assert np.allclose(data.x_test, sample["x_test"] / 255.0)
    assert data.scale == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y_train": "drop"}, "missing y_train"),
        ({"x_train": np.zeros((300, 784), np.uint8)}, r"x_train has shape \(300, 784\)"),
        ({"y_test": np.full(50, 12)}, "labels out of range"),
        ({"y_train": np.full(300, -2)}, "negative label"),
        ({"y_test": np.zeros(49, np.uint8)}, "x_test has 50 images but y_test has 49 labels"),
        ({"x_test": np.full((50, 28, 28), np.nan, np.float32)}, "NaN or infinite"),
        ({"x_train": np.zeros((300, 28, 28), "U1")}, "dtype <U1"),
        ({"y_train": np.zeros(300, np.float16) + 0.25}, "fractional labels"),
    ],
)
def test_bad_npz_is_a_data_error_naming_the_file(
    sample: dict[str, np.ndarray], tmp_path: Path, change: dict[str, object], message: str
) -> None:
    arrays = {k: v for k, v in {**sample, **change}.items() if not (isinstance(v, str) and v == "drop")}
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as error:
        datasets.load(tmp_path / "bad.npz")
    assert str(tmp_path / "bad.npz") in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", r"header says 3 values \(3 bytes\) but the file holds 2"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "holds 2 bytes after it"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", "bad IDX magic number 0x01000801"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x07", "bad IDX magic number"),
        (b"\x00\x00\x08\x00", "bad IDX magic number"),
        (b"\x00\x00", "too short"),
    ],
    ids=["short", "long", "header cut", "magic", "type code", "zero dims", "two bytes"],
)
def test_bad_idx_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        datasets.read_idx(path)
    gz = tmp_path / "train-labels-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(content))
    with pytest.raises(DataError, match=message):
        datasets.read_idx(gz)


def test_idx_gz_that_is_not_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    with pytest.raises(DataError, match="cannot be read or unzipped"):
        datasets.read_idx(path)
