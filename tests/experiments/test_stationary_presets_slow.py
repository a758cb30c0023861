"""The stationary-law verdicts mean the same thing at every sample size (issue 11).

Runs ``validate_stationary`` with the ``quick`` and the ``paper`` preset (≈ 100× more
effective samples) and requires the same verdict on every stationary-law row: each law's
distance is judged against its own run's noise floor, so a larger run must sharpen the
numbers, not change the verdicts. Hours on a 2-core CPU: ``make test-all`` only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from implicitbias.config import to_dict
from implicitbias.experiments.runner import execute_experiment, load_result, resolve_config
from implicitbias.runs import RunDir


def _verdicts(preset: str, root: Path) -> dict[str, str]:
    cfg = resolve_config("validate_stationary", preset)
    st = execute_experiment("validate_stationary", to_dict(cfg), str(root), preset=preset)
    assert st["status"] in ("done", "cached"), st.get("error")
    res = load_result(RunDir(Path(st["path"]), "validate_stationary"))
    rows = {}
    for c in res.claims:
        if "KS(" in c.claim:
            rows[re.sub(r"\s*\[n.*\]$", "", c.claim)] = c.verdict  # drop the n / n_eff suffix
    return rows


@pytest.mark.slow
def test_quick_and_paper_presets_give_the_same_stationary_verdicts(tmp_path):
    quick = _verdicts("quick", tmp_path)
    paper = _verdicts("paper", tmp_path)
    assert quick.keys() == paper.keys() and len(quick) >= 16
    assert quick == paper
