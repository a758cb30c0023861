"""``train_run``: one FF / BP-FF / BP training run in a run directory, resumable.

Run directory ``<out_root>/ff/<algo>/<hash>/`` (hash of the *resolved* config):

* ``config.json``, ``env.json``, ``metrics.jsonl`` (one row per epoch);
* ``checkpoint.safetensors`` — written after every epoch (weights, optimiser state, phase,
  epoch) and removed when the run completes; ``resume=True`` continues from it and ends with
  the same weights as an uninterrupted run (same device, same seed);
* ``model.safetensors`` — ``layers.{i}.weight`` (out, in), ``layers.{i}.bias`` (+ ``head.*`` for BP);
* ``representations.safetensors`` — test set: ``labels``, ``pred``, ``wrong_labels`` (N,) int64;
  ``layer{l}.true|neutral|wrong`` (N, H_l) float16 post-ReLU activities (l = 1..L) under the
  true / neutral / one wrong label; FF also ``goodness`` (N, K, L) float32. BP networks see no
  label, so BP stores ``layer{l}.true`` only;
* ``summary.json`` (and ``complete.json``): ``test_acc``, ``per_layer_acc``, ``wall_time_s``,
  ``epochs`` and the other evaluation rules.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from implicitbias.config import to_dict
from implicitbias.device import resolve_device
from implicitbias.errors import UserInputError
from implicitbias.ff.config import FFConfig, resolve_config
from implicitbias.ff.run_io import build_trainer, save_representations
from implicitbias.ff.rundata import RunData, load_run_data, prepare
from implicitbias.ff.snapshot_eval import write_snapshots
from implicitbias.ff.snapshots import (
    SNAPSHOT_DIR,
    clip_snapshots,
    save_snapshot_weights,
    snapshot_epochs,
)
from implicitbias.ff.trainer import Callback, Trainer
from implicitbias.runs import RunDir
from implicitbias.runs.atomic import save_tensors
from implicitbias.runs.rundir import check_out_dir, run_path

__all__ = ["train_run", "build_trainer", "save_representations", "memory_estimate"]

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int, str], None]


def memory_estimate(cfg: FFConfig, data: RunData) -> float:
    """Rough peak bytes of a resolved config on loaded ``data``: weights + grads + 2 optimiser
    moments (float32), a batch of activations, greedy FF's train-set layer cache and the
    float16 representations of the test set (3 label conditions); the data is already in memory."""
    n_tr, n_te = len(data.y_train), len(data.y_test)
    d_in = data.shape[0] * data.shape[1] * data.shape[2]
    dims = [d_in + len(data.classes), *cfg.hidden]
    params = sum((a + 1) * b for a, b in zip(dims[:-1], dims[1:], strict=False))
    acts = 8 * int(cfg.batch_size or 1) * sum(cfg.hidden) * 4
    cache = n_tr * max(dims[:-1]) * 4 if cfg.algo == "ff" else 0  # inputs of the layer being trained
    reps = 3 * n_te * sum(cfg.hidden) * 2
    return float(16 * params + acts + cache + reps)


def _restore(tr: Trainer, tensors: dict[str, torch.Tensor], meta: dict[str, Any], E: int, run: RunDir) -> tuple[int, int, float]:
    """Load a checkpoint into ``tr``; ``(phase, start_epoch, train_time)``. Bad files -> UserInputError."""
    try:
        phase, start_epoch, train_time = int(meta["phase"]), int(meta["epoch"]), float(meta.get("train_time_s", 0.0))
        if not (0 <= phase < tr.phases and 0 <= start_epoch <= E):
            raise ValueError(f"phase {phase} / epoch {start_epoch} outside this config's {tr.phases} x {E}")
        if start_epoch >= E and phase + 1 < tr.phases:  # the checkpoint closed a greedy phase
            phase, start_epoch = phase + 1, 0
            tr.load_state(tensors, phase, restore_opt=False)
        else:
            tr.load_state(tensors, phase)
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
        raise UserInputError(
            f"checkpoint in {run.path} does not fit this config ({type(e).__name__}: "
            f"{' '.join(str(e).split())[:120]}); rerun without --resume to start afresh"
        ) from None
    return phase, start_epoch, train_time


def train_run(
    cfg: FFConfig,
    out_root: str | Path = "runs",
    device: str | torch.device = "auto",
    force: bool = False,
    resume: bool = False,
    progress: ProgressFn | None = None,
    data_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    dataset: Any = None,
    snapshots: Sequence[int] = (),
    wait: float = 0.0,
) -> RunDir:
    """Train (or reuse, or resume) the run of ``cfg``; returns its :class:`RunDir`.

    Args:
        cfg: config; ``None`` hyperparameters are filled by :func:`resolve_config`.
        out_root: runs root folder.
        device: ``auto`` | ``cpu`` | ``cuda``.
        force: retrain even if a completed run exists.
        resume: continue from the run's last checkpoint (otherwise a partial run restarts).
        progress: ``progress(done_epochs, total_epochs, message)``.
        data_dir: explicit data root.
        callbacks: ``callback(step, model) -> Mapping[str, float] | None``, called after every
            optimizer step (global step count over all phases, 1-based); returned mappings are
            appended to ``metrics.jsonl`` as ``{"step": step, **mapping, "kind": "callback"}``
            at the end of each epoch, before the epoch's row. Not part of the run's identity: a
            completed run is reused without calling them.
        dataset: a user dataset from Python (a ``UserData``, ``(x, y)`` arrays or a torch
            ``Dataset``; :mod:`implicitbias.ff.rundata`), used instead of ``cfg.data`` / ``cfg.dataset``.
        snapshots: epoch counts (per layer for greedy FF) at which the weights are kept
            (:mod:`implicitbias.ff.snapshots`); counts above ``epochs`` are dropped. Not part of
            the run's identity: a completed run lacking a requested snapshot is an error
            (retrain with ``force``).
        wait: seconds to wait while another process holds the run (e.g. trains it); if it
            completes meanwhile it is reused (0: :class:`~implicitbias.errors.RunLockedError` at once).
    """
    cfg, user = prepare(cfg, dataset)
    cfg = resolve_config(cfg)
    from implicitbias.resources import check_fits

    dev = resolve_device(device)
    check_out_dir(out_root)
    snaps = clip_snapshots(snapshots, int(cfg.epochs))  # type: ignore[arg-type]
    if not force and RunDir(run_path(out_root, f"ff/{cfg.algo}", cfg), f"ff/{cfg.algo}").is_complete:
        done = RunDir.open(out_root, f"ff/{cfg.algo}", cfg)
        _check_snapshots(done, snaps)
        return done
    t_start = time.perf_counter()
    data = load_run_data(cfg, data_dir, user)  # data errors surface before anything is written
    check_fits(memory_estimate(cfg, data), f"ff train ({cfg.data or cfg.dataset}, hidden={list(cfg.hidden)}, batch {cfg.batch_size})")
    built = build_trainer(cfg, dev, data_dir, callbacks, data)
    with RunDir.open(out_root, f"ff/{cfg.algo}", cfg, force=force, lock=True, wait=wait) as run:
        if not run.is_complete:
            _train(cfg, run, built, data, resume, progress, t_start, snaps)
        elif snaps:  # completed by another process while we waited
            _check_snapshots(run, snaps)
    return run


def _check_snapshots(run: RunDir, snaps: Sequence[int]) -> None:
    """A completed run must hold every requested snapshot (they are not part of its identity)."""
    missing = sorted(set(snaps) - set(run.read_json("summary").get("snapshots", [])))
    if missing:
        raise UserInputError(f"run {run.path} completed without snapshots at epochs {missing}; "
                             "retrain it with --force to record them")


def _train(cfg: FFConfig, run: RunDir, built: tuple[Trainer, torch.Tensor, torch.Tensor], data: RunData,
           resume: bool, progress: ProgressFn | None, t_start: float, snaps: tuple[int, ...] = ()) -> None:
    """The body of :func:`train_run` (the run directory is open and locked)."""
    ckpt = run.load_checkpoint() if resume else None
    if ckpt is None:
        for name in ("checkpoint.safetensors", "metrics.jsonl"):
            (run.path / name).unlink(missing_ok=True)
        shutil.rmtree(run.path / SNAPSHOT_DIR, ignore_errors=True)
    tr, x_te, y_te = built
    E = int(cfg.epochs)  # type: ignore[arg-type]
    total = tr.phases * E
    phase, start_epoch, train_time = 0, 0, 0.0
    if ckpt is not None:
        phase, start_epoch, train_time = _restore(tr, *ckpt, E, run)
    else:
        tr.start_phase(0)
    run.write_env(seed=cfg.seed, device=str(tr.device))
    logger = run.logger()
    sub = slice(0, cfg.eval_subset) if cfg.eval_subset > 0 else slice(None)
    try:
        for p in range(phase, tr.phases):
            if p != tr.phase:
                tr.start_phase(p)
            for e in range(start_epoch if p == phase else 0, E):
                t0 = time.perf_counter()
                m = tr.train_epoch(e)
                last = e + 1 == E
                if last or (cfg.eval_every > 0 and (e + 1) % cfg.eval_every == 0):
                    ev = tr.evaluate(x_te[sub], y_te[sub], layers=p + 1 if tr.algorithm.layerwise else None)
                    m.update(test_acc_subset=ev["acc"], per_layer_acc_subset=ev["per_layer_acc"])
                train_time += time.perf_counter() - t0
                if e + 1 in snaps:  # before the checkpoint: a resumed run rewrites it at most once
                    pr = tr.ctx.predictor
                    save_snapshot_weights(run.path, tr.net, p, e + 1, tr.algorithm.layerwise, pr.linear if pr is not None else None)
                run.save_checkpoint(tr.state_tensors(), {"phase": p, "epoch": e + 1, "train_time_s": train_time})
                for step, rec in tr.records:
                    logger.log({**rec, "kind": "callback"}, step=step)
                tr.records.clear()
                logger.log(m, step=p * E + e + 1)
                if progress is not None:
                    acc = f" acc {m['test_acc_subset']:.4f}" if "test_acc_subset" in m else ""
                    where = f"layer {p + 1}/{tr.phases} " if tr.algorithm.layerwise else ""
                    progress(p * E + e + 1, total, f"{where}epoch {e + 1}/{E} loss {m['loss']:.4f}{acc} {m['samples_per_s']:.0f} samples/s")
    finally:
        logger.close()
    t_eval = time.perf_counter()
    tr.release_training_buffers()  # greedy FF's layer-input cache is no longer needed
    res = tr.evaluate(x_te, y_te, probe=True)
    save_tensors(run.path / "model.safetensors", tr.net.state_dict())
    save_representations(tr, run, x_te, y_te, res)
    summary: dict[str, Any] = {
        "test_acc": res["acc"],
        "per_layer_acc": res["per_layer_acc"],
        "wall_time_s": time.perf_counter() - t_start,
        "train_time_s": train_time,
        "eval_time_s": time.perf_counter() - t_eval,
        "epochs": E,
        "epochs_semantics": "per layer" if tr.algorithm.layerwise else "global",
        "algo": cfg.algo,
        "dataset": cfg.dataset,
        "class_names": list(data.classes),
        "eval_rule": "logits" if tr.bp else cfg.eval_rule,
        "per_layer_rule": "ridge probe on <=10k train activities"
        if tr.bp or not tr.negatives.supervised  # type: ignore[union-attr]
        else "argmax of the layer's goodness",
        "label_value": tr.emb.value,
        "n_train": tr.N,
        "snapshots": list(snaps),
        "config": to_dict(cfg),
    }
    summary.update({k: v for k, v in res.items() if k.startswith("acc_")})
    if cfg.exclude_classes:
        held = torch.isin(y_te, torch.tensor(cfg.exclude_classes, device=y_te.device))
        correct = (res["pred"] == y_te).float()
        summary["test_acc_seen"] = float(correct[~held].mean())
        summary["test_acc_unseen"] = float(correct[held].mean()) if bool(held.any()) else float("nan")
    run.write_json("summary", summary)
    if snaps:  # representations of the snapshots, from their weights (ff/snapshot_eval.py)
        stored = set(snapshot_epochs(run.path))
        write_snapshots(run.path, cfg, tr, x_te, y_te, [s for s in snaps if s in stored])
    (run.path / "checkpoint.safetensors").unlink(missing_ok=True)  # model.safetensors has the weights
    run.mark_complete({k: summary[k] for k in ("test_acc", "per_layer_acc", "wall_time_s", "epochs")})
