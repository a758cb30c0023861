"""Malformed invocations of every subcommand: exit 2, exactly one ``error:`` line, no
traceback, no file changed.

The table is run in-process (``typer.testing.CliRunner`` on the real app, so the error
handling of :class:`implicitbias.cli.ErrorHandlingGroup` is what is tested); a handful of
cases also run as real subprocesses of the console entry point. Range cases are generated
from the declared ranges of every experiment config and of ``FFConfig``: for each bounded
field, a value just outside its range.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from implicitbias.cli import app
from implicitbias.experiments import experiment_ids, get_experiment
from implicitbias.ff.config import FFConfig

FF = ["ff", "train", "--preset", "DIGITS_quick", "--device", "cpu", "--threads", "1"]
SMALL_FF = [*FF, "--algo", "bp", "--epochs", "2", "--set", "hidden=[16]"]


def _bad_value(rng) -> str:
    """A value just outside a declared :class:`~implicitbias.config.Range`."""
    if rng.ge is not None:
        return str(rng.ge - 1)
    if rng.gt is not None:
        return str(rng.gt)
    if rng.le is not None:
        return str(int(rng.le) * 10 + 1)
    if rng.lt is not None:
        return str(rng.lt)
    return "[]"  # min_len only


def _range_cases() -> list[tuple[str, list[str]]]:
    cases = []
    for eid in experiment_ids():
        if eid == "toy":
            continue
        mod = get_experiment(eid)
        cmd = ["validate", eid.removeprefix("validate_"), "--quick"] if eid.startswith("validate_") else ["run", eid]
        for f in dataclasses.fields(mod.Config):
            rng = f.metadata.get("range")
            if rng is not None:
                bad = _bad_value(rng)
                cases.append((f"{eid}:{f.name}={bad}", [*cmd, "--set", f"{f.name}={bad}", "--out", "{out}"]))
            if isinstance(f.default, float):
                cases.append((f"{eid}:{f.name}=nan", [*cmd, "--set", f"{f.name}=nan", "--out", "{out}"]))
    for f in dataclasses.fields(FFConfig):
        rng = f.metadata.get("range")
        if rng is not None:
            bad = _bad_value(rng)
            cases.append((f"ff:{f.name}={bad}", [*FF, "--set", f"{f.name}={bad}", "--out", "{out}"]))
    return cases


HAND_CASES: list[tuple[str, list[str]]] = [
    # top level
    ("no such command", ["nosuch"]),
    ("unknown root option", ["--bogus"]),
    ("version extra arg", ["version", "extra"]),
    # run
    ("run unknown experiment", ["run", "nope"]),
    ("run unknown preset", ["run", "relu_balance", "--preset", "nope"]),
    ("run seeds not int", ["run", "relu_balance", "--seeds", "abc"]),
    ("run seeds 0", ["run", "relu_balance", "--seeds", "0", "--out", "{out}"]),
    ("run seeds negative", ["run", "relu_balance", "--seeds", "-3", "--out", "{out}"]),
    ("run steps=-5", ["run", "relu_balance", "--set", "steps=-5", "--out", "{out}"]),
    ("run lr=inf", ["run", "relu_balance", "--set", "lr=inf", "--out", "{out}"]),
    ("run lr=-inf", ["run", "relu_balance", "--set", "lr=-inf", "--out", "{out}"]),
    ("run steps=1e30", ["run", "relu_balance", "--set", "steps=1e30", "--out", "{out}"]),
    ("run steps=1.5", ["run", "relu_balance", "--set", "steps=1.5", "--out", "{out}"]),
    ("run steps=abc", ["run", "relu_balance", "--set", "steps=abc", "--out", "{out}"]),
    ("run seed=1e30", ["run", "relu_balance", "--set", "seed=1e30", "--out", "{out}"]),
    ("run set without =", ["run", "relu_balance", "--set", "steps", "--out", "{out}"]),
    ("run set unknown key", ["run", "relu_balance", "--set", "nokey=1", "--out", "{out}"]),
    ("run set nested unknown", ["run", "relu_balance", "--set", "a.b=1", "--out", "{out}"]),
    ("run n_freq=0", ["run", "fourier_sparsity", "--set", "n_freq=0", "--out", "{out}"]),
    ("run k_true=100", ["run", "fourier_sparsity", "--set", "k_true=100", "--out", "{out}"]),
    ("run log_every>steps", ["run", "relu_balance", "--set", "steps=10", "--set", "log_every=100", "--out", "{out}"]),
    ("run tv levels/lengths", ["run", "tv_recovery", "--set", "levels=1,2", "--out", "{out}"]),
    ("run tv snapshot>steps", ["run", "tv_recovery", "--set", "snapshot_step=99999999", "--out", "{out}"]),
    ("run ff_rep samples", ["run", "ff_representations", "--set", "samples=nope", "--out", "{out}"]),
    ("run ff_rep lengths", ["run", "ff_representations", "--set", "datasets=digits,mnist", "--out", "{out}"]),
    ("run catalog entries", ["run", "symmetry_catalog", "--set", "entries=nope", "--out", "{out}"]),
    ("run mc true_sv>size", ["run", "matrix_completion", "--set", "size=1", "--out", "{out}"]),
    ("run out is a file", ["run", "relu_balance", "--out", "{file}"]),
    ("run out under a file", ["run", "relu_balance", "--out", "{file}/sub"]),
    ("run out unwritable", ["run", "relu_balance", "--out", "{ro}/runs"]),
    # reproduce
    ("reproduce preset", ["reproduce", "--preset", "nope", "--out", "{out}"]),
    ("reproduce only unknown", ["reproduce", "--only", "nope", "--out", "{out}"]),
    ("reproduce only empty", ["reproduce", "--only", ",", "--out", "{out}"]),
    ("reproduce workers -1", ["reproduce", "--workers", "-1", "--out", "{out}"]),
    ("reproduce workers abc", ["reproduce", "--workers", "abc", "--out", "{out}"]),
    ("reproduce out is a file", ["reproduce", "--only", "toy", "--out", "{file}"]),
    ("reproduce out unwritable", ["reproduce", "--only", "toy", "--out", "{ro}/rep"]),
    ("reproduce dask notaurl", ["reproduce", "--only", "toy", "--executor", "dask", "--dask-address", "notaurl", "--out", "{out}"]),
    ("reproduce dask no port", ["reproduce", "--only", "toy", "--dask-address", "tcp://:1", "--out", "{out}"]),
    ("reproduce executor", ["reproduce", "--only", "toy", "--executor", "nope", "--workers", "2", "--out", "{out}"]),
    # sweep
    ("sweep unknown experiment", ["sweep", "nope", "--out", "{out}"]),
    ("sweep seeds huge", ["sweep", "toy", "--seeds", "0-999999999", "--out", "{out}"]),
    ("sweep grid x seeds huge", ["sweep", "toy", "--grid", "scale=1,2,3", "--seeds", "0-50000", "--out", "{out}"]),
    ("sweep seeds abc", ["sweep", "toy", "--seeds", "abc", "--out", "{out}"]),
    ("sweep seeds reversed", ["sweep", "toy", "--seeds", "5-1", "--out", "{out}"]),
    ("sweep seeds empty", ["sweep", "toy", "--seeds", ",", "--out", "{out}"]),
    ("sweep seeds negative", ["sweep", "relu_balance", "--seeds", "-1", "--out", "{out}"]),
    ("sweep grid no =", ["sweep", "toy", "--grid", "scale", "--out", "{out}"]),
    ("sweep grid no values", ["sweep", "toy", "--grid", "scale=", "--out", "{out}"]),
    ("sweep grid unknown key", ["sweep", "toy", "--grid", "nokey=1,2", "--out", "{out}"]),
    ("sweep grid out of range", ["sweep", "relu_balance", "--grid", "steps=-1,2", "--out", "{out}"]),
    ("sweep grid nan", ["sweep", "relu_balance", "--grid", "lr=nan", "--out", "{out}"]),
    ("sweep workers 0", ["sweep", "toy", "--workers", "0", "--out", "{out}"]),
    ("sweep missing cluster config", ["sweep", "toy", "--executor", "dask", "--dask-cluster", "slurm", "--cluster-config", "{tmp}/missing.json", "--out", "{out}"]),
    ("sweep garbage cluster config", ["sweep", "toy", "--cluster-config", "{garbage}", "--out", "{out}"]),
    ("sweep cluster config key", ["sweep", "toy", "--cluster-config", "{cc_key}", "--out", "{out}"]),
    ("sweep cluster config cores 0", ["sweep", "toy", "--cluster-config", "{cc_cores}", "--out", "{out}"]),
    ("sweep dask notaurl", ["sweep", "toy", "--executor", "dask", "--dask-address", "notaurl", "--out", "{out}"]),
    ("sweep executor", ["sweep", "toy", "--executor", "nope", "--out", "{out}"]),
    ("sweep out is a file", ["sweep", "toy", "--out", "{file}"]),
    ("sweep out unwritable", ["sweep", "toy", "--out", "{ro}/sw"]),
    # validate
    ("validate unknown", ["validate", "nope", "--out", "{out}"]),
    ("validate all --set", ["validate", "all", "--set", "steps=10", "--out", "{out}"]),
    ("validate gauge chains=0", ["validate", "gauge", "--set", "chains=0", "--out", "{out}"]),
    ("validate gauge lr=nan", ["validate", "gauge", "--quick", "--set", "lr=nan", "--out", "{out}"]),
    ("validate seed -1", ["validate", "gauge", "--quick", "--seed", "-1", "--out", "{out}"]),
    ("validate burn_in>=steps", ["validate", "stationary", "--quick", "--set", "burn_in=5000", "--out", "{out}"]),
    ("validate w_lo>w_hi", ["validate", "stationary", "--quick", "--set", "w_lo=5", "--out", "{out}"]),
    ("validate out is a file", ["validate", "gauge", "--quick", "--out", "{file}"]),
    # symmetry
    ("symmetry nothing", ["symmetry"]),
    ("symmetry T nan", ["symmetry", "--catalog", "-T", "nan"]),
    ("symmetry T inf", ["symmetry", "--catalog", "-T", "inf"]),
    ("symmetry T negative", ["symmetry", "--catalog", "-T", "-1"]),
    ("symmetry T abc", ["symmetry", "--catalog", "-T", "abc"]),
    ("symmetry spec and catalog", ["symmetry", "{spec}", "--catalog"]),
    ("symmetry points 0", ["symmetry", "{spec}", "-p", "u=3", "-p", "v=3", "--points", "0"]),
    ("symmetry n-points 0", ["symmetry", "--catalog", "--n-points", "0"]),
    ("symmetry bad mode", ["symmetry", "{spec}", "-p", "u=3", "-p", "v=3", "--mode", "nope"]),
    ("symmetry catalog preset", ["symmetry", "--catalog", "--preset", "nope"]),
    ("symmetry missing file", ["symmetry", "{tmp}/missing.py:f", "-p", "u=3"]),
    ("symmetry no colon", ["symmetry", "{tmp}/fn.py", "-p", "u=3"]),
    ("symmetry missing function", ["symmetry", "{spec_nofn}", "-p", "u=3"]),
    ("symmetry bad param shape", ["symmetry", "{spec}", "-p", "u=abc"]),
    # design
    ("design unknown target", ["design", "nope", "--shape", "4"]),
    ("design shape 0", ["design", "sparse", "--shape", "0"]),
    ("design shape abc", ["design", "sparse", "--shape", "abc"]),
    ("design shape 3d", ["design", "sparse", "--shape", "2x2x2"]),
    ("design shape huge", ["design", "sparse", "--shape", "100000000"]),
    ("design lowrank huge", ["design", "lowrank", "--shape", "100000x100000"]),
    ("design matrix for sparse", ["design", "sparse", "--shape", "4x4"]),
    ("design vector for lowrank", ["design", "lowrank", "--shape", "4"]),
    ("design basis", ["design", "sparse", "--shape", "4", "--basis", "nope"]),
    ("design groups sum", ["design", "group", "--shape", "4", "--groups", "1,2"]),
    ("design groups abc", ["design", "group", "--shape", "4", "--groups", "a,b"]),
    ("design depth 0", ["design", "sparse", "--shape", "4", "--depth", "0"]),
    ("design missing shape", ["design", "sparse"]),
    # data
    ("data unknown subcommand", ["data", "nope"]),
    ("data list incomplete cifar", ["data", "list", "--data-dir", "{cifar}"]),
    ("data inspect missing", ["data", "inspect", "{tmp}/missing"]),
    ("data inspect a text file", ["data", "inspect", "{file}"]),
    ("data inspect garbage csv", ["data", "inspect", "{garbage}"]),
    ("data inspect test fraction", ["data", "inspect", "{cifar}", "--test-fraction", "2"]),
    # analyze (activations of any network)
    ("analyze missing file", ["analyze", "{tmp}/missing.safetensors"]),
    ("analyze a text file", ["analyze", "{file}"]),
    ("analyze truncated file", ["analyze", "{reps_trunc}/representations.safetensors"]),
    ("analyze k nan", ["analyze", "--k", "nan", "{reps_trunc}/representations.safetensors"]),
    # ff train
    ("ff unknown subcommand", ["ff", "nope"]),
    ("ff train test_fraction 1", [*FF, "--set", "test_fraction=1", "--out", "{out}"]),
    ("ff train no preset", ["ff", "train"]),
    ("ff train unknown preset", ["ff", "train", "--preset", "NOPE", "--out", "{out}"]),
    ("ff train algo", [*FF, "--algo", "nope", "--out", "{out}"]),
    ("ff train epochs 0", [*FF, "--epochs", "0", "--out", "{out}"]),
    ("ff train epochs -1", [*FF, "--epochs", "-1", "--out", "{out}"]),
    ("ff train epochs abc", [*FF, "--epochs", "abc", "--out", "{out}"]),
    ("ff train hidden huge", [*FF, "--set", "hidden=100000000", "--out", "{out}"]),
    ("ff train hidden empty", [*FF, "--set", "hidden=[]", "--out", "{out}"]),
    ("ff train hidden 0", [*FF, "--set", "hidden=0,5", "--out", "{out}"]),
    ("ff train lr inf", [*FF, "--set", "lr=inf", "--out", "{out}"]),
    ("ff train lr nan", [*FF, "--set", "lr=nan", "--out", "{out}"]),
    ("ff train batch 0", [*FF, "--set", "batch_size=0", "--out", "{out}"]),
    ("ff train threads 0", [*FF, "--threads", "0", "--out", "{out}"]),
    ("ff train dataset", [*FF, "--set", "dataset=nope", "--out", "{out}"]),
    ("ff train hparams", [*FF, "--set", "hparams=nope", "--out", "{out}"]),
    ("ff train hard negatives", [*FF, "--algo", "ff", "--set", "negatives=hard", "--out", "{out}"]),
    ("ff train probe with ff", [*FF, "--algo", "ff", "--set", "eval_rule=probe", "--out", "{out}"]),
    ("ff train out is a file", [*FF, "--out", "{file}"]),
    ("ff train out unwritable", [*FF, "--out", "{ro}/ff"]),
    ("ff train idx float type", ["ff", "train", "--preset", "TOSATO_MNIST_quick", "--device", "cpu", "--data-dir", "{idx}", "--out", "{out}"]),
    ("ff resume truncated ckpt", [*SMALL_FF, "--resume", "--out", "{ck_trunc}"]),
    ("ff resume garbage ckpt", [*SMALL_FF, "--resume", "--out", "{ck_garbage}"]),
    ("ff resume other ckpt", [*SMALL_FF, "--resume", "--out", "{ck_other}"]),
    ("ff resume bad ckpt meta", [*SMALL_FF, "--resume", "--out", "{ck_meta}"]),
    ("ff resume truncated config", [*SMALL_FF, "--resume", "--out", "{cfg_trunc}"]),
    ("ff resume garbage config", [*SMALL_FF, "--resume", "--out", "{cfg_garbage}"]),
    ("ff resume other config", [*SMALL_FF, "--resume", "--out", "{cfg_other}"]),
    ("ff no-resume garbage config", [*SMALL_FF, "--out", "{cfg_garbage}"]),
    # ff analyze
    ("ff analyze missing dir", ["ff", "analyze", "{tmp}/missing"]),
    ("ff analyze a file", ["ff", "analyze", "{file}"]),
    ("ff analyze empty dir", ["ff", "analyze", "{empty}"]),
    ("ff analyze truncated reps", ["ff", "analyze", "{reps_trunc}"]),
    ("ff analyze garbage reps", ["ff", "analyze", "{reps_garbage}"]),
    ("ff analyze good + truncated", ["ff", "analyze", "{good}", "{reps_trunc}"]),
    ("ff analyze k nan", ["ff", "analyze", "--k", "nan", "{good}"]),
    ("ff analyze k inf", ["ff", "analyze", "--k", "inf", "{good}"]),
    ("ff analyze k 0", ["ff", "analyze", "--k", "0", "{good}"]),
    ("ff analyze tau nan", ["ff", "analyze", "--tau", "nan", "{good}"]),
    ("ff analyze n-id -1", ["ff", "analyze", "--n-id", "-1", "{good}"]),
    ("ff analyze samples", ["ff", "analyze", "--samples", "nope", "{good}"]),
]

CASES = HAND_CASES + _range_cases()


def _cifar_batch(n: int) -> bytes:
    rng = np.random.default_rng(n)
    d = {b"data": rng.integers(0, 255, (10, 3072), dtype=np.uint8), b"labels": list(range(10))}
    return pickle.dumps(d, protocol=2)


def _train_partial(out: Path, hidden: int = 16) -> Path:
    """A DIGITS bp run of 2 epochs stopped after epoch 1 (checkpoint left); its folder."""
    from implicitbias.ff import get_preset, train_run

    class Stop(Exception):
        pass

    def stop(done, total, msg):
        if done == 1:
            raise Stop

    cfg = dataclasses.replace(get_preset("DIGITS_quick"), algo="bp", epochs=2, hidden=(hidden,))
    with pytest.raises(Stop):
        train_run(cfg, out_root=out, device="cpu", progress=stop)
    return next(p for p in (out / "ff" / "bp").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Every file the table needs, built once (two tiny DIGITS runs, ~seconds)."""
    from implicitbias.data.idx import encode_idx
    from implicitbias.ff import get_preset, train_run

    t = tmp_path_factory.mktemp("malformed")
    p: dict[str, Path] = {"tmp": t, "out": t / "out", "file": t / "a_file.txt", "ro": t / "ro",
                          "empty": t / "empty", "garbage": t / "garbage.json"}
    p["file"].write_text("not a folder\n")
    p["ro"].mkdir()
    p["empty"].mkdir()
    p["garbage"].write_text("{not json")
    (t / "cc_key.json").write_text(json.dumps({"nokey": 1}))
    (t / "cc_cores.json").write_text(json.dumps({"cores": 0}))
    p["cc_key"], p["cc_cores"] = t / "cc_key.json", t / "cc_cores.json"
    (t / "fn.py").write_text("def f(p):\n    return p['u'] * p['v']\n")
    p["spec"], p["spec_nofn"] = f"{t / 'fn.py'}:f", f"{t / 'fn.py'}:nofn"  # type: ignore[assignment]
    # CIFAR python batches with data_batch_3 missing
    cif = t / "cifar" / "cifar-10-batches-py"
    cif.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_4", "data_batch_5", "test_batch"):
        (cif / name).write_bytes(_cifar_batch(len(name)))
    p["cifar"] = t / "cifar"
    # MNIST folder whose image files declare float32 data (type code 0x0D)
    from implicitbias.data.registry import IDX_FILES

    mn = t / "idx" / "mnist"
    mn.mkdir(parents=True)
    for split, n in (("train", 60_000), ("test", 10_000)):
        img, lab = IDX_FILES[split]
        head = bytes([0, 0, 0x0D, 3]) + np.array([n, 28, 28], ">u4").tobytes()
        (mn / img).write_bytes(head + np.zeros((n, 28, 28), ">f4").tobytes())
        (mn / lab).write_bytes(encode_idx(np.zeros(n, np.uint8)))
    p["idx"] = t / "idx"
    # FF runs: a partial one (checkpoint) copied and corrupted in seven ways; a complete one
    base = _train_partial(t / "ff_base")
    other = _train_partial(t / "ff_other", hidden=8)
    for key, fix in {
        "ck_trunc": lambda d: (d / "checkpoint.safetensors").write_bytes((d / "checkpoint.safetensors").read_bytes()[:300]),
        "ck_garbage": lambda d: (d / "checkpoint.safetensors").write_bytes(b"garbage" * 50),
        "ck_other": lambda d: shutil.copy(other / "checkpoint.safetensors", d / "checkpoint.safetensors"),
        "ck_meta": lambda d: _rewrite_meta(d / "checkpoint.safetensors", {"phase": 7, "epoch": 99}),
        "cfg_trunc": lambda d: (d / "config.json").write_text((d / "config.json").read_text()[:20]),
        "cfg_garbage": lambda d: (d / "config.json").write_bytes(b"\x00\xff garbage"),
        "cfg_other": lambda d: shutil.copy(other / "config.json", d / "config.json"),
    }.items():
        root = t / key
        shutil.copytree(t / "ff_base", root)
        fix(root / base.relative_to(t / "ff_base"))
        p[key] = root
    cfg = dataclasses.replace(get_preset("DIGITS_quick"), algo="bp", epochs=1, hidden=(16,))
    good = train_run(cfg, out_root=t / "ff_good", device="cpu").path
    p["good"] = good
    for key, fix in {
        "reps_trunc": lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]),
        "reps_garbage": lambda f: f.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}"),
    }.items():
        d = t / key
        shutil.copytree(good, d)
        fix(d / "representations.safetensors")
        p[key] = d
    return {k: str(v) for k, v in p.items()}


def _rewrite_meta(f: Path, meta: dict) -> None:
    from implicitbias.runs.atomic import load_tensors, save_tensors

    save_tensors(f, load_tensors(f), metadata={"meta": json.dumps(meta)})


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with (size, mtime); lock files by existence only."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            q = Path(dirpath) / name
            st = q.lstat()
            out[str(q.relative_to(root))] = (None, None) if name == ".lock" or q.is_dir() else (st.st_size, st.st_mtime_ns)
    return out


def _check(result_code: int, stderr: str, stdout: str, label: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    err_lines = [ln for ln in (stderr + stdout).splitlines() if ln.startswith("error:")]
    assert result_code == 2, f"{label}: exit {result_code}\n{stderr}\n{stdout[-500:]}"
    assert len(err_lines) == 1, f"{label}: {len(err_lines)} error lines\n{stderr}"
    assert "Traceback" not in stderr + stdout, f"{label}: traceback\n{stderr}"
    assert lines == err_lines, f"{label}: stderr has more than the error line\n{stderr}"


def test_table_is_large_and_covers_every_subcommand():
    assert len(CASES) >= 150
    heads = {" ".join(a[:2]) if a[0] in ("ff", "data") else a[0] for _, a in CASES}
    for cmd in ("run", "reproduce", "sweep", "validate", "symmetry", "design", "data list", "data inspect",
                "analyze", "ff train", "ff analyze"):
        assert cmd in heads, cmd


@pytest.mark.parametrize(("label", "args"), CASES, ids=[c[0] for c in CASES])
def test_malformed_invocation(env, label, args, monkeypatch):
    root = Path(env["tmp"])
    ro = env["ro"]
    real_access = os.access
    # The tests may run as root, for whom every folder is writable: stand in for an
    # unwritable folder by denying access to "ro" (what os.access reports for a normal user).
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path).startswith(ro) else real_access(path, mode, **kw))
    monkeypatch.chdir(root)
    argv = [a.format(**env) for a in args]
    before = snapshot(root)
    r = CliRunner().invoke(app, argv)
    if os.environ.get("SHOW_ERRORS"):
        print(f"\n[{label}] {r.stderr.strip()}")
    assert not isinstance(r.exception, BaseException) or isinstance(r.exception, SystemExit), (
        f"{label}: {type(r.exception).__name__}: {r.exception}")
    _check(r.exit_code, r.stderr, r.stdout, label)
    assert snapshot(root) == before, f"{label}: files changed"


SUBPROCESS = ["run steps=-5", "reproduce workers -1", "sweep seeds huge", "design shape huge",
              "ff train epochs 0", "ff analyze k nan", "data list incomplete cifar", "no such command"]


@pytest.mark.parametrize("label", SUBPROCESS)
def test_console_entry_point_behaves_the_same(env, label):
    args = dict(CASES)[label]
    root = Path(env["tmp"])
    before = snapshot(root)
    r = subprocess.run([sys.executable, "-m", "implicitbias", *[a.format(**env) for a in args]],
                       capture_output=True, text=True, timeout=120, cwd=root,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    _check(r.returncode, r.stderr, r.stdout, label)
    assert snapshot(root) == before


def test_finite_checks_reject_nan_everywhere():
    from implicitbias.config import check_config
    from implicitbias.errors import UserInputError

    with pytest.raises(UserInputError, match="finite"):
        check_config(dataclasses.replace(FFConfig(), threshold=math.nan))
