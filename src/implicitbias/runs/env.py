"""Environment record for a run: library and dependency versions, seed, git SHA."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["environment_info", "git_sha"]


def git_sha(start: str | Path | None = None) -> str | None:
    """The current git commit of the source tree, or ``None`` when not in a checkout."""
    where = Path(start) if start is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment_info(seed: int | None = None, device: str | None = None) -> dict[str, Any]:
    """Versions of Python, torch, numpy and implicitbias, plus platform, seed and git SHA."""
    from implicitbias import __version__

    return {
        "implicitbias": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "device": device,
        "seed": seed,
        "git_sha": git_sha(),
    }
