"""The algorithm and negative-sampler registries and the step protocol."""

from __future__ import annotations

import typing

import pytest
import torch

from implicitbias.data import load_dataset
from implicitbias.ff import ALGORITHMS, ALGOS, NEGATIVES, FFConfig, resolve_config
from implicitbias.ff.trainer import Trainer


def test_registries_cover_the_config_values():
    assert set(ALGORITHMS) == set(ALGOS)
    hints = typing.get_type_hints(FFConfig)
    assert set(NEGATIVES) == set(typing.get_args(hints["negatives"]))


@pytest.mark.parametrize(
    "algo,negatives",
    [("ff", "fixed"), ("ff", "resample"), ("ff-simultaneous", "hard"), ("ff-simultaneous", "hybrid"),
     ("bpff", "resample"), ("bpff-perlayer", "fixed"), ("bp", "fixed")],
)
def test_step_writes_gradients_of_the_phase_parameters_only(algo, negatives):
    extra = {"eval_rule": "probe"} if negatives == "hybrid" else {}
    cfg = resolve_config(FFConfig(dataset="digits", hidden=(24, 16), epochs=1, lr=0.01, batch_size=32,
                                  hparams="digits_quick", algo=algo, negatives=negatives, hybrid_blur_steps=1, **extra))
    x, y = load_dataset("digits", "train")
    tr = Trainer(cfg, x, y, (1, 8, 8), 10, torch.device("cpu"))
    alg = tr.algorithm
    last = alg.phases() - 1
    tr.start_phase(0)
    if last:
        tr.train_epoch(0)
        tr.start_phase(last)
    tr.net.zero_grad(set_to_none=True)
    stats = alg.step(torch.arange(32), tr.gen("s"))
    trained = {id(p) for p in alg.params_of_phase(last)}
    for p in tr.net.parameters():
        assert (p.grad is not None and p.grad.abs().sum() > 0) == (id(p) in trained)
    assert all(t.ndim == 0 and not t.requires_grad and bool(torch.isfinite(t)) for t in (stats.loss, stats.a, stats.b))
