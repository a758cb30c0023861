"""Experiments: the paper experiments and theory validations, and how they are run.

Every experiment module follows the typed protocol of :mod:`implicitbias.experiments.base`
(:class:`~implicitbias.experiments.base.Experiment`); :mod:`.registry` maps ids to modules,
:mod:`.runner` runs one into its run directory (``run``, ``validate``, ``reproduce``) and
:mod:`.sweep` runs grids of them on an executor.
"""

from __future__ import annotations

from implicitbias.experiments.base import Claim, Experiment, ExperimentResult, Metric
from implicitbias.experiments.registry import (
    ENV_VAR,
    REGISTRY,
    experiment_ids,
    get_experiment,
    register,
)

__all__ = [
    "REGISTRY", "ENV_VAR", "get_experiment", "experiment_ids", "register",
    "Claim", "Experiment", "ExperimentResult", "Metric",
]
