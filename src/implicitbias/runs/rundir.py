"""Run directories: ``<root>/<experiment>/<config-hash8>/``.

Layout of a run directory:

* ``config.json`` — the frozen-dataclass config (canonical JSON) and its experiment id;
* ``env.json`` — versions, seed, device, git SHA (:func:`environment_info`);
* ``metrics.jsonl`` — one JSON object per logged step (:class:`JsonlLogger`);
* ``arrays.safetensors`` (or ``<name>.safetensors``) — arrays for figures and analysis;
* ``checkpoint.safetensors`` — resumable state, its JSON meta stored in the file header;
* ``figures/`` — PNG figures;
* ``complete.json`` — written last; its presence marks a completed run.

Every write is atomic. Opening a completed run returns it for reuse; ``force=True`` starts
afresh, and the previous run is kept aside until the new one completes, so an interrupted
forced run never leaves a half-written directory in place of a good one.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from implicitbias.config import config_hash, to_dict
from implicitbias.errors import RunExistsError, UserInputError
from implicitbias.runs.atomic import atomic_write_json, load_tensors, save_tensors
from implicitbias.runs.env import environment_info
from implicitbias.runs.logger import JsonlLogger, read_metrics

__all__ = ["RunDir", "run_path"]

COMPLETE = "complete.json"


def run_path(root: str | Path, experiment: str, config: Any) -> Path:
    """``root/experiment/config_hash(config)``."""
    return Path(root) / experiment / config_hash(config)


@dataclass
class RunDir:
    """Handle on one run directory. Create with :meth:`open`."""

    path: Path
    experiment: str

    @classmethod
    def open(
        cls,
        root: str | Path,
        experiment: str,
        config: Any,
        *,
        force: bool = False,
        must_be_new: bool = False,
    ) -> RunDir:
        """Open (creating if needed) the run directory of ``config``.

        Args:
            root: the runs root folder.
            experiment: experiment id (first path component).
            config: frozen dataclass; its hash names the directory.
            force: start afresh even if a completed run exists.
            must_be_new: raise :class:`RunExistsError` if a completed run exists and
                ``force`` is false (instead of returning it for reuse).
        """
        path = run_path(root, experiment, config)
        run = cls(path=path, experiment=experiment)
        if run.is_complete:
            if force:
                aside = path.with_name(f"{path.name}.replaced-{int(time.time() * 1000)}")
                path.rename(aside)
                run._aside = aside  # type: ignore[attr-defined]
            elif must_be_new:
                raise RunExistsError(f"completed run exists at {path} (use --force to overwrite)")
            else:
                return run
        path.mkdir(parents=True, exist_ok=True)
        cfg_file = path / "config.json"
        record = {"experiment": experiment, "config": to_dict(config), "hash": path.name}
        if cfg_file.exists():
            old = json.loads(cfg_file.read_text())
            if old.get("config") != record["config"]:
                raise UserInputError(f"run directory {path} holds a different config")
        else:
            atomic_write_json(cfg_file, record)
        return run

    # ---- status -------------------------------------------------------------------------
    @property
    def is_complete(self) -> bool:
        """Whether ``complete.json`` exists."""
        return (self.path / COMPLETE).exists()

    def mark_complete(self, summary: dict[str, Any] | None = None) -> None:
        """Write ``complete.json`` last; drop a run kept aside by ``force``."""
        atomic_write_json(self.path / COMPLETE, {"time": time.time(), "summary": summary or {}})
        aside = getattr(self, "_aside", None)
        if aside is not None and Path(aside).exists():
            shutil.rmtree(aside, ignore_errors=True)

    def summary(self) -> dict[str, Any]:
        """The summary stored by :meth:`mark_complete` (empty if not complete)."""
        f = self.path / COMPLETE
        return json.loads(f.read_text()).get("summary", {}) if f.exists() else {}

    # ---- files --------------------------------------------------------------------------
    def config_record(self) -> dict[str, Any]:
        """The stored ``config.json`` record."""
        return json.loads((self.path / "config.json").read_text())

    def write_env(self, seed: int | None = None, device: str | None = None) -> None:
        """Write ``env.json``."""
        atomic_write_json(self.path / "env.json", environment_info(seed=seed, device=device))

    def logger(self) -> JsonlLogger:
        """A JSONL logger appending to ``metrics.jsonl``."""
        return JsonlLogger(self.path / "metrics.jsonl")

    def metrics(self) -> list[dict[str, Any]]:
        """All rows of ``metrics.jsonl``."""
        return read_metrics(self.path / "metrics.jsonl")

    def write_json(self, name: str, obj: Any) -> Path:
        """Atomically write ``<name>.json`` and return its path."""
        p = self.path / f"{name}.json"
        atomic_write_json(p, obj)
        return p

    def read_json(self, name: str) -> Any:
        """Read ``<name>.json``."""
        return json.loads((self.path / f"{name}.json").read_text())

    def save_arrays(self, tensors: dict[str, torch.Tensor], name: str = "arrays") -> Path:
        """Atomically save tensors to ``<name>.safetensors``."""
        p = self.path / f"{name}.safetensors"
        save_tensors(p, tensors)
        return p

    def load_arrays(self, name: str = "arrays") -> dict[str, torch.Tensor]:
        """Load ``<name>.safetensors``."""
        return load_tensors(self.path / f"{name}.safetensors")

    def figure_path(self, name: str) -> Path:
        """Path for figure ``name`` (``.png`` appended if missing) under ``figures/``."""
        d = self.path / "figures"
        d.mkdir(exist_ok=True)
        return d / (name if name.endswith(".png") else f"{name}.png")

    def save_checkpoint(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Checkpoint tensors and JSON ``meta`` together in one atomically written file."""
        save_tensors(self.path / "checkpoint.safetensors", tensors, metadata={"meta": json.dumps(meta)})

    def load_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The last checkpoint, or ``None``."""
        f = self.path / "checkpoint.safetensors"
        if not f.exists():
            return None
        with safe_open(str(f), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get("meta", "{}"))
        return load_tensors(f), meta
