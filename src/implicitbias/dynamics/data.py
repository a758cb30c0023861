"""Data sources for the simulator: every chain gets its own batch from its own noise stream.

A data source declares the variates it needs per chain and step (:meth:`DataSource.noise_spec`)
and turns them into a batch dict of ``(C, ...)`` tensors (:meth:`DataSource.batch`).

* :class:`FullBatch` — a fixed batch, shared by all chains or one per chain (no randomness;
  full-batch GD).
* :class:`OnlineTeacher` — fresh inputs ``x ~ N(0, I_d)`` of shape ``(B, d)`` and targets
  ``y = teacher(x) + σ ε`` every step (the online teacher–student setting).
* :class:`Subsample` — ``B`` rows of a fixed dataset (shared, or one per chain) drawn each
  step, with or without replacement (minibatch SGD on a finite dataset).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from implicitbias.dynamics.noise import NoiseSpec
from implicitbias.errors import UserInputError

__all__ = ["DataSource", "FullBatch", "OnlineTeacher", "Subsample"]

Tensor = torch.Tensor


class DataSource:
    """Protocol of a data source (subclass and override)."""

    def noise_spec(self) -> dict[str, NoiseSpec]:
        """Per-chain variates needed per step."""
        return {}

    def batch_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-chain shapes of the batch entries."""
        raise NotImplementedError

    def batch(self, noise: Mapping[str, Tensor], n_chains: int) -> dict[str, Tensor]:
        """The batch of every chain: name -> ``(C, *batch_shapes[name])``."""
        raise NotImplementedError


def _to(data: Mapping[str, Tensor], dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(dtype=dtype, device=device) if v.is_floating_point() else v.to(device) for k, v in data.items()}


class FullBatch(DataSource):
    """The same batch at every step (views, no copies).

    Args:
        data: name -> tensor, shared by all chains; with ``per_chain=True`` name ->
            ``(C, ...)`` tensor whose row ``c`` is the batch of the ``c``-th chain of the run.
        per_chain: see ``data``.
    """

    def __init__(self, data: Mapping[str, Tensor], per_chain: bool = False) -> None:
        self.data = dict(data)
        self.per_chain = bool(per_chain)

    def batch_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape[1:] if self.per_chain else v.shape) for k, v in self.data.items()}

    def batch(self, noise, n_chains):  # type: ignore[override]
        if self.per_chain:
            return self.data
        return {k: v.expand(n_chains, *v.shape) for k, v in self.data.items()}

    def to(self, dtype: torch.dtype, device: torch.device) -> FullBatch:
        return FullBatch(_to(self.data, dtype, device), self.per_chain)


class OnlineTeacher(DataSource):
    """Fresh teacher samples: ``x ~ N(0, I_d)`` ``(B, d)``, ``y = teacher(x) + noise_std ε``.

    Args:
        teacher: maps a 2-D input matrix ``(N, d)`` to targets ``(N, out_dim)``; it is called
            once per step on the ``(C·B, d)`` inputs of all chains stacked (no gradient).
            Always calling it on a 2-D matrix keeps each chain's targets bit-identical
            whatever the number of chains (a ``(1, B, d)`` batch can take another BLAS path).
        input_dim: ``d``.
        output_dim: number of targets per sample.
        batch_size: ``B``.
        noise_std: label noise of the data (0 for none).
    """

    def __init__(self, teacher: Callable[[Tensor], Tensor], input_dim: int, output_dim: int,
                 batch_size: int, noise_std: float = 0.0) -> None:
        if batch_size < 1 or input_dim < 1 or output_dim < 1:
            raise UserInputError("OnlineTeacher: batch_size, input_dim and output_dim must be >= 1")
        self.teacher = teacher
        self.d, self.o, self.B = int(input_dim), int(output_dim), int(batch_size)
        self.noise_std = float(noise_std)

    def noise_spec(self) -> dict[str, NoiseSpec]:
        spec = {"x": NoiseSpec((self.B, self.d))}
        if self.noise_std > 0:
            spec["eps"] = NoiseSpec((self.B, self.o))
        return spec

    def batch_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"x": (self.B, self.d), "y": (self.B, self.o)}

    def batch(self, noise, n_chains):  # type: ignore[override]
        x = noise["x"].contiguous()
        C = x.shape[0]
        with torch.no_grad():
            y = self.teacher(x.view(C * self.B, self.d)).reshape(C, self.B, self.o)
        if self.noise_std > 0:
            y = torch.add(y, noise["eps"], alpha=self.noise_std)
        return {"x": x, "y": y}


class Subsample(DataSource):
    """``B`` rows of a fixed dataset per chain and step.

    With replacement, row ``⌊u N⌋`` for ``B`` uniforms ``u``; without replacement, the ``B``
    smallest of ``N`` uniforms (a uniformly random ``B``-subset). Every tensor in ``data``
    must have the same first dimension ``N`` (with ``per_chain=True``: shape ``(C, N, ...)``,
    row ``c`` being the dataset of the ``c``-th chain of the run).
    """

    def __init__(self, data: Mapping[str, Tensor], batch_size: int, replace: bool = True,
                 per_chain: bool = False) -> None:
        self.data = dict(data)
        self.per_chain = bool(per_chain)
        sizes = {v.shape[1 if self.per_chain else 0] for v in self.data.values()}
        if len(sizes) != 1:
            raise UserInputError("Subsample: all data tensors need the same number of rows")
        self.N = sizes.pop()
        self.B = int(batch_size)
        if not 1 <= self.B <= self.N:
            raise UserInputError(f"Subsample: batch size must be in [1, {self.N}], got {batch_size}")
        self.replace = bool(replace)

    def noise_spec(self) -> dict[str, NoiseSpec]:
        return {"u": NoiseSpec((self.B,) if self.replace else (self.N,), "uniform")}

    def batch_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: (self.B, *v.shape[2 if self.per_chain else 1:]) for k, v in self.data.items()}

    def indices(self, noise: Mapping[str, Tensor]) -> Tensor:
        """``(C, B)`` row indices of this step."""
        u = noise["u"]
        if self.replace:
            return (u * self.N).long().clamp_(max=self.N - 1)
        return torch.topk(u, self.B, dim=1, largest=False, sorted=True).indices

    def batch(self, noise, n_chains):  # type: ignore[override]
        idx = self.indices(noise)
        if self.per_chain:
            rows = torch.arange(idx.shape[0], device=idx.device)[:, None]
            return {k: v[rows, idx] for k, v in self.data.items()}
        return {k: v[idx] for k, v in self.data.items()}

    def to(self, dtype: torch.dtype, device: torch.device) -> Subsample:
        return Subsample(_to(self.data, dtype, device), self.B, self.replace, self.per_chain)
