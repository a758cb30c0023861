"""Counter-based seeds: every random stream is derived from (seed, *keys), never global state.

``derive_seed(seed, "chain", 3)`` gives chain 3 its own stream, independent of how many
chains run beside it. Generators are explicit ``torch.Generator`` / ``numpy.random.Generator``
objects passed to the code that needs them.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

__all__ = ["derive_seed", "torch_generator", "numpy_generator"]


def derive_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed from a base seed and any keys: sha256 of their repr, truncated."""
    h = hashlib.sha256(repr((int(seed),) + tuple(keys)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def torch_generator(seed: int, *keys: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``derive_seed(seed, *keys)``."""
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, *keys))
    return g


def numpy_generator(seed: int, *keys: object) -> np.random.Generator:
    """A NumPy ``Generator`` seeded with ``derive_seed(seed, *keys)``."""
    return np.random.default_rng(derive_seed(seed, *keys))
