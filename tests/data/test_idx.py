"""IDX reader and the MNIST-style loading path on generated fixtures."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from implicitbias.data import load_dataset, load_raw, resolve_data_dir
from implicitbias.data.idx import encode_idx, read_idx
from implicitbias.errors import DataError


def test_idx_roundtrip_gzip_and_plain(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    (tmp_path / "a.gz").write_bytes(gzip.compress(encode_idx(x)))
    (tmp_path / "a").write_bytes(encode_idx(x))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), x)


def test_idx_big_endian_int32(tmp_path):
    vals = np.array([1, -2, 70000], dtype=">i4")
    raw = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3) + vals.tobytes()
    (tmp_path / "b").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "b"), [1, -2, 70000])


def test_corrupt_gzip_is_clear_error(tmp_path):
    blob = gzip.compress(encode_idx(np.zeros((50, 28, 28), np.uint8)))
    (tmp_path / "t.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(tmp_path / "t.gz")


def test_bad_magic_and_size_mismatch(tmp_path):
    (tmp_path / "m").write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DataError, match="magic"):
        read_idx(tmp_path / "m")
    (tmp_path / "s").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 9)
    with pytest.raises(DataError, match="payload"):
        read_idx(tmp_path / "s")


def test_checksum_mismatch_is_clear_error(tmp_path, write_idx):
    write_idx(tmp_path, "mnist")
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("mnist", "train", data_dir=tmp_path)


def test_fixture_dataset_normalisations_and_cache(tmp_path, _isolated_cache, write_idx):
    arrays = write_idx(tmp_path, "fashion-mnist")
    x_raw, y_raw = arrays["train"]
    u = x_raw.reshape(len(x_raw), -1).astype(np.float64) / 255.0
    for norm, (m, s) in {"paper": (0.1307, 0.3081), "proper": (0.2860, 0.3530), "unit": (0.0, 1.0)}.items():
        x, y = load_dataset("fashion-mnist", "train", data_dir=tmp_path, normalization=norm, verify=False)
        assert x.dtype.is_floating_point and x.shape == (20, 784) and y.dtype.is_signed
        np.testing.assert_allclose(x.numpy(), (u - m) / s, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y.numpy(), y_raw)
    cached = list((_isolated_cache / "implicitbias" / "datasets").glob("fashion-mnist-train-*.npz"))
    assert len(cached) == 1
    with np.load(cached[0], allow_pickle=False) as z:
        assert z["x"].dtype == np.uint8
        np.testing.assert_array_equal(z["x"][:, 0], x_raw)
    # the cache is keyed by the source checksum: changing the files gives a new entry
    write_idx(tmp_path, "fashion-mnist", seed=5)
    xr, _ = load_raw("fashion-mnist", "train", data_dir=tmp_path, verify=False)
    assert not np.array_equal(xr[:, 0], x_raw)


def test_missing_dataset_message(tmp_path, monkeypatch, write_idx):
    monkeypatch.setattr("implicitbias.data.registry.candidate_roots", lambda d=None: [tmp_path])
    with pytest.raises(DataError, match="not found"):
        load_dataset("mnist", data_dir=tmp_path)
    assert resolve_data_dir(tmp_path, dataset="mnist") is None
    write_idx(tmp_path, "mnist")
    assert resolve_data_dir(tmp_path, dataset="mnist") == tmp_path


def test_digits_split_is_fixed_and_disjoint():
    xa, ya = load_dataset("digits", "train", normalization="unit")
    xb, yb = load_dataset("digits", "test", normalization="unit")
    assert xa.shape == (1437, 64) and xb.shape == (360, 64)
    assert float(xa.min()) >= 0 and float(xa.max()) <= 1
    from sklearn.datasets import load_digits

    full = load_digits().data / 16.0
    assert len(full) == len(xa) + len(xb)
    # every test row is a digits row, and the split is reproducible
    assert np.isclose(full[:, None, :], xb.numpy()[None, :5, :]).all(-1).any(0).all()
    xa2, _ = load_dataset("digits", "train", normalization="unit")
    assert bool((xa == xa2).all())
