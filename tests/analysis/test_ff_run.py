"""The run-level analysis on a synthetic run directory with planted ensembles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from implicitbias.errors import UserInputError
from implicitbias.ff.analyze_run import (
    AnalysisOptions,
    analyze_run,
    load_representations,
    to_json,
)


def fake_run(root: Path, seed: int = 0, n_per: int = 50, k: int = 4, h: int = 24) -> Path:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per)
    pred = y.copy()
    pred[:5] = (y[:5] + 1) % k  # 5 wrong predictions
    arrs = {"labels": y, "pred": pred, "wrong_labels": (y + 1) % k}
    h1 = np.abs(rng.normal(0, 0.05, size=(y.size, h)))
    for c in range(k):
        h1[y == c, 3 * c : 3 * c + 3] += 2.0
    h2 = np.abs(rng.normal(0, 1.0, size=(y.size, h)))  # dense, unselective
    for name, arr in (("layer1", h1), ("layer2", h2)):
        arrs[f"{name}.true"] = arr.astype(np.float16)
        arrs[f"{name}.neutral"] = (arr + 0.01).astype(np.float16)
        arrs[f"{name}.wrong"] = arr.astype(np.float16)
    run = root / f"run{seed}"
    run.mkdir()
    save_file({kk: np.ascontiguousarray(v) for kk, v in arrs.items()}, str(run / "representations.safetensors"))
    w = {"layers.0.weight": rng.normal(size=(h, 8)).astype(np.float32), "layers.0.bias": np.zeros(h, np.float32),
         "layers.1.weight": rng.normal(size=(h, h)).astype(np.float32), "layers.1.bias": -np.ones(h, np.float32)}
    save_file(w, str(run / "model.safetensors"))
    (run / "summary.json").write_text(json.dumps({"test_acc": float((pred == y).mean())}))
    (run / "config.json").write_text(json.dumps({"config": {"algo": "ff", "dataset": "toy", "seed": seed, "layer_norm": "l2"}}))
    return run


def test_load_and_analyze_fake_run(tmp_path: Path) -> None:
    run = fake_run(tmp_path)
    reps = load_representations(run)
    assert reps.num_layers == 2 and reps.layers["true"][0].dtype == np.float32
    res = analyze_run(run, AnalysisOptions(n_id=100))
    l1, l2 = res["layers"]
    assert res["n_correct"] == 195 and res["test_acc"] == pytest.approx(195 / 200)
    assert l1["ensemble_sizes"] == [3, 3, 3, 3]
    assert l1["mixed"]["n_mixed"] == 0
    assert l1["hoyer"]["mean"] > 0.7 > l2["hoyer"]["mean"]
    assert l1["hoyer"]["n"] == 195 and l1["hoyer_all_samples"]["n"] == 200
    assert l1["controls"]["neutral"]["mean_jaccard_vs_reference"] == pytest.approx(1.0)
    assert l1["ensemble_si"] > 0.9 > l1["shuffled_null"]["ensemble_si"]
    assert l1["weights"]["neg_bias_frac"] == 0.0 and l2["weights"]["neg_bias_frac"] == 1.0
    assert "drive" in l2 and "drive" not in l1
    json.dumps(to_json(res))  # JSON-safe after dropping private arrays


@pytest.mark.parametrize("norm", ["l2", "rms", "none"])
def test_drive_input_is_the_engine_normalisation(tmp_path: Path, norm: str) -> None:
    """Layer 2's drive is computed on N(h_1), written here in NumPy as an independent oracle."""
    from safetensors.numpy import load_file

    from implicitbias.analysis.inhibition import drive_summary

    run = fake_run(tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    cfg["config"]["layer_norm"] = norm
    (run / "config.json").write_text(json.dumps(cfg))
    res = analyze_run(run, AnalysisOptions(n_id=0, stat_test=False, controls=False))
    reps = load_representations(run)
    sel = reps.pred == reps.labels
    h = reps.layers["true"][0][sel].astype(np.float64)
    inp = {"l2": h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12),
           "rms": h / (np.sqrt((h * h).mean(1, keepdims=True)) + 1e-12), "none": h}[norm]
    w = load_file(str(run / "model.safetensors"))
    ref = drive_summary(inp, w["layers.1.weight"], w["layers.1.bias"], reps.labels[sel], res["layers"][1]["_members"])
    got, ref = to_json(res["layers"][1]["drive"]), to_json(ref)

    def flat(d: dict, pre: str = "") -> dict:
        out = {}
        for k, x in d.items():
            out.update(flat(x, f"{pre}{k}.") if isinstance(x, dict) else {f"{pre}{k}": x})
        return out

    got, ref = flat(got), flat(ref)
    assert got.keys() == ref.keys() and len(ref) > 3
    for k, v in ref.items():
        np.testing.assert_allclose(np.asarray(got[k], dtype=float), np.asarray(v, dtype=float), rtol=1e-4, atol=1e-6, err_msg=k)


def test_missing_run_is_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError):
        load_representations(tmp_path / "nope")
    with pytest.raises(UserInputError):
        load_representations(tmp_path)


def test_first_layer_only_analysis_equals_the_full_one(tmp_path: Path) -> None:
    """``max_layers=1`` and ``cka=False`` (the training-length analysis) give the full analysis's layer 1."""
    run = fake_run(tmp_path)
    full = to_json(analyze_run(run, AnalysisOptions(n_id=0)))
    light = to_json(analyze_run(run, AnalysisOptions(n_id=0, cka=False, max_layers=1)))
    assert len(full["layers"]) == 2 and len(light["layers"]) == 1
    assert light["layers"][0] == full["layers"][0] and light["cka_layers"] == [] and len(full["cka_layers"]) == 2
    reps = load_representations(run, max_layers=1)
    assert reps.num_layers == 1
    np.testing.assert_array_equal(reps.layers["neutral"][0], load_representations(run).layers["neutral"][0])
