"""The data of one FF run: a built-in dataset by name or a user's dataset (``cfg.data`` or an object).

:func:`prepare` resolves a config against its data before the run directory is chosen:
``*_AUTO`` sizes, the suggested label embedding, and for user data the dataset name
``<name>@<sha12>`` (the run directory changes when the data changes). :func:`load_run_data`
returns the scaled tensors, the input shape and the class names.

A user dataset may be given as ``cfg.data`` (a path, see :func:`implicitbias.data.userdata.load_user_data`)
or from Python as a :class:`~implicitbias.data.userdata.UserData`, an ``(x, y)`` tuple (a
stratified split is made) or a map-style ``torch.utils.data.Dataset``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from implicitbias.data import dataset_info, load_dataset
from implicitbias.data.userdata import UserData, from_arrays, from_dataset, load_user_data
from implicitbias.ff.auto import DataFacts, resolve_for_data
from implicitbias.ff.config import FFConfig

__all__ = ["RunData", "as_user_data", "user_data_of", "prepare", "load_run_data"]


@dataclass
class RunData:
    """Scaled tensors of a run: ``x`` float32 ``(N, D)``, ``y`` int64 ``(N,)``; shape ``(C, H, W)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    shape: tuple[int, int, int]
    classes: tuple[str, ...]


def as_user_data(obj: Any, test_fraction: float = 0.2) -> UserData:
    """A :class:`UserData` from a UserData, a path, an ``(x, y)`` / ``(x, y, x_test, y_test)`` tuple or a Dataset."""
    if isinstance(obj, UserData):
        return obj
    if isinstance(obj, (str, Path)):
        return load_user_data(obj, test_fraction=test_fraction)
    if isinstance(obj, tuple) and len(obj) in (2, 4):
        return from_arrays(*obj, test_fraction=test_fraction)
    if hasattr(obj, "__getitem__") and hasattr(obj, "__len__"):
        return from_dataset(obj, test_fraction=test_fraction)
    raise TypeError(f"cannot use {type(obj).__name__} as a dataset (give a path, (x, y) arrays or a torch Dataset)")


def user_data_of(cfg: FFConfig, dataset: Any = None) -> UserData | None:
    """The user dataset of a run (``dataset`` wins over ``cfg.data``), or None for a built-in one."""
    if dataset is not None:
        return as_user_data(dataset, cfg.test_fraction)
    if cfg.data:
        return load_user_data(cfg.data, cfg.label_column, cfg.test_fraction)
    return None


def prepare(cfg: FFConfig, dataset: Any = None) -> tuple[FFConfig, UserData | None]:
    """Resolve ``cfg`` against its data (module docstring); returns it and the user data if any."""
    ud = user_data_of(cfg, dataset)
    if ud is not None:
        stem = Path(ud.source).name or "data"
        facts = DataFacts(ud.dim, ud.num_classes, len(ud.y_train), ud.embedding, f"{stem}@{ud.checksum[:12]}")
    elif cfg.hparams == "auto":
        spec = dataset_info(cfg.dataset)
        n = (spec.sizes or {}).get("train", 1000)
        facts = DataFacts(spec.dim, len(spec.classes), n)
    else:
        return cfg, None
    return resolve_for_data(cfg, facts), ud


def load_run_data(cfg: FFConfig, data_dir: str | Path | None = None, user: UserData | None = None) -> RunData:
    """Scaled tensors of a resolved config (``user`` = its user dataset, from :func:`prepare`)."""
    if user is None and cfg.data:
        user = load_user_data(cfg.data, cfg.label_column, cfg.test_fraction)
    if user is not None:
        x_tr, y_tr, x_te, y_te = user.tensors(cfg.normalization)
        return RunData(x_tr, y_tr, x_te, y_te, user.shape, user.classes)
    spec = dataset_info(cfg.dataset)
    x_tr, y_tr = load_dataset(cfg.dataset, "train", data_dir, cfg.normalization)
    x_te, y_te = load_dataset(cfg.dataset, "test", data_dir, cfg.normalization)
    return RunData(x_tr, y_tr, x_te, y_te, spec.shape, tuple(spec.classes))
