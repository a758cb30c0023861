"""Small torch modules shared by the module / sparse-discovery tests (with their hand-derived algebras)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int], act: type[nn.Module] = nn.ReLU, bias: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class SelfAttention(nn.Module):
    """``nn.MultiheadAttention`` as self-attention on ``(batch, seq, d)``."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + MHA(LN1 x)``, then ``+ fc2 relu(fc1 LN2 x)``."""

    def __init__(self, d: int, heads: int, ff: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.fc2(torch.relu(self.fc1(self.ln2(x))))


def attention_dim(d: int, heads: int) -> int:
    """docs/symmetry.md: gl(d_h) per head on (q, k), on (v, out_proj) and on the key bias alone."""
    dh = d // heads
    return 3 * heads * dh * dh


def block_dim(d: int, heads: int, ff: int) -> int:
    """docs/symmetry.md: attention + LN1 gain/bias vs in_proj columns + LN2 vs fc1 columns + fc1 units."""
    return attention_dim(d, heads) + d + d + ff
