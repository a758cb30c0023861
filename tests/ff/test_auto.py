"""``--data`` into the FF engine and the ``*_AUTO`` presets (sized from the data)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.fixtures.user_data import blobs, image_folder, write_csv
from typer.testing import CliRunner

from implicitbias.data.userdata import from_arrays
from implicitbias.errors import UserInputError
from implicitbias.ff import get_preset, resolve_config, train_run
from implicitbias.ff.auto import DataFacts, auto_hparams, resolve_for_data


def test_auto_hparams_scale_with_the_data() -> None:
    small = auto_hparams("ff", dim=4, num_classes=3, n_train=120)
    big = auto_hparams("bp", dim=784, num_classes=10, n_train=60000)
    assert small == {"hidden": (128, 128), "epochs": 300, "lr": 3e-3, "batch_size": 32}
    assert auto_hparams("ff", dim=4, num_classes=3, n_train=5000)["lr"] == 0.01
    assert big == {"hidden": (1000, 1000, 1000), "epochs": 5, "lr": 3e-3, "batch_size": 1024}
    mid = auto_hparams("bpff", dim=64, num_classes=10, n_train=1437)
    assert mid["hidden"] == (320, 320) and mid["batch_size"] == 128 and mid["epochs"] == 28


def test_auto_preset_needs_data_and_keeps_overrides() -> None:
    with pytest.raises(UserInputError, match="sized from the data"):
        resolve_config(get_preset("FF_AUTO"))
    cfg = dataclasses.replace(get_preset("BP_AUTO"), epochs=7)
    out = resolve_config(resolve_for_data(cfg, DataFacts(10, 3, 500, "one_hot_concat", "t.csv@abc")))
    assert out.epochs == 7 and out.hidden == (128, 128) and out.embed == "one_hot_concat" and out.dataset == "t.csv@abc"


def test_auto_presets_learn_generated_tabular_data(tmp_path: Path) -> None:
    """FF, BP/FF and BP with the *_AUTO presets far above chance (1/3) on generated blobs (seconds)."""
    x, y = blobs(240, 6, seed=3)
    ud = from_arrays(x, y, test_fraction=0.25)
    accs = {}
    for preset in ("FF_AUTO", "BPFF_AUTO", "BP_AUTO"):
        cfg = dataclasses.replace(get_preset(preset), epochs=30)  # a third of the auto schedule: fast test
        run = train_run(cfg, out_root=tmp_path, device="cpu", dataset=ud)
        s = run.read_json("summary")
        accs[preset] = s["test_acc"]
        assert s["config"]["embed"] == "one_hot_concat" and s["class_names"] == ["0", "1", "2"]
    assert min(accs.values()) > 0.8, accs


def test_ff_train_cli_with_data(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "shapes", n_train=8, n_test=3)
    out = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "implicitbias", "ff", "train", "--data", str(root), "--algo", "bp",
                        "--epochs", "2", "--out", str(out), "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["dataset"].startswith("shapes@") and 0.0 <= res["test_acc"] <= 1.0
    summary = json.loads((Path(res["run"]) / "summary.json").read_text())
    assert summary["class_names"] == ["circle", "cross", "square"] and summary["config"]["data"] == str(root)


def test_ff_train_bad_data_writes_nothing(tmp_path: Path) -> None:
    from implicitbias.cli import app

    x, y = blobs(30, 3)
    bad = write_csv(tmp_path / "one.csv", x, ["a"] * 30)
    out = tmp_path / "runs"
    res = CliRunner().invoke(app, ["ff", "train", "--data", str(bad), "--out", str(out)])
    assert res.exit_code == 2 and res.stderr.startswith("error:") and "single class" in res.stderr  # one line, in-process too
    assert not out.exists()
    r = subprocess.run([sys.executable, "-m", "implicitbias", "ff", "train", "--data", str(bad), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_data_inspect_cli(tmp_path: Path) -> None:
    x, y = blobs(90, 4)
    f = write_csv(tmp_path / "t.csv", x, np.array(["a", "b", "c"])[y])
    r = subprocess.run([sys.executable, "-m", "implicitbias", "data", "inspect", str(f), "--json", "--baseline"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["classes"] == ["a", "b", "c"] and info["n_train"] + info["n_test"] == 90
    assert info["auto_presets"]["FF_AUTO"]["hidden"] == [128, 128] and info["baseline"]["mlp"]["test_acc"] > 0.8


def test_ff_representations_takes_user_data(tmp_path: Path) -> None:
    from implicitbias.experiments.ff.representations import Config, _datasets, _ff_config

    x, y = blobs(60, 4)
    f = write_csv(tmp_path / "t.csv", x, np.array(["a", "b", "c"])[y])
    cfg = Config(data=str(f), seeds=1)
    (name, (preset, test_set, names)), = _datasets(cfg).items()
    assert name == "t.csv" and preset == "FF_AUTO" and names == ("a", "b", "c")
    assert test_set("paper")[0].shape == (12, 4)
    ff = _ff_config(cfg, preset, "bp", 0)
    assert ff.algo == "bp" and ff.data == str(f) and ff.hparams == "auto" and ff.epochs is None
