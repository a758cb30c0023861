"""Configs (round trip, overrides, hash) and run directories (atomicity, reuse, force)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from implicitbias.config import config_hash, from_dict, override, to_dict
from implicitbias.errors import RunExistsError, UserInputError
from implicitbias.runs import RunDir, read_metrics
from implicitbias.seeding import derive_seed


@dataclasses.dataclass(frozen=True)
class Inner:
    width: int = 4
    act: str = "relu"


@dataclasses.dataclass(frozen=True)
class Cfg:
    lr: float = 0.1
    steps: int = 10
    sizes: tuple[int, ...] = (3, 4)
    flag: bool = False
    inner: Inner = Inner()
    note: str | None = None


def test_round_trip_and_hash_stable():
    c = Cfg(sizes=(1, 2, 3), inner=Inner(width=7))
    d = to_dict(c)
    assert json.loads(json.dumps(d)) == d
    assert from_dict(Cfg, d) == c
    assert config_hash(c) == config_hash(from_dict(Cfg, d))
    assert config_hash(c) != config_hash(Cfg())
    assert len(config_hash(c)) == 8


def test_override_parses_types():
    c = override(Cfg(), ["lr=1e-3", "steps=20", "sizes=5,6", "flag=true", "inner.width=9", "note=hi"])
    assert c == Cfg(lr=1e-3, steps=20, sizes=(5, 6), flag=True, inner=Inner(width=9), note="hi")


@pytest.mark.parametrize("bad", ["nokey", "zz=1", "steps=abc", "steps=1.5", "flag=maybe", "inner.zz=1"])
def test_override_rejects_bad_input(bad):
    with pytest.raises(UserInputError):
        override(Cfg(), [bad])


def test_derive_seed_independent_of_other_keys():
    assert derive_seed(0, "chain", 3) == derive_seed(0, "chain", 3)
    assert derive_seed(0, "chain", 3) != derive_seed(0, "chain", 4)
    assert derive_seed(0, "chain", 3) != derive_seed(1, "chain", 3)


def test_rundir_layout_reuse_and_force(tmp_path):
    cfg = Cfg()
    run = RunDir.open(tmp_path, "exp", cfg)
    assert run.path == tmp_path / "exp" / config_hash(cfg)
    assert json.loads((run.path / "config.json").read_text())["config"] == to_dict(cfg)
    with run.logger() as lg:
        lg.log({"loss": torch.tensor(0.5)}, step=1)
        lg.log({"loss": float("nan")}, step=2)
    assert [r["step"] for r in read_metrics(run.path / "metrics.jsonl")] == [1, 2]
    run.save_arrays({"w": torch.arange(3.0)})
    assert torch.equal(run.load_arrays()["w"], torch.arange(3.0))
    run.save_checkpoint({"theta": torch.ones(2)}, {"step": 5})
    tensors, meta = run.load_checkpoint()
    assert meta == {"step": 5} and torch.equal(tensors["theta"], torch.ones(2))
    run.write_env(seed=0)
    assert json.loads((run.path / "env.json").read_text())["seed"] == 0
    run.mark_complete({"x": 1})
    # Reuse: opening again returns the completed run untouched.
    again = RunDir.open(tmp_path, "exp", cfg)
    assert again.is_complete and again.summary() == {"x": 1}
    with pytest.raises(RunExistsError):
        RunDir.open(tmp_path, "exp", cfg, must_be_new=True)
    # Force: the old run is kept aside until the new one completes.
    forced = RunDir.open(tmp_path, "exp", cfg, force=True)
    assert not forced.is_complete
    assert len(list((tmp_path / "exp").glob("*.replaced-*"))) == 1
    forced.mark_complete()
    assert list((tmp_path / "exp").glob("*.replaced-*")) == []


def test_rundir_refuses_different_config_in_same_dir(tmp_path):
    run = RunDir.open(tmp_path, "exp", Cfg())
    rec = json.loads((run.path / "config.json").read_text())
    rec["config"]["lr"] = 99.0
    (run.path / "config.json").write_text(json.dumps(rec))
    with pytest.raises(UserInputError):
        RunDir.open(tmp_path, "exp", Cfg())


def test_no_temp_files_left(tmp_path):
    run = RunDir.open(tmp_path, "exp", Cfg())
    run.write_json("a", {"b": 1})
    run.save_arrays({"x": torch.zeros(1)})
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]
