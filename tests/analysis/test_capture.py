"""``capture`` (forward hooks) against a manual forward pass; the activations-file round trip; ``analyze``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from implicitbias.analysis.activations_file import (
    analyze_activations,
    format_table,
    load_activations,
    save_activations,
    summary_rows,
)
from implicitbias.analysis.capture import Captured, capture
from implicitbias.errors import DataError


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
        self.fc1 = nn.Linear(6 * 8 * 8, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block(x)
        return self.head(torch.relu(self.fc1(h.flatten(1))))


def _manual(model: SmallCNN, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The same activations computed by hand, layer by layer (the oracle)."""
    b = model.block
    h1 = torch.relu(b[0](x))
    h3 = torch.relu(b[2](h1))
    f = model.fc1(h3.flatten(1))
    return {"block.1": h1, "block.3": h3, "fc1": f, "out": model.head(torch.relu(f))}


@pytest.mark.parametrize("conv", ["pool", "flatten"])
def test_capture_equals_manual_forward(conv: str) -> None:
    torch.manual_seed(0)
    model = SmallCNN().train()
    x, y = torch.randn(37, 1, 8, 8), torch.randint(0, 3, (37,))
    cap = capture(model, (x, y), ["block.1", "block.3", "fc1"], batch_size=10, dtype=torch.float32, conv=conv)
    with torch.no_grad():
        ref = _manual(model, x)
    for name in ("block.1", "block.3"):
        want = ref[name].mean(dim=(2, 3)) if conv == "pool" else ref[name].flatten(1)
        np.testing.assert_allclose(cap.layers[name], want.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cap.layers["fc1"], ref["fc1"].numpy(), rtol=1e-5, atol=1e-6)
    assert np.array_equal(cap.labels, y.numpy()) and np.array_equal(cap.pred, ref["out"].argmax(1).numpy())
    assert model.training  # mode restored
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed


def test_capture_float16_dataset_and_errors() -> None:
    torch.manual_seed(1)
    model = SmallCNN().eval()
    x, y = torch.randn(20, 1, 8, 8), torch.randint(0, 3, (20,))
    ds = torch.utils.data.TensorDataset(x, y)
    cap = capture(model, ds, ["fc1"], batch_size=7)
    assert cap.layers["fc1"].dtype == np.float16 and cap.layers["fc1"].shape == (20, 16)
    with torch.no_grad():
        np.testing.assert_allclose(cap.layers["fc1"], model.fc1(model.block(x).flatten(1)).numpy(), rtol=2e-3, atol=2e-3)
    with pytest.raises(KeyError, match="no submodule"):
        capture(model, ds, ["nope"])

    class Boom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.lin(x)
            raise RuntimeError("boom")

    m = Boom().train()
    with pytest.raises(RuntimeError, match="boom"):
        capture(m, torch.randn(3, 4), ["lin"])
    assert not m.lin._forward_hooks and m.training  # removed and restored even on error


def test_activations_file_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cap = Captured({"conv.0": rng.random((30, 5)).astype(np.float16), "fc": rng.random((30, 7)).astype(np.float32)},
                   np.arange(30) % 3, rng.integers(0, 3, 30), ["a", "b", "c"])
    f = save_activations(tmp_path / "acts.safetensors", cap, description="test")
    back, meta = load_activations(f)
    assert list(back.layers) == ["conv.0", "fc"] and back.class_names == ["a", "b", "c"] and meta["description"] == "test"
    for k in cap.layers:
        assert back.layers[k].dtype == cap.layers[k].dtype and np.array_equal(back.layers[k], cap.layers[k])
    assert np.array_equal(back.labels, cap.labels) and np.array_equal(back.pred, cap.pred)
    cap.pred = None
    back, _ = load_activations(save_activations(tmp_path / "nopred.safetensors", cap))
    assert back.pred is None
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(DataError, match="no 'labels'"):
        load_activations(tmp_path / "bad.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable safetensors"):
        load_activations(tmp_path / "junk.safetensors")


def _planted(n: int = 300, h: int = 40, k: int = 4, seed: int = 0) -> Captured:
    """Activations where units 10c..10c+4 fire for class c only (planted ensembles of 5 units)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.random((n, h)) * 0.1
    for c in range(k):
        x[np.ix_(y == c, range(10 * c, 10 * c + 5))] += 1.0
    return Captured({"l1": x.astype(np.float32), "l2": np.maximum(x @ rng.normal(size=(h, 12)), 0).astype(np.float32)}, y, y.copy(), list("wxyz"))


def test_analyze_finds_planted_ensembles() -> None:
    from implicitbias.analysis.ff_run import AnalysisOptions

    res = analyze_activations(_planted(), AnalysisOptions(n_id=100, stat_test=False))
    assert res["layers"][0]["ensemble_sizes"] == [5, 5, 5, 5] and res["test_acc"] == 1.0
    assert any("skipped" in n for n in res["notes"]) and "controls" not in res["layers"][0]
    table = format_table(summary_rows(res, "f"))
    assert "Hoyer" in table and table.count("\n") == 3


def test_cli_analyze(tmp_path: Path) -> None:
    a = save_activations(tmp_path / "a.safetensors", _planted(seed=0))
    b = save_activations(tmp_path / "b.safetensors", _planted(seed=1))
    r = subprocess.run([sys.executable, "-m", "implicitbias", "analyze", str(a), str(b), "--n-id", "100", "--no-stat-test"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "linear CKA" in r.stdout and "skipped" in r.stdout
    res = json.loads((tmp_path / "a.analysis.json").read_text())
    assert res["layers"][0]["ensemble_sizes"] == [5, 5, 5, 5]
    assert (tmp_path / "a_figures" / "wall_l1.png").stat().st_size > 1000
    r = subprocess.run([sys.executable, "-m", "implicitbias", "analyze", str(tmp_path / "missing.safetensors")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
