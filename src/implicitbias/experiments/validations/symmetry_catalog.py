"""Symmetry catalogue check: discovered algebras and generic induced biases vs closed forms.

For each catalogue entry (reference §6; sizes of issue 2 in the ``paper`` preset) the
complete linear symmetry algebra is discovered numerically and compared with the analytic
one (dimension, largest principal angle), and the generic induced bias
``(T/2) log det C`` at the balanced point (moment-map gauge) is compared with the closed form
over random θ (spread of the difference; it must be a θ-independent constant).

The "paper" number of each claim is the analytic dimension and closed form (reference §6,
derived there; the paper states them for the diagonal/ReLU/attention-column cases).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from implicitbias.config import bounded
from implicitbias.errors import UserInputError
from implicitbias.experiments.base import Claim, ExperimentResult, Metric, Progress, no_progress
from implicitbias.runs import RunDir

ID = "symmetry_catalog"
TITLE = "Symmetry catalogue: discovered algebra dimension and closed-form bias agreement"


@dataclass(frozen=True)
class Config:
    """Catalogue-check settings.

    Attributes:
        seed: seeds discovery points and the random θ.
        entries: ``"paper"`` (issue-2 sizes, e.g. attention(16, 8)) or ``"quick"`` (small).
        n_points: random θ per entry for the bias spread.
        temperature: T in ``(T/2) log det C``.
        angle_tol: agreement threshold for the largest principal angle (radians).
        spread_tol: agreement threshold for the bias-difference spread.
    """

    seed: int = bounded(0, ge=0)
    entries: str = "paper"
    n_points: int = bounded(20, ge=1, le=100_000)
    temperature: float = bounded(1.0, gt=0)
    angle_tol: float = bounded(1e-6, gt=0)
    spread_tol: float = bounded(1e-6, gt=0)

    def validate(self) -> None:
        """Cross-field checks (called when a config is read from ``--set`` or JSON)."""
        if self.entries not in ('paper', 'quick'):
            raise UserInputError(f"entries must be 'paper' or 'quick', got {self.entries!r}")


PRESETS = {
    "quick": Config(entries="quick", n_points=10),
    "paper": Config(entries="paper", n_points=20),
}


def run(config: Config, run_dir: RunDir, progress: Progress | None = None) -> ExperimentResult:
    """Check every catalogue entry; one :class:`Claim` per entry."""
    from implicitbias.errors import UserInputError
    from implicitbias.symmetry.catalog import default_entries
    from implicitbias.symmetry.check import check_catalog

    progress = progress or no_progress
    t0 = time.perf_counter()
    try:
        entries = default_entries(config.entries)
    except ValueError as e:
        raise UserInputError(str(e)) from None
    rows = check_catalog(
        entries, progress=progress, seed=config.seed, n_points=config.n_points,
        temperature=config.temperature, angle_tol=config.angle_tol, spread_tol=config.spread_tol,
    )
    log = run_dir.logger()
    for i, r in enumerate(rows):
        log.log(r.to_dict(), step=i)
    log.close()
    run_dir.write_json("catalog", [r.to_dict() for r in rows])
    run_dir.save_arrays({
        "discovered_dim": torch.tensor([r.discovered_dim for r in rows]),
        "full_dim": torch.tensor([r.full_dim for r in rows]),
        "max_angle": torch.tensor([r.max_angle for r in rows], dtype=torch.float64),
        "bias_spread": torch.tensor([r.bias_spread for r in rows], dtype=torch.float64),
        "closure_residual": torch.tensor([r.closure_residual for r in rows], dtype=torch.float64),
    })
    claims = []
    for r in rows:
        sub = f" ⊂ full {r.full_dim}" if r.analytic_dim != r.full_dim else ""
        claims.append(Claim(
            experiment=ID,
            claim=f"{r.name}: algebra dim / closed-form bias agreement",
            paper=f"dim {r.analytic_dim}{sub}; {r.formula}",
            ours_seed0=(f"dim {r.discovered_dim}, max angle {r.max_angle:.1e}, "
                        f"bias spread {r.bias_spread:.1e} over {r.n_points} θ"),
            verdict="reproduced" if r.agrees else "differs",
            note=("subgroup entry: angle = containment of the analytic subalgebra" if sub else ""),
        ))
    metrics = {
        "n_entries": len(rows),
        "n_agree": sum(r.agrees for r in rows),
        "max_angle": max(r.max_angle for r in rows),
        "max_bias_spread": max(r.bias_spread for r in rows),
        "max_closure_residual": max(r.closure_residual for r in rows),
        "discovery_seconds": {r.name: r.discovery_seconds for r in rows},
    }
    return ExperimentResult(
        experiment=ID, claims=claims, metrics=metrics,
        wall_time_s=time.perf_counter() - t0,
    )


METRICS = (
    Metric("n_entries", "1", "catalogue entries checked"),
    Metric("n_agree", "1", "entries whose discovered algebra and generic bias agree with the closed forms"),
    Metric("max_angle", "rad", "largest principal angle, discovered vs analytic algebra"),
    Metric("max_bias_spread", "1", "largest spread over θ of generic minus closed-form bias"),
    Metric("max_closure_residual", "1", "largest Lie-closure residual of a discovered algebra"),
)


def figures(result: ExperimentResult, run_dir: RunDir) -> list[str]:
    """Principal angle and bias spread per catalogue entry (log scale), from ``catalog.json``."""
    from implicitbias.viz.diagnostics import log_bars

    rows = run_dir.read_json("catalog")
    tol = float(run_dir.config_record()["config"].get("angle_tol", 1e-6))
    p = log_bars([r["name"] for r in rows],
                 {"max principal angle": [r["max_angle"] for r in rows],
                  "bias-difference spread": [r["bias_spread"] for r in rows]},
                 run_dir.figure_path("symmetry_catalog"), "value (float64)",
                 "discovered vs analytic algebra; generic vs closed-form bias", tolerance=tol)
    return [str(p.relative_to(run_dir.path))]
