"""Sweeps: grid expansion, idempotence, retry of failures, local vs Dask executors."""

from __future__ import annotations

import os

import pytest

from implicitbias.config import to_dict
from implicitbias.errors import UserInputError
from implicitbias.experiments.runner import resolve_config
from implicitbias.experiments.sweep import run_sweep, summary_table, write_sweep
from implicitbias.runs.executors import InlineExecutor, LocalExecutor
from implicitbias.runs.sweep import expand_grid, parse_grid, parse_seeds, summarise


def _configs(grid=("scale=1,2",), seeds="0-2", **sets):
    base = resolve_config("toy", "quick", [f"{k}={v}" for k, v in sets.items()])
    return [(pt, to_dict(c)) for pt, c in expand_grid(base, parse_grid(list(grid)), parse_seeds(seeds))]


def test_parse_seeds_and_grid():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,3,5") == [0, 3, 5]
    assert parse_grid(["a=1,2", "b=x"]) == {"a": ["1", "2"], "b": ["x"]}
    for bad in ["3-1", "a", ""]:
        with pytest.raises(UserInputError):
            parse_seeds(bad)
    with pytest.raises(UserInputError):
        parse_grid(["noequals"])


def test_expand_grid_counts_and_unknown_key():
    cfgs = _configs()
    assert len(cfgs) == 6
    # toy runs `seeds=2` chains from `seed`: sweep seeds 0, 1, 2 get disjoint chain blocks
    assert sorted(c["seed"] for _, c in cfgs) == [0, 0, 2, 2, 4, 4]
    single = expand_grid(resolve_config("toy", "quick", ["seeds=1"]), {}, [0, 1, 2])
    assert [c.seed for _, c in single] == [0, 1, 2]
    base = resolve_config("toy", "quick")
    with pytest.raises(UserInputError):
        expand_grid(base, {"nope": ["1"]}, None)


def test_sweep_idempotent_and_summary(tmp_path):
    cfgs = _configs()
    first = run_sweep("toy", cfgs, str(tmp_path), InlineExecutor())
    assert first.counts == {"done": 6}
    second = run_sweep("toy", cfgs, str(tmp_path), InlineExecutor())
    assert second.counts == {"cached": 6}
    table = summarise(second.rows)
    assert sorted(r["scale"] for r in table) == ["1", "2"]
    by_scale = {r["scale"]: r for r in table}
    # value scales linearly with `scale` for the same seeds (oracle: the toy's definition)
    assert by_scale["2"]["value_mean"] == pytest.approx(2 * by_scale["1"]["value_mean"], rel=1e-6)
    assert by_scale["1"]["n"] == 3


def test_failed_runs_reported_then_retried(tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("x")
    cfgs = _configs(grid=("scale=1",), seeds="0-1", fail_file=str(flag))
    out = run_sweep("toy", cfgs, str(tmp_path / "runs"), InlineExecutor())
    assert out.counts == {"failed": 2} and all("asked to fail" in f["error"] for f in out.failed)
    flag.unlink()
    skipped = run_sweep("toy", cfgs, str(tmp_path / "runs"), InlineExecutor(), retry_failed=False)
    assert skipped.counts == {"failed": 2}
    retried = run_sweep("toy", cfgs, str(tmp_path / "runs"), InlineExecutor(), retry_failed=True)
    assert retried.counts == {"done": 2}


def _collect(root):
    import json
    from pathlib import Path

    out = {}
    for p in sorted(Path(root).glob("toy/*/complete.json")):
        out[p.parent.name] = json.loads(p.read_text())["summary"]["metrics"]["value"]
    return out


def test_local_process_pool_matches_inline(tmp_path):
    cfgs = _configs(seeds="0-1")
    run_sweep("toy", cfgs, str(tmp_path / "a"), InlineExecutor())
    ex = LocalExecutor(2)
    try:
        out = run_sweep("toy", cfgs, str(tmp_path / "b"), ex)
    finally:
        ex.close()
    assert out.counts == {"done": 4}
    assert _collect(tmp_path / "a") == _collect(tmp_path / "b")


def test_dask_local_cluster_matches_local_and_survives_worker_kill(tmp_path):
    pytest.importorskip("distributed", reason="dask executor needs the [cluster] extra")
    from implicitbias.runs.executors import DaskExecutor

    cfgs = _configs(seeds="0-2", sleep=0.5)
    run_sweep("toy", cfgs, str(tmp_path / "local"), InlineExecutor())
    ex = DaskExecutor(workers=2)
    killed = []

    def kill_one(status):
        if not killed:
            addr = sorted(ex.client.scheduler_info()["workers"])[0]
            try:
                ex.client.run(os._exit, 1, workers=[addr], wait=False)
            except Exception:  # noqa: BLE001 - the worker dies while answering
                pass
            killed.append(addr)

    try:
        out = run_sweep("toy", cfgs, str(tmp_path / "dask"), ex, on_result=kill_one)
        if out.failed:  # a task lost with its worker: the documented remedy is --retry-failed
            out = run_sweep("toy", cfgs, str(tmp_path / "dask"), ex, retry_failed=True)
    finally:
        ex.close()
    assert killed
    assert not out.failed
    assert _collect(tmp_path / "local") == _collect(tmp_path / "dask")


def test_sweep_summarises_the_declared_metrics_in_order(tmp_path):
    cfgs = _configs(grid=("scale=1,3",), seeds="0-1")
    out = run_sweep("toy", cfgs, str(tmp_path), InlineExecutor())
    table = summary_table("toy", out)
    assert [k for k in table[0] if k.endswith("_mean")] == ["value_mean", "draws_mean"]
    by_scale = {r["scale"]: r for r in table}
    # oracle: "draws" is the per-chain list whose chain mean is "value"
    assert by_scale["3"]["draws_mean"] == pytest.approx(by_scale["3"]["value_mean"])
    assert by_scale["3"]["value_mean"] == pytest.approx(3 * by_scale["1"]["value_mean"], rel=1e-6)
    assert "scale_mean" not in table[0]  # an undeclared number is not a metric
    summary, spec = write_sweep("toy", table, tmp_path / "toy")
    assert spec.read_text().splitlines()[1].startswith("value,1,")
    assert summary.read_text().splitlines()[0].startswith("scale,n,value_mean,value_sd,draws_mean")


def test_runner_draws_figures_and_redraws_them_from_the_run_directory(tmp_path):
    import shutil
    from pathlib import Path

    from implicitbias.experiments.runner import execute_experiment, load_result, redraw
    from implicitbias.runs import RunDir

    st = execute_experiment("toy", to_dict(resolve_config("toy", "quick")), str(tmp_path))
    run = RunDir(Path(st["path"]), "toy")
    figs = load_result(run).figures
    assert figs == ["figures/vals.png"] and (run.path / figs[0]).exists()
    shutil.rmtree(run.path / "figures")
    assert redraw(run.path) == figs and (run.path / figs[0]).stat().st_size > 1000
    with pytest.raises(UserInputError):
        redraw(tmp_path)
