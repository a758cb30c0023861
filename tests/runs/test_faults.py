"""Faults: garbage ``complete.json``, run-directory locks (concurrent writers), divergence."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from implicitbias.config import to_dict
from implicitbias.errors import Diverged, RunLockedError
from implicitbias.experiments.base import check_finite, surviving_chains
from implicitbias.experiments.runner import execute_experiment, resolve_config
from implicitbias.experiments.sweep import run_sweep
from implicitbias.runs import RunDir
from implicitbias.runs.executors import InlineExecutor


def _toy(tmp_path: Path, **sets) -> tuple[dict, Path]:
    cfg = resolve_config("toy", "quick", [f"{k}={v}" for k, v in sets.items()])
    st = execute_experiment("toy", to_dict(cfg), str(tmp_path))
    return st, Path(st["path"]) if st["path"] else None


@pytest.mark.parametrize("content", ["", "garbage", "[1, 2]", '{"summary": {}}', '{"time": "x", "summary": {}}', "null"])
def test_garbage_complete_json_is_not_complete(tmp_path, content):
    st, path = _toy(tmp_path)
    assert st["status"] == "done" and RunDir(path, "toy").is_complete
    (path / "complete.json").write_text(content)
    run = RunDir(path, "toy")
    assert not run.is_complete and run.summary() == {}
    again, _ = _toy(tmp_path)
    assert again["status"] == "done"  # rerun, not reused
    assert RunDir(path, "toy").is_complete and json.loads((path / "complete.json").read_text())["summary"]


def test_lock_refuses_a_second_writer_and_runner_reports_it(tmp_path):
    cfg = resolve_config("toy", "quick")
    held = RunDir.open(tmp_path, "toy", cfg, lock=True)
    with held:
        with pytest.raises(RunLockedError, match="in use by another process"):
            RunDir.open(tmp_path, "toy", cfg, lock=True)
        st = execute_experiment("toy", to_dict(cfg), str(tmp_path))
        assert st["status"] == "locked" and "in use" in st["error"]
        assert not held.is_complete  # nothing ran
        out = run_sweep("toy", [({}, to_dict(cfg))], str(tmp_path), InlineExecutor())
        assert [f["status"] for f in out.failed] == ["locked"] and not out.rows
    st = execute_experiment("toy", to_dict(cfg), str(tmp_path))  # released: runs normally
    assert st["status"] == "done"


def test_run_command_reports_a_locked_run(tmp_path):
    from implicitbias.cli import app

    cfg = resolve_config("toy", "quick")
    with RunDir.open(tmp_path, "toy", cfg, lock=True):
        r = CliRunner().invoke(app, ["run", "toy", "--out", str(tmp_path)])
    assert r.exit_code == 2 and r.stderr.count("error:") == 1 and "in use by another process" in r.stderr


def test_reuse_of_a_completed_run_needs_no_lock(tmp_path):
    st, path = _toy(tmp_path)
    cfg = resolve_config("toy", "quick")
    with RunDir.open(tmp_path, "toy", cfg, lock=True):  # a completed run is returned unlocked
        again = execute_experiment("toy", to_dict(cfg), str(tmp_path))
    assert again["status"] == "cached"


def test_two_ff_train_processes_one_out(tmp_path):
    """Two real `ff train` processes of one config into one --out, started together: one
    trains to completion, the other gets one error line (exit 2) naming the lock, and
    metrics.jsonl holds every epoch once (before the lock it held each epoch twice)."""
    cmd = [sys.executable, "-m", "implicitbias", "ff", "train", "--preset", "DIGITS_quick", "--algo", "bp",
           "--epochs", "80", "--device", "cpu", "--threads", "1", "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    try:
        results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for rc, _, err in results if rc == 2)
    lines = [ln for ln in loser.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "in use by another process" in lines[0], loser
    (metrics,) = tmp_path.glob("ff/bp/*/metrics.jsonl")
    steps = [json.loads(ln)["step"] for ln in metrics.read_text().splitlines()]
    assert steps == list(range(1, 81))


# ---- divergence -------------------------------------------------------------------------


def test_check_finite_names_chains_and_step():
    W = torch.ones(4, 3, 2)
    W[2, 0, 1] = math.nan
    V = torch.ones(4, 5)
    V[3, 1] = math.inf
    with pytest.raises(Diverged, match=r"exp: chain\(s\) 12, 13 diverged at step 70 \(non-finite W, V\)") as e:
        check_finite("exp", 70, [10, 11, 12, 13], W=W, V=V)
    assert e.value.chains == [12, 13] and e.value.step == 70
    check_finite("exp", 70, None, W=torch.ones(4, 2))  # finite: no error


def test_surviving_chains_excludes_and_reports_frozen_chains():
    res = SimpleNamespace(frozen=torch.tensor([False, True, False]), frozen_at=torch.tensor([-1, 42, -1]),
                          chain_ids=[5, 6, 7])
    keep, diverged = surviving_chains("exp", res)
    assert keep.tolist() == [True, False, True] and diverged == [{"chain": 6, "step": 42}]
    res.frozen = torch.tensor([True, True, True])
    res.frozen_at = torch.tensor([3, 9, 4])
    with pytest.raises(Diverged, match="step 3"):
        surviving_chains("exp", res)


def test_relu_balance_divergence_fails_the_run_and_is_never_complete(tmp_path):
    cfg = resolve_config("relu_balance", "quick", ["lr=100", "steps=200", "log_every=10", "seeds=3"])
    for _ in range(2):  # a rerun fails again: never reused as complete
        st = execute_experiment("relu_balance", to_dict(cfg), str(tmp_path))
        assert st["status"] == "failed"
        m = re.search(r"relu_balance: chain\(s\) 0, 1, 2 diverged at step (\d+)", st["error"])
        assert m and 1 <= int(m.group(1)) <= 10  # the first non-finite step (the simulator checks every step)
        run = RunDir(Path(st["path"]), "relu_balance")
        assert not run.is_complete and (run.path / "failed.json").exists()


def test_fourier_divergence_names_experiment_model_and_step(tmp_path):
    cfg = resolve_config("fourier_sparsity", "quick", ["lr=1e4", "steps=100", "log_every=10", "seeds=2", "n_test=10"])
    st = execute_experiment("fourier_sparsity", to_dict(cfg), str(tmp_path))
    assert st["status"] == "failed" and st["error"].startswith("Diverged: fourier_sparsity: ")
    assert "diverged at step" in st["error"] and not RunDir(Path(st["path"]), "fourier_sparsity").is_complete


def test_nonfinite_metrics_are_caught_by_the_runner(tmp_path, monkeypatch):
    from implicitbias.experiments import get_experiment

    toy = get_experiment("toy")
    real = toy.run

    def nan_run(config, run_dir, progress=None):
        res = real(config, run_dir, progress)
        res.metrics["value"] = float("nan")
        return res

    monkeypatch.setattr(toy, "run", nan_run)
    st, path = _toy(tmp_path)
    assert st["status"] == "failed" and "non-finite metric(s) value" in st["error"]
    assert not RunDir(path, "toy").is_complete


def test_cli_run_divergence_exits_nonzero_with_one_error_line(tmp_path):
    from implicitbias.cli import app

    r = CliRunner().invoke(app, ["run", "relu_balance", "--set", "lr=100", "--set", "steps=100",
                                 "--set", "log_every=10", "--seeds", "2", "--out", str(tmp_path)])
    assert r.exit_code != 0
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errs) == 1 and re.search(r"relu_balance: chain\(s\) 0, 1 diverged at step \d+ ", errs[0])
    assert not list(tmp_path.glob("relu_balance/*/complete.json"))


def test_finite_records_drops_frozen_chains_on_the_chain_axis():
    from implicitbias.experiments.base import finite_records

    rec = {"w": torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(2, 3, 4), "loss": torch.zeros(2, 3)}
    res = SimpleNamespace(frozen=torch.tensor([False, True, False]), frozen_at=torch.tensor([-1, 7, -1]),
                          chain_ids=[0, 1, 2], records=rec)
    out = finite_records("exp", res)
    assert out["w"].shape == (2, 2, 4) and torch.equal(out["w"], rec["w"][:, [0, 2]])
    assert out["loss"].shape == (2, 2)


def test_validate_divergence_is_an_error_and_not_complete(tmp_path):
    from implicitbias.cli import app

    r = CliRunner().invoke(app, ["validate", "gauge", "--quick", "--set", "lr=100", "--set", "steps=200",
                                 "--set", "fact_steps=200", "--out", str(tmp_path)])
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.exit_code == 1 and len(errs) == 1 and "validate_gauge" in errs[0] and "diverged" in errs[0]
    assert not list(tmp_path.glob("*/*/complete.json"))


def test_dask_executor_respects_the_lock(tmp_path):
    pytest.importorskip("dask.distributed")
    from implicitbias.runs.executors import DaskExecutor

    cfg = resolve_config("toy", "quick")
    ex = DaskExecutor(workers=1)
    try:
        with RunDir.open(tmp_path, "toy", cfg, lock=True):  # this process writes that run
            out = run_sweep("toy", [({}, to_dict(cfg))], str(tmp_path), ex)
        assert [f["status"] for f in out.failed] == ["locked"] and not out.rows
        out = run_sweep("toy", [({}, to_dict(cfg))], str(tmp_path), ex)  # released: runs on the worker
        assert out.counts == {"done": 1}
    finally:
        ex.close()


def test_wait_reuses_a_run_another_writer_completes(tmp_path):
    """``RunDir.open(..., wait=s)`` blocks on a held lock and returns the run the holder completed."""
    import threading
    import time

    cfg = resolve_config("toy", "quick")
    held = threading.Event()

    def writer() -> None:
        with RunDir.open(tmp_path, "toy", cfg, lock=True) as run:
            held.set()
            time.sleep(1.0)
            run.mark_complete({"x": 1.0})

    t = threading.Thread(target=writer)
    t.start()
    assert held.wait(10)
    with pytest.raises(RunLockedError):
        RunDir.open(tmp_path, "toy", cfg, lock=True)  # wait=0: refused at once
    t0 = time.perf_counter()
    with RunDir.open(tmp_path, "toy", cfg, lock=True, wait=30) as run:
        assert run.is_complete and run.summary() == {"x": 1.0}
    assert time.perf_counter() - t0 < 20
    t.join()
