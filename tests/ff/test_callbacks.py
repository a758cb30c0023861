"""Trainer callbacks: called after every optimizer step with the global step and the model."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from implicitbias.data import load_dataset
from implicitbias.ff import get_preset, resolve_config, train_run
from implicitbias.runs import read_metrics
from implicitbias.runs.atomic import load_tensors


class _Kill(Exception):
    pass


@pytest.mark.parametrize("algo,layers", [("ff", 2), ("ff-simultaneous", 1), ("bp", 1)])
def test_callbacks_every_step_and_logged(tmp_path, algo, layers):
    cfg = resolve_config(dataclasses.replace(get_preset("DIGITS_quick"), algo=algo, hidden=(32, 16), epochs=2))
    n = int(load_dataset("digits", "train")[0].shape[0])
    per_epoch = math.ceil(n / int(cfg.batch_size))
    seen: list[int] = []
    snaps: list[torch.Tensor] = []

    def cb(step: int, model: torch.nn.Module):
        seen.append(step)
        snaps.append(model.layers[-1].weight.detach().clone())
        return {"w_sum": float(model.layers[-1].weight.detach().sum())} if step % 3 == 0 else None

    run = train_run(cfg, out_root=tmp_path, device="cpu", callbacks=[cb])
    total = layers * 2 * per_epoch
    assert seen == list(range(1, total + 1))
    # the model passed is the live network: the last snapshot is the saved final weights
    final = load_tensors(run.path / "model.safetensors")
    assert torch.equal(snaps[-1], final[f"layers.{len(cfg.hidden) - 1}.weight"])
    assert not torch.equal(snaps[-1], snaps[-2])  # weights change between calls
    rows = [r for r in run.metrics() if r.get("kind") == "callback"]
    assert [r["step"] for r in rows] == [s for s in seen if s % 3 == 0]
    assert rows[-1]["w_sum"] == pytest.approx(float(snaps[rows[-1]["step"] - 1].sum()), rel=1e-6)
    epochs = [r for r in run.metrics() if "epoch" in r]
    assert len(epochs) == layers * 2


def test_callbacks_resume_continue_the_step_count(tmp_path):
    cfg = dataclasses.replace(get_preset("DIGITS_quick"), algo="ff", hidden=(16, 16), epochs=2)
    steps: list[int] = []

    def killer(done, total, msg):
        if done == 3:
            raise _Kill

    with pytest.raises(_Kill):
        train_run(cfg, out_root=tmp_path, device="cpu", progress=killer, callbacks=[lambda s, m: {"s": s}])
    train_run(cfg, out_root=tmp_path, device="cpu", resume=True, callbacks=[lambda s, m: steps.append(s)])
    metrics = read_metrics(next((tmp_path / "ff" / "ff").iterdir()) / "metrics.jsonl")
    rows = [r["step"] for r in metrics if r.get("kind") == "callback"]
    per_epoch = len(rows) // 3
    assert rows == list(range(1, 3 * per_epoch + 1))  # three epochs logged before the kill
    assert steps == list(range(3 * per_epoch + 1, 4 * per_epoch + 1))  # the resumed fourth epoch
