"""FF building blocks: normalisation, goodness, losses and the layer stack.

FF layer l (reference §7):  ĥ_{l−1} = N(h_{l−1}),  h_l = ReLU(W_l ĥ_{l−1} + b_l),
with h_0 the label-embedded input and N one of

* ``l2``:  x / max(‖x‖₂, ε)                (paper, ε = 1e-12)
* ``rms``: x / (√(mean_j x_j²) + ε)        (loeweX)
* ``none``: x.

Goodness of ``h`` (B, H) → (B,): ``l2`` ‖h‖₂, ``sumsq`` Σh², ``meansq`` mean h², ``l1`` Σ|h|,
``linf`` max|h|. Loss (θ threshold):

* ``softplus``: mean over the 2B terms of softplus(θ − g⁺) and softplus(g⁻ − θ);
* ``symba``: mean_b softplus(−α (g⁺_b − g⁻_b)).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from implicitbias.errors import UserInputError

__all__ = ["normalize_rows", "normalize_rows_", "norm_scale", "goodness", "ff_loss", "FFNet", "init_linear_"]


def norm_scale(sqnorm: torch.Tensor, dim: int, mode: str, eps: float) -> torch.Tensor:
    """Factor s with N(x) = s·x, from the squared row norms ``(B,)`` and the row length."""
    if mode == "l2":
        return 1.0 / sqnorm.sqrt().clamp_min(eps)
    if mode == "rms":
        return 1.0 / ((sqnorm / dim).sqrt() + eps)
    if mode == "none":
        return torch.ones_like(sqnorm)
    raise UserInputError(f"unknown layer_norm {mode!r}")


def normalize_rows(x: torch.Tensor, mode: str, eps: float) -> torch.Tensor:
    """N(x) row-wise for ``x`` (B, D)."""
    if mode == "none":
        return x
    if mode == "l2":
        return x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(eps)
    if mode == "rms":
        return x / (x.pow(2).mean(dim=1, keepdim=True).sqrt() + eps)
    raise UserInputError(f"unknown layer_norm {mode!r}")


def normalize_rows_(x: torch.Tensor, mode: str, eps: float) -> torch.Tensor:
    """In-place :func:`normalize_rows` (same values, bit for bit); returns ``x``."""
    if mode == "none":
        return x
    if mode == "l2":
        return x.div_(torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min_(eps))
    if mode == "rms":
        return x.div_(x.pow(2).mean(dim=1, keepdim=True).sqrt_().add_(eps))
    raise UserInputError(f"unknown layer_norm {mode!r}")


def goodness(h: torch.Tensor, kind: str) -> torch.Tensor:
    """Goodness over the last dim: ``(..., H) → (...)``."""
    if kind == "l2":
        return torch.linalg.vector_norm(h, dim=-1)
    if kind == "sumsq":
        return h.pow(2).sum(-1)
    if kind == "meansq":
        return h.pow(2).mean(-1)
    if kind == "l1":
        return h.abs().sum(-1)
    if kind == "linf":
        return h.abs().amax(-1)
    raise UserInputError(f"unknown goodness {kind!r}")


def ff_loss(g_pos: torch.Tensor, g_neg: torch.Tensor, theta: float, kind: str = "softplus", alpha: float = 4.0) -> torch.Tensor:
    """FF loss of positive / negative goodness vectors ``(B,)`` (module docstring)."""
    if kind == "softplus":
        return torch.cat([F.softplus(theta - g_pos), F.softplus(g_neg - theta)]).mean()
    if kind == "symba":
        return F.softplus(-alpha * (g_pos - g_neg)).mean()
    raise UserInputError(f"unknown loss {kind!r}")


def init_linear_(layer: nn.Linear, gen: torch.Generator) -> None:
    """PyTorch's default ``nn.Linear`` init, U(−1/√in, 1/√in), drawn from ``gen``."""
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.copy_(torch.empty_like(layer.weight, device="cpu").uniform_(-bound, bound, generator=gen))
        layer.bias.copy_(torch.empty_like(layer.bias, device="cpu").uniform_(-bound, bound, generator=gen))


class FFNet(nn.Module):
    """A stack of ReLU layers (``layers.{i}``) with an optional linear ``head`` (BP).

    Args:
        dims: ``[D_in, H_1, ..., H_L]``.
        norm: between-layer normalisation (``l2``/``rms``/``none``), applied to every layer input.
        eps: ε of the normalisation.
        num_classes: if set, a linear head ``H_L → num_classes`` (BP).
        gen: generator for the initialisation.
    """

    def __init__(self, dims: list[int], norm: str, eps: float, gen: torch.Generator, num_classes: int | None = None):
        super().__init__()
        self.norm, self.eps = norm, eps
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        for lin in self.layers:
            init_linear_(lin, gen)
        self.head: nn.Linear | None = None
        if num_classes is not None:
            self.head = nn.Linear(dims[-1], num_classes)
            init_linear_(self.head, gen)

    def layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """h_i = ReLU(W_i N(x) + b_i) for the raw input ``x`` of layer i."""
        return F.relu(self.layers[i](normalize_rows(x, self.norm, self.eps)))

    def forward_all(self, x: torch.Tensor, detach: bool = False) -> list[torch.Tensor]:
        """All hidden activities ``[h_1, ..., h_L]``; ``detach`` cuts gradients between layers."""
        hs = []
        for i in range(len(self.layers)):
            x = self.layer(i, x)
            hs.append(x)
            if detach:
                x = x.detach()
        return hs
