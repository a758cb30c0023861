"""End-to-end training on sklearn digits: accuracy, run directory, resume, divergence, CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from implicitbias.errors import UserInputError
from implicitbias.ff import TrainingDiverged, get_preset, resolve_config, train_run
from implicitbias.ff.trainer import Trainer
from implicitbias.runs.atomic import load_tensors


@pytest.mark.parametrize("algo", ["ff", "bpff", "bp"])
def test_digits_quick_reaches_085(algo, tmp_path):
    run = train_run(dataclasses.replace(get_preset("DIGITS_quick"), algo=algo), out_root=tmp_path, device="cpu")
    s = run.read_json("summary")
    assert s["test_acc"] >= 0.85, s
    assert s["epochs"] == resolve_config(dataclasses.replace(get_preset("DIGITS_quick"), algo=algo)).epochs
    reps = run.load_arrays("representations")
    n = len(reps["labels"])
    assert reps["labels"].dtype == torch.int64 and reps["pred"].shape == (n,)
    acc = (reps["pred"] == reps["labels"]).float().mean().item()
    assert acc == pytest.approx(s["test_acc"], abs=1e-6)
    conds = ("true",) if algo == "bp" else ("true", "neutral", "wrong")
    for layer in (1, 2):
        for c in conds:
            assert reps[f"layer{layer}.{c}"].dtype == torch.float16 and reps[f"layer{layer}.{c}"].shape == (n, 256)
    assert bool((reps["wrong_labels"] != reps["labels"]).all())
    model = load_tensors(run.path / "model.safetensors")
    assert model["layers.0.weight"].shape[0] == 256 and ("head.weight" in model) == (algo == "bp")
    if algo != "bp":
        assert len(s["per_layer_acc"]) == 2
        # the stored true-label activities reproduce the stored goodness of the true label
        g_true = reps["goodness"][torch.arange(n), reps["labels"], 0]
        torch.testing.assert_close(reps["layer1.true"].float().norm(dim=1), g_true, rtol=2e-3, atol=2e-3)
    # a completed run is reused, not retrained
    assert train_run(dataclasses.replace(get_preset("DIGITS_quick"), algo=algo), out_root=tmp_path).path == run.path


class _Kill(Exception):
    pass


@pytest.mark.parametrize(
    "overrides,kill_at",
    [
        (dict(algo="ff", epochs=3), 2),  # inside layer 1
        (dict(algo="ff", epochs=3), 3),  # at the layer boundary
        (dict(algo="ff", epochs=2, hidden=(48, 48, 32)), 4),  # layer 3's cache: advanced vs rebuilt
        (dict(algo="ff", epochs=2, hidden=(48, 48, 32)), 5),
        (dict(algo="ff-simultaneous", epochs=3, negatives="hard", peer_norm=0.03, eval_rule="probe"), 1),
        (dict(algo="bp", epochs=3, lr_schedule="linear_cooldown"), 2),
    ],
)
def test_resume_equals_uninterrupted(tmp_path, overrides, kill_at):
    cfg = dataclasses.replace(get_preset("DIGITS_quick"), **{"hidden": (64, 32), **overrides})
    full = train_run(cfg, out_root=tmp_path / "a", device="cpu")

    def killer(done, total, msg):
        if done == kill_at:
            raise _Kill

    with pytest.raises(_Kill):
        train_run(cfg, out_root=tmp_path / "b", device="cpu", progress=killer)
    resumed = train_run(cfg, out_root=tmp_path / "b", device="cpu", resume=True)
    a = load_tensors(full.path / "model.safetensors")
    b = load_tensors(resumed.path / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    steps = [r["step"] for r in resumed.metrics()]
    assert steps == sorted(set(steps)) and len(steps) == len(full.metrics())


def test_incompatible_options_are_user_errors():
    with pytest.raises(UserInputError, match="negatives=hard"):
        resolve_config(dataclasses.replace(get_preset("DIGITS_quick"), algo="ff", negatives="hard"))
    with pytest.raises(UserInputError, match="unknown hparams"):
        resolve_config(dataclasses.replace(get_preset("DIGITS_quick"), hparams="nope"))


def test_divergence_names_layer_and_epoch(tmp_path, monkeypatch):
    cfg = dataclasses.replace(get_preset("DIGITS_quick"), algo="ff", hidden=(32,), epochs=3, goodness="sumsq")
    real = Trainer.lr_at
    monkeypatch.setattr(Trainer, "lr_at", lambda self, frac: float("nan") if frac >= 1 / 3 else real(self, frac))
    with pytest.raises(TrainingDiverged, match="layer 1 at epoch 2"):
        train_run(cfg, out_root=tmp_path, device="cpu")
    run_dir = next((tmp_path / "ff" / "ff").iterdir())
    from implicitbias.runs import RunDir

    kept, meta = RunDir(run_dir, "ff/ff").load_checkpoint()
    assert meta["epoch"] == 1  # the last good checkpoint is kept
    assert not (run_dir / "complete.json").exists()
    # ... and it is the good one: bitwise the checkpoint of an undisturbed run after epoch 1
    monkeypatch.setattr(Trainer, "lr_at", real)

    def stop_after_first(done, total, msg):
        if done == 1:
            raise _Kill

    with pytest.raises(_Kill):
        train_run(cfg, out_root=tmp_path / "ref", device="cpu", progress=stop_after_first)
    ref, _ = RunDir(next((tmp_path / "ref" / "ff" / "ff").iterdir()), "ff/ff").load_checkpoint()
    assert kept.keys() == ref.keys()
    for k in ref:
        assert torch.isfinite(kept[k]).all() and torch.equal(kept[k], ref[k]), k
    # resuming from it finishes the run with finite weights
    done = train_run(cfg, out_root=tmp_path, device="cpu", resume=True)
    assert done.is_complete
    assert all(torch.isfinite(v).all() for v in load_tensors(done.path / "model.safetensors").values())


def test_cli_train_and_errors(tmp_path):
    cmd = [sys.executable, "-m", "implicitbias", "ff", "train", "--preset", "DIGITS_quick", "--algo", "bp",
           "--epochs", "2", "--out", str(tmp_path), "--device", "cpu", "--threads", "1", "--set", "hidden=[32]"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["epochs"] == 2 and (tmp_path / "ff" / "bp").is_dir()
    bad = subprocess.run(cmd[:6] + ["NOPE"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown FF preset" in bad.stderr
    assert bad.stderr.count("\n") == 1  # one line, no traceback
    from typer.testing import CliRunner

    from implicitbias.cli import app

    lst = CliRunner().invoke(app, ["data", "list"])
    assert lst.exit_code == 0 and "digits" in lst.output and "mnist" in lst.output
