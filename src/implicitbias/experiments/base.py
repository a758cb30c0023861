"""The experiment protocol shared by every paper experiment and validation.

An experiment module (``implicitbias.experiments.<id>``) defines:

* ``ID: str`` — its registry id (e.g. ``"relu_balance"``);
* ``TITLE: str`` — one line for the report;
* ``Config`` — a frozen dataclass with a ``seeds: int`` or ``seed: int`` field;
* ``PRESETS: dict[str, Config]`` — at least ``"quick"`` and ``"paper"``;
* ``METRICS: tuple[Metric, ...]`` — the scalar metrics it measures (name, unit, meaning);
  ``result.metrics[name]`` holds a number or one number per chain (dotted names reach into
  nested dicts), and sweeps / the report aggregate exactly these;
* ``run(config, run_dir: RunDir, progress: Progress | None = None) -> ExperimentResult``;
* ``figures(result, run_dir) -> list[str]`` — draws its figures (with :mod:`implicitbias.viz`)
  from ``result`` and the arrays ``run`` saved in ``run_dir``; returns paths relative to it.

``run`` writes its arrays and metrics into ``run_dir`` and returns an
:class:`ExperimentResult` whose :class:`Claim` rows put each of our numbers next to the
paper's, with a verdict; the runner then calls ``figures`` (so figures can be redrawn from
a completed run alone). The report, ``run``, ``validate``, ``reproduce`` and ``sweep`` only
use this protocol (:class:`Experiment`). ``METRICS`` and ``figures`` are optional for user
experiments (``$IMPLICITBIAS_EXPERIMENTS``): without them every top-level number of
``result.metrics`` is a metric and ``run`` lists its own figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Verdict = Literal["reproduced", "differs", "inconclusive", "info", "not run"]

__all__ = [
    "Claim", "ExperimentResult", "Experiment", "Metric", "Progress", "Verdict", "VERDICTS",
    "mean_sd", "metric_values", "check_finite", "surviving_chains", "finite_records",
    "raise_if_diverged",
]

#: Every verdict, in report order.
VERDICTS: tuple[str, ...] = ("reproduced", "differs", "inconclusive", "info", "not run")


@dataclass(frozen=True)
class Metric:
    """A scalar an experiment measures.

    Attributes:
        name: key in ``ExperimentResult.metrics`` (``"a.b"`` reaches ``metrics["a"]["b"]``);
            its value is a number or a list with one number per chain.
        unit: physical unit or ``"1"`` for dimensionless numbers (``"s"``, ``"nats"``, …).
        description: one line, what it measures.
    """

    name: str
    unit: str
    description: str


@dataclass(frozen=True)
class Claim:
    """One reported number: the paper's value, ours, and the verdict.

    Attributes:
        experiment: experiment id.
        claim: what is measured, in words (e.g. "ReLU per-unit ratio range at 40k").
        paper: the paper's number as text (e.g. "[0.939, 1.0045]").
        ours_seed0: our seed-0 value as text.
        ours_mean_sd: "mean ± sd" over seeds as text ("" for single-seed numbers).
        verdict: "reproduced", "differs", "inconclusive" (between the noise floor and the
            stated rejection factor: more samples needed), "info" (a measured number with
            no paper counterpart to judge it by) or "not run".
        note: optional short explanation (e.g. why a number differs).
    """

    experiment: str
    claim: str
    paper: str
    ours_seed0: str
    ours_mean_sd: str = ""
    verdict: Verdict = "reproduced"
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class ExperimentResult:
    """What ``run`` returns: claims, scalar metrics and figure paths (relative to run dir)."""

    experiment: str
    claims: list[Claim] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    wall_time_s: float = math.nan
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "claims": [c.to_dict() for c in self.claims],
            "metrics": self.metrics,
            "figures": list(self.figures),
            "wall_time_s": self.wall_time_s,
            "command": self.command,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExperimentResult:
        return cls(
            experiment=d["experiment"],
            claims=[Claim(**c) for c in d.get("claims", [])],
            metrics=d.get("metrics", {}),
            figures=list(d.get("figures", [])),
            wall_time_s=d.get("wall_time_s", math.nan),
            command=d.get("command", ""),
        )


class Progress(Protocol):
    """Minimal progress sink: ``progress(done, total, message)``; the CLI passes a rich bar."""

    def __call__(self, done: int, total: int, message: str = "") -> None: ...


def no_progress(done: int, total: int, message: str = "") -> None:
    """A progress sink that does nothing."""
    return None


def mean_sd(values: Any, fmt: str = "{:.4g}") -> str:
    """Format ``mean ± sd`` (sample sd, ddof=1) of a sequence of numbers."""
    import numpy as np

    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        return ""
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return f"{fmt.format(float(v.mean()))} ± {fmt.format(sd)} (n={v.size})"


ProgressFn = Callable[[int, int, str], None]


def check_finite(experiment: str, step: int, chain_ids: Any = None, **tensors: Any) -> None:
    """Raise :class:`~implicitbias.errors.Diverged` if any chain of ``tensors`` is non-finite.

    Loops call this at their log steps (cheap: one reduction per tensor). Every tensor has
    the chain axis first, shape ``(S, ...)``.

    Args:
        experiment: experiment id (or the name of a shared trainer; the runner prefixes the id).
        step: the current step.
        chain_ids: the global chain / seed index of each row (default ``0..S-1``).
        **tensors: named ``(S, ...)`` tensors, e.g. ``W=W, V=V``.
    """
    import torch

    from implicitbias.errors import Diverged

    bad = None
    names = []
    for name, t in tensors.items():
        b = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)
        if bool(b.any()):
            names.append(name)
            bad = b if bad is None else bad | b
    if bad is not None:
        idx = torch.nonzero(bad.cpu()).flatten().tolist()
        ids = list(chain_ids) if chain_ids is not None else list(range(int(bad.shape[0])))
        raise Diverged(experiment, step, [ids[i] for i in idx], what=", ".join(names))


def surviving_chains(experiment: str, sim_result: Any) -> tuple[Any, list[dict[str, int]]]:
    """Chains of a :class:`~implicitbias.dynamics.SimResult` that stayed finite.

    The simulator freezes a chain at its first non-finite value. Returns ``(keep, diverged)``:
    a ``(C,)`` bool mask of the finite chains (index arrays with it to exclude the others) and
    ``[{"chain": id, "step": k}, ...]`` for the report (``metrics["diverged_chains"]``).

    Raises:
        Diverged: every chain diverged.
    """
    from implicitbias.errors import Diverged

    frozen = sim_result.frozen.bool().cpu()
    ids = list(sim_result.chain_ids)
    at = sim_result.frozen_at.cpu().tolist()
    diverged = [{"chain": int(ids[i]), "step": int(at[i])} for i in range(len(ids)) if bool(frozen[i])]
    if diverged and len(diverged) == len(ids):
        raise Diverged(experiment, min(d["step"] for d in diverged), ids, what="parameters (every chain)")
    return ~frozen, diverged


def raise_if_diverged(experiment: str, sim_result: Any, what: str = "parameters") -> None:
    """Raise :class:`~implicitbias.errors.Diverged` if any chain of a simulation diverged.

    For experiments whose claims need every seed (a seed-0 row, a seed band), a diverged
    chain stops the run with its experiment id, chain ids and first non-finite step.
    """
    from implicitbias.errors import Diverged

    bad = sim_result.diverged
    if bad:
        raise Diverged(experiment, min(bad.values()), sorted(bad), what=what)


def finite_records(experiment: str, sim_result: Any) -> dict[str, Any]:
    """``sim_result.records`` restricted to the chains that stayed finite (chain axis 1).

    Diverged chains are reported (a logged warning naming chain and step) and excluded;
    :class:`~implicitbias.errors.Diverged` if every chain diverged.
    """
    import logging

    keep, diverged = surviving_chains(experiment, sim_result)
    if not diverged:
        return dict(sim_result.records)
    logging.getLogger(__name__).warning(
        "%s: %d chain(s) diverged and are excluded: %s", experiment, len(diverged),
        ", ".join(f"chain {d['chain']} at step {d['step']}" for d in diverged[:8]),
    )
    return {k: v[:, keep.to(v.device)] for k, v in sim_result.records.items()}


def _lookup(metrics: dict[str, Any], name: str) -> Any:
    cur: Any = metrics
    for part in name.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def metric_values(metrics: dict[str, Any], declared: Sequence[Metric] | None) -> dict[str, float]:
    """One number per declared metric: the value, or the mean over chains of a per-chain list.

    Without a declaration (user experiments), every top-level int/float/bool is taken.
    Missing or non-numeric entries are skipped; NaN stays NaN.
    """
    import numpy as np

    out: dict[str, float] = {}
    if declared is None:
        for k, v in metrics.items():
            if isinstance(v, (int, float, bool)):
                out[k] = float(v)
        return out
    for m in declared:
        v = _lookup(metrics, m.name)
        if isinstance(v, (int, float, bool)):
            out[m.name] = float(v)
        elif isinstance(v, (list, tuple)) and v:
            try:
                a = np.asarray(v, dtype=float).ravel()
            except (TypeError, ValueError):
                continue
            out[m.name] = float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")
    return out


class Experiment(Protocol):
    """The typed protocol of an experiment module (see the module docstring)."""

    ID: str
    TITLE: str
    Config: type
    PRESETS: dict[str, Any]
    METRICS: tuple[Metric, ...]

    def run(self, config: Any, run_dir: Any, progress: ProgressFn | None = None) -> ExperimentResult: ...

    def figures(self, result: ExperimentResult, run_dir: Any) -> list[str]: ...
