"""CIFAR-10 from the bundled JPEG tarball: decode, cache, and the quick presets train (slow)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from implicitbias.data import find_source, load_dataset
from implicitbias.ff import get_preset, train_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_source("cifar10") is None, reason="CIFAR-10 not found (../shared/data, $IMPLICITBIAS_DATA)"),
]


def test_cifar10_loads_balanced_channel_major():
    x, y = load_dataset("cifar10", "test", normalization="unit")
    assert x.shape == (10000, 3 * 32 * 32) and x.dtype == torch.float32
    assert y.bincount().tolist() == [1000] * 10
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # channel-major: the three 1024-blocks are R, G, B planes, strongly correlated with each other
    r, g = x[:, :1024].flatten(), x[:, 1024:2048].flatten()
    assert float(torch.corrcoef(torch.stack([r, g]))[0, 1]) > 0.8


@pytest.mark.parametrize("algo,floor", [("ff", 0.15), ("bp", 0.40)])
def test_cifar10_quick_presets_learn(tmp_path, algo, floor):
    # measured here: ff 0.20 (1 epoch per layer), bp 0.50 (2 epochs); chance 0.10
    torch.set_num_threads(1)
    run = train_run(dataclasses.replace(get_preset("TOSATO_CIFAR10_quick"), algo=algo), out_root=tmp_path, device="cpu")
    s = run.read_json("summary")
    assert s["test_acc"] >= floor, s
    assert s["n_train"] == 50000
