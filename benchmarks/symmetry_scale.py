"""Benchmark: scalable symmetry discovery, Gram and balancing against the number of parameters D.

ReLU MLPs ``d-h-h-h-10`` with biases (D from ~1e3 to ~2.8e6; the largest is the issue's
784-1000-1000-1000-10 with its 3000-dimensional neuron-rescaling algebra), then a multi-head
attention layer and a pre-LayerNorm transformer block (d_model 128, 4 heads, ReLU MLP 512).
Each size runs in a fresh subprocess (so peak memory is its own ``ru_maxrss``, torch import
included): ``Parametrization.from_module`` + ``discover_symmetries`` (the sparse path), then
``alg.gram`` and ``alg.balance`` at the module's parameters. Prints a table and the fitted
growth exponents (least-squares slope of log seconds vs log D over the MLP rows), and checks
the issue's goals (3000 generators in <= 60 s and <= 4 GiB; attention and block in <= 60 s).
The box is shared: seconds are noisy; compare rows of one run.

Usage: ``python benchmarks/symmetry_scale.py [--quick] [--threads T]``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

MLPS = [(16, 16), (48, 48), (128, 128), (256, 256), (784, 500), (784, 1000)]
QUICK = [(16, 16), (48, 48), (128, 128)]


def _model(kind: str, a: int, b: int):  # noqa: ANN202 - torch module
    import torch
    from torch import nn

    torch.manual_seed(0)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b), nn.ReLU(), nn.Linear(b, b),
                             nn.ReLU(), nn.Linear(b, 10)), torch.randn(64, a)

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(a, b, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(a), nn.LayerNorm(a)
            self.attn = nn.MultiheadAttention(a, b, batch_first=True)
            self.fc1, self.fc2 = nn.Linear(a, 4 * a), nn.Linear(4 * a, a)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.ln1(x)
            x = x + self.attn(y, y, y, need_weights=False)[0]
            return x + self.fc2(torch.relu(self.fc1(self.ln2(x))))

    return (SelfAttention() if kind == "attention" else Block()), torch.randn(4, 8, a)


def one(kind: str, a: int, b: int, threads: int) -> dict:
    """Run one size in this process; returns the measurements."""
    import resource
    import warnings

    import torch

    import implicitbias as ib

    warnings.simplefilter("ignore")  # functorch batching-rule performance notes
    torch.set_num_threads(threads)
    import torch._dynamo  # noqa: F401 - imported lazily by torch.func on first use; keep it out of the timings

    model, x = _model(kind, a, b)
    t0 = time.perf_counter()
    p = ib.Parametrization.from_module(model, x)
    alg = ib.discover_symmetries(p)
    t1 = time.perf_counter()
    out = {"kind": kind, "size": f"{a}-{b}", "D": p.dim, "dim": alg.dim, "discovery_s": t1 - t0,
           "rows": alg.info.get("rows")}
    if kind == "mlp":
        t = time.perf_counter()
        alg.gram(p.theta0)
        out["gram_s"] = time.perf_counter() - t
        t = time.perf_counter()
        tb = alg.balance(p.theta0)
        out["balance_s"] = time.perf_counter() - t
        out["chi_max"] = float(alg.moment_map(tb).abs().max()) if alg.dim else 0.0
    out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = [math.log(v) for v in xs], [math.log(max(v, 1e-9)) for v in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((u - mx) * (v - my) for u, v in zip(lx, ly, strict=True)) / sum((u - mx) ** 2 for u in lx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small MLPs only (seconds)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        kind, a, b = args.one.split(",")
        print(json.dumps(one(kind, int(a), int(b), args.threads)))
        return
    jobs = [("mlp", a, b) for a, b in (QUICK if args.quick else MLPS)]
    if not args.quick:
        jobs += [("attention", 128, 4), ("block", 128, 4)]
    rows = []
    for kind, a, b in jobs:
        r = subprocess.run([sys.executable, __file__, "--one", f"{kind},{a},{b}", "--threads", str(args.threads)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{kind} {a}-{b}: failed: {r.stderr.strip().splitlines()[-1:]}")
            continue
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        x = rows[-1]
        print(f"{x['kind']:9s} {x['size']:>9s} D={x['D']:>9,d} dim={x['dim']:>6d} "
              f"discovery {x['discovery_s']:7.1f} s  gram {x.get('gram_s', float('nan')):6.2f} s  "
              f"balance {x.get('balance_s', float('nan')):6.1f} s  peak {x['peak_gib']:.2f} GiB", flush=True)
    mlp = [x for x in rows if x["kind"] == "mlp"]
    print()
    print(f"{'model':>20s} {'D':>10s} {'dim':>6s} {'discovery s':>12s} {'Gram s':>8s} {'balance s':>10s} {'peak GiB':>9s}")
    for x in rows:
        print(f"{x['kind'] + ' ' + x['size']:>20s} {x['D']:>10,d} {x['dim']:>6d} {x['discovery_s']:>12.1f} "
              f"{x.get('gram_s', float('nan')):>8.2f} {x.get('balance_s', float('nan')):>10.1f} {x['peak_gib']:>9.2f}")
    if len(mlp) >= 2:
        ds = [x["D"] for x in mlp]
        print("growth exponents (log-log slope over the MLP rows): "
              f"discovery {slope(ds, [x['discovery_s'] for x in mlp]):.2f}, "
              f"Gram {slope(ds, [x['gram_s'] for x in mlp]):.2f}, "
              f"balance {slope(ds, [x['balance_s'] for x in mlp]):.2f}, "
              f"peak memory {slope(ds, [x['peak_gib'] for x in mlp]):.2f}")
    big = [x for x in mlp if x["size"] == "784-1000"]
    if big:
        b = big[0]
        ok = b["dim"] == 3000 and b["discovery_s"] <= 60 and b["peak_gib"] <= 4
        print(f"goal 784-1000-1000-1000-10: dim {b['dim']} (want 3000), {b['discovery_s']:.1f} s (<= 60), "
              f"{b['peak_gib']:.2f} GiB (<= 4): {'met' if ok else 'NOT met'}")
    for x in rows:
        if x["kind"] in ("attention", "block"):
            print(f"goal {x['kind']}: dim {x['dim']}, {x['discovery_s']:.1f} s (<= 60): "
                  f"{'met' if x['discovery_s'] <= 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
