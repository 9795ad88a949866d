"""Reading a .npz without trusting it: every size a file declares is checked before it is believed.

`np.load` believes an archive: a member that is not an .npy array comes back as a `bytes` object, a header
that promises a billion images gets an array of that size allocated, and a compressed member is inflated
until its declared end. Here each member is opened as a regular file's zip entry, its .npy header parsed by
NumPy's own header reader (bounded, literal only), and its declared size compared with the zip entry's size,
with what deflate can hold and with the memory available, all before a byte of data is read. Reading then
stops at the declared size. Nothing is ever unpickled.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from lstmcli import files
from lstmcli.errors import DataError, brief, literal

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
MAX_HEADER = 10_000  # NumPy's own limit on an .npy header (np.lib.format, max_header_size)
CHUNK = 1 << 22  # bytes read per call: bounded memory beyond the array itself
PICKLE = b"\x80"  # first byte of a pickle of protocol 2 or later (what np.save of an object array writes)
READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, RuntimeError)


@dataclass(frozen=True)
class Layout:
    """What an array declares: shape and dtype, read from its header, nothing from its data."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool = False

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize

    def describe(self) -> str:
        return " x ".join(f"{d:,}" for d in self.shape) or "1"


def read_exactly(stream: IO[bytes], layout: Layout, what: str, short: Callable[[int], DataError]) -> np.ndarray:
    """The array `layout` declares, read in chunks into its own buffer; `short(bytes read)` if the data ends first.
    `what` is a message template (lstmcli.files.label).

    The memory is checked and allocated once, for exactly the declared size, and nothing past it is read.
    """
    files.check_memory(layout.nbytes, what)
    array = np.empty(layout.count, layout.dtype)
    buffer = memoryview(array.reshape(-1).view(np.uint8)) if layout.nbytes else memoryview(b"")
    done = 0
    while done < layout.nbytes:
        got = stream.readinto(buffer[done : done + CHUNK])  # type: ignore[attr-defined]
        if not got:
            raise short(done)
        done += got
    if layout.fortran:
        return array.reshape(layout.shape[::-1]).transpose()
    return array.reshape(layout.shape)


class Npz:
    """One .npz archive, opened as a regular file; members are read one at a time, headers first."""

    def __init__(self, path: Path, what: str, owned: bool = False, field: str | None = None) -> None:
        """`what` names the file in messages, after `{field}` when a field gave it (lstmcli.files.label)."""
        self.path, self.what = path, files.label(what, field)
        self.handle = files.open_regular(path, what, owned, field)
        try:
            self.size = os.fstat(self.handle.fileno()).st_size
            magic = self.handle.read(6)
            if magic.startswith(NPY_MAGIC):
                raise DataError(
                    f"{self.what}: is a single .npy array, not an .npz archive of named arrays",
                    fields=True,
                )
            if not magic.startswith(ZIP_MAGIC):
                raise DataError(f"{self.what}: not an .npz file (it does not start like a zip archive)", fields=True)
            self.handle.seek(0)
            self.archive = zipfile.ZipFile(self.handle)
        except DataError:
            self.handle.close()
            raise
        except BaseException as exc:
            self.handle.close()
            if isinstance(exc, Exception):
                raise self.damaged(exc) from None
            raise
        self.members = {info.filename.removesuffix(".npy"): info for info in self.archive.infolist()}

    def __enter__(self) -> Npz:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.archive.close()
        self.handle.close()

    def damaged(self, exc: BaseException) -> DataError:
        return DataError(
            f"{self.what}: not a readable .npz (truncated or corrupt: {literal(brief(exc))}); check or re-create it",
            fields=True,
        )

    @contextmanager
    def _member(self, name: str) -> Iterator[IO[bytes]]:
        """The member's bytes as a stream that ends at its declared size, after checking that size."""
        info = self.members[name]
        where = f"{self.what}: {literal(info.filename)}"
        if info.flag_bits & 0x1:
            raise DataError(f"{where} is encrypted; save the arrays with np.savez", fields=True)
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DataError(
                f"{where} uses zip compression method {info.compress_type}; save it with np.savez",
                fields=True,
            )
        if info.header_offset + info.compress_size > self.size:
            raise DataError(
                f"{where} declares {info.compress_size:,} bytes past the end of the file; it is truncated",
                fields=True,
            )
        limit = info.compress_size * (files.MAX_DEFLATE_RATIO if info.compress_type else 1)
        if info.file_size > limit:
            raise DataError(
                f"{where} declares {info.file_size:,} bytes, but its {info.compress_size:,} stored bytes can hold "
                f"at most {limit:,}; the archive is damaged or forged", fields=True
            )
        try:
            with self.archive.open(info) as stream:
                yield stream
        except DataError:
            raise
        except READ_ERRORS as exc:
            raise self.damaged(exc) from None

    def layout(self, name: str) -> Layout:
        with self._member(name) as stream:
            return self._header(name, stream)

    def _header(self, name: str, stream: IO[bytes]) -> Layout:
        info = self.members[name]
        return npy_header(f"{self.what}: {literal(info.filename)}", info.file_size, stream)

    def read(self, name: str) -> np.ndarray:
        """The member's array; it must hold exactly what its header declares (the CRC is checked at its end)."""
        with self._member(name) as stream:
            layout = self._header(name, stream)
            where = f"{self.what}: {literal(self.members[name].filename)}"
            array = read_exactly(
                stream,
                layout,
                where,
                lambda got: DataError(f"{where} ends after {got:,} of its {layout.nbytes:,} bytes", fields=True),
            )
            if stream.read(1):
                raise DataError(f"{where} holds more than its header declares", fields=True)
            return array


def npy_header(where: str, file_size: int, stream: IO[bytes]) -> Layout:
    """Parse the .npy header with NumPy's reader, then check the declared size against the entry's."""
    magic = stream.read(8)
    if not magic.startswith(NPY_MAGIC):
        if magic.startswith(PICKLE):
            raise DataError(
                f"{where} holds a pickle (Python objects), which lstmcli never loads; save arrays",
                fields=True,
            )
        raise DataError(
            f"{where} is not an .npy array (it does not start with \\x93NUMPY); save it with np.savez",
            fields=True,
        )
    if len(magic) < 8 or magic[6:8] not in (b"\x01\x00", b"\x02\x00", b"\x03\x00"):
        raise DataError(f"{where} has an unknown .npy format version; save it with np.savez", fields=True)
    width = 2 if magic[6] == 1 else 4
    size_bytes = stream.read(width)
    length = int.from_bytes(size_bytes, "little") if len(size_bytes) == width else -1
    if not 0 <= length <= MAX_HEADER:
        raise DataError(f"{where} has a damaged .npy header (length {length}); re-create the file", fields=True)
    header = stream.read(length)
    try:
        buffer = io.BytesIO(NPY_MAGIC + b"\x02\x00" + len(header).to_bytes(4, "little") + header)
        np.lib.format.read_magic(buffer)
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buffer, max_header_size=MAX_HEADER)
    except Exception as exc:  # ValueError, SyntaxError, tokenize errors: whatever a damaged header raises
        raise DataError(
            f"{where} has a damaged .npy header ({literal(brief(exc, 120))}); re-create the file",
            fields=True,
        ) from None
    layout = Layout(tuple(shape), dtype, bool(fortran))
    check_dtype(where, dtype)
    if any(d < 0 for d in layout.shape):
        raise DataError(f"{where} has a negative size in its shape {layout.shape}", fields=True)
    held = file_size - 8 - width - length
    if layout.nbytes != held:
        raise DataError(
            f"{where} declares {layout.describe()} values of {literal(dtype)} ({layout.nbytes:,} bytes) but holds "
            f"{max(held, 0):,} bytes; the file is truncated or not what it claims", fields=True
        )
    return layout


def check_dtype(where: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise DataError(
            f"{where} holds Python objects (pickles), which lstmcli never loads; save plain numeric arrays",
            fields=True,
        )
    if dtype.names is not None or dtype.subdtype is not None or dtype.itemsize == 0:
        raise DataError(f"{where} has dtype {literal(dtype)}; save plain arrays of numbers", fields=True)


def read_npz(path: Path, what: str, owned: bool = False) -> dict[str, np.ndarray]:
    """Every array of an .npz (a checkpoint), each checked as above, their total against the memory."""
    with Npz(path, what, owned) as npz:
        layouts = {name: npz.layout(name) for name in npz.members}
        files.check_memory(sum(layout.nbytes for layout in layouts.values()), npz.what)
        return {name: npz.read(name) for name in layouts}
