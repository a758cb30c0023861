"""Offline datasets: MNIST, Fashion-MNIST (gzipped IDX), CIFAR-10 (JPEG tarball, image tree or
python batches), scikit-learn digits and MNIST-1D.

>>> x, y = load_dataset("digits", split="train", normalization="unit")  # doctest: +SKIP

``x`` is float32 ``(N, D)`` (flattened, CIFAR channel-major), ``y`` int64 ``(N,)``; both are
torch tensors. See :mod:`implicitbias.data.loaders` for normalisation presets and
:mod:`implicitbias.data.registry` for the search order of data folders.
"""

from implicitbias.data.loaders import (
    NORMALIZATION,
    checksum_status,
    load_dataset,
    load_raw,
    normalize,
)
from implicitbias.data.registry import SPECS, DatasetSpec, cache_root, find_source, resolve_data_dir

__all__ = [
    "load_dataset",
    "load_raw",
    "normalize",
    "resolve_data_dir",
    "find_source",
    "cache_root",
    "checksum_status",
    "dataset_info",
    "list_datasets",
    "SPECS",
    "DatasetSpec",
    "NORMALIZATION",
]


def dataset_info(name: str) -> DatasetSpec:
    """Static facts (shape ``(C, H, W)``, class names, sizes) of a registered dataset."""
    from implicitbias.errors import UserInputError

    if name not in SPECS:
        raise UserInputError(f"unknown dataset {name!r} (known: {', '.join(SPECS)})")
    return SPECS[name]


def list_datasets(data_dir: str | None = None) -> list[dict]:
    """One row per dataset: ``name, found, location, shape, checksum`` (for ``data list``);
    ``problem`` is set for a dataset whose folder is incomplete."""
    rows = []
    for name, spec in SPECS.items():
        row = {"name": name, "shape": "x".join(map(str, spec.shape)), "note": spec.note}
        if spec.bundled:
            avail = True
            if name == "mnist1d":
                import importlib.util

                avail = importlib.util.find_spec("mnist1d") is not None
            row.update(found=avail, location="generated" if avail else "pip install mnist1d", checksum="n/a")
        else:
            src = find_source(name, data_dir)
            if src is None:
                row.update(found=False, location="missing", checksum="-")
            else:
                status, _ = checksum_status(name, src)
                row.update(found=True, location=str(src.paths[0] if src.kind == "tar" else src.root), checksum=status)
                missing = [p.name for p in src.paths if not p.exists()]
                if missing:
                    row.update(found=False, problem=f"{name} in {src.root} is incomplete: missing {', '.join(missing)}")
        rows.append(row)
    return rows
