"""Sweeps: expand a grid of config overrides × seeds, run each config once, summarise.

``expand_grid(cfg, {"lr": ["1e-3", "1e-2"]}, seeds=[0, 1])`` gives one config per grid point
and seed (``seed`` field set). Each config is one run directory; completed runs are skipped
by the task function, so a sweep is idempotent. :func:`summarise` aggregates scalar metrics
over seeds per grid point (mean, sd, n).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from implicitbias.config import override, to_dict
from implicitbias.errors import ResourceError, UserInputError

__all__ = ["parse_grid", "parse_seeds", "expand_grid", "summarise", "write_summary_csv", "MAX_RUNS"]

#: Most runs one sweep may expand to (each run is a directory and a task).
MAX_RUNS = 100_000


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``["lr=1e-3,1e-2", "width=8"]`` -> ``{"lr": ["1e-3", "1e-2"], "width": ["8"]}``."""
    grid: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise UserInputError(f"--grid {item!r} is not of the form key=v1,v2,...")
        k, v = item.split("=", 1)
        values = [s.strip() for s in v.split(",") if s.strip()]
        if not values:
            raise UserInputError(f"--grid {item!r} has no values")
        grid[k.strip()] = values
    return grid


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` -> 0..9; ``"0,3,5"`` -> [0, 3, 5]; ``"4"`` -> [4]."""
    try:
        out: list[int] = []
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, part)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                if len(out) + hi - lo + 1 > MAX_RUNS:
                    raise ResourceError(
                        f"--seeds {text!r} asks for {len(out) + hi - lo + 1:,} seeds, i.e. at least as many runs; "
                        f"a sweep takes at most {MAX_RUNS:,} runs"
                    )
                out.extend(range(lo, hi + 1))
            elif part:
                out.append(int(part))
    except ResourceError:
        raise
    except ValueError:
        raise UserInputError(f"--seeds {text!r}: use a range like 0-9 or a list like 0,3,5") from None
    if not out:
        raise UserInputError("--seeds is empty")
    return out


def expand_grid(base: Any, grid: Mapping[str, Sequence[str]], seeds: Sequence[int] | None) -> list[tuple[dict[str, str], Any]]:
    """All (grid point, config) pairs; ``seed`` is set per seed when ``seeds`` is given.

    For a multi-chain config (an int ``seeds`` field: chains ``seed … seed + seeds − 1``),
    sweep seed ``s`` sets ``seed = s · seeds`` so that different sweep seeds run disjoint
    chains — otherwise seeds 0 and 1 would share all but one chain and their spread would
    understate the seed-to-seed variation.
    """
    keys = list(grid)
    n_runs = math.prod(len(grid[k]) for k in keys) * (len(seeds) if seeds is not None else 1)
    if n_runs > MAX_RUNS:
        raise ResourceError(
            f"this sweep would take {n_runs:,} runs ({' x '.join(str(len(grid[k])) for k in keys) or '1'} grid points"
            f" x {len(seeds) if seeds is not None else 1} seeds); a sweep takes at most {MAX_RUNS:,} runs"
        )
    fields = to_dict(base)
    if seeds is not None and "seed" not in fields:
        raise UserInputError("this experiment's config has no 'seed' setting to sweep")
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        sets = [f"{k}={v}" for k, v in point.items()]
        for s in seeds if seeds is not None else [None]:
            chains = point.get("seeds", fields.get("seeds"))
            first = s * int(chains) if s is not None and isinstance(chains, (int, str)) and str(chains).isdigit() else s
            extra = sets + ([f"seed={first}"] if s is not None else [])
            out.append((point, override(base, extra) if extra else base))
    return out


def summarise(rows: Sequence[tuple[Mapping[str, str], Mapping[str, float]]]) -> list[dict[str, Any]]:
    """Aggregate metrics per grid point: ``{**point, "n": n, "<m>_mean": .., "<m>_sd": ..}``."""
    groups: dict[tuple, list[Mapping[str, float]]] = {}
    points: dict[tuple, Mapping[str, str]] = {}
    for point, metrics in rows:
        key = tuple(sorted(point.items()))
        groups.setdefault(key, []).append(metrics)
        points[key] = point
    table = []
    for key, ms in groups.items():
        row: dict[str, Any] = dict(points[key])
        row["n"] = len(ms)
        names = sorted({k for m in ms for k in m})
        for name in names:
            vals = [float(m[name]) for m in ms if name in m and m[name] is not None]
            vals = [v for v in vals if math.isfinite(v)]
            if not vals:
                continue
            mean = sum(vals) / len(vals)
            sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            row[f"{name}_mean"] = mean
            row[f"{name}_sd"] = sd
        table.append(row)
    return table


def write_summary_csv(table: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write the summary table as CSV (union of columns)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols: list[str] = []
    for row in table:
        for k in row:
            if k not in cols:
                cols.append(k)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for row in table:
            w.writerow(dict(row))
    return path
