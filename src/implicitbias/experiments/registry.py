"""The experiment registry: id -> module path, imported lazily so listing is cheap."""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from implicitbias.errors import UserInputError
from implicitbias.experiments.base import Experiment

__all__ = ["REGISTRY", "ENV_VAR", "get_experiment", "experiment_ids", "register"]

#: id -> module path. Order is the report order. Modules not (yet) present are skipped.
REGISTRY: dict[str, str] = {
    "symmetry_catalog": "implicitbias.experiments.validations.symmetry_catalog",
    "validate_stationary": "implicitbias.experiments.validations.stationary",
    "validate_gauge": "implicitbias.experiments.validations.gauge",
    "validate_projected": "implicitbias.experiments.validations.projected",
    "validate_temperature": "implicitbias.experiments.validations.temperature",
    "relu_balance": "implicitbias.experiments.paper1.relu_balance",
    "attention_balance": "implicitbias.experiments.paper1.attention_balance",
    "matrix_completion": "implicitbias.experiments.paper1.matrix_completion",
    "fourier_sparsity": "implicitbias.experiments.paper1.fourier_sparsity",
    "tv_recovery": "implicitbias.experiments.paper1.tv_recovery",
    "noise_init_ablation": "implicitbias.experiments.paper1.noise_init_ablation",
    "ff_representations": "implicitbias.experiments.ff.representations",
    "symmetry_in_trained_nets": "implicitbias.experiments.validations.symmetry_in_trained_nets",
}


ENV_VAR = "IMPLICITBIAS_EXPERIMENTS"


def _env_experiments() -> dict[str, str]:
    """User experiments from ``$IMPLICITBIAS_EXPERIMENTS`` = ``"id=pkg.module,id2=pkg.mod2"``.

    The variable travels to worker processes (process pool, Dask LocalCluster), so user
    experiments can be swept like built-in ones.
    """
    out = {}
    for item in os.environ.get(ENV_VAR, "").split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _all() -> dict[str, str]:
    return {**REGISTRY, **_env_experiments()}


def register(experiment_id: str, module: str) -> None:
    """Register ``module`` (dotted path) under ``experiment_id``."""
    REGISTRY[experiment_id] = module


def experiment_ids() -> list[str]:
    """Registered experiment ids whose modules exist, in report order."""
    return [k for k, m in _all().items() if _exists(m)]


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def get_experiment(experiment_id: str) -> Experiment:
    """Import and return the module of ``experiment_id`` (it follows :class:`Experiment`)."""
    if experiment_id not in experiment_ids():
        raise UserInputError(
            f"unknown experiment {experiment_id!r} (known: {', '.join(experiment_ids()) or 'none'})"
        )
    mod: ModuleType = importlib.import_module(_all()[experiment_id])
    return mod  # type: ignore[return-value]

