"""Training snapshots of the FF engine (:mod:`implicitbias.ff.snapshots`, :mod:`~implicitbias.ff.snapshot_eval`).

Oracles (no stored numbers):

1. the snapshot at the final epoch E is the finished run: every stored array, the summary's
   accuracies equal;
2. the snapshot at s < E agrees with a separate run trained ``epochs=s`` wherever the module
   docstring says it must: layer 1 (greedy FF) or the whole network (BP, BP/FF), weights,
   activities and accuracies; greedy FF's snapshot accuracy is recomputed from its stored
   goodness by :func:`implicitbias.ff.evaluate.predict`;
3. bad input (snapshot lists, missing snapshots, unfinished runs, CLI) is a UserInputError /
   exit 2 with one ``error:`` line.

Tiny DIGITS runs (hidden (32, 16), 2-4 epochs, ~0.3-2 s each), built once per module.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from typer.testing import CliRunner

from implicitbias.cli import app
from implicitbias.errors import UserInputError
from implicitbias.ff import get_preset, train_run
from implicitbias.ff.analyze_run import analyze_run, load_representations
from implicitbias.ff.core import normalize_rows
from implicitbias.ff.evaluate import per_layer_predictions, predict
from implicitbias.ff.snapshot_eval import materialize
from implicitbias.ff.snapshots import (
    clip_snapshots,
    is_materialized,
    parse_snapshots,
    snapshot_epochs,
    snapshot_path,
)

ALGOS = ("ff", "bp", "bpff")
E, S = 4, 2  # epochs of the full run, the intermediate snapshot


def _cfg(algo: str, epochs: int, **kw):
    return dataclasses.replace(get_preset("DIGITS_quick"), algo=algo, epochs=epochs, hidden=(32, 16), **kw)


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    return load_file(str(folder / "representations.safetensors"))


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with (size, mtime_ns)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _partial(out: Path, snapshots: tuple[int, ...]) -> Path:
    """A DIGITS bp run of 2 epochs stopped after epoch 1 (no model.safetensors); its folder."""

    class Stop(Exception):
        pass

    def stop(done, total, msg):
        if done == 1:
            raise Stop

    with pytest.raises(Stop):
        train_run(dataclasses.replace(_cfg("bp", 2), hidden=(8,)), out_root=out, device="cpu", progress=stop,
                  snapshots=snapshots)
    return next(p for p in (out / "ff" / "bp").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Per algo: (run of E epochs with snapshots (1, S, E, 50), run of S epochs without)."""
    root = tmp_path_factory.mktemp("snap")
    out = {}
    for algo in ALGOS:
        full = train_run(_cfg(algo, E), out_root=root, device="cpu", snapshots=(1, S, E, 50))
        short = train_run(_cfg(algo, S), out_root=root, device="cpu")
        out[algo] = (full.path, short.path)
    return out


# ---- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "want"), [
    ("1,3,10", (1, 3, 10)), (" 10, 3 ,3,1 ", (1, 3, 10)), ("7", (7,)), ("", ()), (None, ()),
    ([5, 2, 5], (2, 5)), ((), ()),
])
def test_parse_snapshots_good(spec, want):
    assert parse_snapshots(spec) == want


@pytest.mark.parametrize("spec", ["x", "0", "-1", "1,0", "1,,2", "1.5", "3,a", [0], [2, -4]])
def test_parse_snapshots_bad(spec):
    with pytest.raises(UserInputError):
        parse_snapshots(spec)


def test_clip_snapshots_and_paths(tmp_path):
    assert clip_snapshots((10, 1, 3, 3), 4) == (1, 3)
    assert clip_snapshots((1, 4, 5), 4) == (1, 4)
    assert clip_snapshots((0, -2, 2), 4) == (2,)
    assert clip_snapshots((), 4) == ()
    assert snapshot_path(tmp_path, 3) == tmp_path / "snapshots" / "epoch_00003"
    assert snapshot_epochs(tmp_path) == ()
    snapshot_path(tmp_path, 7).mkdir(parents=True)  # a folder without weights is no snapshot
    assert snapshot_epochs(tmp_path) == ()


# ---- what a run with snapshots writes ----------------------------------------------------


@pytest.mark.parametrize("algo", ALGOS)
def test_run_records_its_snapshots(runs, algo):
    full, _ = runs[algo]
    assert snapshot_epochs(full) == (1, S, E)  # 50 > E dropped
    assert _summary(full)["snapshots"] == [1, S, E]
    L = 2
    for s in (1, S, E):
        snap = snapshot_path(full, s)
        assert is_materialized(snap) and (snap / "config.json").read_text() == (full / "config.json").read_text()
        assert _summary(snap)["epoch"] == s
        names = sorted(p.name for p in snap.glob("weights_phase*.safetensors"))
        if algo == "ff":  # one phase per layer, each only its own layer's parameters
            assert names == [f"weights_phase{p}.safetensors" for p in range(L)]
            for p in range(L):
                assert set(load_file(str(snap / f"weights_phase{p}.safetensors"))) == {f"layers.{p}.weight", f"layers.{p}.bias"}
        else:
            assert names == ["weights_phase0.safetensors"]
            assert set(load_file(str(snap / names[0]))) == set(load_file(str(full / "model.safetensors")))


@pytest.mark.parametrize("algo", ALGOS)
def test_final_snapshot_is_the_run(runs, algo):
    """Oracle 1: snapshot E == the finished run (every array, pred, accuracies)."""
    full, _ = runs[algo]
    snap = snapshot_path(full, E)
    a, b = _arrays(snap), _arrays(full)
    assert set(a) == set(b) and "pred" in a
    for k in b:
        assert np.array_equal(a[k], b[k]), k
    sa, sb = _summary(snap), _summary(full)
    assert sa["test_acc"] == sb["test_acc"]
    assert sa["per_layer_acc"] == sb["per_layer_acc"]
    w_final = load_file(str(full / "model.safetensors"))
    for f in snap.glob("weights_phase*.safetensors"):
        for k, v in load_file(str(f)).items():
            assert np.array_equal(v, w_final[k]), (f.name, k)


@pytest.mark.parametrize("algo", ALGOS)
def test_snapshot_matches_shorter_run(runs, algo):
    """Oracle 2: layer 1 at snapshot S == layer 1 of a run of S epochs (whole net for bp/bpff)."""
    full, short = runs[algo]
    snap = snapshot_path(full, S)
    a, b, fin = _arrays(snap), _arrays(short), _arrays(full)
    conds = ("true",) if algo == "bp" else ("true", "neutral", "wrong")
    for c in conds:
        assert np.array_equal(a[f"layer1.{c}"], b[f"layer1.{c}"]), c
    assert not np.array_equal(a["layer1.true"], fin["layer1.true"])  # S differs from the end: the test can fail
    w_short = load_file(str(short / "model.safetensors"))
    w0 = load_file(str(snap / "weights_phase0.safetensors"))
    for k, v in w0.items():  # layer 1 (ff) or the whole network (bp, bpff)
        assert np.array_equal(v, w_short[k]), k
    if algo != "ff":  # the whole network at S is the run of S epochs
        assert set(a) == set(b)
        for k in b:
            assert np.array_equal(a[k], b[k]), k
        assert _summary(snap)["test_acc"] == _summary(short)["test_acc"]
        assert _summary(snap)["per_layer_acc"] == _summary(short)["per_layer_acc"]


def test_probe_rule_snapshot_is_the_network_at_s(tmp_path):
    """BP/FF scored by its jointly trained softmax probe: the snapshot at s predicts with the
    probe as it was at s (a run of s epochs), also when materialised later by a fresh trainer."""
    cfg = _cfg("bpff", E, eval_rule="probe")
    full = train_run(cfg, out_root=tmp_path, device="cpu", snapshots=(S, E)).path
    short = train_run(dataclasses.replace(cfg, epochs=S), out_root=tmp_path, device="cpu").path
    for force in (False, True):
        if force:
            materialize(full, device="cpu", force=True)
        for s, ref in ((S, short), (E, full)):
            a, b = _arrays(snapshot_path(full, s)), _arrays(ref)
            assert np.array_equal(a["pred"], b["pred"]), (force, s)
            assert _summary(snapshot_path(full, s))["test_acc"] == _summary(ref)["test_acc"], (force, s)


def test_greedy_snapshot_accuracy_from_its_goodness(runs):
    """Greedy FF: the snapshot's pred and accuracies are the prediction rule applied to its stored G."""
    full, _ = runs["ff"]
    cfg = json.loads((full / "config.json").read_text())
    cfg = cfg.get("config", cfg)
    for s in (1, S):
        snap = snapshot_path(full, s)
        a, summ = _arrays(snap), _summary(snap)
        G, y = torch.from_numpy(a["goodness"]), torch.from_numpy(a["labels"])
        assert G.shape == (len(y), 10, 2)
        skip = 1 if cfg["eval_rule"] == "goodness_sum" and cfg["eval_skip_first"] else 0
        pred = predict(G, cfg["eval_rule"], skip=skip)
        assert torch.equal(pred, torch.from_numpy(a["pred"]))
        assert summ["test_acc"] == pytest.approx(float((pred == y).float().mean()), abs=1e-7)
        assert summ["per_layer_acc"] == pytest.approx([float(v) for v in (per_layer_predictions(G) == y).float().mean(1)], abs=1e-7)
        # layer 2 at s is fed by the final layer 1 (module docstring): its input is the run's layer 1
        w2 = load_file(str(snap / "weights_phase1.safetensors"))
        h1 = torch.from_numpy(_arrays(full)["layer1.true"].astype(np.float32))
        x2 = normalize_rows(h1, cfg["layer_norm"], cfg["norm_eps"])
        h2 = torch.relu(x2 @ torch.from_numpy(w2["layers.1.weight"]).T + torch.from_numpy(w2["layers.1.bias"]))
        assert torch.allclose(h2, torch.from_numpy(a["layer2.true"].astype(np.float32)), atol=2e-2, rtol=1e-2)


def test_snapshot_folder_is_analysable(runs):
    full, _ = runs["ff"]
    snap = snapshot_path(full, S)
    res = analyze_run(snap)
    assert res["algo"] == "ff" and len(res["layers"]) == 2
    assert res["test_acc"] == _summary(snap)["test_acc"]
    assert load_representations(snap).label_conditioned


# ---- errors, force, idempotence ------------------------------------------------------------


def test_completed_run_without_the_snapshot(tmp_path):
    cfg = _cfg("bp", 3)
    run = train_run(cfg, out_root=tmp_path, device="cpu", snapshots=(2,))
    before = _files(tmp_path)
    assert train_run(cfg, out_root=tmp_path, device="cpu", snapshots=(2, 9)).path == run.path  # 9 > epochs: dropped
    assert train_run(cfg, out_root=tmp_path, device="cpu").path == run.path  # fewer snapshots: reused
    with pytest.raises(UserInputError, match="--force"):
        train_run(cfg, out_root=tmp_path, device="cpu", snapshots=(1, 2))
    assert _files(tmp_path) == before
    train_run(cfg, out_root=tmp_path, device="cpu", snapshots=(1,), force=True)
    assert snapshot_epochs(run.path) == (1,)  # a fresh run: the old snapshot 2 is gone
    assert _summary(run.path)["snapshots"] == [1]
    assert is_materialized(snapshot_path(run.path, 1))
    assert train_run(cfg, out_root=tmp_path, device="cpu", snapshots=(1,)).path == run.path


def test_materialize_needs_a_completed_run(tmp_path):
    part = _partial(tmp_path, snapshots=(1,))
    assert snapshot_epochs(part) == (1,) and not (part / "model.safetensors").exists()
    before = _files(tmp_path)
    with pytest.raises(UserInputError, match="--resume"):
        materialize(part, device="cpu")
    assert _files(tmp_path) == before


def test_materialize_is_idempotent_and_force_rewrites(runs, tmp_path):
    full = tmp_path / "run"
    shutil.copytree(runs["bpff"][0], full)
    ref = {s: _arrays(snapshot_path(full, s)) for s in (1, S, E)}
    before = _files(full)
    out = materialize(full, device="cpu")
    assert out == {s: snapshot_path(full, s) for s in (1, S, E)}
    assert _files(full) == before  # nothing rewritten
    # a snapshot whose representations are gone is rewritten alone, identically
    (snapshot_path(full, S) / "representations.safetensors").unlink()
    materialize(full, device="cpu")
    after = _files(full)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed <= {f"snapshots/epoch_{S:05d}/{n}" for n in ("representations.safetensors", "summary.json", "config.json")}
    assert f"snapshots/epoch_{S:05d}/representations.safetensors" in changed
    for k, v in ref[S].items():
        assert np.array_equal(_arrays(snapshot_path(full, S))[k], v), k
    # force rewrites every snapshot, with the same content (later than the training run: fresh trainer)
    before = _files(full)
    materialize(full, device="cpu", force=True)
    after = _files(full)
    for s in (1, S, E):
        k = f"snapshots/epoch_{s:05d}/representations.safetensors"
        assert after[k][1] > before[k][1], k
        got = _arrays(snapshot_path(full, s))
        for name, v in ref[s].items():
            assert np.array_equal(got[name], v), (s, name)
    assert materialize(runs["bpff"][1], device="cpu") == {}  # a run without snapshots


def test_materialize_only(runs, tmp_path):
    """``only``: the other snapshots are listed, not written."""
    full = tmp_path / "run"
    shutil.copytree(runs["bp"][0], full)
    for s in (1, S):
        (snapshot_path(full, s) / "representations.safetensors").unlink()
    # device "auto" (what experiments pass) resolves like every other device argument
    assert materialize(full, device="auto", only=[S]) == {s: snapshot_path(full, s) for s in (1, S, E)}
    assert is_materialized(snapshot_path(full, S)) and not is_materialized(snapshot_path(full, 1))
    got = _arrays(snapshot_path(full, S))
    for k, v in _arrays(snapshot_path(runs["bp"][0], S)).items():
        assert np.array_equal(got[k], v), k


def test_greedy_run_resumed_without_its_snapshots(tmp_path):
    """Greedy FF stopped in layer 2, resumed without ``snapshots``: snapshots that layer 2 never
    reached hold layer 1 only and are left out; the complete one is materialised and listed."""
    cfg = _cfg("ff", 3)

    class Stop(Exception):
        pass

    def stop(done, total, msg):
        if done == 3 + 1:  # layer 2, epoch 1
            raise Stop

    with pytest.raises(Stop):
        train_run(cfg, out_root=tmp_path, device="cpu", snapshots=(1, 2), progress=stop)
    run = train_run(cfg, out_root=tmp_path, device="cpu", resume=True)
    assert not is_materialized(snapshot_path(run.path, 1))  # not requested by the resumed call
    assert not (snapshot_path(run.path, 2) / "weights_phase1.safetensors").exists()
    assert materialize(run.path, device="cpu") == {1: snapshot_path(run.path, 1)}
    assert is_materialized(snapshot_path(run.path, 1)) and not is_materialized(snapshot_path(run.path, 2))
    r = CliRunner().invoke(app, ["ff", "snapshots", str(run.path), "--device", "cpu"])
    assert r.exit_code == 0, r.stderr + r.stdout[-500:]
    assert [json.loads(ln)["epoch"] for ln in r.stdout.splitlines() if ln.strip()] == [1]


# ---- CLI ---------------------------------------------------------------------------------


def _one_error(r, needle: str = "") -> None:
    err = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.startswith("error:")]
    assert r.exit_code == 2, (r.exit_code, r.stderr, r.stdout[-300:])
    assert len(err) == 1, r.stderr
    assert needle in err[0], err[0]
    assert "Traceback" not in r.stderr + r.stdout
    assert [ln for ln in r.stderr.splitlines() if ln.strip()] == err


@pytest.mark.parametrize("bad", ["x", "0", "-1", "2,,3"])
def test_cli_train_bad_snapshots(tmp_path, bad):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["ff", "train", "--preset", "DIGITS_quick", "--algo", "bp", "--epochs", "2",
                                 "--set", "hidden=[8]", "--device", "cpu", "--threads", "1", "--out", str(out),
                                 "--snapshots", bad])
    _one_error(r, "snapshot")
    assert not out.exists() or not any(out.rglob("*"))


def test_cli_snapshots_errors(runs, tmp_path):
    before = _files(runs["bp"][1])
    _one_error(CliRunner().invoke(app, ["ff", "snapshots", str(tmp_path / "nonexistent"), "--device", "cpu"]), "not a directory")
    _one_error(CliRunner().invoke(app, ["ff", "snapshots", str(runs["bp"][1]), "--device", "cpu"]), "no snapshots")
    root = runs["bp"][1].parents[2]  # <root>/ff/bp/<hash>
    _one_error(CliRunner().invoke(app, ["ff", "train", "--preset", "DIGITS_quick", "--algo", "bp", "--epochs", str(S),
                                        "--set", "hidden=[32,16]", "--device", "cpu", "--threads", "1",
                                        "--out", str(root), "--snapshots", "1"]), "--force")  # completed without snapshot 1
    assert _files(runs["bp"][1]) == before
    part = _partial(tmp_path / "p", snapshots=(1,))
    _one_error(CliRunner().invoke(app, ["ff", "snapshots", str(part), "--device", "cpu"]), "--resume")  # unfinished


def test_cli_snapshots_prints_one_line_per_snapshot(runs):
    full, _ = runs["ff"]
    before = _files(full)
    r = CliRunner().invoke(app, ["ff", "snapshots", str(full), "--device", "cpu"])
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert [row["epoch"] for row in rows] == [1, S, E]
    for row in rows:
        summ = _summary(snapshot_path(full, row["epoch"]))
        assert row["test_acc"] == summ["test_acc"] and row["per_layer_acc"] == summ["per_layer_acc"]
        assert Path(row["path"]) == snapshot_path(full, row["epoch"])
    assert _files(full) == before  # already materialised: nothing rewritten
