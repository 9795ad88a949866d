"""Loading and validating data: the bundled MNIST, a Keras-style .npz or IDX files of images, or an .npz of the
user's own (N, T, F) sequences (`load_sequences`).

Everything here is NumPy only. Every way a file can be wrong ends in a :class:`DataError` whose text
names the file and what to do; nothing read is ever executed (no pickle, IDX parsed by hand from its
documented header). Nothing a file declares is believed before it is checked: headers are read first and
their sizes compared with the bytes the file holds, with each other and with the memory available; the
labels are read and checked next (they are small, and decide what problem this is), the images last; and
no read goes past a declared size, so a gzip or zip bomb is stopped after a few bytes of its payload.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from lstmcli import files
from lstmcli.errors import DataError, FileError, brief, literal
from lstmcli.model.spec import MAX_CLASSES
from lstmcli.npzfile import Layout, Npz, read_exactly

KEYS = ("x_train", "y_train", "x_test", "y_test")

# SHA-256 of each array's raw bytes, as published with the data (lstmcli/datafiles/README.md).
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# How far past its declared end a gzipped IDX file is read, to say how much more it holds.
EXTRA_COUNTED = 1 << 20


@dataclass(frozen=True)
class Dataset:
    """Images as (N, H, W) arrays (H timesteps of W features) and integer labels; or the user's sequences
    (N, T, F) as float32 with integer labels, or float32 targets (N, 1) and `classes` 1 (the targets' count)."""

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


def arrays_sha256(*arrays: np.ndarray, layout: bool = False) -> str:
    """SHA-256 over the arrays' bytes (C order), each preceded by its dtype and shape when `layout`: the one
    fingerprint of the package (MNIST's published hashes, a run's data, its validation split)."""
    digest = hashlib.sha256()
    for array in arrays:
        if layout:
            digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def verify_mnist(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Check the bundled copy against the published array hashes (once per load; cheap next to training)."""
    for key, expected in MNIST_SHA256.items():
        if arrays_sha256(arrays[key]) != expected:
            raise DataError(
                f"{path}: the bundled MNIST array {key} does not match its published SHA-256; "
                "the installation is damaged, reinstall lstmcli"
            )


def load(path: str | Path | None = None, classes: int | None = None) -> Dataset:
    """Load and validate `path` (an .npz file or an IDX folder); None means the bundled MNIST.

    `classes` says how many classes there are when the training labels do not show it.
    """
    if path is None:
        source = bundled_path()
        with NpzData(source, str(source)) as reader:
            arrays = {key: reader.read(key) for key in KEYS}
        verify_mnist(arrays, source)
        return validate(arrays, "bundled MNIST", classes)
    source = files.user_path(path, field="data")
    found = files.status(source, str(source), field="data")
    if found is None:
        where = files.label(str(source), "data")
        raise FileError(source, f"{where}: no such file or folder; give an .npz file or a folder of IDX files")
    if stat.S_ISDIR(found.st_mode):
        return load_from(IdxFolder(source), str(source), classes)
    with NpzData(source, str(source), field="data") as reader:
        return load_from(reader, str(source), classes)


def load_sequences(path: str | Path, classes: int | None = None, kind: str | None = None) -> Dataset:
    """The user's own sequences: an .npz of x (N, T, F) arrays of any real values, with integer class labels
    (classification) or float targets (regression, `y` as (N, 1)); both splits of one shape and one kind.

    Read through the same hostile-file reader as images (sizes checked before data, nothing unpickled), headers
    first, then the labels, then the sequences; values are refused if not finite or past float32's range. With
    `kind` ("classify" or "regress": what a model judged on the file does), a file of the other kind is refused
    from its headers.
    """
    source = files.user_path(path, field="data")
    found = files.status(source, str(source), field="data")
    where = files.label(str(source), "data")
    if found is None:
        raise FileError(source, f"{where}: no such file; give an .npz of x_train, y_train, x_test, y_test")
    if stat.S_ISDIR(found.st_mode):
        raise FileError(
            source, f"{where}: is a folder; sequences are read from an .npz of x_train, y_train, x_test, y_test"
        )
    with NpzData(source, str(source), field="data") as reader:
        return sequences_from(reader, str(source), classes, kind)


def sequences_from(reader: Reader, source: str, classes: int | None = None, kind: str | None = None) -> Dataset:
    """Headers, then labels (their dtype decides the kind: integers classify, floats regress), then sequences."""
    layouts = {key: reader.layout(key) for key in KEYS}
    check_sequence_layouts(layouts, source)
    regress = layouts["y_train"].dtype.kind == "f"
    if kind is not None and (kind == "regress") != regress:
        holds = "float targets (a regression)" if regress else "integer class labels"
        does = "regresses float targets" if kind == "regress" else "classifies integer labels"
        raise DataError(f"{literal(source)}: holds {holds}, but the model {does}; judge it on a file of its kind")
    # The arrays as read, their float32 copies and the standardised ones (lstmcli.tasks.sequences)
    floats = sum(layout.count for layout in layouts.values()) * 4
    files.check_memory(sum(layout.nbytes for layout in layouts.values()) + 2 * floats, literal(source))
    if regress:
        if classes is not None:
            raise DataError(
                f"{literal(source)}: y_train holds float targets (a regression), so {{classes}} does not apply; drop "
                "it, or save class labels as integers",
                fields=True,
            )
        y_train, y_test = (_targets(reader.read(key), key, source) for key in ("y_train", "y_test"))
        count = 1
    else:
        y_train, y_test = (_labels(reader.read(key), key, source) for key in ("y_train", "y_test"))
        count = label_classes(y_train, y_test, source, classes)
    x_train, x_test = (_sequences(reader.read(key), key, source) for key in ("x_train", "x_test"))
    return Dataset(x_train, y_train, x_test, y_test, count, source)


def check_sequence_layouts(layouts: dict[str, Layout], source: str) -> None:
    """What can be refused of a sequences file from its headers: (N, T, F) of numbers, labels of one kind."""
    for key in ("x_train", "x_test"):
        layout = layouts[key]
        if layout.dtype == np.uint8 or len(layout.shape) == 4:
            raise DataError(
                f"{literal(source)}: {key} holds images ({'uint8' if layout.dtype == np.uint8 else 'a channel axis'}), "
                "not float sequences: train images with {task} rows (or pixels, permuted), or save the sequences as "
                "float (N, T, F) arrays",
                fields=True,
            )
        if len(layout.shape) != 3 or 0 in layout.shape:
            raise DataError(
                f"{source}: {key} has shape {layout.shape}; sequences must be (count, steps T, features F), none empty"
            )
        if layout.dtype.kind not in "fiu":
            raise DataError(f"{source}: {key} has dtype {layout.dtype}; sequences must be float (or integer) numbers")
    for key in ("y_train", "y_test"):
        _label_shape(layouts[key], key, source)
    for split in ("train", "test"):
        x, y = layouts[f"x_{split}"].shape[0], _label_shape(layouts[f"y_{split}"], f"y_{split}", source)[0]
        if x != y:
            raise DataError(f"{source}: x_{split} has {x:,} sequences but y_{split} has {y:,} labels")
    train, test = layouts["x_train"].shape[1:], layouts["x_test"].shape[1:]
    if train != test:
        raise DataError(
            f"{source}: train sequences are {train[0]} steps of {train[1]} features but test sequences are "
            f"{test[0]} of {test[1]}; both splits need the same shape"
        )
    kinds = {key: "float targets" if layouts[key].dtype.kind == "f" else "integer classes"
             for key in ("y_train", "y_test")}  # fmt: skip
    if kinds["y_train"] != kinds["y_test"]:
        raise DataError(
            f"{source}: y_train holds {kinds['y_train']} but y_test {kinds['y_test']}; both splits need labels of "
            "one kind (integers classify, floats regress)"
        )


def _finite_float32(values: np.ndarray, key: str, source: str, what: str) -> np.ndarray:
    """`values` as float32, refused in one line if not finite or past float32's range (checked in the file's own
    precision: NumPy's cast would only warn and give infinities)."""
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise DataError(f"{source}: {key} contains NaN or infinite {what}; clean the data first")
        largest = float(np.abs(values).max()) if values.size else 0.0
        if largest > float(np.finfo(np.float32).max):  # as Python floats: a float32 operand would cast (and warn)
            raise DataError(
                f"{source}: {key} has {what} up to {largest:.3g}, past float32's range "
                f"({np.finfo(np.float32).max:.3g}); rescale them"
            )
    return values.astype(np.float32)


def _sequences(x: np.ndarray, key: str, source: str) -> np.ndarray:
    return _finite_float32(x, key, source, "values")


def _targets(y: np.ndarray, key: str, source: str) -> np.ndarray:
    """Float regression targets as (N, 1) float32, the adding problem's layout."""
    return _finite_float32(y.reshape(len(y), 1), key, source, "targets")


class Reader(Protocol):
    """Where the four arrays come from: their declared layout first, then (once that is checked) the data."""

    def layout(self, key: str) -> Layout: ...

    def read(self, key: str) -> np.ndarray: ...


class NpzData(Npz):
    """A Keras-layout .npz: the four arrays by name, refused at once when one is missing."""

    def __init__(self, path: Path, what: str, field: str | None = None) -> None:
        super().__init__(path, what, field=field)
        missing = [key for key in KEYS if key not in self.members]
        if missing:
            self.close()
            found = literal(", ".join(self.members) or "nothing")
            raise DataError(
                f"{self.what}: missing {', '.join(missing)} (found {found}); an .npz needs the keys {', '.join(KEYS)}",
                fields=True,
            )


class Arrays:
    """Arrays already in memory, read through the same checks as a file."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def layout(self, key: str) -> Layout:
        return Layout(tuple(self.arrays[key].shape), self.arrays[key].dtype)

    def read(self, key: str) -> np.ndarray:
        return self.arrays[key]


def validate(arrays: dict[str, np.ndarray], source: str, classes: int | None = None) -> Dataset:
    """Check arrays already in memory as a file's would be; return the dataset ready to use."""
    return load_from(Arrays(arrays), source, classes)


def load_from(reader: Reader, source: str, classes: int | None = None) -> Dataset:
    """Headers, then labels, then images: each step reads only once the cheaper ones have passed.

    Shapes, dtypes and counts come from the headers and are checked against each other and the memory
    before any data is read; the labels (small) decide what problem this is before the images are read.
    """
    layouts = {key: reader.layout(key) for key in KEYS}
    check_layouts(layouts, source)
    files.check_memory(sum(layout.nbytes for layout in layouts.values()), literal(source))
    y_train, y_test = (_labels(reader.read(key), key, source) for key in ("y_train", "y_test"))
    count = label_classes(y_train, y_test, source, classes)
    x_train, x_test = (_images(reader.read(key), key, source) for key in ("x_train", "x_test"))
    if x_train.dtype != x_test.dtype:  # one split uint8, the other float already in 0..1: scale the uint8 one
        x_train, x_test = (x if x.dtype == np.float32 else x.astype(np.float32) / 255.0 for x in (x_train, x_test))
    return Dataset(x_train, y_train, x_test, y_test, count, source)


def check_layouts(layouts: dict[str, Layout], source: str) -> None:
    """What can be refused from the headers alone: dimensions, emptiness, dtypes, counts, image sizes."""
    shapes = {key: _image_shape(layouts[key], key, source) for key in ("x_train", "x_test")}
    shapes.update({key: _label_shape(layouts[key], key, source) for key in ("y_train", "y_test")})
    for split in ("train", "test"):
        images, labels = shapes[f"x_{split}"][0], shapes[f"y_{split}"][0]
        if images != labels:
            raise DataError(f"{source}: x_{split} has {images:,} images but y_{split} has {labels:,} labels")
    train, test = shapes["x_train"], shapes["x_test"]
    if train[1:] != test[1:]:
        raise DataError(
            f"{source}: train images are {train[1]}x{train[2]} but test images are {test[1]}x{test[2]}; "
            "both splits need the same image size"
        )


def _image_shape(layout: Layout, key: str, source: str) -> tuple[int, ...]:
    shape = layout.shape[:3] if len(layout.shape) == 4 and layout.shape[3] == 1 else layout.shape  # grey channel
    if len(shape) != 3:
        raise DataError(
            f"{source}: {key} has shape {shape}; images must be (count, height, width), "
            "each height row read as one timestep"
        )
    if 0 in shape:
        raise DataError(f"{source}: {key} is empty (shape {shape}); each split needs at least one image")
    if layout.dtype.kind not in "fiu":
        raise DataError(f"{source}: {key} has dtype {layout.dtype}; images must be uint8 (0..255) or float")
    return shape


def _label_shape(layout: Layout, key: str, source: str) -> tuple[int, ...]:
    shape = layout.shape[:1] if len(layout.shape) == 2 and layout.shape[1] == 1 else layout.shape
    if len(shape) != 1:
        raise DataError(f"{source}: {key} has shape {shape}; labels must be one integer class per image")
    if shape[0] == 0:
        raise DataError(f"{source}: {key} is empty; each split needs at least one label")
    if layout.dtype.kind not in "fiu":
        raise DataError(f"{source}: {key} has dtype {layout.dtype}; labels must be integers")
    return shape


def label_classes(y_train: np.ndarray, y_test: np.ndarray, source: str, classes: int | None) -> int:
    """The number of classes: K when the training labels are exactly 0..K-1, or `classes`.

    Labels like {42} or 0..9 plus one 255 would otherwise define another problem in silence (43 or 256
    classes, most never seen), and a test label that training never has can never be predicted.
    """
    present = np.unique(y_train)
    tested = np.unique(y_test)
    if classes is not None:
        for key, labels in (("y_train", present), ("y_test", tested)):
            if labels[-1] >= classes:
                raise DataError(
                    f"{literal(source)}: {key} has the labels {ranges(labels)}, which do not fit {{classes}} {classes} "
                    f"(0..{classes - 1}); labels out of range",
                    fields=True,
                )
        _two_classes(present, source)
    else:
        classes = int(present[-1]) + 1
        if len(present) != classes:
            missing = np.setdiff1d(np.arange(classes), present)
            raise DataError(
                f"{literal(source)}: y_train has the labels {ranges(present)}, not 0..K-1 with every class present "
                f"(missing {ranges(missing)}); renumber them, or pass {{classes}} K to say there are K classes",
                fields=True,
            )
        _two_classes(present, source)
        unseen = np.setdiff1d(tested, present)
        if len(unseen):
            raise DataError(
                f"{literal(source)}: y_test has labels {ranges(unseen)} that y_train never has (it has "
                f"{ranges(present)}); labels out of range: every test label must occur in training, or pass "
                "{classes} K",
                fields=True,
            )
    return classes


def _two_classes(present: np.ndarray, source: str) -> None:
    if len(present) < 2:
        raise DataError(f"{source}: y_train holds a single class; a classifier needs at least two")


def ranges(labels: np.ndarray, most: int = 8) -> str:
    """Sorted distinct labels written as runs, as a person would: [0..9, 255] is '0-9, 255'."""
    values = np.asarray(labels, dtype=np.int64)
    runs = np.split(values, np.flatnonzero(np.diff(values) != 1) + 1)
    parts = [str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]
    return ", ".join(parts[:most]) + (f", ... ({len(parts) - most} more runs)" if len(parts) > most else "")


def find_idx(folder: Path, stem: str) -> Path:
    """The file for `stem` in an IDX folder, raw or gzipped; it is checked for being a regular file on opening."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if files.status(candidate, str(candidate), follow=False, field="data") is not None:
            return candidate
    # Some mirrors name the files with a dot before idx (train-images.idx3-ubyte).
    for candidate in sorted(folder.glob(stem.replace("-idx", ".idx") + "*")):
        return candidate
    where = files.label(str(folder), "data")
    raise FileError(folder, f"{where}: no {stem} (or {stem}.gz); an IDX folder needs {', '.join(IDX_FILES.values())}")


class IdxFolder:
    """The four IDX files of a folder."""

    def __init__(self, folder: Path) -> None:
        self.files = {key: IdxFile(find_idx(folder, stem)) for key, stem in IDX_FILES.items()}

    def layout(self, key: str) -> Layout:
        return self.files[key].layout()

    def read(self, key: str) -> np.ndarray:
        return self.files[key].read()


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (optionally gzipped), checked as `IdxFile` does."""
    return IdxFile(path).read()


class IdxFile:
    """One IDX file: a 4-byte magic, big-endian uint32 sizes, then the data; gzipped when named .gz.

    The sizes are multiplied as Python integers (int64 wrapped around), compared with the file's real size
    (raw) or with what a gzip of its size can hold, and the data is read no further than they declare.
    """

    def __init__(self, path: Path) -> None:
        self.path, self.what = path, files.label(str(path), "data")  # a message template

    @contextmanager
    def _stream(self) -> Iterator[tuple[IO[bytes], int]]:
        with files.open_regular(self.path, str(self.path), field="data") as handle:
            size = os.fstat(handle.fileno()).st_size
            try:
                if self.path.suffix == ".gz":
                    with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
                        yield stream, size
                else:
                    yield handle, size
            except DataError:
                raise
            except (OSError, EOFError, zlib.error) as exc:
                why = f"{self.what}: cannot be read or unzipped ({literal(brief(exc))}); check the file"
                raise DataError(why, fields=True) from None

    def _mismatch(self, layout: Layout, held: str) -> DataError:
        return DataError(
            f"{self.what}: the header says {' x '.join(map(str, layout.shape))} values ({layout.nbytes:,} bytes) but "
            f"the file holds {held} bytes after it; the file is truncated or not what it claims",
            fields=True,
        )

    def _header(self, stream: IO[bytes], size: int) -> Layout:
        magic = stream.read(4)
        if len(magic) < 4:
            raise DataError(f"{self.what}: too short to be an IDX file ({len(magic)} bytes)", fields=True)
        zero, dtype_code, ndim = magic[0] | magic[1], magic[2], magic[3]
        if zero != 0 or dtype_code not in IDX_DTYPES or not 1 <= ndim <= 4:
            raise DataError(
                f"{self.what}: bad IDX magic number 0x{magic.hex()} (expected 0x00000803 for images, "
                "0x00000801 for labels); is it really an IDX file?",
                fields=True,
            )
        sizes = stream.read(4 * ndim)
        if len(sizes) < 4 * ndim:
            raise DataError(f"{self.what}: truncated IDX header", fields=True)
        layout = Layout(struct.unpack(f">{ndim}I", sizes), np.dtype(IDX_DTYPES[dtype_code]))
        header = 4 + 4 * ndim
        if self.path.suffix != ".gz" and size - header != layout.nbytes:
            raise self._mismatch(layout, f"{size - header:,}")
        if self.path.suffix == ".gz" and header + layout.nbytes > size * files.MAX_DEFLATE_RATIO:
            raise DataError(
                f"{self.what}: the header says {' x '.join(map(str, layout.shape))} values ({layout.nbytes:,} bytes), "
                f"more than a gzip of {size:,} bytes can hold; the file is damaged or forged",
                fields=True,
            )
        return layout

    def layout(self) -> Layout:
        with self._stream() as (stream, size):
            return self._header(stream, size)

    def read(self) -> np.ndarray:
        with self._stream() as (stream, size):
            layout = self._header(stream, size)
            array = read_exactly(stream, layout, self.what, lambda got: self._mismatch(layout, f"{got:,}"))
            extra = stream.read(EXTRA_COUNTED)  # a gzip's real size is known only by reading: count a little
            if extra:
                more = "more than " if len(extra) == EXTRA_COUNTED else ""
                raise self._mismatch(layout, f"{more}{layout.nbytes + len(extra):,}")
        return array.astype(array.dtype.newbyteorder("="), copy=False)


def _images(x: np.ndarray, key: str, source: str) -> np.ndarray:
    """The pixel values of images whose shape and dtype `check_layouts` accepted, as uint8 or float 0..1."""
    if x.ndim == 4:  # (count, height, width, 1): one grey channel, as Keras examples store it
        x = x[..., 0]
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind == "f":  # checked in the file's own precision: a float64 past float32's range stays finite
        if not np.isfinite(x).all():
            raise DataError(f"{source}: {key} contains NaN or infinite values; clean the data first")
        if x.min() < 0 or x.max() > 255:
            raise DataError(
                f"{literal(source)}: {key} has values outside 0..255 ({x.min():g} to {x.max():g}), so this file holds "
                "float sequences (N, T, F), not images: train it with {task} sequences (or scale pixels to 0..255)",
                fields=True,
            )
        x = x.astype(np.float32)
        return x / 255.0 if x.max() > 1.0 else x
    if x.min() < 0 or x.max() > 255:
        raise DataError(f"{source}: {key} has integer pixels outside 0..255; use uint8 images")
    return x.astype(np.uint8)


def _labels(y: np.ndarray, key: str, source: str) -> np.ndarray:
    """Whole, non-negative class numbers of labels whose shape and dtype `check_layouts` accepted, as int32."""
    if y.ndim == 2:
        y = y[:, 0]
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DataError(f"{source}: {key} contains NaN or infinite labels; labels must be whole class numbers")
        if not np.array_equal(y, np.round(y)):
            raise DataError(
                f"{literal(source)}: {key} has fractional labels, so they are regression targets, not classes: train "
                "the file with {task} sequences (or give whole class numbers)",
                fields=True,
            )
    if y.min() < 0:
        raise DataError(f"{source}: {key} has negative label {y.min():g}; labels out of range, number classes from 0")
    if y.max() >= MAX_CLASSES:
        raise DataError(f"{source}: {key} has label {y.max():g}; labels out of range (at most {MAX_CLASSES - 1})")
    return y.astype(np.int32)
