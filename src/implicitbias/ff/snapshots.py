"""Snapshots along training: the weights at chosen epochs, and what they represent.

A run trained with ``snapshots=(1, 3, 10, ...)`` writes, when an epoch count ``s`` in that list
is reached, the weights trained so far to ``snapshots/epoch_{s:05d}/weights_phase{p}.safetensors``:

* greedy FF (``epochs`` per layer, one phase per layer): phase ``p`` stores only layer ``p``'s
  parameters (``layers.{p}.weight``, ``layers.{p}.bias``) after ``s`` of its own epochs. The
  snapshot network at ``s`` is every layer ``l`` after ``s`` epochs of its own training, *fed by
  the fully trained layers below it* (those are what layer ``l`` was trained on). Layer 1 at ``s``
  is therefore exactly layer 1 of a run trained ``s`` epochs per layer (the epoch streams and a
  constant learning rate do not depend on the total); higher layers are not.
* BP/FF and BP (one phase): the whole network after ``s`` epochs (with the softmax probe,
  ``pred.*``, of the runs that train one).

Snapshot epochs above the run's ``epochs`` are dropped; the final epoch is the run itself. The
weights are written before the epoch's checkpoint, so a resumed run rewrites at most the
snapshot of the epoch it repeats. :func:`materialize` (later, from the weights) writes each
snapshot's ``representations.safetensors`` and ``summary.json`` in the run's own format, so the
analysis of a run applies unchanged to ``<run>/snapshots/epoch_XXXXX``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from implicitbias.errors import UserInputError
from implicitbias.runs.atomic import save_tensors

__all__ = ["parse_snapshots", "clip_snapshots", "snapshot_path", "save_snapshot_weights", "SNAPSHOT_DIR"]

SNAPSHOT_DIR = "snapshots"


def parse_snapshots(spec: str | Iterable[int] | None) -> tuple[int, ...]:
    """``"1,3,10"`` or ``[1, 3, 10]`` -> sorted unique positive epoch counts; bad input -> UserInputError."""
    if spec is None or spec == "":
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: set[int] = set()
    for it in items:
        try:
            v = int(str(it).strip())
        except ValueError:
            raise UserInputError(f"--snapshots takes comma-separated epoch counts, got {it!r}") from None
        if v < 1:
            raise UserInputError(f"snapshot epochs must be >= 1, got {v}")
        out.add(v)
    return tuple(sorted(out))


def clip_snapshots(snapshots: Iterable[int], epochs: int) -> tuple[int, ...]:
    """The snapshot epochs a run of ``epochs`` (per phase) reaches: ``s <= epochs``."""
    return tuple(s for s in sorted(set(snapshots)) if 1 <= s <= epochs)


def snapshot_path(run_path: str | Path, epoch: int) -> Path:
    """``<run>/snapshots/epoch_{epoch:05d}``."""
    return Path(run_path) / SNAPSHOT_DIR / f"epoch_{int(epoch):05d}"


def save_snapshot_weights(run_path: str | Path, net: torch.nn.Module, phase: int, epoch: int, layerwise: bool,
                          predictor: torch.nn.Module | None = None) -> Path:
    """Write the weights of ``phase`` after ``epoch`` epochs (module docstring); returns the file.

    ``predictor``: the jointly trained softmax probe's linear layer (runs scored by it, or by
    hard negatives), stored as ``pred.weight`` / ``pred.bias`` with a whole-network snapshot.
    """
    d = snapshot_path(run_path, epoch)
    d.mkdir(parents=True, exist_ok=True)
    state = dict(net.state_dict())
    if layerwise:
        state = {k: v for k, v in state.items() if k.startswith(f"layers.{phase}.")}
    elif predictor is not None:
        state.update({f"pred.{k}": v for k, v in predictor.state_dict().items()})
    f = d / f"weights_phase{phase}.safetensors"
    save_tensors(f, {k: v.detach().clone() for k, v in state.items()})
    return f


def snapshot_epochs(run_path: str | Path) -> tuple[int, ...]:
    """Epochs with stored snapshot weights in a run directory (sorted)."""
    d = Path(run_path) / SNAPSHOT_DIR
    if not d.is_dir():
        return ()
    return tuple(sorted(int(p.name[6:]) for p in d.glob("epoch_*") if p.name[6:].isdigit() and any(p.glob("weights_phase*.safetensors"))))


def is_materialized(snap: Path) -> bool:
    """The snapshot folder holds its representations and summary."""
    return (snap / "representations.safetensors").exists() and (snap / "summary.json").exists()
