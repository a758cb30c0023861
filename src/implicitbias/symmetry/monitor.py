r"""Conserved quantities during training: the moment maps of a symmetry algebra, recorded.

:class:`SymmetryMonitor` is a callable ``(step, model) -> dict[str, float] | None``. It works
as a trainer callback (invoked after every optimiser step; the returned scalars go to the
run's ``metrics.jsonl``) and as a hook in a plain PyTorch loop::

    mon = SymmetryMonitor(model, every=10)              # ReLU MLP: per-unit imbalances
    for step, (x, y) in enumerate(loader, 1):
        loss_fn(model(x), y).backward(); opt.step(); opt.zero_grad()
        mon(step, model)                                 # recorded every 10 steps
    mon.save("imbalance.safetensors")                    # (R,) steps, (R, H) per layer

Two sources (docs/theory.md §8 gives the predictions these are compared with):

* **A ReLU MLP** (``nn.Module``), analytic, no discovery: consecutive ``nn.Linear`` layers
  ``a → b`` with ``a.out_features == b.in_features`` are paired (or pass ``pairs``). The
  positive rescaling of hidden unit j, ``(W_a[j, :], b_a[j]) ↦ λ(·)``, ``W_b[:, j] ↦ W_b[:, j]/λ``,
  has the generator ``S_j = diag(+1 on W_a[j,:], b_a[j]; −1 on W_b[:, j])`` and the
  **imbalance**

      Δ_j(θ) = ‖W_a[j, :]‖² + b_a[j]² − ‖W_b[:, j]‖² = 2 χ_j(θ)        (shape (H,) per layer)

  with ``χ_j = ½ θᵀ S_j θ`` the moment map in the library's convention
  (:mod:`implicitbias.symmetry.gauge`). It is a conserved quantity only if the activation
  between ``a`` and ``b`` is positively homogeneous and nothing else (normalisation, a
  goodness of the hidden layer) sees the unit's scale; the monitor records it regardless
  (e.g. under FF training, where it is *not* a symmetry).
* **A symmetry algebra** (:class:`~implicitbias.symmetry.SymmetryAlgebra`, e.g. from
  discovery): the moment maps ``χ_a(θ) = ½ θᵀ S_a θ`` of its symmetric part, shape ``(m,)``,
  with ``θ`` the model's named parameters flattened in the algebra's parametrization order;
  summarised per generator group when the symmetric part labels its generators
  (``groups``, e.g. ``"rescale fc1"``), else as one group ``moment_map``.

All values are computed in float64 on the parameters' device and stored on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from implicitbias.errors import UserInputError

__all__ = ["SymmetryMonitor", "relu_unit_pairs", "unit_imbalance"]

CONVENTION = "imbalance_j = |W_in[j]|^2 + b_in[j]^2 - |W_out[:, j]|^2 = 2 chi_j; chi_a = 0.5 theta^T S_a theta"


def relu_unit_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """Consecutive ``nn.Linear`` modules (registration order) whose widths chain: ``[(a, b), ...]``."""
    lins = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return [(na, nb) for (na, a), (nb, b) in zip(lins[:-1], lins[1:], strict=False) if a.out_features == b.in_features]


def unit_imbalance(w_in: torch.Tensor, b_in: torch.Tensor | None, w_out: torch.Tensor) -> torch.Tensor:
    """``‖w_in[j]‖² + b_in[j]² − ‖w_out[:, j]‖²`` for ``w_in (H, d)``, ``b_in (H,)``, ``w_out (o, H)``; float64 ``(H,)``."""
    w_in, w_out = w_in.detach().double(), w_out.detach().double()
    out = w_in.pow(2).sum(1) - w_out.pow(2).sum(0)
    if b_in is not None:
        out = out + b_in.detach().double().pow(2)
    return out


class SymmetryMonitor:
    """Record moment maps (per-unit imbalances or ``χ_a``) every ``every`` steps.

    Args:
        source: an ``nn.Module`` (ReLU MLP, analytic per-unit imbalances), the string
            ``"relu"`` (the same, with the pairs found on the first model passed: for trainer
            callbacks, whose network is built inside the trainer) or a
            :class:`~implicitbias.symmetry.SymmetryAlgebra` whose ``parametrization`` names
            the model's parameters (``model.named_parameters()`` names).
        every: record when ``step % every == 0`` (step 0 = before training is recorded too).
        pairs: ReLU mode only: ``[(name_in, name_out), ...]`` of ``nn.Linear`` modules; default
            :func:`relu_unit_pairs`.
        logger: optional :class:`~implicitbias.runs.logger.Logger` (``log(dict, step)``) that
            receives the summary of each record (for plain loops; a trainer logs the return
            value itself).
        prefix: key prefix of the summary scalars.

    Summary scalars per group ``g`` (a layer name, or ``moment_map``): ``{prefix}/{g}/mean``,
    ``mean_abs``, ``rms`` and ``max_abs`` of the recorded vector.
    """

    def __init__(
        self,
        source: Any,
        every: int = 1,
        *,
        pairs: Sequence[tuple[str, str]] | None = None,
        logger: Any = None,
        prefix: str = "sym",
    ) -> None:
        if int(every) < 1:
            raise UserInputError(f"every must be >= 1, got {every}")
        self.every, self.logger, self.prefix = int(every), logger, prefix
        self._module: nn.Module | None = None
        self.algebra = None
        self.pairs: list[tuple[str, str]] = list(pairs) if pairs is not None else []
        self._user_pairs, self._resolved = pairs is not None, False
        if isinstance(source, nn.Module):
            self._module = source
            self._resolve_pairs(source)
        elif isinstance(source, str) and source == "relu":
            pass  # pairs are found on the first model passed to the monitor (e.g. by a trainer)
        elif hasattr(source, "symmetric_part") and hasattr(source, "moment_map"):
            self.algebra = source
            p = getattr(source, "parametrization", None)
            if p is None or not hasattr(p, "flatten"):
                raise UserInputError("the algebra has no parametrization: cannot map model parameters to theta")
            self._param = p
        else:
            raise UserInputError(f"SymmetryMonitor needs an nn.Module, 'relu' or a SymmetryAlgebra, got {source!r:.60}")
        self._steps: list[int] = []
        self._records: dict[str, list[torch.Tensor]] = {}

    def _resolve_pairs(self, model: nn.Module) -> None:
        if not self._user_pairs:
            self.pairs = relu_unit_pairs(model)
        mods = dict(model.named_modules())
        for a, b in self.pairs:
            if not isinstance(mods.get(a), nn.Linear) or not isinstance(mods.get(b), nn.Linear):
                raise UserInputError(f"pair ({a!r}, {b!r}) does not name two nn.Linear modules")
            if mods[a].out_features != mods[b].in_features:
                raise UserInputError(f"pair ({a!r}, {b!r}): widths {mods[a].out_features} and {mods[b].in_features} differ")
        if not self.pairs:
            raise UserInputError("no pair of consecutive nn.Linear layers with matching widths: nothing to monitor")
        self._resolved = True

    # ---- measurement ------------------------------------------------------------------
    def measure(self, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
        """The current values: ``group -> (n,)`` float64 CPU tensor (nothing is recorded)."""
        model = model if model is not None else self._module
        if model is None:
            raise UserInputError("no model given to the monitor")
        if self.algebra is None:
            if not self._resolved:
                self._resolve_pairs(model)
            mods = dict(model.named_modules())
            out = {}
            for a, b in self.pairs:
                la, lb = mods[a], mods[b]
                out[a] = unit_imbalance(la.weight, la.bias, lb.weight).cpu()
            return out
        params = {k: v.detach() for k, v in model.named_parameters()}
        missing = [k for k in self._param.names if k not in params]
        if missing:
            raise UserInputError(f"the model has no parameter(s) {', '.join(missing[:3])} of the algebra's parametrization")
        theta = self._param.flatten({k: params[k].double().cpu() for k in self._param.names})
        chi = torch.as_tensor(self.algebra.moment_map(theta), dtype=torch.float64).reshape(-1).cpu()
        groups = getattr(self.algebra.symmetric_part(), "groups", None)
        if not groups or len(groups) != chi.numel() or not all(groups):
            return {"moment_map": chi}
        idx: dict[str, list[int]] = {}
        for a, g in enumerate(groups):
            idx.setdefault(str(g), []).append(a)
        return {g: chi[torch.tensor(ix)] for g, ix in idx.items()}

    def summarize(self, values: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Scalars ``{prefix}/{group}/{mean,mean_abs,rms,max_abs}`` of measured values."""
        out: dict[str, float] = {}
        for g, v in values.items():
            if v.numel() == 0:
                continue
            a = v.abs()
            out.update({
                f"{self.prefix}/{g}/mean": float(v.mean()),
                f"{self.prefix}/{g}/mean_abs": float(a.mean()),
                f"{self.prefix}/{g}/rms": float(v.pow(2).mean().sqrt()),
                f"{self.prefix}/{g}/max_abs": float(a.max()),
            })
        return out

    def __call__(self, step: int, model: nn.Module | None = None) -> dict[str, float] | None:
        """Record at ``step`` if ``step % every == 0``; returns the summary scalars or ``None``."""
        if int(step) % self.every:
            return None
        values = self.measure(model)
        self._steps.append(int(step))
        for g, v in values.items():
            self._records.setdefault(g, []).append(v)
        summary = self.summarize(values)
        if self.logger is not None:
            self.logger.log(summary, step=int(step))
        return summary

    # ---- history ----------------------------------------------------------------------
    @property
    def steps(self) -> torch.Tensor:
        """``(R,)`` int64 steps of the records."""
        return torch.tensor(self._steps, dtype=torch.int64)

    def history(self) -> dict[str, torch.Tensor]:
        """``{"steps": (R,), group: (R, n)}`` float64 (one row per record)."""
        out = {"steps": self.steps}
        for g, vs in self._records.items():
            out[g] = torch.stack(vs) if vs else torch.zeros(0, 0, dtype=torch.float64)
        return out

    def save(self, path: str | Path) -> Path:
        """Write :meth:`history` to a safetensors file (metadata records the convention)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in self.history().items()}
        kind = "relu_imbalance" if self.algebra is None else "moment_map"
        save_file(tensors, str(path), metadata={"kind": kind, "convention": CONVENTION, "every": str(self.every)})
        return path
