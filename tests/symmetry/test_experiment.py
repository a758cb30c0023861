"""The ``symmetry_catalog`` experiment follows the experiment protocol and reproduces every row."""

from __future__ import annotations

from implicitbias.experiments import get_experiment
from implicitbias.runs import RunDir


def test_symmetry_catalog_quick(tmp_path):
    mod = get_experiment("symmetry_catalog")
    assert mod.ID == "symmetry_catalog" and {"quick", "paper"} <= set(mod.PRESETS)
    cfg = mod.PRESETS["quick"]
    run = RunDir.open(tmp_path, mod.ID, cfg)
    calls = []
    res = mod.run(cfg, run, lambda d, t, m="": calls.append((d, t)))
    assert len(res.claims) == 7
    assert all(c.verdict == "reproduced" for c in res.claims), [c.ours_seed0 for c in res.claims]
    assert res.metrics["n_agree"] == 7 and res.metrics["max_bias_spread"] < 1e-6
    assert (run.path / mod.figures(res, run)[0]).exists()
    arrays = run.load_arrays()
    assert arrays["discovered_dim"].tolist() == arrays["full_dim"].tolist()
    assert len(run.metrics()) == 7
    assert calls and calls[-1][0] == calls[-1][1]
