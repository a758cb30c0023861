"""Data-sized settings: the ``*_AUTO`` presets and the label embedding chosen from the data.

The ``*_AUTO`` presets keep Tosato et al.'s conventions (‖h‖₂ goodness, θ = 3, L2 layer norm,
Adam, softmax-sum evaluation) except the negatives: a new wrong label for every image in every
batch (``resample``) instead of one fixed wrong label per image, which on a few thousand images
leaves too few negative pairs (rendered letters A–J, 1200 images: FF 0.60 fixed vs 0.85
resampled, docs/your-data.md).

:func:`auto_hparams` sizes a run from the input dimension D, the number of classes K and the
number of training samples N (every rule a clipped power law, chosen once and checked on
several datasets, docs/your-data.md):

* widths: two hidden layers (three when N ≥ 20 000) of ``clip(64·⌈4·max(D, 8K)/64⌉, 128, 1000)``
  units — a few times the input, at least 128, at most the paper's 1000;
* batch: ``clip(2^⌊log2(N/10)⌋, 32, 1024)`` (about ten steps per epoch on small sets);
* epochs: enough for about ``S`` samples seen per layer (FF: 60 000 per layer, BP/FF and BP:
  40 000), ``clip(⌈S/N⌉, 5, 300)``; FF epochs are per layer;
* learning rate (Adam): FF 0.01 (Tosato's FF value) from N = 1000 on and 3e-3 below (the
  batches are smaller there, so a layer takes about four times more steps; at 0.01 the second
  layer over-fits the FF objective), BP/FF and BP 3e-3.

:func:`resolve_for_data` fills the ``None`` / empty fields of an ``*_AUTO`` config from
:class:`DataFacts`, resolves ``embed="auto"`` of a user dataset to its suggested embedding and
names the dataset ``<name>@<sha12>`` so that the run directory changes with the data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from implicitbias.ff.config import FFConfig

__all__ = ["DataFacts", "auto_hparams", "resolve_for_data"]


@dataclass(frozen=True)
class DataFacts:
    """What the sizing rules need to know about a dataset.

    Attributes:
        dim: input dimension D; num_classes: K; n_train: training samples N.
        embedding: the embedding a user dataset suggests ("" for built-in datasets: keep ``auto``).
        name: the dataset's name in the resolved config (``<name>@<sha12>`` for user data).
    """

    dim: int
    num_classes: int
    n_train: int
    embedding: str = ""
    name: str = ""


def _clip(v: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, v)))


def auto_hparams(algo: str, dim: int, num_classes: int, n_train: int) -> dict[str, object]:
    """``{"hidden", "epochs", "lr", "batch_size"}`` for ``algo`` on data of the given size."""
    width = _clip(64 * math.ceil(4 * max(dim, 8 * num_classes) / 64), 128, 1000)
    depth = 3 if n_train >= 20000 else 2
    batch = _clip(2 ** math.floor(math.log2(max(n_train / 10, 1))), 32, 1024)
    ff = algo in ("ff", "ff-simultaneous")
    samples = 60000 if ff else 40000
    epochs = _clip(math.ceil(samples / max(n_train, 1)), 5, 300)
    lr = 0.01 if ff and n_train >= 1000 else 3e-3
    return {"hidden": (width,) * depth, "epochs": epochs, "lr": lr, "batch_size": batch}


def resolve_for_data(cfg: FFConfig, facts: DataFacts) -> FFConfig:
    """Fill an ``*_AUTO`` config (``hparams="auto"``) and the data-dependent fields from ``facts``."""
    changes: dict[str, object] = {}
    if facts.name:
        changes["dataset"] = facts.name
    if cfg.embed == "auto" and facts.embedding:
        changes["embed"] = facts.embedding
    if cfg.hparams == "auto":
        auto = auto_hparams(cfg.algo, facts.dim, facts.num_classes, facts.n_train)
        if not cfg.hidden:
            changes["hidden"] = auto["hidden"]
        for key in ("epochs", "lr", "batch_size"):
            if getattr(cfg, key) is None:
                changes[key] = auto[key]
    return dataclasses.replace(cfg, **changes) if changes else cfg  # type: ignore[arg-type]
