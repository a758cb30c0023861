"""Collect any torch model's activations with forward hooks: ``(N, H)`` arrays per layer.

>>> cap = capture(model, (x, y), layers=["conv1", "fc1"], batch_size=256)   # doctest: +SKIP
>>> cap.layers["fc1"].shape, cap.labels.shape, cap.pred.shape                # (N, H), (N,), (N,)

The model runs in ``eval()`` mode under ``torch.inference_mode`` in chunks of ``batch_size``
samples; each hooked module's output is reduced to ``(B, H)`` and copied to the CPU as
``dtype`` chunk by chunk (the full-precision output of one chunk is the only extra memory). The model is not copied; its training flag is restored and every hook is
removed afterwards, also when the forward pass raises. Outputs with more than two dimensions
(``(B, C, *spatial)``, e.g. conv maps) are reduced by ``conv``:

* ``"pool"`` — the mean over the spatial positions, ``H = C`` (global average pooling);
* ``"flatten"`` — every unit at every position, ``H = C·∏spatial``.

A module returning a tuple is hooked on its first element. Predictions are the argmax of the
model's output when it is ``(B, K)`` (else None).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

__all__ = ["Captured", "capture", "reduce_output"]


@dataclass
class Captured:
    """Activations of the hooked layers.

    Attributes:
        layers: layer name → ``(N, H)`` array (``dtype`` of the capture), in the order asked.
        labels: ``(N,)`` int64 labels (None when the data had none).
        pred: ``(N,)`` int64 argmax of the model output (None when it is not ``(N, K)``).
        class_names: optional names of the classes.
    """

    layers: dict[str, np.ndarray]
    labels: np.ndarray | None
    pred: np.ndarray | None
    class_names: list[str] | None = field(default=None)


def reduce_output(out: torch.Tensor, conv: str) -> torch.Tensor:
    """``(B, ...)`` → ``(B, H)``: 2-D unchanged; more dims pooled over positions or flattened."""
    if out.ndim == 1:
        return out[:, None]
    if out.ndim == 2:
        return out
    if conv == "pool":
        return out.flatten(2).mean(dim=2)
    if conv == "flatten":
        return out.flatten(1)
    raise ValueError(f"conv must be 'pool' or 'flatten', got {conv!r}")


def _batches(data: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """``(x, y)`` chunks from a tensor / array, an ``(x, y)`` tuple, a Dataset or a DataLoader."""
    if isinstance(data, (torch.Tensor, np.ndarray)):
        data = (data, None)
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], (int, float)):
        x = torch.as_tensor(data[0])
        y = None if data[1] is None else torch.as_tensor(np.asarray(data[1]))
        for s in range(0, x.shape[0], batch_size):
            yield x[s : s + batch_size], None if y is None else y[s : s + batch_size]
        return
    if isinstance(data, torch.utils.data.DataLoader):
        loader: Iterable[Any] = data
    elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    else:
        raise TypeError(f"cannot capture from {type(data).__name__}: give a tensor, (x, y), a Dataset or a DataLoader")
    for b in loader:
        if isinstance(b, (list, tuple)):
            yield torch.as_tensor(b[0]), torch.as_tensor(b[1]) if len(b) > 1 else None
        else:
            yield torch.as_tensor(b), None


def capture(
    model: nn.Module,
    data: Any,
    layers: Sequence[str],
    batch_size: int = 256,
    dtype: torch.dtype = torch.float16,
    conv: Literal["pool", "flatten"] = "pool",
    device: str | torch.device | None = None,
    class_names: Sequence[str] | None = None,
) -> Captured:
    """Run ``model`` over ``data`` and collect the outputs of the named submodules.

    Args:
        model: any ``nn.Module``; not copied, not moved (inputs go to ``device`` or the
            device of its first parameter).
        data: a tensor / array ``(N, ...)``, an ``(x, y)`` pair, a map-style Dataset of
            ``(x, y)`` or a DataLoader.
        layers: names from ``model.named_modules()`` (e.g. ``"fc1"``, ``"features.3"``).
        batch_size: chunk size (ignored for a DataLoader).
        dtype: dtype of the stored activations (float16 halves the memory of float32).
        conv: ``"pool"`` or ``"flatten"`` for outputs with spatial dimensions.
        device: where the inputs go (default: the model's device).
        class_names: stored on the result.

    Returns:
        :class:`Captured`.

    Raises:
        KeyError: a name that is not a submodule (the known names are listed).
        ValueError: an unknown ``conv``.
    """
    if conv not in ("pool", "flatten"):
        raise ValueError(f"conv must be 'pool' or 'flatten', got {conv!r}")
    modules = dict(model.named_modules())
    missing = [n for n in layers if n not in modules]
    if missing:
        known = ", ".join(n for n in modules if n)
        raise KeyError(f"no submodule(s) {', '.join(missing)} in {type(model).__name__} (known: {known})")
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in layers}
    current: dict[str, torch.Tensor] = {}

    def make_hook(name: str) -> Any:
        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            t = out[0] if isinstance(out, (tuple, list)) else out
            current[name] = reduce_output(t.detach(), conv)

        return hook

    labels: list[np.ndarray] = []
    preds: list[np.ndarray] = []
    has_pred = True
    was_training = model.training
    handles = [modules[n].register_forward_hook(make_hook(n)) for n in layers]
    try:
        model.eval()
        with torch.inference_mode():
            for xb, yb in _batches(data, batch_size):
                current.clear()
                out = model(xb.to(device))
                for n in layers:
                    chunks[n].append(current[n].to("cpu", dtype).numpy().astype(np_dtype, copy=False))
                if yb is not None:
                    labels.append(yb.reshape(-1).cpu().numpy().astype(np.int64))
                o = out[0] if isinstance(out, (tuple, list)) else out
                if has_pred and isinstance(o, torch.Tensor) and o.ndim == 2:
                    preds.append(o.argmax(dim=1).cpu().numpy().astype(np.int64))
                else:
                    has_pred = False
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    acts = {n: np.concatenate(chunks[n]) if chunks[n] else np.zeros((0, 0), np_dtype) for n in layers}
    return Captured(
        acts,
        np.concatenate(labels) if labels else None,
        np.concatenate(preds) if has_pred and preds else None,
        list(class_names) if class_names is not None else None,
    )
