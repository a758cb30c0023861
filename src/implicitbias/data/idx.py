"""Reader for (optionally gzipped) IDX files, the MNIST / Fashion-MNIST format.

Layout: 2 zero bytes, a type code (0x08 = uint8, ...), the number of dimensions ``d``, then
``d`` big-endian uint32 sizes, then the raw big-endian data (``4 + 4·d`` byte offset).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from implicitbias.errors import DataError

__all__ = ["read_idx", "encode_idx"]

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path} is a corrupt or truncated gzip file ({e})") from None
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of its declared shape.

    Args:
        path: the ``*-idx?-ubyte[.gz]`` file.

    Returns:
        Array of shape ``(n0, n1, ...)`` in native byte order.

    Raises:
        DataError: unreadable, corrupt gzip, bad magic or a size that disagrees with the header.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = _TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: IDX payload has {len(data) - header} bytes, header shape {shape} needs {expected}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def encode_idx(arr: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (used to build test fixtures)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.tobytes()
