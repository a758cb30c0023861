"""``ff verdicts``: intervals, the still-moving test and run-vs-run changes on planted trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from implicitbias.errors import UserInputError
from implicitbias.experiments.ff.compare import markdown, verdict_statistics


def _write(path: Path, ff_hoyer: list[list[float]], bp_hoyer: list[list[float]], epochs: list[int]) -> Path:
    path.mkdir(parents=True)
    n = len(ff_hoyer[0])
    flat = [[0.5] * n for _ in epochs]
    traj = {"digits": {
        "ff": {"epochs": epochs, "hoyer": ff_hoyer, "exclusive": flat, "split_half": flat, "rho": flat, "dead": flat, "acc": flat},
        "bp": {"epochs": epochs, "hoyer": bp_hoyer, "acc": flat},
    }}
    (path / "training_length.json").write_text(json.dumps(traj))
    claims = [{"claim": "(1) digits: FF layer 1 sparser than BP", "verdict": "reproduced"}]
    (path / "result.json").write_text(json.dumps({"claims": claims}))
    return path


def test_delta_interval_and_moving_flag(tmp_path: Path) -> None:
    ff = [[0.40, 0.42, 0.44], [0.60, 0.63, 0.61]]
    bp = [[0.30, 0.30, 0.31], [0.30, 0.31, 0.30]]
    rows = verdict_statistics(_write(tmp_path / "a", ff, bp, [1, 10]))["digits"]
    d = next(r for r in rows if r["statistic"].startswith("Δ Hoyer L1, FF"))
    delta = np.array(ff[1]) - np.array(bp[1])
    lo, hi = stats.t.interval(0.95, 2, loc=delta.mean(), scale=stats.sem(delta))
    assert d["interval"] == pytest.approx((delta.mean(), lo, hi))
    assert d["moving"] and d["previous_epochs"] == "1/1" and d["claim_verdict"] == "reproduced"
    flat = next(r for r in rows if r["statistic"] == "FF exclusive fraction")
    assert not flat["moving"]  # identical values at both points: change 0 with a zero-width interval


def test_first_vs_last_run(tmp_path: Path) -> None:
    bp = [[0.3, 0.3, 0.3], [0.30, 0.31, 0.29]]
    a = _write(tmp_path / "a", [[0.5] * 3, [0.50, 0.51, 0.49]], bp, [1, 3])
    b = _write(tmp_path / "b", [[0.5] * 3, [0.90, 0.91, 0.89]], bp, [1, 30])
    c = _write(tmp_path / "c", [[0.5] * 3, [0.50, 0.52, 0.49]], bp, [1, 30])
    table = markdown([a, b], ["cpu", "long"])
    row = next(line for line in table.splitlines() if "FF − BP" in line)
    assert row.endswith("| changes |") and "@ 30/30" in row
    same = next(line for line in markdown([a, c]).splitlines() if "FF − BP" in line)
    assert same.endswith("| no change detected |")


def test_bad_inputs(tmp_path: Path) -> None:
    from implicitbias.cli import app

    with pytest.raises(UserInputError):
        verdict_statistics(tmp_path)
    r = CliRunner().invoke(app, ["ff", "verdicts", str(tmp_path / "missing")])
    assert r.exit_code == 2 and r.output.count("error:") == 1
    r = CliRunner().invoke(app, ["ff", "verdicts", str(tmp_path), "--name", "a", "--name", "b"])
    assert r.exit_code == 2 and "one --name per run" in r.output
