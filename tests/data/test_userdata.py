"""User datasets (``--data``): every format on small generated fixtures, and every bad input."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.fixtures.user_data import (
    SHAPES,
    blobs,
    image_folder,
    render,
    tar_of,
    write_csv,
    write_png,
)

from implicitbias.data.inspect import baselines, duplicates_between, inspect_data
from implicitbias.data.userdata import (
    check_memory,
    from_arrays,
    from_dataset,
    load_user_data,
    stratified_split,
)
from implicitbias.errors import DataError, UserInputError

# ---- image folders -------------------------------------------------------------------------


def test_image_folder_grey_with_test_split(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "imgs", n_train=5, n_test=2)
    ud = load_user_data(root)
    assert ud.kind == "image" and ud.shape == (1, 12, 12) and ud.classes == SHAPES
    assert ud.x_train.shape == (15, 1, 12, 12) and ud.x_test.shape == (6, 1, 12, 12)
    assert ud.split == "given" and ud.embedding == "first_pixels"
    # labels follow the folder names; pixels are the PNG bytes (oracle: PIL directly)
    from PIL import Image

    first = np.asarray(Image.open(root / "train" / "cross" / "000.png"))
    assert np.array_equal(ud.x_train[ud.y_train == 1][0, 0], first)
    x_tr, y_tr, x_te, _ = ud.tensors()
    assert x_tr.shape == (15, 144) and x_tr.dtype == torch.float32
    assert abs(float(x_tr.mean())) < 1e-5 and abs(float(x_tr.std(unbiased=False)) - 1) < 1e-4  # train statistics
    u = ud.x_train.astype(np.float32) / 255
    assert torch.allclose(x_te, torch.from_numpy(((ud.x_test / 255 - u.mean()) / u.std()).reshape(6, -1).astype(np.float32)), atol=1e-5)


def test_image_folder_rgb_tarball_and_stratified_split(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "imgs", n_train=10, rgb=True, test=False)
    tar = tar_of(root, tmp_path / "imgs.tar.gz")
    a, b = load_user_data(root, test_fraction=0.2), load_user_data(tar, test_fraction=0.2)
    assert a.shape == (3, 12, 12) and a.embedding == "first_row_all_channels"
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert a.split.startswith("stratified") and np.bincount(a.y_test).tolist() == [2, 2, 2]
    assert a.checksum == b.checksum  # same tree, same bytes


def test_stratified_split_is_seeded_and_disjoint() -> None:
    y = np.repeat(np.arange(4), [5, 9, 13, 2])
    tr, te = stratified_split(y, 0.3, seed=1)
    tr2, te2 = stratified_split(y, 0.3, seed=1)
    assert np.array_equal(te, te2) and not set(tr) & set(te) and len(tr) + len(te) == y.size
    assert [int((y[te] == c).sum()) for c in range(4)] == [max(1, round(0.3 * n)) for n in (5, 9, 13)] + [1]
    assert not np.array_equal(te, stratified_split(y, 0.3, seed=2)[1])


# ---- bad image folders / archives ------------------------------------------------------------


def _bad(path: Path, match: str, **kw: object) -> None:
    with pytest.raises(UserInputError, match=match):
        load_user_data(path, **kw)  # type: ignore[arg-type]


def test_mixed_sizes(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "i", n_train=3, n_test=1)
    write_png(root / "train" / "circle" / "big.png", np.zeros((14, 12), np.uint8))
    _bad(root, "different sizes")


def test_missing_or_empty_splits(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "i", n_train=3, n_test=1)
    (root / "test" / "empty").mkdir()
    _bad(root, "empty class folder")
    other = tmp_path / "only_test"
    write_png(other / "test" / "a" / "0.png", np.zeros((4, 4), np.uint8))
    _bad(other, "no images under train")
    _bad(tmp_path / "nowhere", "no such file")


def test_single_class_and_absent_test_labels(tmp_path: Path) -> None:
    root = tmp_path / "one"
    for i in range(4):
        write_png(root / "train" / "a" / f"{i}.png", np.full((4, 4), i, np.uint8))
        write_png(root / "test" / "a" / f"{i}.png", np.full((4, 4), i, np.uint8))
    _bad(root, "single class")
    root2 = image_folder(tmp_path / "i", n_train=3, n_test=1)
    for f in (root2 / "test" / "square").iterdir():
        f.unlink()
    (root2 / "test" / "square").rmdir()
    _bad(root2, "'square' absent from the test split")


def test_non_image_and_corrupt_files(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "i", n_train=3, n_test=1)
    (root / "train" / "circle" / "notes.txt").write_text("hello")
    _bad(root, "notes.txt is not a PNG/JPEG")
    (root / "train" / "circle" / "notes.txt").unlink()
    (root / "train" / "circle" / "broken.png").write_bytes(b"\x89PNG not really")
    _bad(root, "cannot decode image train/circle/broken.png")
    (root / "train" / "circle" / "broken.png").unlink()
    (root / "train" / "circle" / ".DS_Store").write_bytes(b"junk")  # hidden files are skipped
    assert load_user_data(root).x_train.shape[0] == 9


@pytest.mark.parametrize(
    ("name", "kind", "match"),
    [("/abs/train/a/x.png", tarfile.REGTYPE, "absolute path"), ("train/../../x.png", tarfile.REGTYPE, "traversal"),
     ("train/a/link.png", tarfile.SYMTYPE, "links"), ("train/a/hard.png", tarfile.LNKTYPE, "links")],
)
def test_unsafe_archive_members(tmp_path: Path, name: str, kind: bytes, match: str) -> None:
    root = image_folder(tmp_path / "i", n_train=2, n_test=1)
    info = tarfile.TarInfo(name)
    info.type = kind
    data = None
    if kind == tarfile.REGTYPE:
        buf = io.BytesIO()
        from PIL import Image

        Image.fromarray(np.zeros((12, 12), np.uint8)).save(buf, format="PNG")
        data = buf.getvalue()
        info.size = len(data)
    else:
        info.linkname = "/etc/passwd"
    tar = tar_of(root, tmp_path / "bad.tar", [(info, data)])
    _bad(tar, match)


def test_symlink_in_folder(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "i", n_train=2, n_test=1)
    (root / "train" / "circle" / "link.png").symlink_to(root / "train" / "circle" / "000.png")
    _bad(root, "links")


def test_too_large_for_memory(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "i", n_train=3, n_test=1)
    with pytest.raises(DataError, match=r"too large for memory: 12 x 432 values as float64 need 40\.5 KiB"):
        load_user_data(root, dtype="float64", max_bytes=1000)
    # an npz whose header promises 10^7 x 10^6 float32 values is refused before any data is read
    f = tmp_path / "huge.npz"
    with zipfile.ZipFile(f, "w") as zf:
        for k, shape in (("x", (10**7, 10**6)), ("y", (10**7,))):
            buf = io.BytesIO()
            np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
            zf.writestr(f"{k}.npy", buf.getvalue())
    _bad(f, r"too large for memory: 10000000 x 1000000 values as float32 need 36\.4 TiB")
    check_memory(10, 10, "float32", "x", max_bytes=400)
    with pytest.raises(DataError, match="400.0 B"):
        check_memory(10, 10, "float32", "x", max_bytes=399)


# ---- npz ---------------------------------------------------------------------------------------


def test_npz_formats(tmp_path: Path) -> None:
    x, y = blobs(60, 5)
    np.savez(tmp_path / "a.npz", x_train=x[:45], y_train=y[:45], x_test=x[45:], y_test=y[45:])
    ud = load_user_data(tmp_path / "a.npz")
    assert ud.kind == "tabular" and ud.shape == (1, 1, 5) and ud.embedding == "one_hot_concat" and len(ud.y_test) == 15
    split = np.array(["train"] * 40 + ["test"] * 20)
    np.savez(tmp_path / "b.npz", x=x, y=y, split=split, classes=np.array(["p", "q", "r"]))
    ud = load_user_data(tmp_path / "b.npz")
    assert ud.classes == ("p", "q", "r") and len(ud.y_test) == 20 and np.array_equal(ud.x_test, x[40:])
    imgs = np.stack([render(SHAPES[i % 3], np.random.default_rng(i)) for i in range(30)])
    np.savez(tmp_path / "c.npz", x=imgs, y=np.arange(30) % 3)
    ud = load_user_data(tmp_path / "c.npz", test_fraction=0.2)
    assert ud.kind == "image" and ud.shape == (1, 12, 12) and len(ud.y_test) == 6
    np.savez(tmp_path / "d.npz", x=np.array([[1, "a"]], dtype=object), y=np.array([0]))
    _bad(tmp_path / "d.npz", "Python objects")
    np.savez(tmp_path / "e.npz", features=x)
    _bad(tmp_path / "e.npz", "expected arrays x_train")
    x2 = x.copy()
    x2[7, 2] = np.inf
    np.savez(tmp_path / "f.npz", x=x2, y=y)
    _bad(tmp_path / "f.npz", "NaN/inf")
    (tmp_path / "g.npz").write_bytes(b"not a zip")
    _bad(tmp_path / "g.npz", "not a readable .npz")


# ---- CSV / TSV ---------------------------------------------------------------------------------


def test_csv_header_label_by_default_name_and_index(tmp_path: Path) -> None:
    x, y = blobs(45, 4)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    f = write_csv(tmp_path / "t.csv", x, names)
    ud = load_user_data(f)  # default: the first non-numeric column (the last one here)
    assert ud.classes == ("setosa", "versicolor", "virginica") and ud.dim == 4
    assert np.allclose(np.sort(np.concatenate([ud.x_train, ud.x_test]), axis=0), np.sort(np.round(x, 5), axis=0))
    assert load_user_data(f, label_column="species").checksum == ud.checksum
    assert load_user_data(f, label_column="-1").dim == 4
    x_tr, _, x_te, _ = ud.tensors()
    assert np.allclose(x_tr.numpy().mean(0), 0, atol=1e-5) and np.allclose(x_tr.numpy().std(0), 1, atol=1e-4)
    _bad(f, "no label column 'kind'", label_column="kind")


def test_csv_no_header_numeric_labels_and_tsv(tmp_path: Path) -> None:
    x, y = blobs(30, 3)
    f = write_csv(tmp_path / "n.csv", x, y, header=False, label_first=True)
    ud = load_user_data(f)  # all numeric: the first column is the label
    assert ud.classes == ("0", "1", "2") and ud.dim == 3
    g = write_csv(tmp_path / "t.tsv", x, y, header=True, label_first=False, sep="\t")
    ud2 = load_user_data(g, label_column="3")
    assert ud2.dim == 3 and ud2.classes == ("0", "1", "2")


def test_csv_bad_inputs(tmp_path: Path) -> None:
    x, y = blobs(30, 3)
    lines = write_csv(tmp_path / "a.csv", x, y).read_text().splitlines()
    (tmp_path / "ragged.csv").write_text("\n".join(lines[:5] + [lines[5] + ",1.0"] + lines[6:]))
    _bad(tmp_path / "ragged.csv", "line 6 has 5 fields, the first row has 4")
    (tmp_path / "word.csv").write_text("\n".join(lines[:3] + [lines[3].replace(lines[3].split(",")[1], "abc", 1)] + lines[4:]))
    _bad(tmp_path / "word.csv", "line 4, column 'f1': 'abc' is not a number")
    (tmp_path / "nan.csv").write_text("\n".join(lines[:3] + ["nan," + ",".join(lines[3].split(",")[1:])] + lines[4:]))
    _bad(tmp_path / "nan.csv", "NaN/inf")
    write_csv(tmp_path / "one.csv", x, ["a"] * 30)
    _bad(tmp_path / "one.csv", "single class")
    write_csv(tmp_path / "rare.csv", x, ["a"] * 29 + ["b"])
    _bad(tmp_path / "rare.csv", "at least 2 per class")
    (tmp_path / "empty.csv").write_text("\n\n")
    _bad(tmp_path / "empty.csv", "empty file")


# ---- Python objects ------------------------------------------------------------------------------


def test_from_arrays_and_torch_dataset() -> None:
    x, y = blobs(40, 3)
    ud = from_arrays(torch.from_numpy(x), torch.from_numpy(y), test_fraction=0.25)
    assert ud.kind == "tabular" and len(ud.y_test) == 10 and ud.classes == ("0", "1", "2")
    imgs = torch.rand(20, 3, 8, 8)
    ds = torch.utils.data.TensorDataset(imgs, torch.arange(20) % 2)
    ud = from_dataset(ds, test=ds, classes=["even", "odd"])
    assert ud.kind == "image" and ud.shape == (3, 8, 8) and ud.classes == ("even", "odd")
    assert np.allclose(ud.x_train, imgs.numpy())
    with pytest.raises(DataError, match="never occur in the training split"):
        from_arrays(x[:20], np.zeros(20).astype(int) + np.arange(20) % 2, x[20:25], np.full(5, 7))


def test_inspect_and_baselines(tmp_path: Path) -> None:
    x, y = blobs(120, 4)
    ud = from_arrays(x[:90], y[:90], np.concatenate([x[90:], x[:3]]), np.concatenate([y[90:], y[:3]]))
    info = inspect_data(ud)
    assert info["duplicates_train_test"] == 3 and info["counts"]["train"] == [30, 30, 30]
    assert info["value_range"] == [float(x.min()), float(x.max())] and info["embedding"] == "one_hot_concat"
    assert duplicates_between(x[:5], x[5:10]) == 0
    b = baselines(ud)
    assert b["logistic_regression"]["test_acc"] > 0.9 and b["mlp"]["test_acc"] > 0.9  # well-separated blobs


def test_csv_label_column_that_looks_like_a_feature(tmp_path: Path) -> None:
    x, y = blobs(30, 3)
    f = write_csv(tmp_path / "n.csv", x, y, header=False, label_first=False)  # numeric labels last, no header
    _bad(f, "label column 0 has 30 distinct values in 30 rows; it looks like a feature")
    assert load_user_data(f, label_column="3").classes == ("0", "1", "2")


def test_csv_too_large_is_refused_before_reading(tmp_path: Path) -> None:
    x, y = blobs(300, 5)
    f = write_csv(tmp_path / "big.csv", x, np.array(["a", "b", "c"])[y])
    with pytest.raises(DataError, match=r"too large for memory: 30\d x 5 values as float32"):
        load_user_data(f, max_bytes=2000)
    assert load_user_data(f, max_bytes=10_000).dim == 5


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()  # a folder where a file should be: cannot be read
    _bad(tmp_path / "dir.csv", "cannot read")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81" * 10)
    _bad(tmp_path / "bin.csv", "not a UTF-8 text file")
    root = image_folder(tmp_path / "i", n_train=2, n_test=1)
    (root / "train" / "circle" / "sub.png").mkdir()
    _bad(root, "folders are not allowed inside a class folder")
