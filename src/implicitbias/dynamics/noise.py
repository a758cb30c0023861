"""Per-chain random streams, drawn in blocks so the per-step cost does not grow with C.

Every chain ``c`` owns a ``torch.Generator`` seeded with
``derive_seed(seed, "dynamics-chain", chain_id)``. Each block of ``K`` steps draws, per chain,
one ``(K, n_normal)`` standard-normal array and one ``(K, n_uniform)`` U[0, 1) array, in that
order; each named array takes its columns of the draw of its kind in the order the specs are
declared, and is stored step-major in its own ``(K, C, *shape)`` buffer, so that one step's
array of all chains is one contiguous ``(C, *shape)`` view. The variates of chain ``c`` at
step ``t`` therefore depend only on
``(seed, chain_id, t)`` and on the noise layout, never on how many chains run beside it.

Resuming at step ``t`` restores the generator states saved at the start of block
``t // K`` and redraws that block, which reproduces the uninterrupted stream exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from implicitbias.seeding import derive_seed

__all__ = ["NoiseSpec", "ChainNoise"]


@dataclass(frozen=True)
class NoiseSpec:
    """Shape (per chain, per step) and law of one named noise array.

    Attributes:
        shape: per-chain shape of the array drawn at every step.
        kind: ``"normal"`` (N(0, 1)) or ``"uniform"`` (U[0, 1)).
    """

    shape: tuple[int, ...]
    kind: Literal["normal", "uniform"] = "normal"

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))


class ChainNoise:
    """Block-drawn noise for ``C`` chains with independent, C-independent streams.

    Args:
        specs: name -> :class:`NoiseSpec`, the variates needed at every step; a name may be a
            tuple path, e.g. ``("rule", "0", "xi")``, and :meth:`draw` then returns nested dicts.
        seed: base seed.
        chain_ids: global indices of the chains simulated here (length C).
        block: steps per block ``K``.
        dtype, device: of the drawn arrays.
    """

    def __init__(
        self,
        specs: Mapping[str, NoiseSpec],
        seed: int,
        chain_ids: Sequence[int],
        block: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.specs = dict(specs)
        self.chain_ids = [int(c) for c in chain_ids]
        self.block = int(block)
        C = len(self.chain_ids)
        self.gens = []
        for c in self.chain_ids:
            g = torch.Generator(device=device)
            g.manual_seed(derive_seed(seed, "dynamics-chain", c))
            self.gens.append(g)
        self._n = {k: sum(s.size for s in self.specs.values() if s.kind == k) for k in ("normal", "uniform")}
        self._kw = {"dtype": dtype, "device": device}
        # One (K, C, size) buffer per name, so that a step's array of every chain is one
        # contiguous (C, *shape) view; (path, kind, offset in the chain's draw, buffer).
        self._layout: list[tuple[tuple, str, int, torch.Tensor]] = []
        off = {"normal": 0, "uniform": 0}
        for name, s in self.specs.items():
            path = name if isinstance(name, tuple) else (name,)
            buf = torch.empty(self.block, C, *s.shape, dtype=dtype, device=device)
            self._layout.append((path, s.kind, off[s.kind], buf))
            off[s.kind] += s.size
        self._block_start_states: list[torch.Tensor] | None = None
        self._filled_block = -1

    def _refill(self, block_index: int) -> None:
        self._block_start_states = [g.get_state() for g in self.gens]
        for c, g in enumerate(self.gens):
            draws = {}
            if self._n["normal"]:
                draws["normal"] = torch.randn(self.block, self._n["normal"], generator=g, **self._kw)
            if self._n["uniform"]:
                draws["uniform"] = torch.rand(self.block, self._n["uniform"], generator=g, **self._kw)
            for _, kind, off, buf in self._layout:
                n = buf[0, 0].numel()
                buf[:, c] = draws[kind][:, off : off + n].view(self.block, *buf.shape[2:])
        self._filled_block = block_index

    def draw(self, step: int) -> dict:
        """The named variates of step ``step`` for all chains: name -> ``(C, *shape)`` views.

        Tuple names give nested dicts. The views alias an internal buffer that is overwritten
        at the next block; use them within the step.
        """
        b, j = divmod(int(step), self.block)
        if b != self._filled_block:
            self._refill(b)
        out: dict = {}
        for path, _, _, view in self._layout:
            d = out
            for key in path[:-1]:
                d = d.setdefault(key, {})
            d[path[-1]] = view[j]
        return out

    # ---- checkpointing -------------------------------------------------------------------
    def state_for(self, step: int) -> torch.Tensor:
        """Generator states to store in a checkpoint taken after ``step`` steps: ``(C, S)`` uint8.

        They are the states at the start of block ``step // K``.
        """
        b = int(step) // self.block
        if b == self._filled_block and self._block_start_states is not None:
            states = self._block_start_states
        else:  # block b not drawn yet: the current state is its start state
            states = [g.get_state() for g in self.gens]
        return torch.stack([s.to("cpu") for s in states])

    def restore(self, states: torch.Tensor, step: int) -> None:
        """Restore :meth:`state_for` output for a run resuming after ``step`` steps."""
        for g, s in zip(self.gens, states, strict=True):
            g.set_state(s.to(torch.uint8).clone())
        self._filled_block = -1
        b, j = divmod(int(step), self.block)
        if j:
            self._refill(b)
