"""Linear symmetry algebras: fixed generator matrices evaluated as vector fields.

A :class:`SymmetryAlgebra` holds ``k`` fixed matrices ``A_a`` (shape ``(k, D, D)``, float64)
spanning a Lie algebra of linear vector fields ``xi_a(theta) = A_a theta`` that annihilate the
predictor Jacobian: ``J_phi(theta) A_a theta = 0``. Everything θ-dependent (fields, Gram,
orbit volume) is computed from these fixed matrices, so log-determinants change with the
basis only by an additive constant (reference §9.2: never orthonormalise the fields at θ).

The moment map and Kempf–Ness balancing come from :mod:`implicitbias.symmetry.kempf_ness`
(a lower module); :mod:`implicitbias.symmetry.gauge` builds the induced bias on top of this
class and is never imported from here (no import cycle).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from implicitbias.symmetry.kempf_ness import balance_sparse, moment_map_sparse
from implicitbias.symmetry.linalg import safe_logdet, span_basis, symmetric_subspace
from implicitbias.symmetry.projector import project_out_span

__all__ = ["SymmetryAlgebra"]


class SymmetryAlgebra:
    """A Lie algebra of linear symmetries ``theta -> A_a theta``.

    Args:
        generators: ``(k, D, D)`` matrices ``A_a`` (converted to float64).
        parametrization: the :class:`~implicitbias.symmetry.Parametrization` it acts on
            (optional; used for descriptions).
        names: optional human names of the generators.
        info: free-form diagnostics (discovery mode, closure residual, rank history, ...).
    """

    def __init__(
        self,
        generators: torch.Tensor,
        parametrization: Any = None,
        names: list[str] | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        g = torch.as_tensor(generators).detach().to(torch.float64)
        if g.dim() != 3 or g.shape[1] != g.shape[2]:
            raise ValueError(f"generators must have shape (k, D, D), got {tuple(g.shape)}")
        self._gen = g.contiguous()
        self.parametrization = parametrization
        self.names = list(names) if names is not None else [f"xi_{a}" for a in range(g.shape[0])]
        self.info: dict[str, Any] = dict(info or {})
        self._device_cache: dict[object, torch.Tensor] = {}
        self._sym: SymmetryAlgebra | None = None

    # ---- basics -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """k, the dimension of the algebra."""
        return int(self._gen.shape[0])

    @property
    def D(self) -> int:  # noqa: N802 - the paper's notation
        """The dimension of parameter space."""
        return int(self._gen.shape[1])

    @property
    def generators(self) -> torch.Tensor:
        """``(k, D, D)`` float64 generator matrices (CPU)."""
        return self._gen

    def _gen_like(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype if x.dtype in (torch.float64, torch.float32) else torch.float64
        key = (str(x.device), dtype)
        if key not in self._device_cache:
            self._device_cache[key] = self._gen.to(device=x.device, dtype=dtype)
        return self._device_cache[key]

    def sparse_flat(self) -> torch.Tensor:
        """The generators stacked as a sparse CSR ``(k*D, D)`` matrix (cached, float64, CPU).

        ``(sparse_flat() @ theta).reshape(k, D)`` has rows ``A_a theta``.
        """
        if "sparse" not in self._device_cache:
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                self._device_cache["sparse"] = self._gen.reshape(-1, self.D).to_sparse_csr()  # type: ignore[index]
        return self._device_cache["sparse"]  # type: ignore[index]

    def inf_norms(self) -> torch.Tensor:
        """``(k,)`` infinity norms ``max_i sum_j |A_a[i, j]|`` of the generators (cached)."""
        if "inf_norms" not in self._device_cache:
            self._device_cache["inf_norms"] = self._gen.abs().sum(dim=2).amax(dim=1)  # type: ignore[index]
        return self._device_cache["inf_norms"]  # type: ignore[index]

    def fields(self, theta: torch.Tensor) -> torch.Tensor:
        """Generator fields ``Xi(theta)``: column ``a`` is ``A_a theta``.

        Args:
            theta: ``(D,)`` or batched ``(..., D)``.

        Returns:
            ``(D, k)`` or ``(..., D, k)`` in ``theta``'s floating dtype and device.
        """
        theta = torch.as_tensor(theta)
        if not torch.is_floating_point(theta):
            theta = theta.to(torch.float64)
        g = self._gen_like(theta)
        return torch.einsum("aij,...j->...ia", g, theta.to(g.dtype))

    def gram(self, theta: torch.Tensor) -> torch.Tensor:
        """Generator Gram ``G = Xi^T Xi`` in float64: ``(k, k)`` or ``(..., k, k)``."""
        f = self.fields(torch.as_tensor(theta).to(torch.float64))
        return f.transpose(-1, -2) @ f

    def log_volume(self, theta: torch.Tensor) -> torch.Tensor:
        """Local orbit volume ``0.5 * log det G(theta)`` (float64; ``-inf`` where singular)."""
        ld, _ = safe_logdet(self.gram(theta))
        return 0.5 * ld

    def project_out(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Remove from ``v`` its orthogonal projection onto the orbit tangent at ``theta``.

        ``v - Xi (Xi^T Xi)^+ Xi^T v`` by :func:`~implicitbias.symmetry.projector.project_out_span`
        (float64, pseudo-inverse where the fields are dependent or vanish), returned in
        ``v``'s dtype. Batched over leading dimensions: ``theta`` ``(..., D)`` and ``v``
        ``(..., D)``.
        """
        v = torch.as_tensor(v)
        th = torch.as_tensor(theta).to(device=v.device, dtype=torch.float64)
        return project_out_span(self.fields(th), v)

    # ---- structure ----------------------------------------------------------------------
    def commutator_residual(self, n_probe: int | None = None, seed: int = 0) -> float:
        """Max relative distance of the commutators ``[A_a, A_b]`` from the span (0 if closed).

        Tested on a probe matrix ``Theta`` (``D x m``; the identity when ``D <= 64``, else
        ``m = 4`` random columns, which is exact for generic ``Theta``): the least-squares
        residual of ``[A_a, A_b] Theta`` against ``span{A_c Theta}``, divided by
        ``||A_a Theta|| ||A_b Theta|| / ||Theta||``.
        """
        k, d = self.dim, self.D
        if k < 2:
            return 0.0
        if n_probe is None and d <= 64:
            probe = torch.eye(d, dtype=torch.float64)
        else:
            gen = torch.Generator().manual_seed(seed)
            probe = torch.randn(d, n_probe or 4, generator=gen, dtype=torch.float64)
        gs = self.sparse_flat()  # generators are usually very sparse
        m = probe.shape[1]
        at = (gs @ probe).reshape(k, d, m)  # A_a Theta
        basis = span_basis(at.reshape(k, -1))
        norms = at.reshape(k, -1).norm(dim=1)
        pnorm = float(probe.norm())
        # all products A_a A_b Theta at once: (k*D, D) @ (D, k*m) -> [a, i, b, m]
        prod = (gs @ at.permute(1, 0, 2).reshape(d, k * m)).reshape(k, d, k, m).permute(0, 2, 1, 3)
        comm = (prod - prod.transpose(0, 1)).reshape(k * k, d * m)  # [A_a, A_b] Theta
        res = comm - (comm @ basis.T) @ basis
        rel = res.norm(dim=1).reshape(k, k) * pnorm / (norms[:, None] * norms[None, :]).clamp(min=1e-300)
        worst = float(rel.max())
        return worst

    def symmetric_part(self) -> SymmetryAlgebra:
        """The symmetric (non-compact, balancing) generators ``S_a = S_a^T`` in the algebra.

        A fixed (θ-independent) basis of ``span(A_a) ∩ Sym(D)`` from
        :func:`~implicitbias.symmetry.linalg.symmetric_subspace` (every symmetric direction,
        however many off-diagonal ones there are). When every generator is already symmetric
        the generators themselves (and their names) are kept. For a transpose-closed algebra
        (all catalogue entries) this is the ``p`` in the Cartan decomposition ``g = k + p``;
        ``info["self_adjoint"]`` records whether ``dim p + dim k == dim g``.
        """
        if self._sym is not None:
            return self._sym
        s, info = symmetric_subspace(self._gen)
        names = [f"S_{m}" for m in range(s.shape[0])]
        if s.shape[0] == self.dim == info["dim"]:  # all generators symmetric: keep the basis
            s, names = 0.5 * (self._gen + self._gen.transpose(1, 2)), list(self.names)
        self._sym = SymmetryAlgebra(s, self.parametrization, names, info)
        self._sym._sym = self._sym
        return self._sym

    # ---- gauge (the induced bias is in implicitbias.symmetry.gauge) -----------------------
    def moment_map(self, theta: torch.Tensor) -> torch.Tensor:
        """``chi_a = 0.5 theta^T S_a theta`` for the symmetric generators: ``(m,)`` or ``(..., m)``."""
        sym = self.symmetric_part()
        return moment_map_sparse(sym.sparse_flat(), sym.dim, theta)

    def balance(self, theta: torch.Tensor, tol: float = 1e-13, max_iter: int = 200, warn: bool = True,
                stacklevel: int = 2) -> torch.Tensor:
        """The minimum-norm point of ``theta``'s orbit (moment map 0); same predictor.

        Kempf–Ness Newton iteration over the symmetric part
        (:func:`~implicitbias.symmetry.kempf_ness.balance_sparse`): ``theta`` ``(D,)`` or
        ``(..., D)``; stops when ``max_a |chi_a| <= tol ||theta||^2``; a
        :class:`~implicitbias.symmetry.kempf_ness.SingularOrbitWarning` (if ``warn``) for
        orbits that did not converge. Returns float64 points of ``theta``'s shape and device.
        """
        sym = self.symmetric_part()
        return balance_sparse(sym.sparse_flat(), sym.inf_norms(), theta, tol=tol, max_iter=max_iter,
                              warn=warn, stacklevel=stacklevel + 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (generators as nested lists)."""
        return {"dim": self.dim, "D": self.D, "names": self.names, "generators": self._gen.tolist()}

    def __repr__(self) -> str:
        return f"SymmetryAlgebra(dim={self.dim}, D={self.D})"
