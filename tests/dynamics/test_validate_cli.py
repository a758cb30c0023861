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
