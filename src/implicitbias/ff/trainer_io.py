"""Evaluation and checkpoint state of :class:`~implicitbias.ff.trainer.Trainer` (a mixin).

Split from ``trainer.py`` to keep modules small; the methods use the trainer's attributes
(``net``, ``emb``, ``cfg``, ``predictor``, ``opt``, ``pred_opt``, ``peer``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from implicitbias.ff.evaluate import (
    label_goodness,
    per_layer_predictions,
    predict,
    ridge_probe_accuracy,
)

__all__ = ["TrainerIOMixin"]


class TrainerIOMixin:
    """``evaluate``, ``state_tensors`` and ``load_state`` for the trainer."""

    # ---- evaluation -------------------------------------------------------------------
    @torch.inference_mode()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, layers: int | None = None, probe: bool = False) -> dict[str, Any]:
        """Accuracy by the configured rule plus every other rule and per-layer accuracies.

        Args:
            layers: use only the first ``layers`` hidden layers (greedy FF mid-training).
            probe: BP only: per-layer accuracy of a ridge probe fitted on ≤ 10k training
                activities (otherwise BP's ``per_layer_acc`` is empty).
        """
        cfg = self.cfg
        if self.bp:
            hs = self.net.forward_all(x)
            pred = self.net.head(hs[-1]).argmax(1)  # type: ignore[misc]
            per_layer: list[float] = []
            if probe:
                per_layer = self._ridge_per_layer(lambda v: v, hs, y)
            return {"acc": float((pred == y).float().mean()), "pred": pred, "per_layer_acc": per_layer}
        if cfg.negatives == "hybrid":  # unsupervised: no label to score; probes on neutral activities
            return self._evaluate_unsupervised(x, y, probe)
        G = label_goodness(self.net, self.emb, x, cfg.goodness)
        if layers is not None:
            G = G[:, :, :layers]
        skip = self.skip if G.shape[2] > self.skip else 0
        res: dict[str, Any] = {
            "acc_softmax_sum": float((predict(G, "softmax_sum") == y).float().mean()),
            "acc_goodness_sum": float((predict(G, "goodness_sum") == y).float().mean()),
            "acc_goodness_sum_skip1": float((predict(G, "goodness_sum", skip=1) == y).float().mean()),
            "per_layer_acc": [float(a) for a in (per_layer_predictions(G) == y).float().mean(1)],
        }
        probe_pred = self._probe_predict(x) if self.predictor is not None else None
        if probe_pred is not None:
            res["acc_probe"] = float((probe_pred == y).float().mean())
        if cfg.eval_rule == "probe":
            pred = probe_pred
        else:
            pred = predict(G, cfg.eval_rule, skip=skip if cfg.eval_rule == "goodness_sum" else 0)
        res.update(acc=float((pred == y).float().mean()), pred=pred, goodness=G)
        return res

    def _probe_predict(self, x: torch.Tensor, chunk: int = 2000) -> torch.Tensor:
        """Labels ``(N,)`` from the softmax predictor on neutral-label activities, chunk by chunk."""
        feats = (self.probe_features(self.emb.neutral(x[s : s + chunk])) for s in range(0, x.shape[0], chunk))
        return torch.cat([self.predictor(f).argmax(1) for f in feats])  # type: ignore[misc]

    def _ridge_per_layer(self, embed: Callable[[torch.Tensor], torch.Tensor], hs_test: list[torch.Tensor], y: torch.Tensor) -> list[float]:
        """Per-layer accuracy of closed-form ridge probes fitted on ≤ 10k training activities
        ``net(embed(x_train))`` and scored on the test activities ``hs_test`` (BP, unsupervised FF)."""
        sub = torch.randperm(self.N, generator=self.gen("probe"), device=self.device)[:10000]
        htr = self.net.forward_all(embed(self.x[sub]))
        return [ridge_probe_accuracy(a, self.y[sub], b, y, self.K) for a, b in zip(htr, hs_test, strict=True)]

    def _evaluate_unsupervised(self, x: torch.Tensor, y: torch.Tensor, probe: bool) -> dict[str, Any]:
        """Hybrid-negative (unsupervised) runs: the jointly trained softmax probe on the neutral
        activities of layers ``skip..L`` (``acc``); with ``probe``, per-layer ridge probes."""
        pred = self._probe_predict(x)
        per_layer = self._ridge_per_layer(self.emb.neutral, self.net.forward_all(self.emb.neutral(x)), y) if probe else []
        acc = float((pred == y).float().mean())
        return {"acc": acc, "acc_probe": acc, "pred": pred, "per_layer_acc": per_layer}

    # ---- checkpoint state -------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Weights, optimiser states, predictor and peer means as flat tensors."""
        out = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        if self.opt is not None:
            out.update(self.opt.state_tensors("opt"))
        if self.predictor is not None:
            out.update({f"pred.{k}": v for k, v in self.predictor.state_dict().items()})
            out.update(self.pred_opt.state_tensors("popt"))  # type: ignore[union-attr]
        out.update({f"peer.{i}": v for i, v in enumerate(self.peer)})
        return {k: v.detach().clone() for k, v in out.items()}

    def load_state(self, t: dict[str, torch.Tensor], phase: int, restore_opt: bool = True) -> None:
        """Restore :meth:`state_tensors` output and start ``phase`` (optimiser + cache).

        ``restore_opt=False`` starts ``phase`` with a fresh optimiser (the checkpoint ended the
        previous greedy phase).
        """
        self.net.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("net.")})
        if self.predictor is not None:
            self.predictor.load_state_dict({k[5:]: v for k, v in t.items() if k.startswith("pred.")})
            self.pred_opt.load_state_tensors(t, "popt")  # type: ignore[union-attr]
        self.peer = [t[f"peer.{i}"].to(self.device) for i in range(len(self.peer))]
        self.start_phase(phase)
        if restore_opt:
            self.opt.load_state_tensors(t, "opt")  # type: ignore[union-attr]
