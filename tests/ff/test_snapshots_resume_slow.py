"""``kill -9`` of ``implicitbias ff train --snapshots`` mid-training, then ``--resume`` (slow).

The resumed run must end with the same snapshot weights, snapshot representations and
accuracies, and model as an uninterrupted run. Greedy FF is killed during layer 2 (after its
epoch 3, before its epoch 10), so the resumed run keeps layer 1's snapshots and layer 2's
early ones from the killed process and writes the rest itself; BP is killed after epoch 3.
``batch_size=8`` makes the epochs long enough (~0.3 s) for the kill to land in that window.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

pytestmark = pytest.mark.slow

EPOCHS = 12
SNAPS = (1, 3, 5, 10)


def _cmd(out: Path, algo: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "implicitbias", "ff", "train", "--preset", "DIGITS_quick", "--algo", algo,
            "--epochs", str(EPOCHS), "--set", "batch_size=8", "--snapshots", ",".join(map(str, SNAPS)),
            "--out", str(out), "--device", "cpu", "--threads", "1", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _same_arrays(a: Path, b: Path) -> None:
    x, y = load_file(str(a)), load_file(str(b))
    assert set(x) == set(y), a.name
    for k in x:
        assert np.array_equal(x[k], y[k]), (str(a), k)


def _run_dir(out: Path, algo: str) -> Path:
    found = list((out / "ff" / algo).glob("*/config.json"))
    assert len(found) == 1, found
    return found[0].parent


@pytest.mark.parametrize(("algo", "phase"), [("ff", 1), ("bp", 0)])
def test_kill9_with_snapshots_then_resume_matches_uninterrupted(tmp_path, algo, phase):
    subprocess.run(_cmd(tmp_path / "a", algo), check=True, capture_output=True, timeout=600, env=_env())
    proc = subprocess.Popen(_cmd(tmp_path / "b", algo), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    kill_after = phase * EPOCHS + 3  # metrics.jsonl rows: one per epoch, over all phases
    deadline = time.time() + 300
    metrics = None
    try:
        while time.time() < deadline and proc.poll() is None:
            found = list((tmp_path / "b").glob(f"ff/{algo}/*/metrics.jsonl"))
            if found and len(found[0].read_text().splitlines()) >= kill_after:
                metrics = found[0]
                break
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert metrics is not None, f"training never reached epoch 3 of phase {phase}"
    b = metrics.parent
    assert not (b / "complete.json").exists() and not (b / "model.safetensors").exists()
    snaps = b / "snapshots"
    # killed inside the window: epoch 3 of this phase kept, epoch 10 not yet reached
    assert (snaps / "epoch_00003" / f"weights_phase{phase}.safetensors").exists()
    assert not (snaps / "epoch_00010" / f"weights_phase{phase}.safetensors").exists(), "kill landed too late"
    assert not list(snaps.glob("*/representations.safetensors"))  # written only at completion

    subprocess.run(_cmd(tmp_path / "b", algo, "--resume"), check=True, capture_output=True, timeout=600, env=_env())
    a = _run_dir(tmp_path / "a", algo)
    assert (b / "complete.json").exists()
    _same_arrays(a / "model.safetensors", b / "model.safetensors")
    _same_arrays(a / "representations.safetensors", b / "representations.safetensors")
    n_phases = 2 if algo == "ff" else 1
    for s in SNAPS:
        sa, sb = a / "snapshots" / f"epoch_{s:05d}", b / "snapshots" / f"epoch_{s:05d}"
        names = sorted(p.name for p in sa.glob("weights_phase*.safetensors"))
        assert names == [f"weights_phase{p}.safetensors" for p in range(n_phases)]
        assert sorted(p.name for p in sb.glob("weights_phase*.safetensors")) == names
        for n in names:
            _same_arrays(sa / n, sb / n)
        _same_arrays(sa / "representations.safetensors", sb / "representations.safetensors")
        ja, jb = json.loads((sa / "summary.json").read_text()), json.loads((sb / "summary.json").read_text())
        for k in ("epoch", "test_acc", "per_layer_acc"):
            assert ja[k] == jb[k], (s, k)
    assert json.loads((b / "summary.json").read_text())["snapshots"] == list(SNAPS)
