"""Shared helpers for the five paper experiments (arXiv 2601.06597, v2 Figs. 2-6).

All training loops here are *seed-batched*: every parameter tensor carries a leading seed
(chain) dimension ``S`` and one Python step updates all chains at once. Gradients are
written out by hand (closed-form backpropagation of tiny models, tested against autograd
in ``tests/experiments``), which removes autograd overhead from loops of up to 1.5 M steps.

Randomness: chain ``s`` of an experiment draws from its own ``torch.Generator`` seeded
with ``derive_seed(seed, key, s)``, so a chain's stream does not depend on how many chains
run beside it. Per-step random tensors are drawn in blocks (:class:`BlockNoise`) to
amortise the per-call overhead.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from implicitbias.experiments.base import Claim, Verdict, mean_sd
from implicitbias.seeding import derive_seed

__all__ = [
    "chain_generators",
    "BlockNoise",
    "unbalance_scales",
    "fmt",
    "fmt_range",
    "claim",
    "Stopwatch",
    "chain_seeds",
    "torch_threads",
    "threaded",
]


def threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run ``fn(cfg, ...)`` inside ``torch_threads(cfg.threads)``."""
    import functools

    @functools.wraps(fn)
    def wrapper(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        with torch_threads(getattr(cfg, "threads", 0)):
            return fn(cfg, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` and restore the old value after.

    The loops here run thousands of tiny batched ops per second; intra-op threading only
    adds synchronisation cost (on a loaded 2-core box a (8, 20, 20) ``bmm`` took 1 ms with
    2 threads and 4 µs with 1). ``n <= 0`` leaves the setting unchanged.
    """
    old = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def chain_seeds(seed: int, n: int) -> list[int]:
    """Chain indices ``seed, seed+1, …, seed+n-1`` (chain ``seed`` is "seed 0")."""
    if n < 1:
        from implicitbias.errors import UserInputError

        raise UserInputError(f"seeds must be >= 1, got {n}")
    return [seed + i for i in range(n)]


def chain_generators(seeds: Sequence[int], key: str, device: torch.device) -> list[torch.Generator]:
    """One generator per chain: ``derive_seed(s, key)`` for each chain seed ``s``."""
    gens = []
    for s in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(derive_seed(int(s), key))
        gens.append(g)
    return gens


class BlockNoise:
    """Per-chain random tensors, drawn ``block`` steps at a time.

    ``next()`` returns a tensor of shape ``(S, *shape)`` for the current step; every
    ``block`` steps each chain draws ``(block, *shape)`` values from its own generator.

    Args:
        gens: one generator per chain.
        shape: per-step, per-chain shape.
        kind: ``"normal"`` (standard normal) or ``"uniform"`` (U[0, 1)).
        block: steps per draw.
        dtype: tensor dtype.
        device: tensor device.
    """

    def __init__(
        self,
        gens: Sequence[torch.Generator],
        shape: tuple[int, ...],
        kind: str = "normal",
        block: int = 512,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        self.gens = list(gens)
        self.shape = tuple(shape)
        self.kind = kind
        self.block = int(block)
        self.dtype = dtype
        self.device = torch.device(device)
        self._buf: torch.Tensor | None = None
        self._i = self.block

    def _refill(self) -> None:
        draws = []
        for g in self.gens:
            size = (self.block, *self.shape)
            if self.kind == "normal":
                draws.append(torch.randn(size, generator=g, dtype=self.dtype, device=self.device))
            else:
                draws.append(torch.rand(size, generator=g, dtype=self.dtype, device=self.device))
        # (block, S, *shape): contiguous per step.
        self._buf = torch.stack(draws, dim=1).contiguous()
        self._i = 0

    def next(self) -> torch.Tensor:
        """The next step's tensor, shape ``(S, *shape)``."""
        if self._i >= self.block:
            self._refill()
        assert self._buf is not None
        out = self._buf[self._i]
        self._i += 1
        return out


def unbalance_scales(n: int, log_scale: float) -> torch.Tensor:
    """``s = exp(linspace(-log_scale, log_scale, n))`` (the code's ``unbalance_*`` factors)."""
    return torch.exp(torch.linspace(-log_scale, log_scale, n, dtype=torch.float64))


def fmt(x: float, digits: int = 4) -> str:
    """Short numeric text (``nan`` for NaN)."""
    if x != x:
        return "nan"
    return f"{x:.{digits}g}"


def fmt_range(lo: float, hi: float, digits: int = 4) -> str:
    """``[lo, hi]`` text."""
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def claim(
    experiment: str,
    what: str,
    paper: str,
    values: Any,
    ok: Callable[[float], bool] | None,
    digits: int = 4,
    note: str = "",
    seed0_text: str | None = None,
    mean_text: str | None = None,
) -> Claim:
    """A :class:`Claim` from per-seed values (index 0 = seed 0).

    Args:
        experiment: experiment id.
        what: the quantity, in words.
        paper: the paper's number (text).
        values: per-seed numbers (array-like, length S).
        ok: predicate on the seed-0 value deciding "reproduced" (``None`` -> "info": no paper number to judge by).
        digits: significant digits.
        note: short note.
        seed0_text / mean_text: override the default formatting.
    """
    v = np.asarray(values, dtype=float).ravel()
    s0 = float(v[0]) if v.size else math.nan
    verdict: Verdict
    if ok is None or v.size == 0:
        verdict = "info"
    else:
        verdict = "reproduced" if (s0 == s0 and ok(s0)) else "differs"
    return Claim(
        experiment=experiment,
        claim=what,
        paper=paper,
        ours_seed0=seed0_text if seed0_text is not None else fmt(s0, digits),
        ours_mean_sd=mean_text if mean_text is not None else mean_sd(v, "{:." + str(digits) + "g}"),
        verdict=verdict,
        note=note,
    )


class Stopwatch:
    """Wall-clock timer: ``sw = Stopwatch(); …; sw.elapsed``."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def progress_every(total: int, n: int = 50) -> int:
    """A progress-callback interval giving about ``n`` callbacks over ``total`` steps."""
    return max(1, total // n)
