"""Paper experiments: one module per experiment, registered by id.

Each module follows the protocol in :mod:`implicitbias.experiments.base`. The registry maps
ids to module paths and imports lazily, so listing experiments is cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from implicitbias.errors import UserInputError
from implicitbias.experiments.base import Claim, ExperimentResult

__all__ = ["REGISTRY", "get_experiment", "experiment_ids", "Claim", "ExperimentResult"]

#: id -> module path. Order is the report order.
REGISTRY: dict[str, str] = {}


def register(experiment_id: str, module: str) -> None:
    """Register ``module`` (dotted path) under ``experiment_id``."""
    REGISTRY[experiment_id] = module


def experiment_ids() -> list[str]:
    """Registered experiment ids whose modules exist, in report order."""
    return list(REGISTRY)


def get_experiment(experiment_id: str) -> ModuleType:
    """Import and return the module of ``experiment_id``."""
    if experiment_id not in REGISTRY:
        raise UserInputError(
            f"unknown experiment {experiment_id!r} (known: {', '.join(REGISTRY) or 'none'})"
        )
    return importlib.import_module(REGISTRY[experiment_id])


# Registrations (each line added by the issue that builds the experiment).
