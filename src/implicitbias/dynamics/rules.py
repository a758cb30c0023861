r"""Composable update rules (optax ``chain`` style) acting on flat, chain-stacked parameters.

One step of the simulator, for ``C`` chains with flat parameters ``theta`` of shape ``(C, D)``:

1. the data source builds a batch from its per-chain noise (fresh teacher samples,
   subsampled dataset rows, or a fixed full batch);
2. every rule may rewrite the batch (:meth:`Rule.transform_batch`, e.g. label noise);
3. the per-chain loss and its gradient ``g = ∇_θ L_batch`` (``(C, D)``) are computed;
4. the rules build the update ``delta`` in order (:meth:`Rule.update`), starting from zeros;
5. ``theta <- theta + delta``.

Rules (all with learning rate / time step ``lr = η``):

* :func:`gradient_step`: ``delta -= η g`` (SGD when the batch is random).
* :func:`weight_decay`: ``delta -= η λ θ`` (gradient of the confinement ``λ/2 ‖θ‖²``).
* :func:`langevin`: ``delta += sqrt(2 T η) ξ``, ``ξ ~ N(0, I_D)`` (Euler–Maruyama for
  ``dθ = −∇L dt + sqrt(2T) dW`` with ``dt = η``).
* :func:`projected_langevin`: ``delta += sqrt(2 T η) P_⊥ ξ`` with
  ``P_⊥ = I − Ξ (ΞᵀΞ)^+ Ξᵀ`` removing the span of the orbit fields ``Ξ(θ)`` (``(D, k)``).
* :func:`label_noise`: ``batch[key] += σ ε`` before the gradient, ε ~ N(0, 1) per target.
* :func:`drift`: ``delta += η b(θ)`` for a user drift field (e.g. ``−T ∇ log vol``).

**Temperature of SGD.** With per-sample gradient covariance Σ(θ) and batch size B, one SGD
step has noise ``−η (g_B − g)`` of covariance ``η² Σ / B``; one Langevin step has
``2 T η I``. Matching them for Σ ≈ σ² I gives ``T = η σ² / (2B)`` (:func:`sgd_temperature`).
For label noise on a quadratic loss ``ℓ = ½ (f − y)²`` the per-sample gradient noise is
``σ_y ε ∇f``, i.e. Σ = σ_y² ∇f ∇fᵀ: rank one, along the predictor gradient, orthogonal to
every symmetry orbit (see docs/theory.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import field as dataclass_field

import torch

from implicitbias.dynamics.noise import NoiseSpec
from implicitbias.errors import UserInputError
from implicitbias.symmetry.projector import project_out_span

__all__ = [
    "Rule",
    "Chain",
    "chain",
    "gradient_step",
    "weight_decay",
    "langevin",
    "projected_langevin",
    "label_noise",
    "drift",
    "project_out_fields",
    "sgd_temperature",
]

Tensor = torch.Tensor
_EMPTY: dict = {}


def _plus(delta: Tensor | None, x: Tensor) -> Tensor:
    """``delta + x`` where ``None`` stands for a zero update (saves a zeros tensor per step)."""
    return x if delta is None else delta + x


class Rule:
    """Base class of an update rule. Subclasses override what they need.

    ``noise`` receives only this rule's own variates (name -> ``(C, *shape)``).
    """

    def noise_spec(self, dim: int, batch_shapes: Mapping[str, tuple[int, ...]]) -> dict[str, NoiseSpec]:
        """Variates needed per chain and step; ``batch_shapes`` are per-chain batch shapes."""
        return {}

    def transform_batch(self, batch: dict[str, Tensor], noise: dict[str, Tensor], theta: Tensor) -> dict[str, Tensor]:
        """Rewrite the batch before the gradient (default: unchanged)."""
        return batch

    def update(self, delta: Tensor | None, grad: Tensor, theta: Tensor, noise: dict[str, Tensor]) -> Tensor | None:
        """Return the new update ``delta`` (``(C, D)``; ``None`` means zero); default: unchanged."""
        return delta


@dataclass(frozen=True)
class Chain(Rule):
    """Rules applied in order. Noise names are tuples ``(str(position), name)``: the
    chain's noise dict is nested, ``noise[str(i)]`` holding rule ``i``'s variates."""

    rules: tuple[Rule, ...] = ()

    def noise_spec(self, dim: int, batch_shapes: Mapping[str, tuple[int, ...]]) -> dict:
        out: dict = {}
        for i, r in enumerate(self.rules):
            for k, v in r.noise_spec(dim, batch_shapes).items():
                out[(str(i), k)] = v
        return out

    def transform_batch(self, batch, noise, theta):  # type: ignore[override]
        for i, r in enumerate(self.rules):
            batch = r.transform_batch(batch, noise.get(str(i), _EMPTY), theta)
        return batch

    def update(self, delta, grad, theta, noise):  # type: ignore[override]
        for i, r in enumerate(self.rules):
            delta = r.update(delta, grad, theta, noise.get(str(i), _EMPTY))
        return delta

    def plain_sgd_lr(self) -> float | None:
        """``lr`` if the update of this chain is exactly one :func:`gradient_step` (other rules
        may only rewrite the batch, e.g. label noise), else ``None``; the simulator then fuses
        ``θ − lr g`` into one op."""
        steps = [r for r in self.rules if type(r).update is not Rule.update]
        if len(steps) == 1 and type(steps[0]) is GradientStep:
            return steps[0].lr
        return None


def chain(*rules: Rule) -> Chain:
    """Compose rules, applied in the given order (nested chains are flattened)."""
    flat: list[Rule] = []
    for r in rules:
        if not isinstance(r, Rule):
            raise UserInputError(f"chain() expects update rules, got {type(r).__name__}")
        flat.extend(r.rules if isinstance(r, Chain) else (r,))
    return Chain(tuple(flat))


def _check_positive(name: str, value: float, allow_zero: bool = True) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise UserInputError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return v


@dataclass(frozen=True)
class GradientStep(Rule):
    """``delta -= lr * grad``."""

    lr: float

    def update(self, delta, grad, theta, noise):  # type: ignore[override]
        return _plus(delta, -self.lr * grad)


@dataclass(frozen=True)
class WeightDecay(Rule):
    """``delta -= lr * lam * theta`` (confinement potential ``lam/2 ‖θ‖²``)."""

    lr: float
    lam: float

    def update(self, delta, grad, theta, noise):  # type: ignore[override]
        return _plus(delta, -(self.lr * self.lam) * theta)


@dataclass(frozen=True)
class Langevin(Rule):
    """``delta += sqrt(2 T lr) ξ``, ξ ~ N(0, I_D) per chain and step."""

    lr: float
    temperature: float

    def noise_spec(self, dim, batch_shapes):  # type: ignore[override]
        return {"xi": NoiseSpec((dim,))}

    def update(self, delta, grad, theta, noise):  # type: ignore[override]
        return _plus(delta, math.sqrt(2.0 * self.temperature * self.lr) * noise["xi"])


def project_out_fields(fields: Tensor, v: Tensor) -> Tensor:
    """Remove from ``v`` its component in the span of ``fields``: ``P_⊥ v = v − Ξ (ΞᵀΞ)^+ Ξᵀ v``.

    The library's one orbit projector,
    :func:`implicitbias.symmetry.projector.project_out_span` (float64, robust to dependent or
    vanishing fields); :meth:`SymmetryAlgebra.project_out` uses the same function.

    Args:
        fields: ``(C, D, k)`` orbit fields Ξ (or ``(D, k)``).
        v: ``(C, D)`` vectors (or ``(D,)``).

    Returns:
        ``(C, D)`` projected vectors, dtype of ``v``; ``Ξᵀ P_⊥ v ≈ 0``.
    """
    return project_out_span(fields, v)


@dataclass(frozen=True)
class ProjectedLangevin(Rule):
    """``delta += sqrt(2 T lr) P_⊥(θ) ξ``: Langevin noise with the orbit directions removed.

    Exactly one of ``fields`` (batched ``(C, D) -> (C, D, k)``, e.g. ``alg.fields``) or
    ``project`` (batched ``(θ (C, D), v (C, D)) -> (C, D)``, e.g. ``alg.project_out``) is used.
    """

    lr: float
    temperature: float
    fields: Callable[[Tensor], Tensor] | None = field(default=None, compare=False)
    project: Callable[[Tensor, Tensor], Tensor] | None = field(default=None, compare=False)

    def noise_spec(self, dim, batch_shapes):  # type: ignore[override]
        return {"xi": NoiseSpec((dim,))}

    def update(self, delta, grad, theta, noise):  # type: ignore[override]
        xi = noise["xi"]
        if self.project is not None:
            p = self.project(theta, xi)
        else:
            assert self.fields is not None
            p = project_out_fields(self.fields(theta), xi)
        return _plus(delta, math.sqrt(2.0 * self.temperature * self.lr) * p.to(theta.dtype))


@dataclass(frozen=True)
class Drift(Rule):
    """``delta += lr * b(θ)`` for a batched drift field ``b: (C, D) -> (C, D)``."""

    lr: float
    field: Callable[[Tensor], Tensor] = dataclass_field(compare=False, default=None)  # type: ignore[assignment]

    def update(self, delta, grad, theta, noise):  # type: ignore[override]
        return _plus(delta, self.lr * self.field(theta).to(theta.dtype))


@dataclass(frozen=True)
class LabelNoise(Rule):
    """``batch[key] += sigma * ε`` with ε ~ N(0, 1) for every target entry, fresh each step."""

    sigma: float
    key: str = "y"

    def noise_spec(self, dim, batch_shapes):  # type: ignore[override]
        if self.key not in batch_shapes:
            raise UserInputError(f"label_noise: batch has no key {self.key!r} (keys: {sorted(batch_shapes)})")
        return {"eps": NoiseSpec(tuple(batch_shapes[self.key]))}

    def transform_batch(self, batch, noise, theta):  # type: ignore[override]
        out = dict(batch)
        out[self.key] = torch.add(batch[self.key], noise["eps"].to(batch[self.key].dtype), alpha=self.sigma)
        return out


def gradient_step(lr: float) -> Rule:
    """Plain gradient step ``θ -= lr ∇L_batch``."""
    return GradientStep(_check_positive("lr", lr, allow_zero=False))


def weight_decay(lr: float, lam: float) -> Rule:
    """Weight decay ``θ -= lr λ θ`` (confines non-compact orbits)."""
    return WeightDecay(_check_positive("lr", lr, False), _check_positive("weight decay", lam))


def langevin(lr: float, temperature: float) -> Rule:
    """Isotropic Euler–Maruyama noise ``sqrt(2 T lr) N(0, I)``."""
    return Langevin(_check_positive("lr", lr, False), _check_positive("temperature", temperature))


def projected_langevin(
    lr: float,
    temperature: float,
    fields: Callable[[Tensor], Tensor] | None = None,
    project: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> Rule:
    """Orbit-projected Euler–Maruyama noise ``sqrt(2 T lr) P_⊥ N(0, I)``.

    Args:
        fields: batched orbit fields ``(C, D) -> (C, D, k)``.
        project: alternatively a batched projector ``(θ, v) -> P_⊥ v``.
    """
    if (fields is None) == (project is None):
        raise UserInputError("projected_langevin needs exactly one of fields= or project=")
    return ProjectedLangevin(_check_positive("lr", lr, False), _check_positive("temperature", temperature), fields, project)


def label_noise(sigma: float, key: str = "y") -> Rule:
    """Fresh Gaussian label noise of standard deviation ``sigma`` on ``batch[key]``."""
    return LabelNoise(_check_positive("label noise sigma", sigma), key)


def drift(lr: float, field_fn: Callable[[Tensor], Tensor]) -> Rule:
    """Extra deterministic drift ``θ += lr b(θ)`` (e.g. ``b = −T ∇ log vol(orbit)``)."""
    if not callable(field_fn):
        raise UserInputError("drift needs a callable field (C, D) -> (C, D)")
    return Drift(_check_positive("lr", lr, False), field_fn)


def sgd_temperature(lr: float, batch_size: int, grad_var: float) -> float:
    """Langevin temperature of SGD: ``T = η σ² / (2B)`` for per-sample gradient covariance σ² I."""
    return float(lr) * float(grad_var) / (2.0 * int(batch_size))


def as_rule(rules: Rule | Sequence[Rule]) -> Chain:
    """A :class:`Chain` from one rule, a chain, or a sequence of rules."""
    if isinstance(rules, Chain):
        return rules
    if isinstance(rules, Rule):
        return chain(rules)
    return chain(*rules)
