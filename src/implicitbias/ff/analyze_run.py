"""Representation analysis of one FF-engine run directory (``implicitbias ff analyze``).

A run directory written by :func:`implicitbias.ff.train_run` holds
``representations.safetensors`` (``labels``, ``pred``, ``wrong_labels`` ``(N,)`` and
``layer{l}.{true,neutral,wrong}`` ``(N, H)`` float16 test-set activations, l = 1..L; BP runs
have no label input and store ``layer{l}.true`` only), ``model.safetensors``
(``layers.{i}.weight``/``bias``), ``summary.json`` and ``config.json``.

:func:`load_representations` reads it into :class:`FFReps`; :func:`analyze_run` runs the
array-level :func:`~implicitbias.analysis.representations.analyze_representations` and adds the
run's accuracy, the weight-sign statistics and the excitatory / inhibitory drive of every layer
l ≥ 2, whose input N(h_{l−1}) is rebuilt from the stored activities with the engine's own
normalisation (:func:`implicitbias.ff.core.normalize_rows`). Everything returned is JSON-safe
after :func:`~implicitbias.analysis.representations.to_json`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from implicitbias.analysis.inhibition import drive_summary, weight_sign_stats
from implicitbias.analysis.representations import (
    CONDITIONS,
    AnalysisOptions,
    Representations,
    analyze_representations,
    to_json,
)
from implicitbias.errors import DataError, UserInputError
from implicitbias.ff.core import normalize_rows

__all__ = ["FFReps", "check_representations", "load_representations", "analyze_run", "AnalysisOptions", "to_json"]


@dataclass
class FFReps(Representations):
    """:class:`~implicitbias.analysis.representations.Representations` of one run plus its
    ``summary.json`` and config dict (each may be empty)."""

    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


def _read_json(p: Path) -> dict[str, Any]:
    if not p.exists():
        return {}
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{p} is unreadable ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise DataError(f"{p} does not hold a JSON object")
    return d


def _reps_file(run_path: str | Path) -> Path:
    """``run_path/representations.safetensors``; UserInputError if the folder or file is missing."""
    path = Path(run_path)
    f = path / "representations.safetensors"
    if not path.is_dir():
        raise UserInputError(f"{path} is not a directory")
    if not f.exists():
        raise UserInputError(f"{path} has no representations.safetensors (not an FF run, or not finished)")
    return f


def check_representations(run_path: str | Path) -> None:
    """Cheap check that a run folder holds a readable ``representations.safetensors``.

    Reads only the header (safetensors checks that the data length matches it).

    Raises:
        UserInputError: the folder or the file is missing; DataError: it is truncated or corrupt.
    """
    from safetensors import safe_open

    f = _reps_file(run_path)
    try:
        with safe_open(str(f), framework="numpy") as fh:
            keys = set(fh.keys())
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for any corruption
        raise DataError(f"{f} is truncated or corrupt ({type(e).__name__}); rerun the training with --force") from None
    if "labels" not in keys:
        raise DataError(f"{f} has no 'labels' array")


def load_representations(run_path: str | Path, max_layers: int = 0) -> FFReps:
    """Load ``representations.safetensors`` (+ summary/config) from a run directory.

    Args:
        run_path: the run (or snapshot) folder.
        max_layers: read only the first ``max_layers`` layers (0 = every layer).

    Raises:
        UserInputError: the folder or the file is missing.
        DataError: the file lacks the expected keys.
    """
    from safetensors import safe_open

    path = Path(run_path)
    f = _reps_file(path)
    try:
        with safe_open(str(f), framework="numpy") as fh:
            keys = set(fh.keys())
            if "labels" not in keys:
                raise DataError(f"{f} has no 'labels' array")
            idx = sorted({int(m.group(1)) for k in keys if (m := re.fullmatch(r"layer(\d+)\.true", k))})
            if not idx:
                raise DataError(f"{f} has no layer<l>.true arrays")
            if max_layers > 0:
                idx = idx[:max_layers]
            layers: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS}
            for li in idx:
                true = fh.get_tensor(f"layer{li}.true").astype(np.float32)
                for c in CONDITIONS:  # BP stores the true condition only: the others share its array
                    key = f"layer{li}.{c}"
                    layers[c].append(fh.get_tensor(key).astype(np.float32) if c != "true" and key in keys else true)
            labels = fh.get_tensor("labels").astype(np.int64)
            pred = fh.get_tensor("pred").astype(np.int64) if "pred" in keys else labels.copy()
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for any corruption
        raise DataError(f"{f} is truncated or corrupt ({type(e).__name__}); rerun the training with --force") from None
    cfg = _read_json(path / "config.json")
    conditioned = any(k.endswith(".neutral") for k in keys)  # BP stores layer<l>.true only
    return FFReps(labels, pred, layers, conditioned, summary=_read_json(path / "summary.json"), config=cfg.get("config", cfg))


def analyze_run(run_path: str | Path, opts: AnalysisOptions | None = None) -> dict[str, Any]:
    """:func:`analyze_representations` of a run directory + accuracy, weight signs and drives."""
    from safetensors.numpy import load_file

    path = Path(run_path)
    reps = load_representations(path, (opts or AnalysisOptions()).max_layers)
    res = analyze_representations(reps, opts)
    res["run"] = str(path)
    res["algo"] = reps.config.get("algo")
    res["dataset"] = reps.config.get("dataset")
    res["seed"] = reps.config.get("seed")
    res["test_acc"] = reps.summary.get("test_acc", res["accuracy_from_pred"])
    res["per_layer_acc"] = reps.summary.get("per_layer_acc")
    model = path / "model.safetensors"
    if model.exists():
        w = load_file(str(model))
        o = opts or AnalysisOptions()
        sel = reps.pred == reps.labels if o.samples == "correct" else np.ones(reps.labels.size, bool)
        norm = "none" if res["algo"] == "bp" else reps.config.get("layer_norm", "l2")
        eps = float(reps.config.get("norm_eps", 1e-12))
        for li, d in enumerate(res["layers"]):
            key = f"layers.{li}.weight"
            if key not in w:
                continue
            bias = w.get(f"layers.{li}.bias", np.zeros(w[key].shape[0], np.float32))
            d["weights"] = weight_sign_stats(w[key], bias)
            if li >= 1:  # input of layer l ≥ 2 = N(h_{l−1}), rebuilt from the stored activations
                h = torch.from_numpy(np.ascontiguousarray(reps.layers["true"][li - 1][sel]))
                inp = normalize_rows(h, norm, eps).numpy()
                d["drive"] = drive_summary(inp, w[key], bias, reps.labels[sel], d["_members"])
    return res
