"""``load_dataset``: raw uint8 images → cached → normalised float32 ``(N, D)`` tensors.

Normalisation presets (applied to pixel values ``u = byte / 255``):

* ``paper`` — Tosato et al. exactly: MNIST **and Fashion-MNIST** use the MNIST statistics
  ``(u − 0.1307) / 0.3081``; CIFAR-10 ``(u − 0.5) / 0.5`` per channel;
* ``proper`` — each dataset's own statistics (Fashion-MNIST 0.2860 / 0.3530; CIFAR-10
  (0.4914, 0.4822, 0.4465) / (0.247, 0.244, 0.262));
* ``unit`` — ``u`` in [0, 1].

Digits (values 0..16) use ``v / 16`` as ``u`` and their own train-set mean/std for both
``paper`` and ``proper``; MNIST-1D (real-valued) is standardised by its train-set statistics.
Decoded images are cached as uint8 ``.npz`` (no pickle) in the user cache, keyed by the sha256
of the source files.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from implicitbias.data.registry import (
    KNOWN_SHA256,
    SPECS,
    Source,
    cache_root,
    find_source,
    sha256_file,
)
from implicitbias.errors import DataError, UserInputError
from implicitbias.runs.atomic import atomic_write_bytes

__all__ = ["load_dataset", "load_raw", "NORMALIZATION", "checksum_status", "normalize"]

log = logging.getLogger(__name__)
Split = Literal["train", "test"]
Norm = Literal["paper", "proper", "unit"]
_CACHE_VERSION = "1"

#: (mean, std) per channel for u in [0, 1], by dataset and preset.
NORMALIZATION: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    "mnist": {"paper": ((0.1307,), (0.3081,)), "proper": ((0.1307,), (0.3081,))},
    "fashion-mnist": {"paper": ((0.1307,), (0.3081,)), "proper": ((0.2860,), (0.3530,))},
    "cifar10": {
        "paper": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        "proper": ((0.4914, 0.4822, 0.4465), (0.247, 0.244, 0.262)),
    },
}


def checksum_status(name: str, src: Source) -> tuple[str, dict[str, str]]:
    """``("ok"|"unknown"|"mismatch", {file: sha256})`` of a source's files."""
    shas, status = {}, "ok"
    key_name = "cifar10" if name == "cifar10" else name
    for p in src.paths:
        if not p.exists():
            status = "incomplete"
            continue
        if p.is_dir():
            status = "unknown" if status == "ok" else status
            continue
        sha = sha256_file(p)
        shas[p.name] = sha
        known = KNOWN_SHA256.get(f"{key_name}/{p.name}")
        if known is None:
            status = "unknown" if status == "ok" else status
        elif known != sha:
            status = "mismatch"
    return status, shas


def _decode(name: str, src: Source, split: str) -> tuple[np.ndarray, np.ndarray]:
    from implicitbias.data.cifar_batches import read_cifar_batches
    from implicitbias.data.idx import read_idx
    from implicitbias.data.images import read_image_tree

    if src.kind == "idx":
        img_f, lab_f = (src.root / f for f in _idx_files(split))
        x, y = read_idx(img_f), read_idx(lab_f)
        for f, arr in ((img_f, x), (lab_f, y)):
            if arr.dtype != np.uint8:
                raise DataError(f"{f}: IDX type is {arr.dtype}, expected unsigned bytes (type code 0x08)")
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{img_f}: images {x.shape} and labels {y.shape} do not match")
        return x[:, None, :, :], y.astype(np.int64)
    if src.kind in ("tar", "tree"):
        x, y, _ = read_image_tree(src.paths[0], split)
    else:
        x, y = read_cifar_batches(src.root, split)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y


def _idx_files(split: str) -> tuple[str, str]:
    from implicitbias.data.registry import IDX_FILES

    return IDX_FILES[split]


def _cached(name: str, src: Source, split: str, shas: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    key = "|".join([_CACHE_VERSION, name, src.kind, split] + [f"{k}:{v}" for k, v in sorted(shas.items())])
    import hashlib

    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    f = cache_root() / "datasets" / f"{name}-{split}-{digest}.npz"
    if f.exists():
        try:
            with np.load(f, allow_pickle=False) as z:
                return z["x"], z["y"]
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring unreadable cache %s (%s)", f, e)
    x, y = _decode(name, src, split)
    buf = io.BytesIO()
    np.savez(buf, x=x.astype(np.uint8), y=y.astype(np.int64))
    try:
        atomic_write_bytes(f, buf.getvalue())
    except OSError as e:  # a read-only cache is not fatal
        log.warning("cannot write dataset cache %s (%s)", f, e)
    return x, y


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.asarray(d.images, dtype=np.float32).reshape(-1, 1, 8, 8)
    y = np.asarray(d.target, dtype=np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    n_train = SPECS["digits"].sizes["train"]  # type: ignore[index]
    idx = perm[:n_train] if split == "train" else perm[n_train:]
    return x[idx], y[idx]


def _mnist1d(split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset  # type: ignore[import-not-found]
    except ImportError:
        raise DataError("mnist1d needs the optional package: pip install mnist1d") from None
    d = make_dataset(get_dataset_args())  # generated locally; never downloads
    x = np.asarray(d["x"] if split == "train" else d["x_test"], dtype=np.float32)
    y = np.asarray(d["y"] if split == "train" else d["y_test"], dtype=np.int64)
    return x.reshape(len(x), 1, 1, -1), y


def load_raw(
    name: str, split: Split = "train", data_dir: str | Path | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Un-normalised images ``(N, C, H, W)`` (uint8, digits/MNIST-1D float32) and labels ``(N,)``.

    Raises:
        UserInputError: unknown dataset or split.
        DataError: files absent, corrupt, of the wrong size, or failing a known checksum.
    """
    if name not in SPECS:
        raise UserInputError(f"unknown dataset {name!r} (known: {', '.join(SPECS)})")
    if split not in ("train", "test"):
        raise UserInputError(f"unknown split {split!r} (use train or test)")
    spec = SPECS[name]
    if name == "digits":
        return _digits(split)
    if name == "mnist1d":
        return _mnist1d(split)
    src = find_source(name, data_dir)
    if src is None:
        raise DataError(
            f"dataset {name!r} not found: looked in --data-dir, $IMPLICITBIAS_DATA, ../shared/data "
            f"and {cache_root() / 'data'} for one of the folders {', '.join(spec.folders)}"
        )
    status, shas = checksum_status(name, src)
    if verify and status == "mismatch":
        bad = [p for p, s in shas.items() if KNOWN_SHA256.get(f"{name}/{p}") not in (None, s)]
        raise DataError(
            f"checksum mismatch for {', '.join(bad)} in {src.root}: the file is corrupt or a "
            "different copy (compare with ../shared/README.md; verify=False accepts it)"
        )
    x, y = _cached(name, src, split, shas)
    expected = (spec.sizes or {}).get(split)
    if x.shape[1:] != spec.shape or (expected is not None and len(x) != expected and verify):
        raise DataError(f"{name}/{split} in {src.root}: got {x.shape}, expected ({expected}, *{spec.shape})")
    if y.min() < 0 or y.max() >= len(spec.classes):
        raise DataError(f"{name}/{split} in {src.root}: labels outside 0..{len(spec.classes) - 1}")
    return x, y


def normalize(name: str, x: np.ndarray, normalization: Norm, train_stats: np.ndarray | None = None) -> torch.Tensor:
    """Normalise raw images ``(N, C, H, W)`` and flatten to float32 ``(N, C·H·W)``."""
    if normalization not in ("paper", "proper", "unit"):
        raise UserInputError(f"unknown normalization {normalization!r} (use paper, proper or unit)")
    n, c = x.shape[0], x.shape[1]
    t = torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32)
    if name in NORMALIZATION:
        t = t.div_(255.0)
        if normalization != "unit":  # in place: no extra copies of a 60k-image tensor
            mean, std = NORMALIZATION[name][normalization]
            t.sub_(torch.tensor(mean).view(1, c, 1, 1)).div_(torch.tensor(std).view(1, c, 1, 1))
        return t.reshape(n, -1).contiguous()
    ref = torch.from_numpy(train_stats if train_stats is not None else x).to(torch.float32)
    if normalization == "unit":
        lo, hi = float(ref.min()), float(ref.max())
        return ((t - lo) / max(hi - lo, 1e-12)).reshape(n, -1).contiguous()
    mean, std = float(ref.mean()), float(ref.std())
    return ((t - mean) / max(std, 1e-12)).reshape(n, -1).contiguous()


def load_dataset(
    name: str,
    split: Split = "train",
    data_dir: str | Path | None = None,
    normalization: Norm = "paper",
    verify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset split as flattened, normalised tensors.

    Args:
        name: ``mnist``, ``fashion-mnist``, ``cifar10``, ``digits`` or ``mnist1d``.
        split: ``train`` or ``test``.
        data_dir: explicit data root, searched before the defaults (see ``registry``).
        normalization: ``paper``, ``proper`` or ``unit`` (module docstring).
        verify: check known sha256 checksums and expected sizes.

    Returns:
        ``x`` float32 ``(N, D)`` (CIFAR: channel-major ``3·32·32``), ``y`` int64 ``(N,)``.

    Raises:
        DataError: files absent, corrupt or failing their checksum.
    """
    x, y = load_raw(name, split, data_dir, verify)
    ref = None
    if name not in NORMALIZATION:
        ref = x if split == "train" else load_raw(name, "train", data_dir, verify)[0]
    return normalize(name, x, normalization, ref), torch.from_numpy(np.ascontiguousarray(y)).to(torch.int64)
