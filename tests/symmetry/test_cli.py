"""``implicitbias symmetry`` end to end (subprocess: checks the real exit codes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import pytest

MODEL = '''
import torch

def had(q):
    return q["u"] * q["v"]

def mf(U, V):
    return U @ V.T

def boom(q):
    raise RuntimeError("boom")

def notensor(q):
    return 3.0
'''


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "implicitbias", "symmetry", *args],
                          capture_output=True, text=True, timeout=timeout)


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """In-process run of the console-script entry point (same code path as the subprocess)."""
    from implicitbias.cli import main

    with patch.object(sys, "argv", ["implicitbias", "symmetry", *args]):
        with pytest.raises(SystemExit) as ei:
            main()
    out = capsys.readouterr()
    code = ei.value.code
    return (0 if code is None else int(code)), out.out, out.err


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cli") / "model.py"
    p.write_text(MODEL)
    return p


def test_user_function_human_output(model, capsys):
    code, out, err = _main(capsys, f"{model}:had", "--param", "u=3", "--param", "v=3")
    assert code == 0, err
    assert "symmetry algebra: dim 3" in out
    assert "rescale u[0] ↑, v[0] ↓" in out or "rescale v[0] ↑, u[0] ↓" in out
    assert "closure residual" in out and "induced bias" in out


def test_user_function_json(model):
    r = _run(f"{model}:mf", "-p", "U=4,2", "-p", "V=3,2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"dim", "generators", "param_slices", "closure_residual"} <= set(out)
    assert out["dim"] == 4
    assert len(out["generators"]) == 4 and len(out["generators"][0]) == 14
    assert out["param_slices"] == {"U": [0, 8], "V": [8, 14]}
    assert out["closure_residual"] < 1e-10


@pytest.mark.parametrize(
    "args, needle",
    [
        (["{d}/missing.py:had", "-p", "u=3"], "no such file"),
    ],
)
def test_bad_input_is_one_line_exit_2_subprocess(model, args, needle):
    args = [a.format(m=model, d=model.parent) for a in args]
    r = _run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert needle in lines[0]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["{m}:boom", "-p", "u=3"], "raised RuntimeError: boom"),
        (["{m}:notensor", "-p", "u=3"], "not a torch.Tensor"),
        (["{m}:had", "-p", "u=3", "-p", "v=4"], "must match"),
        (["{m}:nope", "-p", "u=3"], "no function 'nope'"),
        (["{m}", "-p", "u=3"], "FILE.py:FUNC"),
        (["{m}:had", "-p", "u=-1"], "positive"),
        (["{m}:had", "-p", "u"], "NAME=SHAPE"),
        (["{m}:had"], "--param"),
        (["{m}:had", "-p", "u=3", "-p", "v=3", "--mode", "magic"], "--mode"),
        ([], "FILE.py:FUNC"),
        (["{m}:had", "--catalog"], "not both"),
        (["--catalog", "--preset", "huge"], "preset"),
    ],
)
def test_bad_input_is_one_line_exit_2(model, capsys, args, needle):
    args = [a.format(m=model, d=model.parent) for a in args]
    code, out, err = _main(capsys, *args)
    assert code == 2, (out, err)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0]


def test_catalog_quick_table_all_agree(capsys):
    code, out, err = _main(capsys, "--catalog", "--preset", "quick", "--n-points", "6")
    assert code == 0, out + err
    for name in ("hadamard(5, depth=2)", "factorization(4, 3, 2)", "relu_net(3, 6, 1)", "cumsum_hadamard(6)"):
        assert name in out
    assert "NO" not in out
    assert out.count("yes") == 7
    assert "log s_i" in out  # closed forms with [...] are printed literally, not eaten as markup


@pytest.mark.slow
def test_catalog_paper_sizes_all_agree():
    r = _run("--catalog", "--json", timeout=900)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 7 and all(row["agrees"] for row in rows)
