"""Image-tree tarballs (safe reading), CIFAR python batches (restricted unpickler)."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from implicitbias.data import load_dataset
from implicitbias.data.cifar_batches import read_cifar_batches, safe_load_pickle
from implicitbias.data.images import read_image_tree
from implicitbias.errors import DataError

CLASSES = ["cat", "airplane", "dog"]  # deliberately unsorted


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _make_tar(path, members: dict[str, bytes], extra=None) -> dict:
    with tarfile.open(path, "w:gz") as tf:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
        for info in extra or []:
            tf.addfile(info)
    return members


def _tree_members(rng, n=2, size=(32, 32)):
    imgs = {}
    for split in ("train", "test"):
        for c in CLASSES:
            for i in range(n):
                imgs[f"cifar/{split}/{c}/{i:04d}.png"] = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
    return imgs


def test_tarball_tree_decoded_in_sorted_class_order(tmp_path):
    imgs = _tree_members(np.random.default_rng(0))
    _make_tar(tmp_path / "t.tar.gz", {k: _png(v) for k, v in imgs.items()})
    x, y, classes = read_image_tree(tmp_path / "t.tar.gz", "train")
    assert classes == sorted(CLASSES)
    assert x.shape == (6, 32, 32, 3) and list(y) == [0, 0, 1, 1, 2, 2]
    np.testing.assert_array_equal(x[2], imgs["cifar/train/cat/0000.png"])  # "cat" is class 1


@pytest.mark.parametrize("bad", ["../evil/train/cat/0.png", "/abs/train/cat/0.png", "a/../../x.png"])
def test_path_traversal_member_rejected(tmp_path, bad):
    members = {"d/train/cat/0000.png": _png(np.zeros((32, 32, 3), np.uint8)), bad: b"x"}
    _make_tar(tmp_path / "bad.tar.gz", members)
    with pytest.raises(DataError, match="unsafe member"):
        read_image_tree(tmp_path / "bad.tar.gz", "train")


def test_link_member_rejected(tmp_path):
    link = tarfile.TarInfo("d/train/cat/link.png")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    _make_tar(tmp_path / "l.tar.gz", {"d/train/cat/0.png": _png(np.zeros((32, 32, 3), np.uint8))}, [link])
    with pytest.raises(DataError, match="links"):
        read_image_tree(tmp_path / "l.tar.gz", "train")


def test_truncated_tarball_is_clear_error(tmp_path):
    imgs = _tree_members(np.random.default_rng(1))
    _make_tar(tmp_path / "t.tar.gz", {k: _png(v) for k, v in imgs.items()})
    blob = (tmp_path / "t.tar.gz").read_bytes()
    (tmp_path / "t.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError):
        read_image_tree(tmp_path / "t.tar.gz", "train")


def test_cifar_tree_loads_channel_major(tmp_path):
    imgs = _tree_members(np.random.default_rng(2))
    root = tmp_path / "cifar10"
    for name, arr in imgs.items():
        f = root / name.split("/", 1)[1]
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(_png(arr))
    x, y = load_dataset("cifar10", "test", data_dir=tmp_path, normalization="paper", verify=False)
    assert x.shape == (6, 3072) and y.tolist() == [0, 0, 1, 1, 2, 2]
    ref = imgs["cifar/test/airplane/0001.png"].transpose(2, 0, 1).reshape(-1) / 255.0
    np.testing.assert_allclose(x[1].numpy(), (ref - 0.5) / 0.5, atol=1e-6)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_restricted_unpickler(tmp_path, monkeypatch):
    data = np.arange(12, dtype=np.uint8).reshape(2, 6)
    ok = safe_load_pickle(pickle.dumps({b"data": data, b"labels": [1, 2]}, protocol=2))
    np.testing.assert_array_equal(ok[b"data"], data)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="refusing to unpickle"):
        safe_load_pickle(pickle.dumps(_Evil(), protocol=2))
    assert not (tmp_path / "pwned").exists()


def test_cifar_python_batches(tmp_path):
    rng = np.random.default_rng(3)
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=4).tolist()
        batches[name] = (data, labels)
        (d / name).write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
    x, y = read_cifar_batches(d, "test")
    np.testing.assert_array_equal(x[1], batches["test_batch"][0][1].reshape(3, 32, 32).transpose(1, 2, 0))
    x, y = read_cifar_batches(d, "train")
    assert x.shape == (20, 32, 32, 3) and y.tolist()[:4] == batches["data_batch_1"][1]
