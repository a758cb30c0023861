"""CIFAR-10 "python version" batches read with a restricted unpickler.

A pickle can execute arbitrary code through the globals it names. :class:`SafeUnpickler`
resolves only NumPy's array-reconstruction callables, ``ndarray``, ``dtype`` and
``_codecs.encode`` (str → bytes); any other
global (``os.system``, ``builtins.eval``, ...) raises :class:`~implicitbias.errors.DataError`.
Dicts, lists, bytes and numbers need no globals and load normally.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from implicitbias.errors import DataError

__all__ = ["SafeUnpickler", "safe_load_pickle", "read_cifar_batches"]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that only resolves NumPy array globals."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise DataError(f"refusing to unpickle global {module}.{name} (only NumPy arrays allowed)")


def safe_load_pickle(blob: bytes, source: str = "pickle") -> Any:
    """Load ``blob`` with :class:`SafeUnpickler` (``encoding='bytes'`` for Python-2 pickles)."""
    try:
        return SafeUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed pickle is a data error
        raise DataError(f"{source}: corrupt pickle ({type(e).__name__}: {e})") from None


def _get(d: dict, key: str) -> Any:
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise DataError(f"CIFAR batch lacks the {key!r} entry")


def read_cifar_batches(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``cifar-10-batches-py``: ``data_batch_1..5`` (train) or ``test_batch``.

    Returns:
        uint8 images ``(N, 32, 32, 3)`` and int64 labels ``(N,)``.
    """
    folder = Path(folder)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    for n in names:
        f = folder / n
        if not f.exists():
            raise DataError(f"missing CIFAR batch {f}")
        d = safe_load_pickle(f.read_bytes(), str(f))
        if not isinstance(d, dict):
            raise DataError(f"{f}: expected a dict")
        data = np.asarray(_get(d, "data"), dtype=np.uint8)
        labels = np.asarray(_get(d, "labels"), dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise DataError(f"{f}: unexpected shapes {data.shape}, {labels.shape}")
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(labels)
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)
