"""Shared fixtures for data tests: an isolated user cache and small generated datasets."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from implicitbias.data.idx import encode_idx


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("IMPLICITBIAS_DATA", raising=False)
    return cache


@pytest.fixture
def write_idx():
    """The :func:`write_idx_dataset` helper as a fixture."""
    return write_idx_dataset


def write_idx_dataset(root: Path, folder: str, n_train: int = 20, n_test: int = 8, seed: int = 0) -> dict:
    """Write gzipped IDX files of random 28x28 images under root/folder; return the arrays."""
    rng = np.random.default_rng(seed)
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n, (fi, fl) in (
        ("train", n_train, ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")),
        ("test", n_test, ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")),
    ):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        (d / fi).write_bytes(gzip.compress(encode_idx(x)))
        (d / fl).write_bytes(gzip.compress(encode_idx(y)))
        arrays[split] = (x, y)
    return arrays
