"""Hybrid negatives of unsupervised Forward-Forward (Hinton 2022, §3.2; reference §2.4).

A negative keeps the short-range statistics of real images but breaks their long-range
shape: two different images are glued along the boundary of a random mask with large
coherent regions,

    x⁻ = m ⊙ x_a + (1 − m) ⊙ x_b,     m ∈ {0, 1}^{H×W} (shared by every channel).

The mask is made from an i.i.d. fair bit image b⁽⁰⁾ ∈ {0, 1}^{H×W} by ``blur_steps`` rounds
of the separable blur with the kernel k = [1/4, 1/2, 1/4],

    b⁽ᵗ⁺¹⁾ = k ∗_rows (k ∗_cols b⁽ᵗ⁾),

followed by the threshold m = [b⁽ᵀ⁾ > 1/2]. Border handling: **replicate** padding (the pixel
outside the edge equals the edge pixel), so the blur preserves constants and the edge pixels
are not pulled towards 0 (zero padding would bias the border towards x_b). Each blur step
is computed as 1/4·left + 1/2·centre + 1/4·right (padded shifts, no convolution kernel), a
fixed order of operations that gives the same bits on every device. The default of 6 steps
gives regions of a few pixels to about a quarter of a 28×28 image; for tiny images
(sklearn digits, 8×8) fewer steps keep both regions present more often.
"""

from __future__ import annotations

import torch

from implicitbias.errors import UserInputError

__all__ = ["blur_121", "hybrid_masks", "hybrid_images", "hybrid_partners"]


def _blur_last(b: torch.Tensor) -> torch.Tensor:
    """[1/4, 1/2, 1/4] along the last dimension with replicate padding (same shape)."""
    p = torch.cat([b[..., :1], b, b[..., -1:]], dim=-1)
    return 0.25 * p[..., :-2] + 0.5 * p[..., 1:-1] + 0.25 * p[..., 2:]


def blur_121(b: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` separable blurs of ``(..., H, W)`` images, vertical then horizontal each step.

    Args:
        b: float tensor ``(..., H, W)``.
        steps: number of blur rounds (0 returns ``b`` unchanged).

    Returns:
        Tensor of ``b``'s shape; each round maps b ↦ k ∗_W (k ∗_H b) with k = [1/4, 1/2, 1/4]
        and replicate padding.
    """
    for _ in range(steps):
        b = _blur_last(_blur_last(b.transpose(-1, -2)).transpose(-1, -2))
    return b


def hybrid_masks(
    n: int,
    shape: tuple[int, int, int],
    blur_steps: int = 6,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``n`` flattened 0/1 masks with large coherent regions (see module docstring).

    Args:
        n: number of masks (one per image).
        shape: image shape ``(C, H, W)``; one spatial ``(H, W)`` mask is drawn per image and
            repeated over the C channels.
        blur_steps: rounds of the [1/4, 1/2, 1/4] blur before thresholding (Hinton: "repeatedly").
        generator: the only source of randomness (must live on ``device``).
        device: device of the result.

    Returns:
        float32 ``(n, C·H·W)`` of exact 0s and 1s, flattened channel-major like the data.
    """
    c, h, w = shape
    if blur_steps < 0:
        raise UserInputError(f"hybrid blur_steps must be >= 0, got {blur_steps}")
    bits = torch.randint(0, 2, (n, h, w), generator=generator, device=device).float()
    m = (blur_121(bits, blur_steps) > 0.5).float()  # (n, H, W)
    return m.unsqueeze(1).expand(n, c, h, w).reshape(n, c * h * w)


def hybrid_images(x_a: torch.Tensor, x_b: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Hybrids ``m ⊙ x_a + (1 − m) ⊙ x_b`` of ``(B, D)`` images with ``(B, D)`` 0/1 masks.

    Computed as ``where(m > 0, x_a, x_b)`` so each pixel is exactly one of the two sources.
    """
    if x_a.shape != x_b.shape or masks.shape != x_a.shape:
        raise UserInputError(
            f"hybrid_images needs equal shapes, got {tuple(x_a.shape)}, {tuple(x_b.shape)}, {tuple(masks.shape)}"
        )
    return torch.where(masks > 0, x_a, x_b)


def hybrid_partners(
    idx: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """For each index in ``idx`` a uniform random other index in ``[0, n)`` (never itself).

    ``(idx + r) mod n`` with r uniform in ``{1, …, n − 1}``; needs n ≥ 2.
    """
    if n < 2:
        raise UserInputError("hybrid negatives need at least two training images")
    r = torch.randint(1, n, idx.shape, generator=generator, device=idx.device)
    return (idx + r) % n
