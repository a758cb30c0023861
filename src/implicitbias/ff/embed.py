"""Label embedding: write a one-of-K label code into fixed input slots.

For label k the slots ``S_k`` (one per channel) are set to the label value v after *all*
label slots ``S = ∪_k S_k`` are cleared to 0. Modes (reference §3.4, §9.1):

* ``first_pixels``: ``S_k = {k}`` (greyscale, first K pixels, paper / Hinton);
* ``first_row_all_channels``: ``S_k = {c·H·W + k : c}`` (RGB: row 0, column k, every channel);
* ``one_hot_concat``: K extra inputs appended, ``S_k = {D + k}``.

A neutral input sets every slot to v/K (Hinton's one-pass mode). Because exactly one slot per
channel is v and the rest are 0, ‖embed(x, k)‖² = ‖clear(x)‖² + c·v² for every k: the
input norm is label independent, which the batched evaluator exploits (§9.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from implicitbias.errors import UserInputError

__all__ = ["LabelEmbedding", "make_embedding"]


@dataclass
class LabelEmbedding:
    """Label slots and value.

    Attributes:
        slots: int64 ``(K, c)`` input indices of label k (c = channels that carry it).
        dim_in: input dimension D of the raw (flattened) data.
        dim_out: dimension after embedding (D, or D + K for ``one_hot_concat``).
        value: the label value v.
    """

    slots: torch.Tensor
    dim_in: int
    dim_out: int
    value: float

    @property
    def num_labels(self) -> int:
        return int(self.slots.shape[0])

    def to(self, device: torch.device) -> LabelEmbedding:
        return LabelEmbedding(self.slots.to(device), self.dim_in, self.dim_out, self.value)

    def cleared(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D) → (B, dim_out)`` copy with every label slot 0."""
        if self.dim_out > self.dim_in:
            out = torch.zeros(x.shape[0], self.dim_out, dtype=x.dtype, device=x.device)
            out[:, : self.dim_in] = x
        else:
            out = x.clone()
        out[:, self.slots.reshape(-1)] = 0.0
        return out

    def embed(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(B, D), (B,) → (B, dim_out)``: clear the slots, set ``S_{y_b}`` to v."""
        out = self.cleared(x)
        rows = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
        out[rows, self.slots[y]] = self.value
        return out

    def neutral(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D) → (B, dim_out)`` with every slot v/K."""
        out = self.cleared(x)
        out[:, self.slots.reshape(-1)] = self.value / self.num_labels
        return out


def make_embedding(
    mode: str, shape: tuple[int, int, int], num_labels: int, value: float
) -> LabelEmbedding:
    """Build the embedding for images of ``shape = (C, H, W)``."""
    c, h, w = shape
    d = c * h * w
    k = torch.arange(num_labels)
    if mode == "auto":
        mode = "first_pixels" if c == 1 else "first_row_all_channels"
    if mode == "first_pixels":
        if num_labels > d:
            raise UserInputError("first_pixels embedding needs at least K inputs")
        return LabelEmbedding(k.unsqueeze(1), d, d, value)
    if mode == "first_row_all_channels":
        if num_labels > w:
            raise UserInputError("first_row_all_channels needs image width >= K")
        slots = k.unsqueeze(1) + torch.arange(c).unsqueeze(0) * (h * w)
        return LabelEmbedding(slots, d, d, value)
    if mode == "one_hot_concat":
        return LabelEmbedding((d + k).unsqueeze(1), d, d + num_labels, value)
    raise UserInputError(f"unknown label embedding {mode!r}")
