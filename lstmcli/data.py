"""Loading and validating image-classification data: the bundled MNIST, a Keras-style .npz, or IDX files.

Everything here is NumPy only. Every way a file can be wrong ends in a :class:`DataError` whose text
names the file and what to do; nothing read is ever executed (`allow_pickle=False`, IDX parsed by hand
from its documented header).
"""

from __future__ import annotations

import gzip
import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from lstmcli.errors import DataError

KEYS = ("x_train", "y_train", "x_test", "y_test")

# SHA-256 of each array's raw bytes, as published with the data (lstmcli/datafiles/README.md).
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

# First bytes of the two formats np.load reads without pickle: a zip archive (.npz) and a single .npy array.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

MAX_CLASSES = 10_000


@dataclass(frozen=True)
class Dataset:
    """Images as (N, H, W) arrays (H timesteps of W features) and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    source: str

    @property
    def timesteps(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def features(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def scale(self) -> float:
        """Divisor that maps pixels to 0..1: 255 for 8-bit images, 1 for float images."""
        return 255.0 if self.x_train.dtype == np.uint8 else 1.0


def bundled_path() -> Path:
    """The MNIST copy shipped inside the package."""
    return Path(str(resources.files("lstmcli") / "datafiles" / "mnist.npz"))


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify_mnist(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Check the bundled copy against the published array hashes (once per load; cheap next to training)."""
    for key, expected in MNIST_SHA256.items():
        if array_sha256(arrays[key]) != expected:
            raise DataError(
                f"{path}: the bundled MNIST array {key} does not match its published SHA-256; "
                "the installation is damaged, reinstall lstmcli"
            )


def load(path: str | Path | None = None) -> Dataset:
    """Load and validate `path` (an .npz file or an IDX folder); None means the bundled MNIST."""
    if path is None:
        source = bundled_path()
        arrays = read_npz(source)
        verify_mnist(arrays, source)
        return validate(arrays, "bundled MNIST")
    source = Path(path).expanduser()
    if not source.exists():
        raise DataError(f"--data {source}: no such file or folder; give an .npz file or a folder of IDX files")
    arrays = read_idx_folder(source) if source.is_dir() else read_npz(source)
    return validate(arrays, str(source))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read the four Keras-layout arrays from an .npz, refusing pickled objects."""
    what = f"--data {path}"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        if magic.startswith(NPY_MAGIC):
            raise DataError(f"{what}: is a single .npy array, not an .npz with {', '.join(KEYS)}")
        if not magic.startswith(ZIP_MAGIC):
            raise DataError(
                f"{what}: not an .npz file (it does not start like a zip archive); "
                f"give an .npz with {', '.join(KEYS)} or a folder of IDX files"
            )
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in KEYS if k not in npz.files]
            if missing:
                raise DataError(
                    f"{what}: missing {', '.join(missing)} (found {', '.join(npz.files) or 'nothing'}); "
                    f"an .npz needs the keys {', '.join(KEYS)}"
                )
            return {k: npz[k] for k in KEYS}
    except DataError:
        raise
    except PermissionError:
        raise DataError(f"{what}: permission denied; make the file readable") from None
    except IsADirectoryError:
        raise DataError(f"{what}: is a folder without IDX files") from None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, zlib.error) as exc:
        raise DataError(
            f"{what}: not a readable .npz (truncated or corrupt zip: {_first_line(exc)}); check or re-create the file"
        ) from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataError(
                f"{what}: holds Python objects (pickles), which lstmcli never loads; save plain numeric arrays"
            ) from None
        raise DataError(f"{what}: not a readable .npz ({_first_line(exc)}); check the file or re-create it") from None
    except Exception as exc:  # e.g. tokenize.TokenError from a damaged .npy header (found by fuzzing)
        raise DataError(
            f"{what}: not a readable .npz ({type(exc).__name__}: {_first_line(exc)}); check the file or re-create it"
        ) from None


def find_idx(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    # Some mirrors name the files with a dot before idx (train-images.idx3-ubyte).
    for candidate in sorted(folder.glob(stem.replace("-idx", ".idx") + "*")):
        if candidate.is_file():
            return candidate
    raise DataError(f"--data {folder}: no {stem} (or {stem}.gz); an IDX folder needs {', '.join(IDX_FILES.values())}")


def read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    return {key: read_idx(find_idx(folder, stem)) for key, stem in IDX_FILES.items()}


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped): a 4-byte magic, big-endian int32 sizes, then the data."""
    what = f"--data {path}"
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except PermissionError:
        raise DataError(f"{what}: permission denied; make the file readable") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{what}: cannot be read or unzipped ({_first_line(exc)}); check the file") from None
    if len(raw) < 4:
        raise DataError(f"{what}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = raw[0] | raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code not in IDX_DTYPES or not 1 <= ndim <= 4:
        raise DataError(
            f"{what}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x00000803 for images, "
            "0x00000801 for labels); is it really an IDX file?"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{what}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[dtype_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{what}: the header says {' x '.join(map(str, dims))} values ({expected:,} bytes) but the file "
            f"holds {len(raw) - header:,} bytes after it; the file is truncated or not what it claims"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def validate(arrays: dict[str, np.ndarray], source: str) -> Dataset:
    """Check shapes, dtypes, counts, label range and finiteness; return the dataset ready to use."""
    x_train, x_test = (_images(arrays[k], k, source) for k in ("x_train", "x_test"))
    y_train, y_test = (_labels(arrays[k], k, source) for k in ("y_train", "y_test"))
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(x) != len(y):
            raise DataError(f"{source}: x_{split} has {len(x):,} images but y_{split} has {len(y):,} labels")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{source}: train images are {x_train.shape[1]}x{x_train.shape[2]} but test images are "
            f"{x_test.shape[1]}x{x_test.shape[2]}; both splits need the same image size"
        )
    if x_train.dtype != x_test.dtype:  # one split uint8, the other float already in 0..1: scale the uint8 one
        x_train, x_test = (x if x.dtype == np.float32 else x.astype(np.float32) / 255.0 for x in (x_train, x_test))
    classes = int(y_train.max()) + 1
    if classes < 2:
        raise DataError(f"{source}: y_train holds a single class; a classifier needs at least two")
    if classes > MAX_CLASSES:
        raise DataError(f"{source}: labels go up to {classes - 1:,}; at most {MAX_CLASSES - 1:,} is supported")
    if int(y_test.max()) >= classes:
        raise DataError(
            f"{source}: y_test has label {int(y_test.max())}, but y_train only has labels 0..{classes - 1}; "
            "labels out of range; every test label must occur in the training set"
        )
    return Dataset(x_train, y_train, x_test, y_test, classes, source)


def _images(x: np.ndarray, key: str, source: str) -> np.ndarray:
    if x.ndim == 4 and x.shape[3] == 1:  # (count, height, width, 1): one grey channel, as Keras examples store it
        x = x[..., 0]
    if x.ndim != 3:
        raise DataError(
            f"{source}: {key} has shape {x.shape}; images must be (count, height, width), "
            "each height row read as one timestep"
        )
    if 0 in x.shape:
        raise DataError(f"{source}: {key} is empty (shape {x.shape}); each split needs at least one image")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind == "f":
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{source}: {key} contains NaN or infinite values; clean the data first")
        if x.min() < 0 or x.max() > 255:
            raise DataError(
                f"{source}: {key} has values outside 0..255 ({x.min():g} to {x.max():g}); scale pixels to 0..255"
            )
        return x / 255.0 if x.max() > 1.0 else x
    if x.dtype.kind in "iu":
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{source}: {key} has integer pixels outside 0..255; use uint8 images")
        return x.astype(np.uint8)
    raise DataError(f"{source}: {key} has dtype {x.dtype}; images must be uint8 (0..255) or float")


def _labels(y: np.ndarray, key: str, source: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{source}: {key} has shape {y.shape}; labels must be one integer class per image")
    if y.size == 0:
        raise DataError(f"{source}: {key} is empty; each split needs at least one label")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DataError(f"{source}: {key} contains NaN or infinite labels; labels must be whole class numbers")
        if not np.array_equal(y, np.round(y)):
            raise DataError(f"{source}: {key} has fractional labels; labels must be whole class numbers")
    elif y.dtype.kind not in "iu":
        raise DataError(f"{source}: {key} has dtype {y.dtype}; labels must be integers")
    if y.min() < 0:
        raise DataError(f"{source}: {key} has negative label {y.min():g}; labels out of range, number classes from 0")
    if y.max() >= MAX_CLASSES:
        raise DataError(f"{source}: {key} has label {y.max():g}; labels out of range (at most {MAX_CLASSES - 1})")
    return y.astype(np.int32)


def _first_line(exc: BaseException) -> str:
    """An exception's text on one line, short enough for an error message."""
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
