r"""The training objectives of BP, BP/FF and greedy FF as parametrizations, for symmetry discovery.

Each objective is written as a function of the named parameters ``layers.{l}.weight`` (H_l, H_{l−1}),
``layers.{l}.bias`` (H_l,) (and ``head.weight`` (K, H_L), ``head.bias`` (K,) for BP) on a fixed set
of ``n`` standard-normal probe inputs (the symmetries wanted are those of the objective *for
all inputs*; ``n`` is chosen ≥ D so the probe set adds no spurious invariance). Outputs:

* ``bp_predictor``: the logits ``(n, K)`` of the ReLU MLP (no normalisation).
* ``bp_loss``: per-sample cross-entropy ``(n,)`` with random labels (the loss sees logits only
  up to a shift ``z ↦ z + 1 (aᵀz)``, which a linear map of the head realises).
* ``bp_l2norm``: per-sample CE of the same MLP with FF's between-layer length normalisation
  ``ĥ = h / ‖h‖`` on every layer input (isolates what the normalisation does).
* ``ff_greedy``: per-sample, per-layer FF losses ``(n, L)``: ``softplus(θ − g_l)`` on the first half
  of the probes (positives) and ``softplus(g_l − θ)`` on the second (negatives), with
  ``g_l = ‖h_l‖`` (or ``Σ h_l²``) and every layer input length-normalised — the objectives of
  greedy FF, whose layer l only trains on ℓ_l (a joint symmetry must leave every ℓ_l invariant).
* ``bpff``: per-sample ``softplus(±(θ − Σ_l g_l))`` ``(n,)`` (one global goodness, end-to-end).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from implicitbias.ff.core import goodness, normalize_rows
from implicitbias.seeding import torch_generator
from implicitbias.symmetry import Parametrization

__all__ = ["OBJECTIVES", "objective_parametrization", "layer_shapes"]

OBJECTIVES = ("bp_predictor", "bp_loss", "bp_l2norm", "ff_greedy", "bpff")


def layer_shapes(d_in: int, hidden: tuple[int, ...], num_classes: int | None) -> dict[str, tuple[int, ...]]:
    """``name -> shape`` in ``FFNet`` naming (``layers.{l}.weight`` ..., ``head.*``)."""
    dims = [d_in, *hidden]
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        shapes[f"layers.{i}.weight"] = (b, a)
        shapes[f"layers.{i}.bias"] = (b,)
    if num_classes is not None:
        shapes["head.weight"] = (num_classes, dims[-1])
        shapes["head.bias"] = (num_classes,)
    return shapes


def _hidden(q: dict[str, torch.Tensor], x: torch.Tensor, n_layers: int, norm: str) -> list[torch.Tensor]:
    hs = []
    for i in range(n_layers):
        x = F.relu(normalize_rows(x, norm, 1e-12) @ q[f"layers.{i}.weight"].T + q[f"layers.{i}.bias"])
        hs.append(x)
    return hs


def objective_parametrization(
    kind: str,
    d_in: int,
    hidden: tuple[int, ...],
    num_classes: int,
    goodness_kind: str = "l2",
    threshold: float = 3.0,
    n_probe: int | None = None,
    seed: int = 0,
) -> Parametrization:
    """The objective ``kind`` (one of :data:`OBJECTIVES`) as a :class:`Parametrization` (float64)."""
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {kind!r}")
    bp = kind.startswith("bp_")
    shapes = layer_shapes(d_in, hidden, num_classes if bp else None)
    dim = sum(int(torch.tensor(s).prod()) for s in shapes.values())
    n = n_probe or dim + 16
    g = torch_generator(seed, "objective-probes", kind)
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    y = torch.randint(0, num_classes, (n,), generator=g)
    sign = torch.where(torch.arange(n) < n // 2, 1.0, -1.0).to(torch.float64)  # + positives, − negatives
    nl = len(hidden)

    def fn(q: dict[str, torch.Tensor]) -> torch.Tensor:
        if bp:
            norm = "l2" if kind == "bp_l2norm" else "none"
            h = _hidden(q, x.to(q["head.weight"].dtype), nl, norm)[-1]
            z = normalize_rows(h, norm, 1e-12) @ q["head.weight"].T + q["head.bias"]
            return z if kind == "bp_predictor" else F.cross_entropy(z, y, reduction="none")
        hs = _hidden(q, x.to(q["layers.0.weight"].dtype), nl, "l2")
        gs = torch.stack([goodness(h, goodness_kind) for h in hs], dim=-1)  # (n, L)
        if kind == "ff_greedy":
            return F.softplus(sign[:, None] * (threshold - gs))
        return F.softplus(sign * (threshold - gs.sum(-1)))

    return Parametrization(fn, shapes, name=f"{kind}({d_in}, {'x'.join(map(str, hidden))}, {num_classes})")


def verified_algebra(p: Parametrization, alg, n_points: int = 6, seed: int = 1, tol: float = 1e-7):
    """The sub-algebra of ``alg`` whose fields annihilate ``J(θ)`` at ``n_points`` fresh points.

    A post-hoc filter (it can only remove generators): the null space of the stacked
    ``J(θ_p) Ξ(θ_p)`` (columns scaled by ``‖J(θ_p)‖ ‖ξ_a(θ_p)‖``, so a genuine generator has a
    residual at rounding level): singular values ``<= tol`` (absolute) count as zero.
    Returns ``(algebra, max relative residual of the discovered generators before filtering)``.
    """
    from implicitbias.symmetry import SymmetryAlgebra

    if alg.dim == 0:
        return alg, 0.0
    rows, worst = [], 0.0
    for i in range(n_points):
        th = p.random_point(seed + 1000 + i)
        jac = p.jacobian(th).to(torch.float64)
        f = alg.fields(th)  # (D, k)
        jf = (jac @ f) / (jac.norm() * f.norm(dim=0).clamp_min(1e-300))
        worst = max(worst, float(jf.norm(dim=0).max()))
        rows.append(jf)
    _, sv, vh = torch.linalg.svd(torch.cat(rows), full_matrices=True)
    rank = int((sv > tol).sum())
    ns = vh[rank:].T  # (k, k - rank)
    gens = torch.einsum("ka,kij->aij", ns, alg.generators)
    return SymmetryAlgebra(gens, p, info={**alg.info, "verified_points": n_points}), worst


def symmetric_dim(alg, tol: float = 1e-6) -> int:
    """``dim (span{A_a} ∩ Sym)``: coefficient vectors whose skew part ``Σ c_a (A_a − A_aᵀ)`` vanishes.

    Generators are scaled to unit Frobenius norm; singular values of the stacked skew parts
    ``<= tol`` count as zero (discovered generators carry ~1e-9 noise, which the library's
    ``symmetric_part`` threshold of 1e-10 would read as skew).
    """
    if alg.dim == 0:
        return 0
    g = alg.generators
    g = g / g.reshape(g.shape[0], -1).norm(dim=1)[:, None, None]
    skew = (g - g.transpose(1, 2)).reshape(g.shape[0], -1).T  # (D², k)
    sv = torch.linalg.svdvals(skew)
    return int(g.shape[0] - int((sv > tol).sum()))


class ObjectiveModule(torch.nn.Module):
    """An objective of full width as a module of the input, for ``Parametrization.from_module``.

    ``kind``: ``bp_predictor`` (logits ``(n, K)``), ``ff_greedy`` (per-layer goodness ``(n, L)``:
    each layer loss is a strictly monotone function of its goodness, so the joint symmetries
    of the per-layer losses are those of this vector) or ``bpff`` (summed goodness ``(n,)``).
    """

    def __init__(self, kind: str, d_in: int, hidden: tuple[int, ...], num_classes: int, goodness_kind: str = "l2", seed: int = 0) -> None:
        super().__init__()
        from implicitbias.ff.core import FFNet

        self.kind, self.goodness_kind = kind, goodness_kind
        bp = kind == "bp_predictor"
        self.net = FFNet([d_in, *hidden], "none" if bp else "l2", 1e-12, torch_generator(seed, "objective-module", kind), num_classes if bp else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hs = self.net.forward_all(x)
        if self.kind == "bp_predictor":
            return self.net.head(hs[-1])
        gs = torch.stack([goodness(h, self.goodness_kind) for h in hs], dim=-1)
        return gs if self.kind == "ff_greedy" else gs.sum(-1)


def full_size_discovery(d_in: int, hidden: tuple[int, ...], num_classes: int, goodness_kind: str = "l2", seed: int = 0) -> dict[str, dict]:
    """Discovery at full width through ``Parametrization.from_module`` (issue 13 §1–2), if present.

    Each discovered generator is re-verified by Jacobian–vector products along its field at
    two fresh points (relative residual ``‖J ξ_a‖ / (‖J u‖ ‖ξ_a‖)``, u a random unit vector);
    ``dim`` is the dimension of the sub-span with residuals ``<= 1e-7`` (``discovered`` before
    filtering). Returns ``{kind: {D, discovered, dim, dim_sym, worst_fresh_residual, seconds}}``
    or ``{}`` when the module path is not available in this build.
    """
    import time

    from implicitbias.symmetry import discover_symmetries

    if not hasattr(Parametrization, "from_module"):
        return {}
    out = {}
    for kind in ("bp_predictor", "ff_greedy", "bpff"):
        t0 = time.perf_counter()
        mod = ObjectiveModule(kind, d_in, hidden, num_classes, goodness_kind, seed).double()
        p = Parametrization.from_module(mod, torch.zeros(8, d_in, dtype=torch.float64))
        alg = discover_symmetries(p, seed=seed)
        sym = alg.symmetric_part()
        worst, verified = 0.0, 0
        if alg.dim:
            cols = []
            for i in range(2):  # relative residuals J ξ_a at two fresh points
                th = p.random_point(seed + 1000 + i)
                f = alg.fields(th)  # dense algebras: (D, k); sparse ones: sparse (k, D)
                f = f.to_dense() if f.is_sparse or f.layout != torch.strided else f
                if tuple(f.shape) == (alg.dim, p.dim) and alg.dim != p.dim:
                    f = f.T
                probe = torch.randn(p.dim, generator=torch_generator(seed, "jvp-probe", i), dtype=torch.float64)
                jn = max(float(p.jvp(th, probe / probe.norm()).norm()), 1e-300)
                cols.append(torch.stack([p.jvp(th, f[:, a] / f[:, a].norm()) / jn for a in range(alg.dim)], dim=1))
            r = torch.cat(cols)  # (2 n_out, k)
            worst = float(r.norm(dim=0).max())
            verified = alg.dim - int((torch.linalg.svdvals(r) > 1e-7).sum())
        dim_sym = sym.dim if verified == alg.dim else (0 if verified == 0 else -1)  # -1: not computed
        out[kind] = {"D": p.dim, "discovered": alg.dim, "dim": verified, "dim_sym": dim_sym, "worst_fresh_residual": worst,
                     "seconds": time.perf_counter() - t0}
    return out
