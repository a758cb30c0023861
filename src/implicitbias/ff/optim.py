"""Adam and momentum SGD: ``torch.optim``'s update kernels with flat, safetensors-ready state.

The update of every step is computed by ``torch.optim``'s own functional implementations
(:func:`torch.optim.adam.adam`, :func:`torch.optim.sgd.sgd`), so the numbers are those of
``torch.optim.Adam(fused=True)`` (float32 CPU parameters; elsewhere the default single-tensor
Adam) and ``torch.optim.SGD`` (tested step by step, bit for bit). Only the state container is
ours: constructing a ``torch.optim.Optimizer`` object imports ``torch._dynamo`` (≈ 5–10 s per
process on a loaded 2-core machine), the functional kernels do not, and the state must be a
flat ``{name: tensor}`` dict for safetensors checkpoints (no pickle).

Adam (Kingma & Ba), per parameter p with gradient g, coupled weight decay λ:
    g ← g + λ p;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
    p ← p − lr · (m / (1−β₁ᵗ)) / (√v / √(1−β₂ᵗ) + ε).
SGD with momentum μ: g ← g + λ p;  b ← μb + g (b = g at t = 1);  p ← p − lr·b.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.optim.adam import adam as _adam
from torch.optim.sgd import sgd as _sgd

__all__ = ["Optimizer"]


class Optimizer:
    """Adam (``kind="adam"``) or momentum SGD (``kind="sgd"``) over a list of parameters.

    Attributes:
        params: the optimised parameters (state index i refers to ``params[i]``).
        lr: current learning rate (set it before :meth:`step` for schedules).
        state: ``{i: {"step", "exp_avg", "exp_avg_sq"}}`` (Adam; ``step`` a float64 CPU scalar)
            or ``{i: {"momentum"}}`` (SGD), created at a parameter's first step.
    """

    def __init__(
        self,
        params: list[torch.nn.Parameter],
        kind: Literal["adam", "sgd"],
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if kind not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {kind!r}")
        self.params: list[torch.nn.Parameter] = list(params)
        self.kind, self.lr = kind, lr
        self.wd, self.momentum, self.betas, self.eps = weight_decay, momentum, betas, eps
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``.grad = None``)."""
        for p in self.params:
            p.grad = None

    @staticmethod
    def _fused_ok(p: torch.Tensor) -> bool:
        g = p.grad
        return (
            g is not None and p.device.type == "cpu" and p.dtype == g.dtype == torch.float32
            and p.is_contiguous() and g.is_contiguous() and g.device == p.device
        )

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a ``.grad`` (others are skipped)."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            st = self.state.setdefault(i, {})
            if self.kind == "sgd":
                buf = [st.get("momentum")]
                _sgd([p], [p.grad], buf, weight_decay=self.wd, momentum=self.momentum, lr=float(self.lr),
                     dampening=0.0, nesterov=False, maximize=False, foreach=False, fused=False,
                     grad_scale=None, found_inf=None)
                st["momentum"] = buf[0]  # type: ignore[assignment]
                continue
            if not st:
                st.update(step=torch.zeros((), dtype=torch.float64), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            b1, b2 = self.betas
            _adam([p], [p.grad], [st["exp_avg"]], [st["exp_avg_sq"]], [], [st["step"]], foreach=False,
                  fused=self._fused_ok(p), capturable=False, differentiable=False, grad_scale=None, found_inf=None,
                  has_complex=False, amsgrad=False, beta1=b1, beta2=b2, lr=float(self.lr), weight_decay=float(self.wd),
                  eps=self.eps, maximize=False)

    def state_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """Flat ``{prefix.i.key: tensor}``."""
        return {f"{prefix}.{i}.{k}": v for i, st in self.state.items() for k, v in st.items()}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], prefix: str) -> None:
        """Inverse of :meth:`state_tensors` (tensors moved to each parameter's device)."""
        self.state = {}
        for key, v in tensors.items():
            if not key.startswith(prefix + "."):
                continue
            i, k = key[len(prefix) + 1 :].split(".", 1)
            dev = self.params[int(i)].device if k != "step" else "cpu"
            self.state.setdefault(int(i), {})[k] = v.to(dev).clone()
