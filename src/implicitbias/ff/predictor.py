"""The softmax predictor trained beside FF (hard negatives, ``eval_rule="probe"``).

Features of an embedded input are the concatenated, L2-normalised activities of hidden layers
``skip..L−1`` (inference mode: no gradient reaches the network),
    f(x) = [N₂(h_{skip+1}(x)), …, N₂(h_L(x))],
and the predictor is a zero-initialised linear map p(y | x) = softmax(A f(x) + c), trained
by Adam on the cross-entropy with the true label, one step per training batch.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from implicitbias.ff.core import FFNet, normalize_rows
from implicitbias.ff.optim import Optimizer

__all__ = ["Predictor"]


class Predictor:
    """Linear softmax readout of normalised FF activities (see module docstring).

    Args:
        n_features: Σ of the widths of layers ``skip..L−1``.
        num_classes: K.
        skip: number of leading hidden layers left out.
        lr: Adam learning rate.
        device: torch device.
    """

    def __init__(self, n_features: int, num_classes: int, skip: int, lr: float, device: torch.device):
        self.skip = skip
        self.linear = nn.Linear(n_features, num_classes).to(device)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.opt = Optimizer(list(self.linear.parameters()), "adam", lr)

    @torch.inference_mode()
    def features(self, net: FFNet, x_emb: torch.Tensor) -> torch.Tensor:
        """f(x) ``(B, Σ widths)`` for embedded inputs ``(B, D)`` (an inference tensor)."""
        hs = net.forward_all(x_emb)
        return torch.cat([normalize_rows(h, "l2", 1e-12) for h in hs[self.skip :]], dim=1)

    def probabilities(self, feats: torch.Tensor) -> torch.Tensor:
        """p(y | x) ``(B, K)`` without gradient."""
        with torch.no_grad():
            return torch.softmax(self.linear(feats), dim=1)

    def train_step(self, feats: torch.Tensor, y: torch.Tensor) -> None:
        """One Adam step on the cross-entropy of ``feats`` ``(B, F)`` (a normal tensor) with ``y``."""
        with torch.enable_grad():
            loss = F.cross_entropy(self.linear(feats), y)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

    @torch.inference_mode()
    def predict(self, net: FFNet, x_emb_chunks: Iterable[torch.Tensor]) -> torch.Tensor:
        """Predicted labels ``(N,)`` of embedded inputs given chunk by chunk."""
        return torch.cat([self.linear(self.features(net, x)).argmax(1) for x in x_emb_chunks])

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """``pred.{weight,bias}`` and the Adam state ``popt.*``."""
        out = {f"pred.{k}": v for k, v in self.linear.state_dict().items()}
        out.update(self.opt.state_tensors("popt"))
        return out

    def load_state_tensors(self, t: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_tensors`."""
        self.linear.load_state_dict({k[5:]: v for k, v in t.items() if k.startswith("pred.")})
        self.opt.load_state_tensors(t, "popt")
