"""Worked example: sparse, category-specific ensembles in *your* network (a CNN in plain PyTorch).

1. Trains a small CNN on Fashion-MNIST with plain PyTorch (cross-entropy, Adam, 2 epochs):
   ``stage1`` = conv 3×3 (16) → ReLU → max-pool, ``stage2`` = conv 3×3 (32) → ReLU → max-pool,
   ``fc`` = linear (128) → ReLU, then a linear head.
2. Captures the post-ReLU activations of ``stage1``, ``stage2`` and ``fc`` on the test set with
   :func:`implicitbias.analysis.capture` (forward hooks; conv maps averaged over positions, or
   ``--conv flatten`` to keep every position), float16.
3. Writes them as an activations file and prints the sparsity / ensemble table of ``ff analyze``
   (Hoyer, active fraction, dead units, ensemble sizes, TwoNN ID).  ``implicitbias analyze FILE``
   then adds ``FILE.analysis.json`` and the same figures as for FF runs.

Data: Fashion-MNIST from the usual lookup (``--data-dir``, ``$IMPLICITBIAS_DATA``,
``../shared/data``, the user cache). Run: ``python examples/analyze_your_model.py`` (a few
minutes on a CPU; ``--train-samples 10000`` for a quicker run).
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from implicitbias.analysis import capture
from implicitbias.analysis.activations_file import (
    analyze_activations,
    format_table,
    save_activations,
    summary_rows,
)
from implicitbias.analysis.ff_run import AnalysisOptions
from implicitbias.data import dataset_info, load_dataset


def make_cnn() -> nn.Module:
    """The small CNN of the module docstring (1×28×28 → 10 logits)."""
    return nn.Sequential(OrderedDict(
        stage1=nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        stage2=nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        flat=nn.Flatten(),
        fc=nn.Sequential(nn.Linear(32 * 7 * 7, 128), nn.ReLU()),
        head=nn.Linear(128, 10),
    ))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-samples", type=int, default=60000)
    ap.add_argument("--conv", choices=("pool", "flatten"), default="pool")
    ap.add_argument("--out", default="runs/cnn_fmnist.safetensors")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    x, y = load_dataset("fashion-mnist", "train", args.data_dir, "proper")
    x_te, y_te = load_dataset("fashion-mnist", "test", args.data_dir, "proper")
    x, y = x[: args.train_samples].view(-1, 1, 28, 28), y[: args.train_samples]
    x_te = x_te.view(-1, 1, 28, 28)
    model = make_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(y))
        for s in range(0, len(y), 128):
            idx = perm[s : s + 128]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}/{args.epochs}: last loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)")

    names = list(dataset_info("fashion-mnist").classes)
    cap = capture(model, (x_te, y_te), layers=["stage1", "stage2", "fc"], batch_size=1000,
                  dtype=torch.float16, conv=args.conv, class_names=names)
    print(f"test accuracy {(cap.pred == cap.labels).mean():.4f}; captured "
          + ", ".join(f"{k} {tuple(v.shape)}" for k, v in cap.layers.items()))
    out = save_activations(Path(args.out), cap, description=f"small CNN on Fashion-MNIST, conv={args.conv}")
    res = analyze_activations(cap, AnalysisOptions(n_id=2000, stat_test=False))
    print(format_table(summary_rows(res, "cnn")))
    for note in res["notes"]:
        print(f"note: {note}")
    print(f"wrote {out}; figures and analysis.json: implicitbias analyze {out}")


if __name__ == "__main__":
    main()
