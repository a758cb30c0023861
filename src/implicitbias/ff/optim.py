"""Minimal Adam and momentum SGD with flat, checkpointable state.

Written here rather than taken from ``torch.optim`` because constructing the first
``torch.optim`` optimiser in a process imports ``torch._dynamo`` (≈ 5–15 s on a loaded 2-core
machine) and because the state must round-trip through safetensors.

Adam (Kingma & Ba, as ``torch.optim.Adam``), per parameter p with gradient g:
    g ← g + λ p;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
    p ← p − lr · (m / (1−β₁ᵗ)) / (√v / √(1−β₂ᵗ) + ε).
For float32 parameters on the CPU the Adam update runs as one fused pass
(``torch._fused_adam_``, the kernel of ``torch.optim.Adam(fused=True)``): same formula, no
temporaries, rounding may differ by about an ulp. The update of the state is the same.
SGD with momentum μ (as ``torch.optim.SGD``): g ← g + λ p;  b ← μb + g (b = g at t = 1);  p ← p − lr·b.
"""

from __future__ import annotations

import math

import torch

__all__ = ["Optimizer"]


class Optimizer:
    """Adam (``kind="adam"``) or momentum SGD (``kind="sgd"``) over a list of parameters.

    Attributes:
        lr: current learning rate (set it before :meth:`step` for schedules).
        state: ``{i: {"step": Tensor, "exp_avg": ..., "exp_avg_sq": ...}}`` or ``{"momentum": ...}``.
    """

    def __init__(self, params: list[torch.nn.Parameter], kind: str, lr: float, weight_decay: float = 0.0, momentum: float = 0.9, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.kind, self.lr = list(params), kind, lr
        self.wd, self.momentum, self.betas, self.eps = weight_decay, momentum, betas, eps
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @staticmethod
    def _fused_ok(p: torch.Tensor, g: torch.Tensor) -> bool:
        return (
            p.device.type == "cpu" and p.dtype == g.dtype == torch.float32
            and p.is_contiguous() and g.is_contiguous() and g.device == p.device and hasattr(torch, "_fused_adam_")
        )

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            st = self.state.setdefault(i, {})
            fused = self.kind == "adam" and self._fused_ok(p, g)
            if self.wd and not fused:
                g = g.add(p, alpha=self.wd)
            if self.kind == "sgd":
                if "momentum" not in st:
                    st["momentum"] = g.clone()
                else:
                    st["momentum"].mul_(self.momentum).add_(g)
                p.add_(st["momentum"], alpha=-self.lr)
                continue
            if not st:
                st.update(step=torch.zeros((), dtype=torch.float64), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            st["step"] += 1
            if fused:
                # one fused, vectorised pass (the kernel behind torch.optim.Adam(fused=True)):
                # the same update, no temporaries; only rounding differs (≈ 1 ulp)
                torch._fused_adam_(
                    [p], [p.grad], [st["exp_avg"]], [st["exp_avg_sq"]], [], [st["step"]], lr=float(self.lr), beta1=b1,
                    beta2=b2, weight_decay=float(self.wd), eps=self.eps, amsgrad=False, maximize=False,
                )
                continue
            t = float(st["step"])
            st["exp_avg"].mul_(b1).add_(g, alpha=1 - b1)
            st["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (st["exp_avg_sq"].sqrt() / math.sqrt(1 - b2**t)).add_(self.eps)
            p.addcdiv_(st["exp_avg"], denom, value=-self.lr / (1 - b1**t))

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
