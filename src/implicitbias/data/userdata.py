"""A user's dataset: image folder / tarball, ``.npz``, CSV / TSV, NumPy arrays or a torch ``Dataset``.

>>> ud = load_user_data("my_images/")            # doctest: +SKIP
>>> x_tr, y_tr, x_te, y_te = ud.tensors()        # float32 (N, D), int64 (N,)

:class:`UserData` keeps the raw arrays (images ``(N, C, H, W)``, tables ``(N, D)``), the class
names in label order, the kind (``image`` or ``tabular``), where it came from and a sha256.
Labels of any type (strings, integers) are mapped to ``0..K−1`` in sorted order (numbers by
value). Without a test split a seeded stratified split holds out ``test_fraction`` of every
class (at least one sample). Checks (each a :class:`~implicitbias.errors.DataError`): at least
two classes, no empty split, every class present in both splits, finite values, and a memory
guard that refuses data larger than the available memory at the requested dtype.

Scaling (:meth:`UserData.tensors`), from training statistics only:

* images: ``u = byte / 255`` (float images are used as they are), then per channel
  ``(u − mean) / std`` for ``paper`` / ``proper`` (as the built-in datasets), or ``u`` for
  ``unit`` (float images: min–max to [0, 1]);
* tables: per feature ``(x − mean) / std`` (constant features → 0), or min–max for ``unit``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from implicitbias.errors import DataError, UserInputError

__all__ = ["UserData", "load_user_data", "from_arrays", "from_dataset", "stratified_split", "check_memory", "suggest_embedding"]

Kind = Literal["image", "tabular"]


def check_memory(n_rows: int, per_row: int, dtype: str = "float32", what: str = "data", max_bytes: int | None = None) -> None:
    """Refuse ``n_rows × per_row`` values of ``dtype`` that would not fit in available memory.

    Raises:
        DataError: the array would need more than ``max_bytes`` (default: 80 % of the
            available memory, ``MemAvailable`` of ``/proc/meminfo``).
    """
    need = int(n_rows) * int(per_row) * np.dtype(dtype).itemsize
    limit = max_bytes if max_bytes is not None else int(0.8 * _available_bytes())
    if need > limit:
        raise DataError(
            f"{what} is too large for memory: {n_rows} x {per_row} values as {dtype} need {_fmt_bytes(need)}, "
            f"{_fmt_bytes(limit)} available (use a smaller subset or a lower-precision dtype)"
        )


def _available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def suggest_embedding(kind: str, shape: tuple[int, int, int], num_classes: int) -> str:
    """The label embedding used by default: grey images ``first_pixels``, RGB ``first_row_all_channels``
    (when the width holds K labels), anything else ``one_hot_concat`` (no feature overwritten)."""
    c, h, w = shape
    if kind == "image" and c == 1 and num_classes <= h * w:
        return "first_pixels"
    if kind == "image" and c > 1 and num_classes <= w:
        return "first_row_all_channels"
    return "one_hot_concat"


@dataclass
class UserData:
    """A user's dataset, raw (see module docstring)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    kind: Kind
    source: str
    checksum: str
    split: str = "given"

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of images; ``(1, 1, D)`` of tables."""
        s = self.x_train.shape[1:]
        return (1, 1, int(s[0])) if len(s) == 1 else (int(s[0]), int(s[1]), int(s[2]))

    @property
    def dim(self) -> int:
        c, h, w = self.shape
        return c * h * w

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def embedding(self) -> str:
        return suggest_embedding(self.kind, self.shape, self.num_classes)

    def tensors(self, normalization: str = "paper") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scaled float32 ``(N, D)`` train / test features and int64 labels (module docstring)."""
        if normalization not in ("paper", "proper", "unit"):
            raise UserInputError(f"unknown normalization {normalization!r} (use paper, proper or unit)")
        tr, te = self.x_train, self.x_test
        if self.kind == "image":
            axes = (0, 2, 3)
            if tr.dtype == np.uint8:
                tr, te = tr.astype(np.float32) / 255.0, te.astype(np.float32) / 255.0
            elif normalization == "unit":
                lo, hi = float(tr.min()), float(tr.max())
                tr, te = (tr - lo) / max(hi - lo, 1e-12), (te - lo) / max(hi - lo, 1e-12)
            if normalization != "unit":
                mean = tr.mean(axis=axes, keepdims=True, dtype=np.float64)
                std = np.maximum(tr.std(axis=axes, keepdims=True, dtype=np.float64), 1e-8)
                tr, te = (tr - mean) / std, (te - mean) / std
        else:
            if normalization == "unit":
                lo, hi = tr.min(axis=0), tr.max(axis=0)
                span = np.where(hi - lo > 0, hi - lo, 1.0)
                tr, te = (tr - lo) / span, (te - lo) / span
            else:
                mean, std = tr.mean(axis=0), tr.std(axis=0)
                std = np.where(std > 0, std, 1.0)
                tr, te = (tr - mean) / std, (te - mean) / std

        def flat(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a.reshape(len(a), -1), dtype=np.float32))

        return flat(tr), torch.from_numpy(self.y_train), flat(te), torch.from_numpy(self.y_test)


def stratified_split(y: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: per class ``max(1, round(fraction·n_c))`` test samples, seeded.

    Raises:
        DataError: a class with fewer than two samples (it cannot be in both splits).
    """
    if not 0.0 < fraction < 1.0:
        raise UserInputError(f"test fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng([seed, 0x5EED])
    tr, te = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if idx.size < 2:
            raise DataError(f"class {c.item()!r} has {idx.size} sample: a stratified split needs at least 2 per class")
        idx = rng.permutation(idx)
        k = min(max(1, round(fraction * idx.size)), idx.size - 1)
        te.append(idx[:k])
        tr.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))


def _sort_key(s: str) -> tuple[int, float, str]:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def _encode(y_tr: np.ndarray, y_te: np.ndarray, classes: Sequence[str] | None, source: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Map labels to 0..K−1 and check both splits hold every class."""
    if classes is not None and np.issubdtype(y_tr.dtype, np.integer):
        names, y_tr, y_te = tuple(str(c) for c in classes), y_tr.astype(np.int64), y_te.astype(np.int64)
        k = len(names)
        for a in (y_tr, y_te):
            if a.size and (a.min() < 0 or a.max() >= k):
                raise DataError(f"{source}: labels outside 0..{k - 1} (there are {k} class names)")
    else:
        s_tr, s_te = np.asarray(y_tr).astype(str), np.asarray(y_te).astype(str)
        names = tuple(sorted(set(s_tr.tolist()), key=_sort_key))
        index = {c: i for i, c in enumerate(names)}
        extra = sorted(set(s_te.tolist()) - set(index), key=_sort_key)
        if extra:
            raise DataError(f"{source}: test labels {', '.join(extra[:5])} never occur in the training split")
        y_tr = np.array([index[c] for c in s_tr.tolist()], dtype=np.int64)
        y_te = np.array([index[c] for c in s_te.tolist()], dtype=np.int64)
    if y_tr.size == 0 or y_te.size == 0:
        raise DataError(f"{source}: the {'training' if y_tr.size == 0 else 'test'} split is empty")
    present = np.unique(y_tr)
    if present.size < 2:
        raise DataError(f"{source}: a single class ({names[int(present[0])]!r}); classification needs at least two")
    for split, a in (("training", y_tr), ("test", y_te)):
        missing = sorted(set(range(len(names))) - set(np.unique(a).tolist()))
        if missing:
            raise DataError(f"{source}: class(es) {', '.join(repr(names[m]) for m in missing[:5])} absent from the {split} split")
    return y_tr, y_te, names


def _check_finite(x: np.ndarray, source: str) -> None:
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0]
        raise DataError(f"{source}: {int((~np.isfinite(x)).sum())} NaN/inf feature value(s), the first in row {bad[0]}, feature {bad[1]}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
        raise DataError(f"{source}: features must be numeric, got dtype {x.dtype}")


def _as_images(x: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` → ``(N, 1, H, W)``; channels-last ``(N, H, W, C)`` → ``(N, C, H, W)``."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.ndim == 4:
        return x
    raise DataError(f"features must be (N, D), (N, H, W) or (N, C, H, W) arrays, got shape {x.shape}")


def from_arrays(
    x: Any,
    y: Any,
    x_test: Any = None,
    y_test: Any = None,
    classes: Sequence[str] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    source: str = "arrays",
    checksum: str = "",
) -> UserData:
    """A :class:`UserData` from arrays (NumPy or torch). ``(N, D)`` is tabular, more dims are images.

    Args:
        x, y: features ``(N, ...)`` and labels ``(N,)`` (any type; integers index ``classes``).
        x_test, y_test: test split; None = a stratified split of ``x`` by ``test_fraction``.
        classes: class names in label order (optional).
    """
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
    y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{source}: labels must be (N,) with N = {len(x)} rows, got shape {y.shape}")
    split = "given"
    if x_test is None:
        tr, te = stratified_split(y.astype(str) if y.dtype.kind in "OUS" else y, test_fraction, seed)
        x, y, x_test, y_test = x[tr], y[tr], x[te], y[te]
        split = f"stratified (test_fraction={test_fraction:g}, seed={seed})"
    else:
        x_test = np.asarray(x_test.detach().cpu() if isinstance(x_test, torch.Tensor) else x_test)
        y_test = np.asarray(y_test.detach().cpu() if isinstance(y_test, torch.Tensor) else y_test)
        if x_test.shape[1:] != x.shape[1:] or len(x_test) != len(y_test):
            raise DataError(f"{source}: test features {x_test.shape} / labels {y_test.shape} do not match train {x.shape}")
    for a in (x, x_test):
        _check_finite(a, source)
    kind: Kind = "tabular" if x.ndim == 2 else "image"
    if kind == "image":
        x, x_test = _as_images(x), _as_images(x_test)
    elif x.dtype != np.float64:
        x, x_test = x.astype(np.float64), x_test.astype(np.float64)
    y_tr, y_te, names = _encode(y, y_test, classes, source)
    if not checksum:
        h = hashlib.sha256()
        for a in (x, y_tr, x_test, y_te):
            h.update(np.ascontiguousarray(a).tobytes())
        checksum = h.hexdigest()
    return UserData(x, y_tr, x_test, y_te, names, kind, source, checksum, split)


def from_dataset(train: Any, test: Any = None, classes: Sequence[str] | None = None, test_fraction: float = 0.2, seed: int = 0) -> UserData:
    """A :class:`UserData` from map-style ``torch.utils.data.Dataset`` objects yielding ``(x, y)``.

    ``classes`` defaults to the dataset's ``classes`` attribute when it has one.
    """

    def stack(ds: Any) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for i in range(len(ds)):
            xi, yi = ds[i]
            xs.append(np.asarray(xi.detach().cpu() if isinstance(xi, torch.Tensor) else xi))
            ys.append(int(yi) if not isinstance(yi, str) else yi)
        if not xs:
            raise DataError("the dataset is empty")
        return np.stack(xs), np.asarray(ys)

    names = classes if classes is not None else getattr(train, "classes", None)
    x, y = stack(train)
    xt, yt = stack(test) if test is not None else (None, None)
    return from_arrays(x, y, xt, yt, names, test_fraction, seed, source=type(train).__name__)


def load_user_data(
    path: str | Path,
    label_column: str = "",
    test_fraction: float = 0.2,
    seed: int = 0,
    dtype: str = "float32",
    max_bytes: int | None = None,
) -> UserData:
    """Load an image folder / tarball, ``.npz`` or CSV / TSV file (module docstring).

    Args:
        path: the folder or file.
        label_column: CSV / TSV label column (name or index; "" = automatic).
        test_fraction, seed: the stratified split used when the data has no test split.
        dtype: the dtype the data will be held in (for the memory guard).
        max_bytes: memory limit of the guard (default: 80 % of the available memory).

    Raises:
        DataError / UserInputError: every bad input listed in the module docstring.
    """
    from implicitbias.data.imagefolder import read_image_folder
    from implicitbias.data.tabular import read_csv, read_npz

    p = Path(path)
    if not p.exists():
        raise UserInputError(f"{p}: no such file or folder")

    def guard(n: int, per: int) -> None:
        check_memory(n, per, dtype, str(p), max_bytes)

    suffix = p.suffix.lower()
    if suffix == ".npz":
        z = read_npz(p, guard)
        names = [str(c) for c in z["classes"]] if "classes" in z else None
        cs = _file_sha256(p)
        if "x_train" in z:
            return from_arrays(z["x_train"], z["y_train"], z["x_test"], z["y_test"], names, source=str(p), checksum=cs)
        if "split" in z:
            s = z["split"]
            test = np.isin(s.astype(str), ("1", "True", "test")) if s.dtype.kind in "US" else s.astype(bool)
            if len(s) != len(z["x"]):
                raise DataError(f"{p}: split has {len(s)} entries for {len(z['x'])} rows")
            return from_arrays(z["x"][~test], z["y"][~test], z["x"][test], z["y"][test], names, source=str(p), checksum=cs)
        return from_arrays(z["x"], z["y"], None, None, names, test_fraction, seed, str(p), cs)
    if suffix in (".csv", ".tsv", ".tab", ".txt"):
        x, y, _ = read_csv(p, label_column, guard)
        return from_arrays(x, y, None, None, None, test_fraction, seed, str(p), _file_sha256(p))
    if label_column:
        raise UserInputError("--label-column applies to CSV / TSV files only")
    splits, classes, cs = read_image_folder(p, guard)
    idx = {c: i for i, c in enumerate(classes)}
    x, names_tr = splits["train"]
    y = np.array([idx[c] for c in names_tr], dtype=np.int64)
    if "test" in splits:
        xt, names_te = splits["test"]
        yt = np.array([idx[c] for c in names_te], dtype=np.int64)
        return from_arrays(x, y, xt, yt, classes, source=str(p), checksum=cs)
    return from_arrays(x, y, None, None, classes, test_fraction, seed, str(p), cs)


def _file_sha256(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
