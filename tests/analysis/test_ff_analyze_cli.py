"""``implicitbias ff analyze`` on a synthetic run directory (subprocess: exit codes included)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.analysis.test_ff_run import fake_run


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "implicitbias", "ff", "analyze", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_analyze_writes_json_and_figures(tmp_path: Path) -> None:
    a, b = fake_run(tmp_path, seed=0), fake_run(tmp_path, seed=1)
    r = _cli(str(a), str(b), "--n-id", "100", "--no-stat-test")
    assert r.returncode == 0, r.stderr
    assert "linear CKA" in r.stdout
    res = json.loads((a / "analysis.json").read_text())
    assert res["layers"][0]["ensemble_sizes"] == [3, 3, 3, 3]
    assert (a / "figures" / "analysis_wall_layer1.png").stat().st_size > 1000


def test_cli_bad_input_exit_2(tmp_path: Path) -> None:
    r = _cli(str(tmp_path / "missing"))
    assert r.returncode == 2 and "error:" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_bad_option_is_user_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from implicitbias.cli import app

    run = fake_run(tmp_path)
    res = CliRunner().invoke(app, ["ff", "analyze", str(run), "--samples", "some"])
    # the app itself maps UserInputError to one error line and exit 2 (in-process too)
    assert res.exit_code == 2 and res.stderr.startswith("error:") and "--samples" in res.stderr
    ok = CliRunner().invoke(app, ["ff", "analyze", str(run), "--n-id", "0", "--no-figures"])
    assert ok.exit_code == 0, ok.output
