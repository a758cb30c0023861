"""A real ``kill -9`` of ``implicitbias ff train`` followed by ``--resume`` (slow)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from implicitbias.runs.atomic import load_tensors

pytestmark = pytest.mark.slow


def _cmd(out, *extra):
    return [sys.executable, "-m", "implicitbias", "ff", "train", "--preset", "DIGITS_quick", "--algo", "ff",
            "--epochs", "40", "--out", str(out), "--device", "cpu", "--threads", "1", *extra]


def test_kill9_then_resume_matches_uninterrupted(tmp_path):
    subprocess.run(_cmd(tmp_path / "a"), check=True, capture_output=True, timeout=600)
    proc = subprocess.Popen(_cmd(tmp_path / "b"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    metrics = None
    while time.time() < deadline:
        found = list((tmp_path / "b").glob("ff/ff/*/metrics.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 3:
            metrics = found[0]
            break
        time.sleep(0.05)
    assert metrics is not None, "training never reached epoch 3"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (metrics.parent / "complete.json").exists()
    subprocess.run(_cmd(tmp_path / "b", "--resume"), check=True, capture_output=True, timeout=600)
    a = load_tensors(next((tmp_path / "a").glob("ff/ff/*/model.safetensors")))
    b = load_tensors(next((tmp_path / "b").glob("ff/ff/*/model.safetensors")))
    for k in a:
        assert torch.equal(a[k], b[k]), k
