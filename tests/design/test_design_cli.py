"""``implicitbias design``: prints the design and its verification; bad input exits 2."""

from __future__ import annotations

import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "implicitbias", "design", *args],
                          capture_output=True, text=True, timeout=120)


def test_design_tv_prints_bias_and_verifies() -> None:
    r = _run("tv", "--shape", "5")
    assert r.returncode == 0, r.stderr
    assert "cumsum" in r.stdout and "log|Δβ_t|" in r.stdout and "verify:          OK" in r.stdout


def test_design_bad_input_exit_2() -> None:
    for args in (["lowrank", "--shape", "4"], ["group", "--shape", "4", "--groups", "1,1"]):
        r = _run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1


def test_design_in_process_errors() -> None:
    import pytest

    from implicitbias.cli.design_cmd import design_command
    from implicitbias.errors import UserInputError

    kw = dict(basis="identity", depth=2, groups="", rank=0, verify=False)
    for target, shape, extra in (("sparse", "4", {"basis": "nope"}), ("blah", "3", {}), ("sparse", "x", {})):
        with pytest.raises(UserInputError):
            design_command(target, shape, **{**kw, **extra})
