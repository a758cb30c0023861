"""Device selection (``auto`` picks CUDA when available, else CPU) and the one torch thread-count helper."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from implicitbias.errors import UserInputError

__all__ = ["resolve_device", "torch_threads"]


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Map ``auto|cpu|cuda|cuda:N`` to a ``torch.device``; a missing CUDA is a user error."""
    if isinstance(name, torch.device):
        return name
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserInputError("--device cuda requested but CUDA is not available")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise UserInputError(f"unknown device {name!r} (use auto, cpu or cuda)")


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, restoring the old value after.

    The one thread-control helper of the library. Thousands of tiny batched ops per second
    (the simulator's steps) or many small factorizations (SVD/eigh in symmetry discovery)
    only pay synchronisation cost for intra-op threads on a shared CPU: a ``(8, 20, 20)``
    ``bmm`` took 1 ms with 2 threads and 4 µs with 1 on a loaded 2-core box, and dense
    SVD/eigh can be 10-100x slower multi-threaded. ``n`` ``None`` or ``<= 0`` leaves the
    setting unchanged.
    """
    if n is None or n <= 0:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
