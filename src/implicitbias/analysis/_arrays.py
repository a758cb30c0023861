"""Array plumbing shared by the analysis modules: accept NumPy or torch, compute in NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_2d", "as_labels", "to_numpy", "ArrayLike"]

ArrayLike = Any
"""A NumPy array, a torch tensor (any device/dtype) or a nested sequence."""


def to_numpy(a: ArrayLike) -> np.ndarray:
    """NumPy view/copy of ``a`` (torch tensors are moved to CPU; half precision → float32)."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # torch.Tensor without importing torch
        a = a.detach().cpu()
        if str(a.dtype) in ("torch.float16", "torch.bfloat16"):
            a = a.float()
        a = a.numpy()
    return np.asarray(a)


def as_2d(x: ArrayLike, name: str = "x", dtype: Any = None) -> np.ndarray:
    """Return ``x`` as a 2-D NumPy array ``(N, H)``.

    Args:
        dtype: target dtype; ``None`` keeps float32/float64 as they are (no copy: large
            float32 activation arrays stay float32) and converts anything else to float64.

    Raises:
        ValueError: if ``x`` is not 2-D.
    """
    a = to_numpy(x)
    if dtype is None:
        dtype = a.dtype if a.dtype in (np.float32, np.float64) else np.float64
    a = a.astype(dtype, copy=False)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, H), got shape {a.shape}")
    return a


def as_labels(y: ArrayLike, n: int | None = None, name: str = "labels") -> np.ndarray:
    """Return integer labels ``(N,)`` as int64, checking the length against ``n``."""
    a = to_numpy(y)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size and not np.all(np.equal(np.mod(a, 1), 0)):
        raise ValueError(f"{name} must be integers")
    a = a.astype(np.int64, copy=False)
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} entries, activations have {n} rows")
    return a
