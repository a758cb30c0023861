"""The activations file: any network's per-layer activations in one safetensors file, and its analysis.

Format (``implicitbias-activations/1``), a safetensors file holding

* ``layer.<name>`` — ``(N, H)`` float16 / float32 activations of layer ``<name>`` (any string);
* ``labels`` — ``(N,)`` int64 classes in ``0..K−1``;
* ``pred`` — optional ``(N,)`` int64 predictions of the network;

and the string metadata ``format`` (``implicitbias-activations/1``), ``layers`` (JSON list of
the layer names in network order), optional ``class_names`` (JSON list, label order) and
``description``. Every row is one input; all tensors share N.

:func:`analyze_activations` runs the analysis of ``ff analyze`` on such arrays
(:func:`implicitbias.analysis.ff_run.analyze_representations`): sparsity, ensembles, overlaps,
split-half stability, TwoNN, CKA between layers. The label controls (neutral / wrong label
input) need a network that takes the label as input, so they are skipped with a note. Without
``pred`` every sample counts as correctly classified.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from implicitbias.analysis.capture import Captured
from implicitbias.errors import DataError, UserInputError

__all__ = ["FORMAT", "save_activations", "load_activations", "analyze_activations", "summary_rows", "format_table"]

FORMAT = "implicitbias-activations/1"


def save_activations(path: str | Path, cap: Captured, description: str = "") -> Path:
    """Write ``cap`` as an activations file (atomically: temporary file, then rename)."""
    from safetensors.numpy import save_file

    n = None if cap.labels is None else len(cap.labels)
    if cap.labels is None:
        raise UserInputError("an activations file needs labels (capture from (x, y) data)")
    tensors: dict[str, np.ndarray] = {"labels": np.ascontiguousarray(cap.labels, dtype=np.int64)}
    for name, a in cap.layers.items():
        if a.ndim != 2 or len(a) != n:
            raise UserInputError(f"layer {name!r} has shape {a.shape}, expected ({n}, H)")
        tensors[f"layer.{name}"] = np.ascontiguousarray(a)
    if cap.pred is not None:
        tensors["pred"] = np.ascontiguousarray(cap.pred, dtype=np.int64)
    meta = {"format": FORMAT, "layers": json.dumps(list(cap.layers))}
    if cap.class_names is not None:
        meta["class_names"] = json.dumps([str(c) for c in cap.class_names])
    if description:
        meta["description"] = description
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def load_activations(path: str | Path) -> tuple[Captured, dict[str, str]]:
    """Read an activations file; returns the arrays and the metadata.

    Raises:
        UserInputError: the file does not exist.
        DataError: not a safetensors file, or not in the format above.
    """
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{p}: no such file")
    try:
        with safe_open(str(p), framework="numpy") as f:
            meta = dict(f.metadata() or {})
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except Exception as e:  # safetensors raises its own error types
        raise DataError(f"{p}: not a readable safetensors file ({e})") from None
    if "labels" not in arrays:
        raise DataError(f"{p}: no 'labels' tensor (see docs/your-data.md for the activations-file format)")
    try:
        order = json.loads(meta["layers"]) if "layers" in meta else None
        names = json.loads(meta["class_names"]) if "class_names" in meta else None
    except json.JSONDecodeError as e:
        raise DataError(f"{p}: malformed metadata ({e})") from None
    found = [k[len("layer.") :] for k in arrays if k.startswith("layer.")]
    order = [n for n in order if n in found] if order else sorted(found)
    if not order:
        raise DataError(f"{p}: no 'layer.<name>' tensors")
    labels = arrays["labels"].astype(np.int64)
    n = len(labels)
    for name in order:
        a = arrays[f"layer.{name}"]
        if a.ndim != 2 or len(a) != n:
            raise DataError(f"{p}: layer {name!r} has shape {a.shape}, expected ({n}, H)")
    pred = arrays["pred"].astype(np.int64) if "pred" in arrays else None
    if labels.size and labels.min() < 0:
        raise DataError(f"{p}: negative labels")
    layers = {name: arrays[f"layer.{name}"] for name in order}
    return Captured(layers, labels, pred, names), meta


def analyze_activations(cap: Captured, opts: Any = None) -> dict[str, Any]:
    """The ``ff analyze`` statistics of captured activations (module docstring); JSON-safe via ``to_json``."""
    from implicitbias.analysis.ff_run import AnalysisOptions, FFReps, analyze_representations

    if cap.labels is None:
        raise UserInputError("the analysis needs labels")
    o = opts or AnalysisOptions()
    o = AnalysisOptions(**{**o.__dict__, "controls": False})
    arrs = [np.asarray(a, dtype=np.float32) for a in cap.layers.values()]
    pred = cap.pred if cap.pred is not None else cap.labels
    reps = FFReps(cap.labels, pred, {"true": arrs, "neutral": arrs, "wrong": arrs}, label_conditioned=False)
    k = len(cap.class_names) if cap.class_names else None
    res = analyze_representations(reps, o, num_classes=k)
    res["layer_names"] = list(cap.layers)
    res["test_acc"] = float((cap.pred == cap.labels).mean()) if cap.pred is not None else None
    res["notes"] = ["label controls (neutral / wrong label input) skipped: they need a network that takes the label as input"]
    if cap.pred is None:
        res["notes"].append("no predictions stored: every sample counts as correctly classified")
    return res


def summary_rows(res: dict[str, Any], name: str = "") -> list[dict[str, str]]:
    """One row per layer of the sparsity / ensemble table printed by ``ff analyze`` and ``analyze``."""

    def f(v: Any, d: int = 3) -> str:
        return "–" if v is None or (isinstance(v, float) and v != v) else (f"{v:.{d}f}" if isinstance(v, float) else str(v))

    names = res.get("layer_names") or [str(d["layer"]) for d in res["layers"]]
    rows = []
    for lname, d in zip(names, res["layers"], strict=True):
        rows.append({
            "file": name, "layer": lname, "width": str(d["width"]),
            "acc": f(res.get("test_acc"), 4),
            "Hoyer (zero rows)": f"{f(d['hoyer']['mean'])} ({d['hoyer']['n_zero']})",
            "active": f(d["active_frac"]), "dead": f(d["dead_frac"]),
            "|E| mean": f(float(np.mean(d["ensemble_sizes"])), 1),
            "exclusive": f(d.get("exclusive_frac")), "mixed": str(d["mixed"]["n_mixed"]),
            "ID": f(d.get("twonn_id"), 1),
        })
    return rows


def format_table(rows: list[dict[str, str]]) -> str:
    """Plain-text table of :func:`summary_rows` (columns padded)."""
    if not rows:
        return ""
    cols = list(rows[0])
    w = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    line = "  ".join(c.ljust(w[c]) for c in cols)
    body = ["  ".join(r[c].ljust(w[c]) for c in cols) for r in rows]
    return "\n".join([line, "-" * len(line), *body])
