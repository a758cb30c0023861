"""Smoke test: ``implicitbias validate all --quick`` runs, prints targets and exits 0."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate")
    proc = subprocess.run([sys.executable, "-m", "implicitbias", "validate", "all", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, env={"COLUMNS": "200", **__import__("os").environ})
    return proc, out


def test_validate_quick_exits_zero_and_writes_figures(quick_run):
    proc, out = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("validate_stationary", "validate_gauge", "validate_projected", "validate_temperature"):
        assert name in proc.stdout
        pngs = list((out / name).glob("*/figures/*.png"))
        assert pngs, name
    assert "KS ≤" in proc.stdout and "library" in proc.stdout and "finding" in proc.stdout


def test_validate_rejects_unknown_name():
    proc = subprocess.run([sys.executable, "-m", "implicitbias", "validate", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown validation" in proc.stderr


def test_validate_reuses_a_run_of_the_same_config_regression(tmp_path):
    """`run validate_gauge` then `validate gauge` in one folder: the second reuses the first.

    Regression: validate read a run-directory field (``summary()["result"]``) that the
    runner never writes and ended in ``KeyError: 'result'``; both now go through one runner.
    """
    sets = ["--set", "steps=300", "--set", "fact_steps=300", "--set", "chains=16"]
    env = {"COLUMNS": "200", **__import__("os").environ}
    first = subprocess.run([sys.executable, "-m", "implicitbias", "run", "validate_gauge", "--preset", "quick",
                            *sets, "--out", str(tmp_path)], capture_output=True, text=True, timeout=900, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    runs = list((tmp_path / "validate_gauge").iterdir())
    assert len(runs) == 1
    second = subprocess.run([sys.executable, "-m", "implicitbias", "validate", "gauge", "--quick", *sets,
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=900, env=env)
    assert "Traceback" not in second.stderr and "KeyError" not in second.stderr, second.stderr[-3000:]
    assert second.returncode in (0, 1)  # 1 = a library check failed at this tiny size, not a crash
    assert "reusing completed run" in second.stdout and str(runs[0]) in second.stdout
    assert "decay rate of E log|u²−v²|" in second.stdout
    assert list((tmp_path / "validate_gauge").iterdir()) == runs
