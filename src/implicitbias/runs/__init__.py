"""Run directories, checkpoints, logging, sweeps and executors."""

from implicitbias.runs.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    load_tensors,
    save_tensors,
)
from implicitbias.runs.env import environment_info, git_sha
from implicitbias.runs.logger import JsonlLogger, Logger, NullLogger, read_metrics
from implicitbias.runs.rundir import RunDir, run_path

__all__ = [
    "RunDir",
    "run_path",
    "Logger",
    "JsonlLogger",
    "NullLogger",
    "read_metrics",
    "environment_info",
    "git_sha",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "save_tensors",
    "load_tensors",
]
