"""Building a run's trainer and writing its test-set representations (shared by training and snapshots).

``representations.safetensors`` — test set: ``labels``, ``pred``, ``wrong_labels`` (N,) int64;
``layer{l}.true|neutral|wrong`` (N, H_l) float16 post-ReLU activities (l = 1..L) under the
true / neutral / one wrong label (the wrong labels drawn from the run's stream
``"test-wrong-labels"``); FF also ``goodness`` (N, K, L) float32. BP networks see no label, so
BP stores ``layer{l}.true`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from implicitbias.ff.config import FFConfig
from implicitbias.ff.evaluate import layer_activations
from implicitbias.ff.rundata import RunData, load_run_data
from implicitbias.ff.trainer import Callback, Trainer
from implicitbias.runs import RunDir

__all__ = ["build_trainer", "save_representations", "wrong_test_labels", "label_conditions"]


def build_trainer(
    cfg: FFConfig,
    device: torch.device,
    data_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    data: RunData | None = None,
) -> tuple[Trainer, torch.Tensor, torch.Tensor]:
    """Build the :class:`Trainer` of a resolved config and its test tensors (``data``: already loaded)."""
    d = data if data is not None else load_run_data(cfg, data_dir)
    tr = Trainer(cfg, d.x_train.to(device), d.y_train.to(device), d.shape, len(d.classes), device, callbacks=callbacks)
    return tr, d.x_test.to(device), d.y_test.to(device)



def wrong_test_labels(tr: Trainer, y: torch.Tensor) -> torch.Tensor:
    """One wrong label per test image ``(N,)``, from the run's stream ``"test-wrong-labels"``
    (the same labels for the run and each of its snapshots)."""
    g = tr.gen("test-wrong-labels")
    return (y + torch.randint(1, tr.K, y.shape, generator=g, device=y.device)) % tr.K


def label_conditions(tr: Trainer, x: torch.Tensor, y: torch.Tensor, wrong: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """The embedded inputs of the ``true`` / ``neutral`` / ``wrong`` label conditions, built on call
    (one condition in memory at a time)."""
    return {"true": lambda: tr.emb.embed(x, y), "neutral": lambda: tr.emb.neutral(x), "wrong": lambda: tr.emb.embed(x, wrong)}


@torch.inference_mode()
def save_representations(tr: Trainer, run: RunDir, x: torch.Tensor, y: torch.Tensor, res: dict[str, Any]) -> None:
    """Write ``representations.safetensors`` (see module docstring)."""
    wrong = wrong_test_labels(tr, y)
    out: dict[str, torch.Tensor] = {"labels": y, "pred": res["pred"], "wrong_labels": wrong}
    if tr.bp:
        for li, h in enumerate(layer_activations(tr.net, x, dtype=torch.float16)):
            out[f"layer{li + 1}.true"] = h
    else:
        for name, make in label_conditions(tr, x, y, wrong).items():  # float16 chunk by chunk
            for li, h in enumerate(layer_activations(tr.net, make(), dtype=torch.float16)):
                out[f"layer{li + 1}.{name}"] = h
        if "goodness" in res:  # label-scored runs (not unsupervised hybrid ones)
            out["goodness"] = res["goodness"].float()
    run.save_arrays(out, "representations")
