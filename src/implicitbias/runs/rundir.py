"""Run directories: ``<root>/<experiment>/<config-hash8>/``.

Layout of a run directory:

* ``config.json`` — the frozen-dataclass config (canonical JSON) and its experiment id;
* ``env.json`` — versions, seed, device, git SHA (:func:`environment_info`);
* ``metrics.jsonl`` — one JSON object per logged step (:class:`JsonlLogger`);
* ``arrays.safetensors`` (or ``<name>.safetensors``) — arrays for figures and analysis;
* ``checkpoint.safetensors`` — resumable state, its JSON meta stored in the file header;
* ``figures/`` — PNG figures;
* ``complete.json`` — written last; a completed run is one whose ``complete.json`` parses
  as ``{"time": <number>, "summary": {...}}`` (garbage there is *not* taken as complete);
* ``.lock`` — the lock file of :meth:`RunDir.open` with ``lock=True`` (``filelock``): one
  writer per run directory; a second gets :class:`~implicitbias.errors.RunLockedError`.

Every write is atomic. Opening a completed run returns it for reuse; ``force=True`` starts
afresh, and the previous run is kept aside until the new one completes, so an interrupted
forced run never leaves a half-written directory in place of a good one. Unreadable
``config.json`` / ``checkpoint.safetensors`` files raise :class:`UserInputError`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from safetensors import SafetensorError, safe_open

from implicitbias.config import config_hash, to_dict
from implicitbias.errors import RunExistsError, RunLockedError, UserInputError
from implicitbias.runs.atomic import atomic_write_json, load_tensors, save_tensors
from implicitbias.runs.env import environment_info
from implicitbias.runs.logger import JsonlLogger, read_metrics

__all__ = ["RunDir", "run_path", "check_out_dir"]

COMPLETE = "complete.json"
LOCK = ".lock"


def check_out_dir(path: str | Path, what: str = "--out") -> None:
    """Raise :class:`UserInputError` unless ``path`` is (or can be created as) a writable folder.

    Nothing is created: the nearest existing ancestor must be a folder we may write into.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserInputError(f"{what} {p} is a file, not a folder")
    q = p
    while not q.exists() and q != q.parent:
        q = q.parent
    if not q.is_dir():
        raise UserInputError(f"{what} {p}: {q} is a file, not a folder")
    if not os.access(q, os.W_OK | os.X_OK):
        raise UserInputError(f"{what} {p}: no permission to write in {q}")


def _valid_complete(f: Path) -> bool:
    try:
        rec = json.loads(f.read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(rec, dict) and isinstance(rec.get("time"), (int, float))
            and isinstance(rec.get("summary", {}), dict))


def run_path(root: str | Path, experiment: str, config: Any) -> Path:
    """``root/experiment/config_hash(config)``."""
    return Path(root) / experiment / config_hash(config)


@dataclass
class RunDir:
    """Handle on one run directory. Create with :meth:`open`."""

    path: Path
    experiment: str
    _lock: FileLock | None = field(default=None, repr=False, compare=False)

    @classmethod
    def open(
        cls,
        root: str | Path,
        experiment: str,
        config: Any,
        *,
        force: bool = False,
        must_be_new: bool = False,
        lock: bool = False,
        wait: float = 0.0,
    ) -> RunDir:
        """Open (creating if needed) the run directory of ``config``.

        Args:
            root: the runs root folder.
            experiment: experiment id (first path component).
            config: frozen dataclass; its hash names the directory.
            force: start afresh even if a completed run exists.
            must_be_new: raise :class:`RunExistsError` if a completed run exists and
                ``force`` is false (instead of returning it for reuse).
            lock: hold the run's lock file (``filelock``) until :meth:`release` (or the end
                of a ``with`` block); a completed run that is reused is not locked.
            wait: seconds to wait for a lock held by another process (0: fail at once); a
                run the other process completed meanwhile is returned for reuse.

        Raises:
            UserInputError: ``root`` is not a usable folder, or ``config.json`` is
                unreadable or holds another config.
            RunLockedError: ``lock=True`` and another process holds the lock (past ``wait``).
        """
        check_out_dir(root)
        path = run_path(root, experiment, config)
        run = cls(path=path, experiment=experiment)
        if run.is_complete and not force:
            if must_be_new:
                raise RunExistsError(f"completed run exists at {path} (use --force to overwrite)")
            return run
        path.mkdir(parents=True, exist_ok=True)
        if lock:
            run._acquire(wait)
        try:
            if run.is_complete and not force:  # another writer completed it while we waited
                return run
            if run.is_complete:  # force: keep the old run aside (all but the lock file)
                aside = path.with_name(f"{path.name}.replaced-{int(time.time() * 1000)}")
                aside.mkdir()
                for entry in path.iterdir():
                    if entry.name != LOCK:
                        entry.rename(aside / entry.name)
                run._aside = aside  # type: ignore[attr-defined]
            run._check_config_file(experiment, config)
        except BaseException:
            run.release()
            raise
        return run

    def _check_config_file(self, experiment: str, config: Any) -> None:
        cfg_file = self.path / "config.json"
        record = {"experiment": experiment, "config": to_dict(config), "hash": self.path.name}
        if not cfg_file.exists():
            atomic_write_json(cfg_file, record)
            return
        try:
            old = json.loads(cfg_file.read_text())
        except (OSError, ValueError) as e:
            raise UserInputError(
                f"run directory {self.path} has an unreadable config.json ({type(e).__name__}); "
                "remove that folder to start afresh"
            ) from None
        if not isinstance(old, dict) or old.get("config") != record["config"]:
            raise UserInputError(
                f"run directory {self.path} holds a different config (config.json); remove that folder to start afresh"
            )

    # ---- locking ------------------------------------------------------------------------
    def _acquire(self, wait: float = 0.0) -> None:
        lk = FileLock(str(self.path / LOCK), timeout=max(0.0, float(wait)))
        try:
            lk.acquire()
        except Timeout:
            raise RunLockedError(
                f"run directory {self.path} is in use by another process (lock {self.path / LOCK}); "
                "wait for it to finish or use another --out"
            ) from None
        self._lock = lk

    def release(self) -> None:
        """Release the lock taken by ``open(..., lock=True)`` (no-op otherwise)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ---- status -------------------------------------------------------------------------
    @property
    def is_complete(self) -> bool:
        """Whether a valid ``complete.json`` exists (garbage there does not count)."""
        return _valid_complete(self.path / COMPLETE)

    def mark_complete(self, summary: dict[str, Any] | None = None) -> None:
        """Write ``complete.json`` last; drop a run kept aside by ``force``."""
        atomic_write_json(self.path / COMPLETE, {"time": time.time(), "summary": summary or {}})
        aside = getattr(self, "_aside", None)
        if aside is not None and Path(aside).exists():
            shutil.rmtree(aside, ignore_errors=True)

    def summary(self) -> dict[str, Any]:
        """The summary stored by :meth:`mark_complete` (empty if not complete)."""
        f = self.path / COMPLETE
        return json.loads(f.read_text()).get("summary", {}) if _valid_complete(f) else {}

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
        try:
            with safe_open(str(f), framework="pt") as fh:
                meta = json.loads((fh.metadata() or {}).get("meta", "{}"))
            tensors = load_tensors(f)
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise UserInputError(
                f"checkpoint {f} is unreadable ({type(e).__name__}: {' '.join(str(e).split())[:120]}); "
                "rerun without --resume to start afresh"
            ) from None
        if not isinstance(meta, dict):
            raise UserInputError(f"checkpoint {f} has malformed metadata; rerun without --resume to start afresh")
        return tensors, meta
