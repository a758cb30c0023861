"""The ``Logger`` protocol and its default JSONL implementation.

A logger receives one dict of scalars per logged step. ``JsonlLogger`` appends one JSON
object per line to ``metrics.jsonl`` in a run directory. Optional adapters (TensorBoard) live
behind extras and are imported only when asked for.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["Logger", "JsonlLogger", "NullLogger", "TensorBoardLogger", "read_metrics"]


@runtime_checkable
class Logger(Protocol):
    """Anything that accepts a step's metrics and can be closed."""

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None: ...

    def close(self) -> None: ...


def _clean(v: Any) -> Any:
    if hasattr(v, "item") and getattr(v, "numel", lambda: 1)() == 1:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class JsonlLogger:
    """Append-only JSON-lines logger: ``{"step": s, **metrics}`` per line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        row = {"step": step} if step is not None else {}
        row.update({k: _clean(v) for k, v in metrics.items()})
        self._fh.write(json.dumps(row, default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> JsonlLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullLogger:
    """A logger that drops everything."""

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        return None

    def close(self) -> None:
        return None


class TensorBoardLogger:
    """TensorBoard adapter (``pip install implicitbias[tensorboard]``); imported lazily."""

    def __init__(self, logdir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # pragma: no cover - optional extra
            raise ImportError("TensorBoard logging needs `pip install implicitbias[tensorboard]`") from e
        self._w = SummaryWriter(str(logdir))

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        for k, v in metrics.items():
            v = _clean(v)
            if isinstance(v, (int, float)):
                self._w.add_scalar(k, v, global_step=step)

    def close(self) -> None:
        self._w.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Read a ``metrics.jsonl`` file into a list of dicts (ignores a torn last line)."""
    rows = []
    p = Path(path)
    if not p.exists():
        return rows
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
