"""Shared helpers for the five paper experiments (arXiv 2601.06597, v2 Figs. 2-6).

Every experiment trains on :class:`implicitbias.dynamics.Simulator`: every parameter
carries a leading chain (seed) dimension and one step updates all chains at once. Gradients
are written out by hand (closed-form backpropagation of tiny models, tested against
autograd in ``tests/experiments``) and plug into the simulator's ``grad=`` hook.

Randomness: a chain's initialisation comes from its own generator
(:func:`chain_generators`, ``derive_seed(s, key)`` for chain seed ``s``); its per-step noise
(data, batches, label noise) from the simulator's per-chain streams
(``derive_seed(base, "dynamics-chain", s)``), so nothing depends on how many chains run
beside it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from implicitbias.device import torch_threads
from implicitbias.experiments.base import Claim, Verdict, mean_sd
from implicitbias.seeding import derive_seed

__all__ = [
    "chain_generators",
    "unbalance_scales",
    "fmt",
    "fmt_range",
    "claim",
    "Stopwatch",
    "chain_seeds",
    "threaded",
]


def threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run ``fn(cfg, ...)`` inside :func:`implicitbias.device.torch_threads` ``(cfg.threads)``."""
    import functools

    @functools.wraps(fn)
    def wrapper(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        with torch_threads(getattr(cfg, "threads", 0)):
            return fn(cfg, *args, **kwargs)

    return wrapper


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
