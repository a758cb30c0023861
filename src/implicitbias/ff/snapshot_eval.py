"""Representations and accuracy of the snapshots of a run (:mod:`implicitbias.ff.snapshots`).

:func:`materialize` rebuilds the run's network from ``model.safetensors``, loads each
snapshot's weights and writes, into ``<run>/snapshots/epoch_XXXXX/``, the files a finished run
has: ``representations.safetensors`` (same keys, float16, same wrong labels), ``summary.json``
(``test_acc``, ``per_layer_acc``, ``epoch``, and ``train_metrics``: the ``metrics.jsonl`` rows of
that epoch, one per greedy layer) and a copy of ``config.json``; the analysis of
a run (:func:`implicitbias.ff.analyze_run.analyze_run`) then reads a snapshot folder as a run.

Greedy FF: the representation and goodness of layer l at snapshot s come from the network whose
layer l holds its weights after s of its own epochs and whose other layers hold their final
weights (the layers below are what layer l was trained on); G[:, :, l] is that network's
layer-l goodness and the prediction rule is applied to the assembled G (N, K, L). BP/FF and BP:
the whole network at s (and the softmax probe at s, where the run trains one), evaluated like
a finished run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from implicitbias.device import resolve_device
from implicitbias.errors import UserInputError
from implicitbias.ff.config import FFConfig, resolve_config
from implicitbias.ff.evaluate import (
    label_goodness,
    layer_activations,
    per_layer_predictions,
    predict,
)
from implicitbias.ff.run_io import (
    build_trainer,
    label_conditions,
    save_representations,
    wrong_test_labels,
)
from implicitbias.ff.rundata import RunData, load_run_data
from implicitbias.ff.snapshots import is_materialized, snapshot_epochs, snapshot_path
from implicitbias.runs import RunDir
from implicitbias.runs.atomic import atomic_write_json, load_tensors, save_tensors

__all__ = ["materialize", "write_snapshots"]


def _run_config(run_path: Path) -> FFConfig:
    from implicitbias.config import from_dict

    f = run_path / "config.json"
    if not f.exists():
        raise UserInputError(f"{run_path} has no config.json (not an FF run directory)")
    rec = json.loads(f.read_text())
    return resolve_config(from_dict(FFConfig, rec.get("config", rec)))


def materialize(
    run_path: str | Path, data: RunData | None = None, device: str | torch.device = "cpu",
    data_dir: str | Path | None = None, force: bool = False, only: Iterable[int] | None = None,
) -> dict[int, Path]:
    """Write the representations of every stored snapshot of a *completed* run; ``{epoch: folder}``
    (a greedy snapshot some layer never reached — a run resumed without its ``--snapshots`` —
    cannot be materialised and is left out).

    Args:
        run_path: the run directory (``model.safetensors`` and ``snapshots/`` present).
        data: the run's loaded data (else loaded from its config, ``data_dir`` first).
        device: where to evaluate.
        force: rewrite snapshots that are already materialised.
        only: materialise only these epochs (the others are still listed in the result).
    """
    path = Path(run_path)
    epochs = snapshot_epochs(path)
    out = {s: snapshot_path(path, s) for s in epochs}
    wanted = set(epochs if only is None else only)
    todo = [s for s in epochs if s in wanted and (force or not is_materialized(out[s]))]
    if not todo:
        return out
    if not (path / "model.safetensors").exists():
        raise UserInputError(f"{path} is not a completed run (no model.safetensors): finish it with --resume first")
    cfg = _run_config(path)
    dev = resolve_device(device)
    built = build_trainer(cfg, dev, data_dir, data=data if data is not None else load_run_data(cfg, data_dir))
    write_snapshots(path, cfg, *built, todo)
    return {s: p for s, p in out.items() if s not in todo or is_materialized(p)}


def write_snapshots(path: Path, cfg: FFConfig, tr: Any, x_te: torch.Tensor, y_te: torch.Tensor, todo: list[int]) -> None:
    """Materialise the snapshots ``todo`` of the run at ``path`` with a built trainer ``tr``
    (its network is left holding the run's final weights)."""
    dev = x_te.device
    final = {k: v.to(dev) for k, v in load_tensors(path / "model.safetensors").items()}
    out = {s: snapshot_path(path, s) for s in todo}
    mfile = path / "metrics.jsonl"
    rows = [json.loads(line) for line in mfile.read_text().splitlines() if line.strip()] if mfile.exists() else []
    summary_run = json.loads((path / "summary.json").read_text()) if (path / "summary.json").exists() else {}
    pred = tr.ctx.predictor.linear if tr.ctx.predictor is not None else None
    pred_final = {k: v.clone() for k, v in pred.state_dict().items()} if pred is not None else {}
    for s in todo:
        snap = out[s]
        parts = {p.name: load_tensors(p, device=str(dev)) for p in sorted(snap.glob("weights_phase*.safetensors"))}
        if tr.algorithm.layerwise:
            res = _greedy_snapshot(tr, final, parts, x_te, y_te, cfg)
            if res is None:
                continue  # not every layer reached this epoch (cannot happen for a completed run)
            save_tensors(snap / "representations.safetensors", res.pop("_arrays"))
        else:
            w = parts["weights_phase0.safetensors"]
            tr.net.load_state_dict({**final, **{k: v for k, v in w.items() if not k.startswith("pred.")}})
            if pred is not None and "pred.weight" in w:  # the softmax probe as it was at s
                pred.load_state_dict({k[5:]: v for k, v in w.items() if k.startswith("pred.")})
            res = tr.evaluate(x_te, y_te, probe=True)
            save_representations(tr, RunDir(snap, "ff-snapshot"), x_te, y_te, res)
            if pred is not None:
                pred.load_state_dict(pred_final)
        tr.net.load_state_dict(final)
        shutil.copyfile(path / "config.json", snap / "config.json")
        summary: dict[str, Any] = {k: summary_run[k] for k in ("algo", "dataset", "class_names", "eval_rule", "epochs_semantics")
                                   if k in summary_run}
        summary.update(epoch=s, epochs=s, run=str(path), test_acc=res["acc"], per_layer_acc=res["per_layer_acc"],
                       train_metrics=[r for r in rows if r.get("epoch") == s and r.get("kind") != "callback"])
        summary.update({k: v for k, v in res.items() if k.startswith("acc_")})
        atomic_write_json(snap / "summary.json", summary)


@torch.inference_mode()
def _greedy_snapshot(tr: Any, final: dict[str, torch.Tensor], parts: dict[str, dict[str, torch.Tensor]],
                     x: torch.Tensor, y: torch.Tensor, cfg: FFConfig) -> dict[str, Any] | None:
    """Greedy FF at one snapshot: layer l from the network with only layer l at the snapshot."""
    L = len(tr.net.layers)
    if any(f"weights_phase{li}.safetensors" not in parts for li in range(L)):
        return None
    wrong = wrong_test_labels(tr, y)
    G = torch.empty(x.shape[0], tr.K, L, device=x.device)
    arrays: dict[str, torch.Tensor] = {"labels": y, "wrong_labels": wrong}
    conds = label_conditions(tr, x, y, wrong)
    for li in range(L):
        tr.net.load_state_dict({**final, **parts[f"weights_phase{li}.safetensors"]})
        G[:, :, li] = label_goodness(tr.net, tr.emb, x, cfg.goodness)[:, :, li]
        for name, make in conds.items():
            arrays[f"layer{li + 1}.{name}"] = layer_activations(tr.net, make(), dtype=torch.float16)[li]
    rule = cfg.eval_rule if cfg.eval_rule != "probe" else "softmax_sum"
    pred = predict(G, rule, skip=tr.ctx.skip if rule == "goodness_sum" and L > tr.ctx.skip else 0)
    arrays.update(pred=pred, goodness=G.float())
    return {
        "acc": float((pred == y).float().mean()),
        "per_layer_acc": [float(a) for a in (per_layer_predictions(G) == y).float().mean(1)],
        "acc_softmax_sum": float((predict(G, "softmax_sum") == y).float().mean()),
        "acc_goodness_sum": float((predict(G, "goodness_sum") == y).float().mean()),
        "_arrays": arrays,
    }
