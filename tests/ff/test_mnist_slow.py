"""Full-data checks (slow; need ../shared/data)."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch

from implicitbias.data import find_source
from implicitbias.ff import get_preset, train_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_source("mnist") is None, reason="MNIST not found (../shared/data, $IMPLICITBIAS_DATA)"),
]


@pytest.mark.parametrize("preset", ["HINTON_MNIST_quick", "HINTON_MNIST_SGD_quick"])
def test_quick_mnist_ff_reaches_090_within_60s(tmp_path, preset):
    torch.set_num_threads(1)
    t = time.perf_counter()
    run = train_run(get_preset(preset), out_root=tmp_path, device="cpu")
    wall = time.perf_counter() - t
    s = run.read_json("summary")
    assert s["test_acc"] >= 0.90, s
    assert wall <= 60, f"took {wall:.1f}s"


def test_tosato_quick_mnist_ff_runs(tmp_path):
    run = train_run(dataclasses.replace(get_preset("TOSATO_MNIST_quick"), algo="ff"), out_root=tmp_path, device="cpu")
    s = run.read_json("summary")
    assert s["test_acc"] >= 0.80 and len(s["per_layer_acc"]) == 3


def test_unsupervised_hybrid_ff_beats_its_untrained_control(tmp_path):
    """HINTON_MNIST_UNSUP_quick for 6 epochs vs the same run with lr ≈ 0 (same probe training on
    untrained features). Measured here: 0.914 vs 0.893 (probe on layers 1–2)."""
    torch.set_num_threads(2)
    cfg = dataclasses.replace(get_preset("HINTON_MNIST_UNSUP_quick"), epochs=6)
    trained = train_run(cfg, out_root=tmp_path, device="cpu").read_json("summary")
    control = train_run(dataclasses.replace(cfg, lr=1e-9), out_root=tmp_path, device="cpu").read_json("summary")
    assert trained["test_acc"] >= control["test_acc"] + 0.01, (trained["test_acc"], control["test_acc"])
    assert len(trained["per_layer_acc"]) == 2 and min(trained["per_layer_acc"]) > 0.8  # per-layer ridge probes
